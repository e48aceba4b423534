"""`make simulate CHANNEL=zalo|zalobot|facebook|telegram`: chat through the real connector code, end to end.

Starts a local fake of the platform's API, then the whole assistant (action server,
handoff service, Rasa) with only that channel enabled and pointed at the fake. What
you type is posted to Rasa's webhook exactly as the platform would post it (same
payload shape, same signature); what the bot answers is shown as the fake platform
received it. Nothing leaves this machine.

Commands: a number picks an offered option; /sticker /image /location send those
events; /dup re-sends the last message (the platform redelivering it); /outage N
makes the next N platform calls fail with 503; /expire expires the Zalo access
token; /quit leaves (Ctrl-D too).
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from helpline.stack import Ports, Stack  # noqa: E402
from tests.fakes.base import FakePlatform  # noqa: E402
from tests.fakes.facebook import FakeFacebook  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.fakes.webhooks import CHANNELS, choose, load, options, readdress, signed, text_event  # noqa: E402
from tests.fakes.zalo import FakeZalo  # noqa: E402
from tests.fakes.zalobot import FakeZaloBot  # noqa: E402

FAKES = {"zalo": FakeZalo, "zalobot": FakeZaloBot, "facebook": FakeFacebook, "telegram": FakeTelegram}
EVENTS = {
    "/sticker": {"zalo": "user_send_sticker", "zalobot": "sticker", "facebook": "sticker", "telegram": "sticker"},
    "/image": {"zalo": "user_send_image", "zalobot": "image", "facebook": "image", "telegram": "photo"},
    "/location": {"zalo": "user_send_location", "facebook": "location", "telegram": "location"},
}
CHANNEL_PREFIXES = ("ZALO_", "FACEBOOK_", "TELEGRAM_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Session:
    def __init__(self, channel: str, stack: Stack, fake: FakePlatform) -> None:
        self.channel = channel
        self.stack = stack
        self.fake = fake
        self.sender = "987650001" if channel == "telegram" else f"sim-{channel}-{os.getpid()}"
        self._ids = itertools.count(int(time.time()))
        self.last: dict[str, Any] | None = None
        self.offered: Any = None
        self.seen = 0
        self.http = httpx.Client(timeout=15)

    def mid(self) -> str:
        n = next(self._ids)
        return str(n) if self.channel == "telegram" else f"sim-{n}"

    def post(self, data: dict[str, Any]) -> None:
        self.last = data
        body, headers = signed(self.channel, data)
        url = f"http://127.0.0.1:{self.stack.ports.rasa}/webhooks/{self.channel}/webhook"
        resp = self.http.post(url, content=body, headers=headers)
        print(f"  (webhook answered {resp.status_code} {resp.text.strip()})")

    def event_for(self, line: str) -> dict[str, Any] | None:
        if line.isdigit() and self.offered is not None:
            index = int(line) - 1
            if 0 <= index < len(options(self.channel, self.offered)):
                return choose(self.channel, self.offered, self.sender, self.mid(), index)
        if line in EVENTS:
            name = EVENTS[line].get(self.channel)
            if name is None:
                print(f"  ({self.channel} has no such event)")
                return None
            return readdress(self.channel, load(self.channel, name), self.sender, self.mid())
        return text_event(self.channel, self.sender, self.mid(), line)

    def show_replies(self, wait: float = 30.0, quiet: float = 2.0) -> None:
        deadline, last_new = time.monotonic() + wait, None
        while time.monotonic() < deadline:
            mine = self.fake.to(self.sender)
            for delivered in mine[self.seen:]:
                print(f"Bot: {delivered.text}")
                titles = options(self.channel, delivered)
                if titles:
                    self.offered = delivered
                    for i, title in enumerate(titles, start=1):
                        print(f"  [{i}] {title}")
                print()
                last_new = time.monotonic()
            self.seen = len(mine)
            if last_new is not None and time.monotonic() - last_new > quiet:
                return
            time.sleep(0.1)
        if last_new is None:
            print("  (no reply yet; it is kept in the outbox and will show up with your next message)")

    def loop(self) -> None:
        while True:
            try:
                line = input("Bạn: ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if line in ("/quit", "/exit"):
                return
            if not line:
                continue
            if line.startswith("/outage"):
                count = int(line.split()[1]) if len(line.split()) > 1 else 3
                self.fake.fail_next("5xx", times=count)
                print(f"  (the next {count} platform calls fail with 503)")
                continue
            if line == "/expire" and isinstance(self.fake, FakeZalo):
                self.fake.expire_token()
                print("  (the Zalo access token expired; the next send refreshes it)")
                continue
            if line == "/dup":
                if self.last is not None:
                    self.post(self.last)
                self.show_replies(wait=4)
                continue
            data = self.event_for(line)
            if data is not None:
                self.post(data)
                self.show_replies()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channel", default=os.environ.get("CHANNEL", ""), choices=CHANNELS)
    parser.add_argument("--data-dir", type=Path, help="where the simulated assistant keeps its data (default: temp)")
    args = parser.parse_args()
    fake = FAKES[args.channel]().start()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=f"helpline-sim-{args.channel}-"))
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Only the simulated channel, and only against the fake: real platform settings are dropped.
    env = {k: v for k, v in os.environ.items() if not k.startswith(CHANNEL_PREFIXES)
           and k not in {"DATABASE_URL", "HELPLINE_STAFF_TOKEN", "RASA_TOKEN"}}
    env.update(fake.env())  # type: ignore[attr-defined]
    stack = Stack(data_dir, Ports(rasa=free_port(), actions=free_port(), handoff=free_port()), log_dir=log_dir,
                  env=env)
    print(f"Fake {args.channel} API at {fake.url}; starting the assistant (logs in {log_dir}) ...", flush=True)
    try:
        stack.start_all(timeout=300)
        session = Session(args.channel, stack, fake)
        print(f"Ready: you are {args.channel} user {session.sender!r}. "
              "Type a message; /sticker /image /location /dup /outage N /expire /quit.\n")
        session.loop()
    except (RuntimeError, TimeoutError) as exc:
        print(f"start failed: {exc}; see {log_dir}", file=sys.stderr)
        return 1
    finally:
        stack.stop_all()
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
