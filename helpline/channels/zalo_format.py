"""One Zalo text and button mapping, shared by the Official Account API and the Bot Platform.

Both take text up to 2000 characters. The OA API shows up to 5 native buttons
(``oa.query.hide``: a tap sends the payload back as the user's text, hidden);
the Bot Platform has no buttons, so options become a numbered list and the
user answers with the number (remembered per person, see ``ChannelStore``).
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
    if not buttons or fits:
        parts = split_reply(Reply(text=text), ZALO_TEXT_LIMIT) if text.strip() else []
        out = [ZaloPart(p.text) for p in parts]
        if buttons:
            native = tuple(Button(truncate(b.title, ZALO_BUTTON_TITLE_LIMIT), b.payload) for b in buttons)
            if out:
                out[-1] = ZaloPart(out[-1].text, native)
            else:  # Zalo needs some text above buttons
                out.append(ZaloPart("…", native))
        return out
    chunks = split_message(numbered_text(text, buttons), ZALO_TEXT_LIMIT)
    payloads = tuple(b.payload for b in buttons)
    return [ZaloPart(c, choices=payloads if i == len(chunks) - 1 else ()) for i, c in enumerate(chunks)]
