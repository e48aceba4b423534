"""Background work of the handoff service: escalation, bot resume (with retries), staff alerts, purge.

Everything here runs in the handoff service's event loop; store calls go to a thread. Nothing
logs message texts, user ids (only masked ones) or tokens (the Rasa token is in a query string,
so URLs are never logged either).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Protocol
from urllib.parse import quote

import httpx

from helpline import replies
from helpline.channels.http import redact_secrets
from helpline.channels.outbox import Outbox
from helpline.errors import ConfigError
from helpline.handoff.accounts import StaffAccounts
from helpline.handoff.models import Ticket, utc_now
from helpline.handoff.reports import is_quiet_report
from helpline.handoff.spool import TicketSpool
from helpline.handoff.store import HandoffStore
from helpline.settings import Settings
from helpline.text import mask_id

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 60.0
PRIORITY_LABELS = {"immediate": "NGUY HIỂM NGAY", "urgent": "KHẨN", "concern": "ĐÁNG LO", "normal": "thường"}


class ResumeFailed(Exception):
    """Rasa did not accept the resume event; the reason never contains the URL or token."""


class Resumer(Protocol):
    async def resume(self, sender_id: str) -> None: ...


class Notifier(Protocol):
    async def notify(self, text: str) -> None: ...


# Resume, then start a fresh session (what action_session_start records). Without the new session,
# the messages the person sent while paused stay in the dialogue history with no bot turn after
# them, and the policies answer the next question with a fallback or even the emergency action.
RESUME_EVENTS: list[dict[str, str]] = [
    {"event": "resume"},
    {"event": "session_started"},
    {"event": "action", "name": "action_listen"},
]


class _MaskConversationIds(logging.Filter):
    """httpx logs each request URL at INFO; Rasa's URL holds the person's platform id."""

    _PATH = re.compile(r"/conversations/[^/\s]+/")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._PATH.sub("/conversations/***/", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def _mask_conversation_ids() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskConversationIds) for f in httpx_log.filters):
        httpx_log.addFilter(_MaskConversationIds())


class RasaResumer:
    """Un-pauses a conversation through Rasa's tracker events API (``--enable-api`` with a token)."""

    def __init__(self, rasa_url: str, token: str, timeout: float = 10.0) -> None:
        self._base = rasa_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        redact_secrets([token])  # httpx logs request URLs, and Rasa takes its token in the query
        _mask_conversation_ids()

    async def resume(self, sender_id: str) -> None:
        await self._append(sender_id, RESUME_EVENTS)

    async def _append(self, sender_id: str, events: list[dict[str, str]]) -> None:
        url = f"{self._base}/conversations/{quote(sender_id, safe=':')}/tracker/events"
        try:
            # A client per call: these are rare, and this keeps no connection bound to one event loop.
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                resp = await client.post(url, params={"token": self._token}, json=events)
        except httpx.HTTPError as exc:
            raise ResumeFailed(f"Rasa unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise ResumeFailed(f"Rasa answered HTTP {resp.status_code}")


class TelegramNotifier:
    """Posts short alerts (no message text, masked ids only) to a staff Telegram group."""

    def __init__(self, api_base: str, bot_token: str, chat_id: str, timeout: float = 10.0) -> None:
        self._url = f"{api_base.rstrip('/')}/bot{bot_token}/sendMessage"
        redact_secrets([bot_token])
        self._chat_id = chat_id
        self._timeout = timeout

    async def notify(self, text: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                resp = await client.post(self._url, json={"chat_id": self._chat_id, "text": text,
                                                          "disable_web_page_preview": True})
        except httpx.HTTPError as exc:
            raise RuntimeError(f"Telegram unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise RuntimeError(f"Telegram answered HTTP {resp.status_code}")


def check_desk_settings(settings: Settings) -> None:
    """Fail at startup, naming the variable, instead of in a background loop later."""
    if settings.escalate_after_seconds < 1:
        raise ConfigError("HELPLINE_ESCALATE_AFTER_SECONDS must be at least 1")
    if settings.retention_days < 1:
        raise ConfigError("HELPLINE_RETENTION_DAYS must be at least 1")
    if settings.desk_tick_seconds <= 0:
        raise ConfigError("HELPLINE_DESK_TICK_SECONDS must be positive")
    if settings.console_session_minutes < 1 or settings.console_idle_minutes < 1:
        raise ConfigError("HELPLINE_CONSOLE_SESSION_MINUTES and HELPLINE_CONSOLE_IDLE_MINUTES must be at least 1")
    if settings.console_cookie_secure.strip().lower() not in ("auto", "true", "false", "1", "0", "yes", "no"):
        raise ConfigError("HELPLINE_CONSOLE_COOKIE_SECURE must be auto, true or false")
    if bool(settings.staff_telegram_bot_token) != bool(settings.staff_telegram_chat_id):
        raise ConfigError("set both HELPLINE_STAFF_TELEGRAM_BOT_TOKEN and HELPLINE_STAFF_TELEGRAM_CHAT_ID, or neither")


def alert_text(ticket: Ticket, console_url: str, escalated: bool = False) -> str:
    """The staff alert for a ticket: priority, channel, masked sender and a console link; never message text."""
    head = f"Ca #{ticket.id} quá hạn chưa có nhân viên trả lời" if escalated else f"Ca mới #{ticket.id}"
    return (f"{head} – mức {PRIORITY_LABELS.get(ticket.priority, ticket.priority)}, kênh {ticket.channel}, "
            f"người dùng {mask_id(ticket.sender_id)}.\nMở: {console_url.rstrip('/')}/console/tickets/{ticket.id}")


class DeskWorker:
    """Periodic desk jobs; each ``*_once`` method is one round (tests call them directly)."""

    def __init__(self, settings: Settings, store: HandoffStore, outbox: Outbox, resumer: Resumer,
                 notifier: Notifier | None = None, accounts: StaffAccounts | None = None) -> None:
        self.settings = settings
        self.store = store
        self.outbox = outbox
        self.resumer = resumer
        self.notifier = notifier
        self.accounts = accounts if accounts is not None else StaffAccounts(store.database, now=store.clock)
        self.console_url = settings.console_url or settings.handoff_url
        self.spool = TicketSpool.in_data_dir(settings.data_dir)
        self._last_purge: dt.datetime | None = None

    async def resume_ticket(self, ticket: Ticket) -> str | None:
        """Resume the bot for a closed ticket and tell the user; returns the failure reason, or None."""
        if is_quiet_report(ticket):
            # The bot never paused for this report: nothing to resume, nothing to tell the person.
            await asyncio.to_thread(self.store.mark_resumed, ticket.id)
            return None
        try:
            await self.resumer.resume(ticket.sender_id)
        except ResumeFailed as exc:
            attempts = await asyncio.to_thread(self.store.mark_resume_failed, ticket.id, str(exc))
            log.warning("ticket %d: bot resume failed (attempt %d): %s; will retry", ticket.id, attempts, exc)
            return str(exc)
        # The dedupe key makes a repeated resume (retry racing the console) send the message once.
        await asyncio.to_thread(self.outbox.enqueue, ticket.channel, ticket.sender_id, {"text": replies.BOT_RESUMED},
                                kind="bot", dedupe_key=f"handoff-resumed:{ticket.id}")
        await asyncio.to_thread(self.store.add_message, ticket.id, "bot", replies.BOT_RESUMED)
        await asyncio.to_thread(self.store.mark_resumed, ticket.id)
        log.info("ticket %d: bot resumed for %s", ticket.id, mask_id(ticket.sender_id))
        return None

    async def announce_claim(self, ticket: Ticket) -> bool:
        """A staff member took a waiting ticket: tell the person (once per ticket) that the bot steps back.

        The bot already stopped answering when the claim was committed (:mod:`helpline.handoff.waiting`);
        this only says so. Returns False if it could not be queued (the claim stands).
        """
        try:
            queued = await asyncio.to_thread(self.outbox.enqueue, ticket.channel, ticket.sender_id,
                                             {"text": replies.STAFF_TOOK_OVER}, kind="bot",
                                             dedupe_key=f"handoff-claimed:{ticket.id}")
            if queued is not None:
                await asyncio.to_thread(self.store.add_message, ticket.id, "bot", replies.STAFF_TOOK_OVER)
        except Exception:
            log.exception("ticket %d: could not tell the person a staff member took the conversation", ticket.id)
            return False
        return True

    async def resume_once(self) -> int:
        """Retry due resumes; returns how many succeeded."""
        done = 0
        for ticket in await asyncio.to_thread(self.store.due_resumes):
            if await self.resume_ticket(ticket) is None:
                done += 1
        return done

    async def escalate_once(self) -> int:
        """Remind users waiting too long to call 111, once per ticket, and escalate those tickets."""
        after = dt.timedelta(seconds=self.settings.escalate_after_seconds)
        count = 0
        for ticket in await asyncio.to_thread(self.store.escalation_due, after):
            # Enqueue first: a crash before marking re-enqueues next round, which the dedupe key ignores.
            await asyncio.to_thread(self.outbox.enqueue, ticket.channel, ticket.sender_id,
                                    {"text": replies.STAFF_NO_REPLY_YET}, kind="bot",
                                    dedupe_key=f"handoff-escalated:{ticket.id}")
            if await asyncio.to_thread(self.store.mark_escalated, ticket.id, replies.STAFF_NO_REPLY_YET):
                count += 1
                log.warning("ticket %d escalated: no staff reply after %ds", ticket.id, after.total_seconds())
                await self._alert(ticket, escalated=True)
        return count

    async def notify_once(self) -> int:
        """Alert the staff group about new tickets (when configured); returns how many were sent."""
        if self.notifier is None:
            return 0
        sent = 0
        for ticket in await asyncio.to_thread(self.store.unnotified):
            if not await self._alert(ticket):
                break  # Telegram is failing: try the rest next round
            await asyncio.to_thread(self.store.mark_notified, ticket.id)
            sent += 1
        return sent

    async def _alert(self, ticket: Ticket, escalated: bool = False) -> bool:
        if self.notifier is None:
            return True
        try:
            await self.notifier.notify(alert_text(ticket, self.console_url, escalated))
        except Exception as exc:
            log.warning("staff alert for ticket %d failed: %s", ticket.id, exc)
            return False
        return True

    async def purge_once(self) -> int:
        """Apply the retention period (:mod:`helpline.retention`); returns the number of tickets deleted, audited."""
        from helpline.retention import Retention, tracker_database

        retention = Retention(
            self.store.database, self.settings.retention_days, tracker=tracker_database(self.settings),
            spool_dir=self.spool.directory, now=self.store.clock,
            session_idle=dt.timedelta(minutes=self.settings.console_idle_minutes))
        report = await asyncio.to_thread(retention.run)
        if report.tickets:
            await asyncio.to_thread(self.store.audit, "system", f"purge_resolved count={report.tickets}")
        if report.total:
            log.info("retention (%d days): %s", self.settings.retention_days, report.summary())
        return report.tickets

    async def flush_spool_once(self) -> int:
        """Open the tickets spooled during a database outage and tell each person.

        A late ticket waits like any other: the bot keeps answering until a staff member claims it.
        """
        opened = await asyncio.to_thread(self.spool.flush, self.store)
        for key, ticket, _request in opened:
            await asyncio.to_thread(self.store.audit, "system", "ticket_opened_late", ticket.id)
            await asyncio.to_thread(self.outbox.enqueue, ticket.channel, ticket.sender_id,
                                    {"text": replies.LATE_TICKET_OPENED}, kind="bot", dedupe_key=f"late-ticket:{key}")
        return len(opened)

    async def tick(self) -> None:
        """One round of every job; a failing job is logged and does not stop the others."""
        jobs = [self.flush_spool_once, self.escalate_once, self.resume_once, self.notify_once]
        now = utc_now()
        if self._last_purge is None or now - self._last_purge >= dt.timedelta(hours=1):
            self._last_purge = now
            jobs.append(self.purge_once)
        for job in jobs:
            try:
                await asyncio.wait_for(job(), timeout=JOB_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                # A database call that never returns must not stop escalations and spooled tickets.
                log.error("desk job %s took longer than %.0f s; moving on", job.__name__, JOB_TIMEOUT_SECONDS)
            except Exception:
                log.exception("desk job %s failed; retrying next round", job.__name__)

    async def run_forever(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(max(0.2, self.settings.desk_tick_seconds))
