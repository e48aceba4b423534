"""The waiting-ticket model: the bot keeps helping until a staff member takes the conversation.

A ticket opens *waiting* (``handoff_ticket_state.assigned_to IS NULL``). While it waits, the bot
still answers the person; every bot reply carries 111, and every message and reply goes on the
ticket's transcript. When a staff member claims the ticket (claim, transfer, or a first staff
reply) it is *with staff*: the bot steps back and the person's messages go only to the ticket.
When staff resolve it, the bot comes back (:mod:`helpline.handoff.workers`).

The claim and the recording of a bot turn take the same ticket row in one transaction each, so a
bot reply is either recorded before the claim (and delivered) or dropped: no bot reply goes out
after a claim is committed (:meth:`WaitingMixin.record_turn`).

The safety check at the start of a handoff (:data:`SAFETY_ANSWERS`) is one row per ticket in
``handoff_ticket_safety``: asked, then answered (``safe``, ``unsafe``, ``unsure``) or lapsed
(``no_answer``: the person wrote something else first). The answer raises the ticket's priority
(never lowers it: someone watching may make the person tap "safe").

:class:`WaitingMixin` is a base class of :class:`helpline.handoff.store.HandoffStore`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helpline.db import Database, Dialect, Query, from_db_ts
from helpline.handoff.models import AUTHORS, higher_priority, quiet_report_reasons
from helpline.text import fold

if TYPE_CHECKING:
    from helpline.handoff.store import HandoffStore

# The person's answer to "Bạn có đang ở nơi an toàn để nhắn tin không?", and what it does to the priority.
SAFETY_ANSWERS: tuple[str, ...] = ("safe", "unsafe", "unsure")
SAFETY_STATES: tuple[str, ...] = (*SAFETY_ANSWERS, "no_answer")
SAFETY_PRIORITY: dict[str, str | None] = {"safe": None, "unsafe": "immediate", "unsure": "urgent"}
# Button payloads of the three answers (accepted only if offered, like every payload).
SAFETY_PAYLOADS: dict[str, str] = {"/safety_safe": "safe", "/safety_unsafe": "unsafe", "/safety_unsure": "unsure"}
SAFETY_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS handoff_ticket_safety (
        ticket_id BIGINT PRIMARY KEY REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        asked_at {{ts}} NOT NULL,
        answer TEXT CHECK (answer IN ({", ".join(f"'{s}'" for s in SAFETY_STATES)})), answered_at {{ts}})""",
)
# The command an action adds to its messages after putting the turn on a ticket: the person's message
# and every bot message before the command are on the ticket already (see connectors/turn.py).
TICKET_COMMAND = "ticket_turn"

# Typed answers, on folded text (no diacritics, teen code expanded), the whole message only.
_PRONOUN = r"(?:toi|em|minh|chau|con|tao|anh|chi)\s+"
_TAIL = r"(?:\s+(?:a|nhe|nha|roi|lam|ca|het))*"
_NO = r"(?:khong|chua|ko|k)"
_TYPED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("unsure", re.compile(rf"^(?:3|(?:{_PRONOUN})?{_NO}\s+(?:chac|biet)(?:\s+nua)?){_TAIL}$")),
    ("unsafe", re.compile(rf"^(?:2|(?:{_PRONOUN})?(?:dang\s+)?{_NO}(?:\s+(?:dang\s+)?an\s+toan)?){_TAIL}$")),
    ("safe", re.compile(rf"^(?:1|co|(?:{_PRONOUN})?(?:co\s+|dang\s+|da\s+|van\s+)?an\s+toan){_TAIL}$")),
)


def typed_safety_answer(text: str) -> str | None:
    """The answer a short typed message gives to the safety question ("2", "không an toàn", "em an toàn ạ")."""
    folded = re.sub(r"[^\w\s]", " ", fold(text or "")).strip()
    folded = re.sub(r"\s+", " ", folded)
    if not folded or len(folded) > 40:
        return None
    for answer, pattern in _TYPED:
        if pattern.match(folded):
            return answer
    return None


def _holder(assigned_to: str | None, reasons: str, first_staff_reply_at: Any) -> str | None:
    """Who holds the conversation. Claiming a quiet report (to forward it) does not take the
    conversation from the bot; a staff member's reply to the person does."""
    if assigned_to and first_staff_reply_at is None and quiet_report_reasons(json.loads(reasons)):
        return None
    return assigned_to


