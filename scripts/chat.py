"""`make chat`: talk to the running assistant through its REST channel.

Type a message and press Enter. When the bot offers buttons, type their number.
Ctrl-D or /quit leaves.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid


def send(url: str, sender: str, message: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - local assistant
        return json.loads(resp.read())


def main() -> int:
    base = os.environ.get("HELPLINE_RASA_URL", "http://127.0.0.1:5005")
    url = f"{base}/webhooks/rest/webhook"
    sender = f"chat-{uuid.uuid4().hex[:8]}"
    print(f"Chatting with {base} as {sender}. Type /quit to leave.\n")
    buttons: list[dict] = []
    while True:
        try:
            line = input("Bạn: ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if line in {"/quit", "/exit"}:
            return 0
        if not line:
            continue
        if line.isdigit() and 1 <= int(line) <= len(buttons):
            line = buttons[int(line) - 1]["payload"]
        try:
            replies = send(url, sender, line)
        except (urllib.error.URLError, OSError) as exc:
            print(f"(cannot reach the assistant at {base}: {exc}; is `make run` running?)")
            continue
        buttons = []
        for reply in replies:
            if reply.get("text"):
                print(f"Bot: {reply['text']}\n")
            for button in reply.get("buttons") or []:
                buttons.append(button)
                print(f"  [{len(buttons)}] {button['title']}")
        if buttons:
            print()


if __name__ == "__main__":
    sys.exit(main())
