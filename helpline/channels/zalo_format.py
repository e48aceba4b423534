"""One Zalo text and button mapping, shared by the Official Account API and the Bot Platform.

Both take text up to 2000 characters. Options always become a numbered list in the
text, and the user may answer with the number (remembered per person, see
``ChannelStore``). The OA API also gets up to 5 native buttons (``oa.query.hide``: a
tap sends the payload back as the user's text, hidden); they are not confirmed on
``/v3.0/oa/message/cs`` (the official PHP SDK marks text with buttons unsupported in
v3), so the numbered list is what every person can rely on. The Bot Platform has no buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.channels.messages import Button, Reply, numbered_text, split_reply, truncate
from helpline.text import split_message

ZALO_TEXT_LIMIT = 2000
ZALO_MAX_BUTTONS = 5
ZALO_BUTTON_TITLE_LIMIT = 100
ZALO_PAYLOAD_LIMIT = 1000


@dataclass(frozen=True)
class ZaloPart:
    """One Zalo message: text plus native buttons (OA only) or numbered choices (both)."""

    text: str
    buttons: tuple[Button, ...] = ()  # native OA buttons
    choices: tuple[str, ...] = ()  # payloads of numbered options in the text, in order


def _with_image(reply: Reply) -> str:
    # Neither API sends an image by URL in a plain text message; the link keeps it reachable.
    return f"{reply.text}\n{reply.image}".strip() if reply.image else reply.text


def zalo_parts(reply: Reply, native_buttons: bool) -> list[ZaloPart]:
    """Map a reply to Zalo messages in order; never more than 2000 characters each."""
    text = _with_image(reply)
    buttons = reply.buttons
    fits = (
        native_buttons and len(buttons) <= ZALO_MAX_BUTTONS
        and all(len(b.payload) <= ZALO_PAYLOAD_LIMIT for b in buttons)
    )
    if not buttons:
        parts = split_reply(Reply(text=text), ZALO_TEXT_LIMIT) if text.strip() else []
        return [ZaloPart(p.text) for p in parts]
    chunks = split_message(numbered_text(text, buttons), ZALO_TEXT_LIMIT)
    payloads = tuple(b.payload for b in buttons)
    native = tuple(Button(truncate(b.title, ZALO_BUTTON_TITLE_LIMIT), b.payload) for b in buttons) if fits else ()
    last = len(chunks) - 1
    return [ZaloPart(c, native if i == last else (), payloads if i == last else ()) for i, c in enumerate(chunks)]
