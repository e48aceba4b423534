"""Tables of the handoff store. ``{id}`` and ``{ts}`` are filled per dialect."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.handoff.models import AUTHORS, PRIORITIES, STATUSES


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# AUTOINCREMENT keeps SQLite from reusing
# the id of a deleted ticket, so an old staff link never opens someone else's.
SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS handoff_tickets (
        id {{id}}, channel TEXT NOT NULL, sender_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ({_in(STATUSES)})),
        priority TEXT NOT NULL CHECK (priority IN ({_in(PRIORITIES)})),
        reasons TEXT NOT NULL, location TEXT,
        created_at {{ts}} NOT NULL, updated_at {{ts}} NOT NULL, resolved_at {{ts}}, resolved_by TEXT)""",
    # At most one open ticket per person, even when two processes open at once.
    """CREATE UNIQUE INDEX IF NOT EXISTS handoff_tickets_one_open
        ON handoff_tickets (channel, sender_id) WHERE status = 'open'""",
    "CREATE INDEX IF NOT EXISTS handoff_tickets_status ON handoff_tickets (status, created_at)",
    f"""CREATE TABLE IF NOT EXISTS handoff_messages (
        id {{id}}, ticket_id BIGINT NOT NULL REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        author TEXT NOT NULL CHECK (author IN ({_in(AUTHORS)})),
        text TEXT NOT NULL, created_at {{ts}} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS handoff_messages_ticket ON handoff_messages (ticket_id, id)",
    """CREATE TABLE IF NOT EXISTS audit_log (
        id {id}, who TEXT NOT NULL, action TEXT NOT NULL, ticket_id BIGINT, at {ts} NOT NULL)""",
)
