"""Tickets that could not be opened because the database was down, kept on disk until it is back.

When someone in danger writes during a database outage, the bot still answers at once
(113/111, "call 111 directly, staff cannot be reached right now"), and the ticket request
is written here as one small JSON file (mode 0600, in ``<data dir>/spool/tickets``). The
handoff service's desk worker opens the spooled tickets as soon as the database answers
again, marked ``opened_late``, so staff still see the person and can write to them.

Each file is claimed by renaming it before it is used, so two services never open the
same request twice; a claim left by a process that died is released after a while.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from helpline.errors import HandoffError
from helpline.handoff.models import Ticket, utc_now
from helpline.handoff.store import HandoffStore
from helpline.text import mask_id

log = logging.getLogger(__name__)

LATE_REASON = "opened_late:database_unavailable"
STALE_CLAIM_SECONDS = 600.0


@dataclass(frozen=True)
class TicketRequest:
    channel: str
    sender_id: str
    priority: str
    reasons: tuple[str, ...] = ()
    messages: tuple[tuple[str, str], ...] = ()
    requested_at: str = field(default_factory=lambda: utc_now().isoformat())

    def to_json(self) -> str:
        return json.dumps({"channel": self.channel, "sender_id": self.sender_id, "priority": self.priority,
                           "reasons": list(self.reasons), "messages": [list(m) for m in self.messages],
                           "requested_at": self.requested_at}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> TicketRequest:
        data = json.loads(raw)
        return cls(str(data["channel"]), str(data["sender_id"]), str(data["priority"]),
                   tuple(str(r) for r in data.get("reasons") or ()),
                   tuple((str(a), str(t)) for a, t in data.get("messages") or ()), str(data["requested_at"]))


def late_note(requested_at: str) -> str:
    """The system line staff see on a ticket that was opened late."""
    try:
        when = dt.datetime.fromisoformat(requested_at).astimezone(dt.timezone(dt.timedelta(hours=7)))
        stamp = when.strftime("%H:%M %d/%m/%Y")
    except ValueError:
        stamp = "?"
    return (f"Ca này được mở muộn: lúc người dùng nhắn ({stamp}) cơ sở dữ liệu gặp sự cố. Trợ lý đã trả lời "
            "ngay, khuyên gọi 111/113 và báo rằng chưa chuyển được cho nhân viên.")


class TicketSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> TicketSpool:
        return cls(Path(data_dir) / "spool" / "tickets")

    def put(self, request: TicketRequest) -> Path:
        """Write one request durably (temporary file, fsync, rename)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        tmp = self.directory / f".{name}.tmp"
        final = self.directory / f"{name}.json"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, request.to_json().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        log.warning("ticket for %s kept in the spool until the database is back", mask_id(request.sender_id))
        return final

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"))

    def _release_stale_claims(self) -> None:
        now = time.time()
        for claimed in self.directory.glob("*.claimed"):
            try:
                if now - claimed.stat().st_mtime > STALE_CLAIM_SECONDS:
                    os.replace(claimed, claimed.with_suffix(".json"))
            except FileNotFoundError:
                continue

    def flush(self, store: HandoffStore) -> list[tuple[str, Ticket, TicketRequest]]:
        """Open every spooled ticket; stops at the first database error. Returns (file name, ticket, request)."""
        if not self.directory.is_dir():
            return []
        self._release_stale_claims()
        opened: list[tuple[str, Ticket, TicketRequest]] = []
        for path in self.pending():
            claimed = path.with_suffix(".claimed")
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue  # another service took it
            try:
                request = TicketRequest.from_json(claimed.read_text(encoding="utf-8"))
            except (ValueError, KeyError, TypeError):
                log.error("spooled ticket %s is unreadable; kept as .bad", path.name)
                os.replace(claimed, path.with_suffix(".bad"))
                continue
            try:
                ticket = store.open_ticket(
                    request.channel, request.sender_id, request.priority, (*request.reasons, LATE_REASON),
                    (*request.messages, ("system", late_note(request.requested_at))))
            except HandoffError as exc:
                os.replace(claimed, path)
                log.warning("spooled tickets wait for the database: %s", exc)
                break
            except ValueError:
                log.error("spooled ticket %s is invalid; kept as .bad", path.name)
                os.replace(claimed, path.with_suffix(".bad"))
                continue
            claimed.unlink(missing_ok=True)
            opened.append((path.stem, ticket, request))
            log.warning("ticket %d opened late for %s (database was unavailable)", ticket.id,
                        mask_id(request.sender_id))
        return opened


def open_or_spool(store: HandoffStore, spool: TicketSpool, request: TicketRequest) -> Ticket | None:
    """Open the ticket now, or spool it if the database is down (then None)."""
    try:
        return store.open_ticket(request.channel, request.sender_id, request.priority, request.reasons,
                                 request.messages)
    except HandoffError as exc:
        log.error("could not open a ticket for %s: %s", mask_id(request.sender_id), exc)
        spool.put(request)
        return None
