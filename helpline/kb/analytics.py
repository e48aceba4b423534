"""Answer analytics per week and channel, for the supervisor (issue 17).

Computed from ``kb_outcomes`` (one row per handbook reply: channel, time, outcome, entry), the
tickets (channel, time, level) and their first staff reply. No query here reads a sender id or
any message text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field

from helpline.db import Database, from_db_ts

QUESTION_OUTCOMES = ("answer", "answer_alt", "ask", "unknown")
LEVELS = ("immediate", "urgent", "concern", "normal")


@dataclass
class WeekChannel:
    week: dt.date
    channel: str
    outcomes: Counter[str] = field(default_factory=Counter)
    handoffs: Counter[str] = field(default_factory=Counter)
    first_replies: list[float] = field(default_factory=list)
    entries: Counter[str] = field(default_factory=Counter)  # answers shown, by entry
    topics: Counter[str] = field(default_factory=Counter)

    @property
    def questions(self) -> int:
        return sum(self.outcomes[o] for o in QUESTION_OUTCOMES)

    @property
    def answered(self) -> int:
        return self.outcomes["answer"] + self.outcomes["answer_alt"]

    @property
    def unanswered(self) -> int:
        return self.outcomes["ask"] + self.outcomes["unknown"] + self.outcomes["rejected"]

    def rate(self, count: int) -> float | None:
        return count / self.questions if self.questions else None

    @property
    def answer_rate(self) -> float | None:
        return self.rate(self.answered)

    @property
    def clarification_rate(self) -> float | None:
        return self.rate(self.outcomes["ask"])

    @property
    def median_first_reply(self) -> float | None:
        return statistics.median(self.first_replies) if self.first_replies else None


@dataclass
class Analytics:
    weeks: list[dt.date]
    rows: list[WeekChannel]
    top_entries: list[tuple[str, int]]
    top_topics: list[tuple[str, int]]

    def per_week(self, value: str) -> list[tuple[dt.date, dict[str, int]]]:
        """For the stacked charts: per week, outcome counts (``value="outcomes"``) or handoffs by level."""
        out = []
        for week in self.weeks:
            counts: Counter[str] = Counter()
            for r in self.rows:
                if r.week == week:
                    counts.update(r.outcomes if value == "outcomes" else r.handoffs)
            if value == "outcomes":
                counts.pop("chosen", None)
            out.append((week, dict(counts)))
        return out

    def top_per_week(self, n: int = 3) -> list[tuple[dt.date, list[tuple[str, int]], list[tuple[str, int]]]]:
        """Per week (all channels): the most answered entries and topics."""
        out = []
        for week in self.weeks:
            entries: Counter[str] = Counter()
            topics: Counter[str] = Counter()
            for r in self.rows:
                if r.week == week:
                    entries.update(r.entries)
                    topics.update(r.topics)
            out.append((week, entries.most_common(n), topics.most_common(n)))
        return out

    def median_per_week(self) -> list[tuple[dt.date, dict[str, int]]]:
        """Median minutes to the first staff reply per week (all channels), for a bar chart."""
        out = []
        for week in self.weeks:
            values = [v for r in self.rows if r.week == week for v in r.first_replies]
            out.append((week, {"phút": round(statistics.median(values) / 60)} if values else {}))
        return out


def week_start(moment: dt.datetime, tz: dt.tzinfo) -> dt.date:
    day = moment.astimezone(tz).date()
    return day - dt.timedelta(days=day.weekday())


def compute(db: Database, weeks: int, tz: dt.tzinfo, now: dt.datetime) -> Analytics:
    first = week_start(now, tz) - dt.timedelta(weeks=weeks - 1)
    since = dt.datetime.combine(first, dt.time(), tz)
    d = db.dialect
    rows: dict[tuple[dt.date, str], WeekChannel] = {}

    def cell(at: object, channel: str) -> WeekChannel:
        week = week_start(from_db_ts(at), tz)
        return rows.setdefault((week, channel), WeekChannel(week, channel))

    entries: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    with db.transaction("read answer analytics", write=False) as q:
        for channel, at, outcome, entry_id, topic in q.all(
                "SELECT channel, at, outcome, entry_id, topic FROM kb_outcomes WHERE at >= ?", (d.ts(since),)):
            c = cell(at, channel)
            c.outcomes[outcome] += 1
            if entry_id and outcome in ("answer", "answer_alt", "chosen"):
                entries[entry_id] += 1
                topics[topic or "?"] += 1
                c.entries[entry_id] += 1
                c.topics[topic or "?"] += 1
        for channel, at, priority, replied in q.all(
                "SELECT t.channel, t.created_at, t.priority, s.first_staff_reply_at FROM handoff_tickets t "
                "LEFT JOIN handoff_ticket_state s ON s.ticket_id = t.id WHERE t.created_at >= ?", (d.ts(since),)):
            c = cell(at, channel)
            c.handoffs[priority] += 1
            if replied is not None:
                c.first_replies.append(max(0.0, (from_db_ts(replied) - from_db_ts(at)).total_seconds()))
    week_list = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    ordered = sorted(rows.values(), key=lambda r: (r.week, r.channel))
    return Analytics(week_list, ordered, entries.most_common(10), topics.most_common(10))


CSV_COLUMNS = ("week_start", "channel", "questions", "answered", "answer_rate", "clarifications",
               "clarification_rate", "unanswered", *(f"handoffs_{lv}" for lv in LEVELS),
               "median_first_staff_reply_seconds", "top_entries", "top_topics")


def _top(counts: Counter[str], n: int = 3) -> str:
    return "; ".join(f"{key} ({count})" for key, count in counts.most_common(n))


def to_csv(analytics: Analytics) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in analytics.rows:
        writer.writerow([r.week.isoformat(), r.channel, r.questions, r.answered,
                         "" if r.answer_rate is None else f"{r.answer_rate:.3f}", r.outcomes["ask"],
                         "" if r.clarification_rate is None else f"{r.clarification_rate:.3f}", r.unanswered,
                         *(r.handoffs[lv] for lv in LEVELS),
                         "" if r.median_first_reply is None else f"{r.median_first_reply:.0f}",
                         _top(r.entries), _top(r.topics)])
    return out.getvalue()
