"""One shape for every platform's incoming event, so the connectors share one pipeline."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from helpline.channels.keys import conversation_key

KINDS: tuple[str, ...] = (
    "text", "postback", "sticker", "image", "file", "location", "audio", "video", "seen", "unknown", "protected",
    "handover", "referral",
)
# Kinds the bot cannot read but must answer politely (never crash, never silence).
MEDIA_KINDS: frozenset[str] = frozenset({"sticker", "image", "file", "audio", "video"})
# "protected": the platform hid what a person of a protected group (a child, a person with a disability or
# who cannot read) wrote (Zalo Bot Platform ``message.unsupported.received``); they get their own reply.
# "handover": Messenger's thread control moved (``extra["action"]``: "take", another app took it, or "pass",
# it came back); "referral": a person opened the chat from a link or an ad (Messenger ``referral``).
# Kinds that need no answer at all.
SILENT_KINDS: frozenset[str] = frozenset({"seen", "unknown"})


_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_ID_CHARS = 255


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float

    @classmethod
    def parse(cls, latitude: Any, longitude: Any) -> Location | None:
        """A location from platform values (numbers or numeric strings), or None if invalid."""
        try:
            lat, lon = float(latitude), float(longitude)
        except (TypeError, ValueError):
            return None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        return cls(lat, lon)

    def as_ticket_location(self, channel: str) -> dict[str, Any]:
        return {
            "latitude": self.latitude, "longitude": self.longitude, "source": channel,
            "map_url": f"https://maps.google.com/?q={self.latitude},{self.longitude}",
        }


@dataclass(frozen=True)
class Inbound:
    """One user event from a platform, after verification and parsing."""

    channel: str
    sender_id: str
    message_id: str
    kind: str
    text: str = ""
    payload: str | None = None  # button/quick-reply payload (kind "postback")
    location: Location | None = None
    url: str | None = None  # media link, when the platform gives one
    event: str = ""  # the platform's own event name, for logs
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. Telegram's callback_query id
    media: str | None = None  # a text that came as the caption of this media kind ("image")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown inbound kind {self.kind!r}")
        # Ids go into database keys: a NUL (which PostgreSQL refuses) or other control character from a
        # malformed event would make the message fail forever instead of being answered.
        for name in ("sender_id", "message_id"):
            value = str(getattr(self, name))
            cleaned = _CONTROL.sub("", value)[:MAX_ID_CHARS]
            if cleaned != getattr(self, name):
                object.__setattr__(self, name, cleaned or "?")

    @property
    def key(self) -> str:
        """The conversation key (``<channel>:<sender id>``) every store and Rasa use for this person."""
        return conversation_key(self.channel, self.sender_id)

    @property
    def needs_reply(self) -> bool:
        return self.kind not in SILENT_KINDS

    @property
    def user_text(self) -> str:
        """What goes to Rasa: the button payload for postbacks, else the typed text."""
        return self.payload if self.kind == "postback" and self.payload else self.text

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Inbound:
        data = json.loads(raw)
        loc = data.pop("location", None)
        return cls(**data, location=Location(**loc) if loc else None)


# "2", "2.", "số 2", "so 2", "câu 2", "cau 2", "lựa chọn 2", "lua chon 2", "chọn 2" (case and spaces free).
_CHOICE = re.compile(r"^\s*(?:(?:số|so|câu|cau|lựa\s+chọn|lua\s+chon|chọn|chon)\s*)?(\d{1,2})\s*[.)]?\s*$",
                     re.IGNORECASE)


def choice_number(text: str) -> int | None:
    """The option a user picked by typing its number ("2", "2.", "số 2", "cau 2", "lựa chọn 2"), or None."""
    match = _CHOICE.match(unicodedata.normalize("NFC", text or ""))
    return int(match.group(1)) if match else None
