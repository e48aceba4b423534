"""Questions the bot could not answer, and how each handbook reply went (issue 17).

The action server records here; the console's editor pages read and act. Nothing is tied to a
sender id: a row holds the channel, the time, the candidates offered, what the person chose and
the question text masked *before* it is stored (:func:`helpline.text.mask_pii`). Rows go with the
retention period (:mod:`helpline.retention`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from helpline.db import Database, from_db_ts
from helpline.handoff.models import utc_now
from helpline.handoff.schema import OUTCOMES, UNANSWERED_KINDS
from helpline.text import clean, fold, mask_pii

if TYPE_CHECKING:
    from helpline.kb.embedder import Embedder

MAX_TEXT = 500
# e5 cosine at or above which two masked questions count as the same question (unrelated
# Vietnamese sentences sit around 0.75-0.8; paraphrases above 0.9: see tests/unit/test_unanswered.py).
GROUP_SIMILARITY = 0.9
HANDLED = ("paraphrase", "draft", "out_of_scope")


@dataclass(frozen=True)
class Unanswered:
    id: int
    channel: str
    asked_at: dt.datetime
    kind: str
    text: str
    candidates: tuple[str, ...]
    chosen: str | None


@dataclass
class Group:
    """Similar unanswered questions; the first (most recent) is shown as the group's question."""

    members: list[Unanswered] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.members[0].text

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.members]

    @property
    def channels(self) -> list[str]:
        return sorted({m.channel for m in self.members})

    @property
    def candidates(self) -> list[str]:
        """Entries offered or chosen, most frequent first."""
        counts: dict[str, int] = {}
        for m in self.members:
            for c in (*m.candidates, *([m.chosen] if m.chosen else [])):
                counts[c] = counts.get(c, 0) + 1
        return sorted(counts, key=lambda c: -counts[c])


def masked_question(text: str) -> str:
    """The question as it may be stored: cleaned, personal data masked, bounded."""
    masked = mask_pii(clean(text or ""))
    return masked if len(masked) <= MAX_TEXT else masked[: MAX_TEXT - 1] + "…"


class LearningLog:
    """Writes and reads ``kb_outcomes`` and ``kb_unanswered`` (tables in the handoff database)."""

    def __init__(self, database: Database, now: Callable[[], dt.datetime] = utc_now) -> None:
        self._db = database
        self._d = database.dialect
        self._now = now

    def outcome(self, channel: str, outcome: str, entry_id: str | None = None, topic: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        with self._db.transaction("record a handbook outcome") as q:
            q.run("INSERT INTO kb_outcomes (channel, at, outcome, entry_id, topic) VALUES (?, ?, ?, ?, ?)",
                  (channel[:32] or "?", self._d.ts(self._now()), outcome, entry_id, topic))

    def record(self, channel: str, kind: str, text: str, candidates: Sequence[str], chosen: str | None = None) -> int:
        """Store one unanswered question (masked here, before it reaches the database)."""
        if kind not in UNANSWERED_KINDS:
            raise ValueError(f"kind must be one of {UNANSWERED_KINDS}")
        masked = masked_question(text)
        if not masked:
            raise ValueError("empty question")
        with self._db.transaction("record an unanswered question") as q:
            return q.insert("INSERT INTO kb_unanswered (channel, asked_at, kind, text, candidates, chosen) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (channel[:32] or "?", self._d.ts(self._now()), kind, masked,
                             json.dumps(list(candidates)), chosen))

    def chose(self, text: str, entry_id: str, within: dt.timedelta = dt.timedelta(hours=1)) -> bool:
        """The person picked ``entry_id`` among the candidates offered for ``text`` (the latest such row)."""
        masked = masked_question(text)
        since = self._d.ts(self._now() - within)
        with self._db.transaction("record a choice") as q:
            row = q.one("SELECT id FROM kb_unanswered WHERE text = ? AND kind = 'ask' AND chosen IS NULL "
                        "AND asked_at >= ? ORDER BY id DESC LIMIT 1", (masked, since))
            if row is None:
                return False
            return bool(q.run("UPDATE kb_unanswered SET chosen = ? WHERE id = ?", (entry_id, row[0])))

    def open_questions(self, limit: int = 2000) -> list[Unanswered]:
        """Questions no editor has handled yet, newest first."""
        with self._db.transaction("list unanswered questions", write=False) as q:
            rows = q.all("SELECT id, channel, asked_at, kind, text, candidates, chosen FROM kb_unanswered "
                         "WHERE handled IS NULL ORDER BY id DESC LIMIT ?", (limit,))
        return [Unanswered(int(r[0]), r[1], from_db_ts(r[2]), r[3], r[4], tuple(json.loads(r[5])), r[6])
                for r in rows]

    def handle(self, ids: Sequence[int], action: str, who: str) -> int:
        """Mark questions as handled (``paraphrase``, ``draft`` or ``out_of_scope``); returns how many."""
        if action not in HANDLED:
            raise ValueError(f"action must be one of {HANDLED}")
        ids = [int(i) for i in ids][:500]
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        with self._db.transaction("handle unanswered questions") as q:
            return q.run(f"UPDATE kb_unanswered SET handled = ?, handled_by = ?, handled_at = ? "
                         f"WHERE handled IS NULL AND id IN ({marks})", (action, who, self._d.ts(self._now()), *ids))

    def texts(self, ids: Sequence[int]) -> list[str]:
        ids = [int(i) for i in ids][:500]
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        with self._db.transaction("read unanswered questions", write=False) as q:
            return [r[0] for r in q.all(f"SELECT text FROM kb_unanswered WHERE id IN ({marks}) ORDER BY id DESC",
                                        tuple(ids))]


def group_questions(rows: Sequence[Unanswered], embedder: Embedder | None,
                    threshold: float = GROUP_SIMILARITY) -> list[Group]:
    """Group similar questions (same folded text, or e5 cosine >= threshold to a group's first), by frequency."""
    groups: list[Group] = []
    by_fold: dict[str, Group] = {}
    leaders: list[int] = []  # row index of each group's first question
    vectors = embedder.encode_queries([r.text for r in rows]) if embedder is not None and rows else None
    for i, row in enumerate(rows):
        key = fold(row.text)
        group = by_fold.get(key)
        if group is None and vectors is not None and leaders:
            sims = vectors[leaders] @ vectors[i]
            best = int(sims.argmax())
            if float(sims[best]) >= threshold:
                group = groups[best]
        if group is None:
            group = Group()
            groups.append(group)
            leaders.append(i)
        by_fold.setdefault(key, group)
        group.members.append(row)
    return sorted(groups, key=lambda g: (-g.count, -g.members[0].id))
