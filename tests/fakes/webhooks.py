"""Fixture payloads (tests/fixtures/<channel>/*.json), re-addressed and signed as each platform signs them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.fakes import facebook, zalo, zalobot
from tests.fakes import telegram as tg

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHANNELS = ("zalo", "zalobot", "facebook", "telegram")


def load(channel: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


def readdress(channel: str, data: dict[str, Any], sender: str | None = None, mid: str | None = None,
              text: str | None = None) -> dict[str, Any]:
    """A copy of a fixture sent by ``sender`` with message id ``mid`` (and a new text, for text events)."""
    data = copy.deepcopy(data)
    if channel == "zalo":
        if sender:
            data["sender"]["id"] = sender
        message = data.get("message") or {}
        if mid and "msg_id" in message:
            message["msg_id"] = mid
        if text is not None:
            message["text"] = text
    elif channel == "zalobot":
        message = (data.get("result") or data)["message"]
        if sender:
            message["from"]["id"] = sender
            message["chat"]["id"] = sender
        if mid:
            message["message_id"] = mid
        if text is not None:
            message["text"] = text
    elif channel == "facebook":
        for entry in data["entry"]:
            for event in [*entry.get("messaging", []), *entry.get("standby", [])]:
                if sender:
                    event["sender"]["id"] = sender
                for key in ("message", "postback"):
                    if mid and isinstance(event.get(key), dict) and "mid" in event[key]:
                        event[key]["mid"] = mid
                    if text is not None and key == "message" and "text" in event.get(key, {}):
                        event[key]["text"] = text
    elif channel == "telegram":
        if mid:
            data["update_id"] = int(mid)
        holder = data.get("message") or data.get("edited_message") or (data.get("callback_query") or {})
        if sender:
            for part in (holder.get("chat"), holder.get("from"), (holder.get("message") or {}).get("chat")):
                if isinstance(part, dict):
                    part["id"] = int(sender)
        if text is not None and "text" in holder:
            holder["text"] = text
    else:
        raise ValueError(channel)
    return data


def signed(channel: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers the platform would send."""
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if channel == "zalo":
        headers["X-ZEvent-Signature"] = zalo.sign(body)
    elif channel == "zalobot":
        headers["X-Bot-Api-Secret-Token"] = zalobot.SECRET_TOKEN
    elif channel == "facebook":
        headers["X-Hub-Signature-256"] = facebook.sign(body)
    elif channel == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = tg.SECRET_TOKEN
    return body, headers


def forged(channel: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Signed with the wrong secret."""
    body, headers = signed(channel, data)
    if channel == "zalo":
        headers["X-ZEvent-Signature"] = zalo.sign(body, oa_secret_key="not-the-secret")
    elif channel == "zalobot":
        headers["X-Bot-Api-Secret-Token"] = "not-the-secret-token"
    elif channel == "facebook":
        headers["X-Hub-Signature-256"] = facebook.sign(body, app_secret="not-the-secret")
    elif channel == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = "not-the-secret-token"
    return body, headers


def text_event(channel: str, sender: str, mid: str, text: str) -> dict[str, Any]:
    return readdress(channel, load(channel, "user_send_text" if channel == "zalo" else "text"), sender, mid, text)


def new_sender(channel: str, n: int) -> str:
    """Platform-shaped user ids (Telegram's are numbers)."""
    return str(900000000 + n) if channel == "telegram" else f"{channel}-user-{n:06d}"


def new_mid(channel: str, n: int) -> str:
    return str(800000000 + n) if channel == "telegram" else f"{channel}-mid-{n:06d}"


def choose(channel: str, options_message: Any, sender: str, mid: str, index: int) -> dict[str, Any]:
    """The platform event for tapping option ``index`` (0-based) of a delivered message (a ``Delivered``)."""
    extra = options_message.extra
    if channel == "zalo":  # an oa.query.hide tap comes back as the user's text
        return text_event(channel, sender, mid, extra["buttons"][index]["payload"])
    if channel == "facebook":
        data = readdress(channel, load(channel, "quick_reply"), sender, mid)
        message = data["entry"][0]["messaging"][0]["message"]
        quick = extra["quick_replies"][index]
        message["quick_reply"]["payload"], message["text"] = quick["payload"], quick["title"]
        return data
    if channel == "telegram":
        key = extra["reply_markup"]["inline_keyboard"][index][0]["callback_data"]
        data = readdress(channel, load(channel, "callback_query"), sender, mid)
        data["callback_query"]["data"] = key
        return data
    return readdress(channel, load(channel, "choice_number"), sender, mid, text=str(index + 1))


def options(channel: str, delivered: Any) -> list[str]:
    """Titles of the options a delivered message offers (native buttons or a numbered list)."""
    extra = delivered.extra
    if channel == "zalo":
        return [b["title"] for b in extra.get("buttons") or []]
    if channel == "facebook":
        return [q["title"] for q in extra.get("quick_replies") or []]
    if channel == "telegram":
        markup = extra.get("reply_markup") or {}
        return [row[0]["text"] for row in markup.get("inline_keyboard") or []]
    return [line.split(". ", 1)[1] for line in delivered.text.splitlines()
            if line[:1].isdigit() and ". " in line]
