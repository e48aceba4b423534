"""Export the tickets staff labelled into a file a person reviews: ``make safety-review``.

``python -m helpline.handoff.safety_review [--since DAYS] [--out FILE]`` writes the labelled cases
(see :mod:`helpline.handoff.feedback`) in the item format of ``tests/data/safety_eval.yml``: the
person's first message with personal data masked (:func:`helpline.text.mask_pii`), a level guessed
from the label and the ticket's priority, a style guessed from the diacritics, plus
``source: staff_review``, the ``label`` and a masked reference. Nothing here changes the lexicon or
the evaluation set: a person decides which items to add to the evaluation set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from helpline.handoff.models import EMERGENCY_PRIORITIES, Ticket, TicketLabel
from helpline.handoff.store import HandoffStore
from helpline.settings import PROJECT_ROOT, Settings
from helpline.text import clean, has_diacritics, mask_id, mask_pii

DEFAULT_OUT = PROJECT_ROOT / "var" / "safety_review.yml"
HEADER = """\
# Safety review: conversations hotline staff labelled in the console (make safety-review).
# Generated {generated}; labels from the last {window}. Personal data and user ids are masked.
# Each item is in the tests/data/safety_eval.yml format; `level` and `style` are GUESSES.
# A person reviews each item, corrects level/style, and may then add it to the safety evaluation
# set by hand. Never copy these messages into the lexicon, and never add them without review.
# label: real_emergency | not_emergency | flag_earlier (should have been flagged earlier)
"""


def guess_level(label: str, priority: str) -> str:
    """The level the message probably deserves, from the staff label and the bot's priority."""
    if label in ("real_emergency", "flag_earlier"):
        # Right or too late: the bot's level if it escalated, otherwise at least urgent.
        return priority if priority in EMERGENCY_PRIORITIES else "urgent"
    return "concern" if priority == "concern" else "none"


def guess_style(text: str) -> str:
    return "accented" if has_diacritics(text) else "unaccented"


def first_user_text(ticket: Ticket) -> str | None:
    for message in ticket.messages:
        if message.author == "user" and message.text.strip():
            return message.text
    return None


def conversation_key(ticket: Ticket) -> str:
    """``channel:sender`` (senders are often stored as conversation keys already)."""
    prefix = f"{ticket.channel}:"
    return ticket.sender_id if ticket.sender_id.startswith(prefix) else prefix + ticket.sender_id


def review_item(ticket: Ticket, label: TicketLabel) -> dict[str, Any] | None:
    """One review item for a labelled ticket, masked; None if the person wrote nothing."""
    text = first_user_text(ticket)
    if text is None:
        return None
    masked = " ".join(mask_pii(clean(text)).split())
    item: dict[str, Any] = {
        "text": masked,
        "level": guess_level(label.label, ticket.priority),
        "style": guess_style(text),  # the original: the mask "[sđt]" itself has a diacritic
        "source": "staff_review",
        "label": label.label,
        "bot_priority": ticket.priority,
        "ref": mask_id(conversation_key(ticket)),
        "labelled_at": label.labelled_at.date().isoformat(),
    }
    if label.note:
        item["note"] = " ".join(mask_pii(clean(label.note)).split())
    return item


def export(store: HandoffStore, out: Path, since_days: int | None = None) -> dict[str, int]:
    """Write the review file; returns counts per label (and ``items``, ``skipped``)."""
    since = dt.timedelta(days=since_days) if since_days is not None else None
    counts = {"items": 0, "skipped": 0, "real_emergency": 0, "not_emergency": 0, "flag_earlier": 0}
    items: list[dict[str, Any]] = []
    for ticket, label in store.labelled_cases(since):
        item = review_item(ticket, label)
        if item is None:
            counts["skipped"] += 1
            continue
        items.append(item)
        counts["items"] += 1
        counts[label.label] += 1
    window = f"{since_days} days" if since_days is not None else "retention period (all kept tickets)"
    body = yaml.safe_dump({"version": 1, "items": items}, allow_unicode=True, sort_keys=False, width=1000)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(HEADER.format(generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                 window=window) + body, encoding="utf-8")
    tmp.replace(out)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpline.handoff.safety_review", description=__doc__)
    parser.add_argument("--since", type=int, metavar="DAYS", help="only labels set in the last DAYS days")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    parser.add_argument("--database", help="handoff database URL (default: the configured one)")
    args = parser.parse_args(argv)
    if args.since is not None and args.since < 1:
        parser.error("--since must be at least 1")
    url = args.database or Settings.from_env().handoff_db_url
    store = HandoffStore.from_url(url)
    counts = export(store, args.out, args.since)
    print(f"safety-review: {counts['items']} labelled cases written to {args.out} "
          f"(real_emergency {counts['real_emergency']}, not_emergency {counts['not_emergency']}, "
          f"flag_earlier {counts['flag_earlier']}; {counts['skipped']} without a user message skipped). "
          "Review them before adding any to tests/data/safety_eval.yml.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
