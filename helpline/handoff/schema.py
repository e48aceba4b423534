"""Tables of the handoff store. ``{id}`` and ``{ts}`` are filled per dialect."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.handoff.models import AUTHORS, LABELS, PRIORITIES, STATUSES
from helpline.handoff.waiting import SAFETY_SCHEMA


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

ROLES: tuple[str, ...] = ("agent", "supervisor")

# Staff desk: work state per ticket, internal notes, staff accounts and sessions. Separate
# tables (not new columns) so databases created before them gain them with CREATE IF NOT EXISTS.
DESK_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS handoff_ticket_state (
        ticket_id BIGINT PRIMARY KEY REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        assigned_to TEXT, assigned_at {ts}, first_staff_reply_at {ts}, escalated_at {ts}, notified_at {ts},
        resume_pending INTEGER NOT NULL DEFAULT 0, resume_attempts INTEGER NOT NULL DEFAULT 0,
        resume_error TEXT, resume_next_at {ts}, resumed_at {ts})""",
    """CREATE TABLE IF NOT EXISTS handoff_notes (
        id {id}, ticket_id BIGINT NOT NULL REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        author TEXT NOT NULL, text TEXT NOT NULL, created_at {ts} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS handoff_notes_ticket ON handoff_notes (ticket_id, id)",
    f"""CREATE TABLE IF NOT EXISTS staff_users (
        id {{id}}, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ({_in(ROLES)})), active INTEGER NOT NULL DEFAULT 1,
        failed_logins INTEGER NOT NULL DEFAULT 0, locked_until {{ts}},
        created_at {{ts}} NOT NULL, last_login_at {{ts}})""",
    # The session id itself is never stored, only its SHA-256: a leaked table opens no session.
    """CREATE TABLE IF NOT EXISTS staff_sessions (
        id_hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL, created_at {ts} NOT NULL, last_seen_at {ts} NOT NULL, expires_at {ts} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS staff_sessions_expiry ON staff_sessions (expires_at)",
)
# Later additions, again as tables of their own:
# - the masked form of each transcript line, made once when the line is stored (masking is the
#   costly part of showing a queue; a line written before this table existed is masked when read);
# - the TOTP secret of a staff member who enrolled (the last accepted time step stops a replay).
EXTRA_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS handoff_message_masks (
        message_id BIGINT PRIMARY KEY REFERENCES handoff_messages (id) ON DELETE CASCADE, masked TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS staff_totp (
        user_id BIGINT PRIMARY KEY REFERENCES staff_users (id) ON DELETE CASCADE, secret TEXT NOT NULL,
        last_step BIGINT NOT NULL DEFAULT 0, created_at {ts} NOT NULL)""",
)
# Staff feedback on the bot's safety call (issue 14), one row per ticket, again a table of its own:
# set when resolving (real_emergency / not_emergency / flag_earlier) or by "Báo sót" on a ticket the
# bot did not escalate. Deleted with the ticket (retention).
FEEDBACK_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS handoff_ticket_labels (
        ticket_id BIGINT PRIMARY KEY REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        label TEXT NOT NULL CHECK (label IN ({_in(LABELS)})), note TEXT,
        labelled_by TEXT NOT NULL, labelled_at {{ts}} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS handoff_ticket_labels_at ON handoff_ticket_labels (labelled_at)",
)
# The safety check at the start of a handoff (helpline.handoff.waiting), a table of its own too.
SCHEMA = SCHEMA + DESK_SCHEMA + EXTRA_SCHEMA + FEEDBACK_SCHEMA + SAFETY_SCHEMA
# The learning loop (issue 17), tables of their own:
# - kb_outcomes: one row per handbook reply (answered / with alternatives / asked / no answer / rejected),
#   channel and time only, for the analytics; never a sender id or the text;
# - kb_unanswered: the questions the bot could not answer or whose answer was rejected, masked before
#   storage, never tied to a sender id, purged by retention;
# - kb_drafts: changes to handbook entries awaiting a second person (four eyes), and their history;
# - staff_roles: roles added after staff_users' CHECK was fixed (``editor``), so existing databases
#   need no migration. A row here overrides the account's base role.
LEARNING_ROLES: tuple[str, ...] = ("editor",)
UNANSWERED_KINDS: tuple[str, ...] = ("ask", "unknown", "rejected")
OUTCOMES: tuple[str, ...] = ("answer", "answer_alt", "ask", "unknown", "rejected", "chosen")
DRAFT_KINDS: tuple[str, ...] = ("edit", "create", "retire")
DRAFT_STATUSES: tuple[str, ...] = ("draft", "approved", "rejected")
LEARNING_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS kb_outcomes (
        id {{id}}, channel TEXT NOT NULL, at {{ts}} NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ({_in(OUTCOMES)})), entry_id TEXT, topic TEXT)""",
    "CREATE INDEX IF NOT EXISTS kb_outcomes_at ON kb_outcomes (at)",
    f"""CREATE TABLE IF NOT EXISTS kb_unanswered (
        id {{id}}, channel TEXT NOT NULL, asked_at {{ts}} NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ({_in(UNANSWERED_KINDS)})), text TEXT NOT NULL,
        candidates TEXT NOT NULL, chosen TEXT, handled TEXT, handled_by TEXT, handled_at {{ts}})""",
    "CREATE INDEX IF NOT EXISTS kb_unanswered_at ON kb_unanswered (asked_at)",
    f"""CREATE TABLE IF NOT EXISTS kb_drafts (
        id {{id}}, entry_id TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ({_in(DRAFT_KINDS)})),
        topic TEXT NOT NULL, payload TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', author TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ({_in(DRAFT_STATUSES)})), created_at {{ts}} NOT NULL,
        decided_by TEXT, decided_at {{ts}}, diff TEXT)""",
    "CREATE INDEX IF NOT EXISTS kb_drafts_entry ON kb_drafts (entry_id, id)",
    f"""CREATE TABLE IF NOT EXISTS staff_roles (
        user_id BIGINT PRIMARY KEY REFERENCES staff_users (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ({_in(LEARNING_ROLES)})))""",
)
SCHEMA = SCHEMA + LEARNING_SCHEMA
# Anonymous reports (issue 16, helpline.handoff.reports): the form's answers and reference code of a
# report ticket, and whether staff forwarded it to the police. Deleted with the ticket (retention).
REPORT_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS handoff_reports (
        id {id}, ticket_id BIGINT NOT NULL REFERENCES handoff_tickets (id) ON DELETE CASCADE,
        code TEXT NOT NULL UNIQUE, what TEXT, place TEXT, happened_when TEXT, who TEXT,
        in_danger TEXT CHECK (in_danger IN ('yes', 'no')), contact TEXT,
        created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
        forwarded_to TEXT, forwarded_on TEXT, forwarded_at {ts}, forwarded_by TEXT)""",
    "CREATE INDEX IF NOT EXISTS handoff_reports_ticket ON handoff_reports (ticket_id)",
)
SCHEMA = SCHEMA + REPORT_SCHEMA