@dataclass(frozen=True)
class OpenTicket:
    """Where a person's open ticket stands, read before the bot sees their message."""

    ticket_id: int
    priority: str
    assigned_to: str | None
    safety: str | None  # None: not asked; "asked": waiting for the answer; else a SAFETY_STATES value

    @property
    def waiting(self) -> bool:
        """Nobody has claimed it: the bot still answers."""
        return self.assigned_to is None

    @property
    def safety_pending(self) -> bool:
        return self.safety == "asked"


@dataclass(frozen=True)
class TurnRecord:
    """What :meth:`WaitingMixin.record_turn` did."""

    ticket_id: int
    with_staff: bool  # claimed when the turn was recorded: the bot's lines were not recorded (or sent)
    safety_asked: bool  # the safety question was recorded now (the caller sends it)


class WaitingMixin:
    """Waiting vs with-staff, turn recording and the safety check. Needs the store's ``_db``, ``_d``, ``_now``."""

    _db: Database
    _d: Dialect
    _now: Callable[[], dt.datetime]

    def _store(self) -> HandoffStore:
        return self  # type: ignore[return-value]

    def open_ticket_state(self, channel: str, sender_id: str) -> OpenTicket | None:
        """The person's open ticket: id, priority, who holds it, the safety check; None if none is open."""
        with self._db.transaction("look up an open ticket", write=False) as q:
            row = q.one(
                "SELECT t.id, t.priority, s.assigned_to, f.ticket_id, f.answer, t.reasons, s.first_staff_reply_at "
                "FROM handoff_tickets t "
                "LEFT JOIN handoff_ticket_state s ON s.ticket_id = t.id "
                "LEFT JOIN handoff_ticket_safety f ON f.ticket_id = t.id "
                "WHERE t.channel = ? AND t.sender_id = ? AND t.status = 'open'", (channel, sender_id))
        if row is None:
            return None
        safety = None if row[3] is None else (row[4] or "asked")
        return OpenTicket(int(row[0]), row[1], _holder(row[2], row[5], row[6]), safety)

    def _lock_open(self, q: Query, channel: str, sender_id: str) -> tuple[int, str | None] | None:
        lock = "" if self._d.is_sqlite else " FOR UPDATE"
        row = q.one("SELECT id FROM handoff_tickets WHERE channel = ? AND sender_id = ? AND status = 'open'"
                    f"{lock}", (channel, sender_id))
        if row is None:
            return None
        held = q.one("SELECT s.assigned_to, t.reasons, s.first_staff_reply_at FROM handoff_tickets t "
                     "LEFT JOIN handoff_ticket_state s ON s.ticket_id = t.id WHERE t.id = ?", (row[0],))
        return int(row[0]), (_holder(*held) if held else None)

    def record_turn(self, channel: str, sender_id: str, user_lines: Sequence[tuple[str, str]],
                    bot_lines: Sequence[str], safety_question: str | None = None,
                    force_bot: bool = False) -> TurnRecord | None:
        """Put one turn on the person's open ticket, in order; None if no ticket is open.

        ``user_lines`` are ``(author, text)`` pairs (``user``, or ``system`` for a note). The bot's
        lines are recorded only while the ticket waits (or with ``force_bot``: an emergency reply is
        always sent): once a staff member holds it, the bot's reply is dropped, and the caller must
        not send it. ``safety_question`` is recorded (and the ticket marked asked) if the ticket has
        never been asked.
        """
        for author, _ in user_lines:
            if author not in AUTHORS:
                raise ValueError(f"unknown author {author!r}")
        with self._db.transaction("record a turn on a ticket") as q:
            found = self._lock_open(q, channel, sender_id)
            if found is None:
                return None
            ticket_id, holder = found
            now = self._now()
            stamp = self._d.ts(now)
            store = self._store()
            for author, text in user_lines:
                # The same message seen twice (a redelivery, a replay, or a line the action already
                # put on the ticket, as a report addition does) is kept once.
                if text.strip() and not (author == "user" and store._repeats_last_line(q, ticket_id, text, now)):
                    store._insert_message(q, ticket_id, author, text, stamp)
            with_staff = holder is not None and not force_bot
            asked = False
            if not with_staff:
                for text in bot_lines:
                    if text.strip():
                        store._insert_message(q, ticket_id, "bot", text, stamp)
                if safety_question and q.run(
                        "INSERT INTO handoff_ticket_safety (ticket_id, asked_at) VALUES (?, ?) "
                        "ON CONFLICT (ticket_id) DO NOTHING", (ticket_id, stamp)):
                    store._insert_message(q, ticket_id, "bot", safety_question, stamp)
                    asked = True
            store._touch(q, ticket_id, stamp)
        return TurnRecord(ticket_id, with_staff, asked)

    def answer_safety(self, ticket_id: int, answer: str, user_line: str, bot_line: str | None = None) -> str:
        """Record the person's answer to the safety check and raise the priority; returns the new priority.

        Raises:
            ValueError: On an unknown answer.
            HandoffError: If the ticket does not exist or the database fails.
        """
        if answer not in SAFETY_ANSWERS:
            raise ValueError(f"unknown safety answer {answer!r}; expected one of {', '.join(SAFETY_ANSWERS)}")
        with self._db.transaction("record a safety answer") as q:
            lock = "" if self._d.is_sqlite else " FOR UPDATE"
            row = q.one(f"SELECT priority, reasons FROM handoff_tickets WHERE id = ?{lock}", (ticket_id,))
            if row is None:
                from helpline.errors import HandoffError

                raise HandoffError(f"ticket {ticket_id} does not exist")
            stamp = self._d.ts(self._now())
            if not q.run("UPDATE handoff_ticket_safety SET answer = ?, answered_at = ? WHERE ticket_id = ?",
                         (answer, stamp, ticket_id)):
                q.run("INSERT INTO handoff_ticket_safety (ticket_id, asked_at, answer, answered_at) "
                      "VALUES (?, ?, ?, ?)", (ticket_id, stamp, answer, stamp))
            raised = SAFETY_PRIORITY[answer]
            priority = higher_priority(row[0], raised) if raised else row[0]
            reasons = list(dict.fromkeys([*json.loads(row[1]), f"safety_check:{answer}"]))
            q.run("UPDATE handoff_tickets SET priority = ?, reasons = ?, updated_at = ? WHERE id = ?",
                  (priority, json.dumps(reasons, ensure_ascii=False), stamp, ticket_id))
            store = self._store()
            store._insert_message(q, ticket_id, "user", user_line, stamp)
            if bot_line:
                store._insert_message(q, ticket_id, "bot", bot_line, stamp)
            store._audit_q(q, "system", f"safety_answer answer={answer} priority={priority}", ticket_id, stamp)
        return priority

    def lapse_safety(self, ticket_id: int) -> bool:
        """The person wrote something else after the question: it lapses (a tap on a button still counts)."""
        with self._db.transaction("lapse a safety question") as q:
            return bool(q.run("UPDATE handoff_ticket_safety SET answer = 'no_answer' WHERE ticket_id = ? "
                              "AND answer IS NULL", (ticket_id,)))

    def safety_check(self, ticket_id: int) -> tuple[str, dt.datetime | None] | None:
        """The ticket's safety check: ``("asked" | answer, answered_at)``, or None if never asked."""
        with self._db.transaction("read a safety check", write=False) as q:
            row = q.one("SELECT answer, answered_at FROM handoff_ticket_safety WHERE ticket_id = ?", (ticket_id,))
        if row is None:
            return None
        return (row[0] or "asked", from_db_ts(row[1]) if row[1] is not None else None)


def ticket_text(text: str, buttons: Sequence[Any] = ()) -> str:
    """A bot message as a ticket shows it: its text, and the titles of the buttons it offered."""
    titles = [str(b.get("title")) for b in buttons or () if isinstance(b, dict) and b.get("title")]
    if titles and not all(t in text for t in titles):
        return f"{text}\n[nút] " + " · ".join(titles)
    return text


def with_111(messages: Sequence[dict[str, Any]], line: str) -> list[dict[str, Any]]:
    """The bot's messages of one turn, with ``line`` added to the last text if none names 111."""
    out = [dict(m) for m in messages]
    if any(re.search(r"(?<!\d)111(?!\d)", str(m.get("text") or "")) for m in out):
        return out
    for message in reversed(out):
        if isinstance(message.get("text"), str) and message["text"].strip():
            message["text"] = f"{message['text'].rstrip()}\n\n{line}"
            return out
    return out
