"""Console pages: the queue, a ticket, the supervisor view, and the masked transcript export."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from helpline import replies
from helpline.channels.windows import reply_window
from helpline.console.auth import staff_only
from helpline.console.chart import day_chart
from helpline.console.web import FLASH, LABEL_TEXT, SAFETY_TEXT, VN_TZ, ConsoleContext, render, vn_time
from helpline.handoff.accounts import StaffSession
from helpline.handoff.desk import QueueItem, TicketState
from helpline.handoff.models import EMERGENCY_PRIORITIES, LABELS, PRIORITIES, Ticket, mask_for_staff, utc_now
from helpline.handoff.reports import is_quiet_report
from helpline.text import mask_id

_ID = re.compile(r"^[0-9]{1,18}$")
STATS_DAYS = 14
AUDIT_ROWS = 50
FEEDBACK_WEEKS = 8
# The resolve form's choices: the label and its Vietnamese text, in the order shown.
LABEL_CHOICES: tuple[tuple[str, str], ...] = tuple((v, LABEL_TEXT[v]) for v in LABELS)
# The queue is shown a page at a time, with the total: a flood of tickets costs one page to show.
QUEUE_PAGE = 100
MAX_PAGE = 10_000


def queue_filters(request: Request) -> dict[str, Any]:
    """Validated queue filters from the query string (unknown values are ignored)."""
    q = request.query_params
    status = q.get("status", "open")
    return {
        "status": status if status in ("open", "resolved", "all") else "open",
        "priority": q.get("priority") if q.get("priority") in PRIORITIES else "",
        "channel": q.get("channel", "")[:32] if q.get("channel", "").isidentifier() else "",
        "mine": q.get("mine") == "1",
        "unassigned": q.get("unassigned") == "1",
        "escalated": q.get("escalated") == "1",
        # "Báo tin": report tickets only, in their own order (helpline.handoff.reports.report_queue).
        "kind": "report" if q.get("kind") == "report" else "",
        "page": int(q["page"]) if q.get("page", "").isascii() and q.get("page", "").isdigit()
        and 1 <= int(q["page"]) <= MAX_PAGE else 1,
    }


def can_view(session: StaffSession, ticket: Ticket, state: TicketState) -> bool:
    """Agents see open tickets and the closed ones they handled; supervisors see all."""
    me = session.user.username
    return session.user.is_supervisor or ticket.is_open or me in (state.assigned_to, ticket.resolved_by)


def load_queue(ctx: ConsoleContext, session: StaffSession, f: dict[str, Any]) -> tuple[list[QueueItem], int]:
    """One page of the queue and the number of tickets in it (with the same filters)."""
    me = session.user.username
    if f["kind"] == "report":
        involving = None if session.user.is_supervisor else me
        reports = ctx.store.report_queue(f["status"], involving=involving, limit=QUEUE_PAGE,
                                         offset=(f["page"] - 1) * QUEUE_PAGE)
        return reports, ctx.store.report_queue_count(f["status"], involving=involving)
    filters: dict[str, Any] = dict(
        priority=f["priority"] or None, channel=f["channel"] or None,
        assigned_to=me if f["mine"] else None, unassigned=f["unassigned"], escalated=True if f["escalated"] else None,
        involving=None if session.user.is_supervisor else me,
    )
    items = ctx.store.queue(f["status"], limit=QUEUE_PAGE, offset=(f["page"] - 1) * QUEUE_PAGE, **filters)
    total = len(items) if f["page"] == 1 and len(items) < QUEUE_PAGE else ctx.store.queue_count(f["status"], **filters)
    return items, total


async def ticket_or_none(ctx: ConsoleContext, request: Request) -> tuple[Ticket, TicketState] | None:
    raw = request.path_params["ticket_id"]
    if not _ID.match(raw):
        return None
    ticket = await asyncio.to_thread(ctx.store.get, int(raw))
    if ticket is None:
        return None
    state = await asyncio.to_thread(ctx.store.ticket_state, ticket.id)
    if not can_view(request.state.staff, ticket, state):
        return None
    return ticket, state


async def not_found(ctx: ConsoleContext, request: Request) -> Response:
    return await render(ctx, request, "error.html", 404, title="Không tìm thấy",
                  text="Không có ca này, ca đã bị xóa theo thời hạn lưu trữ, hoặc bạn không có quyền xem.")


def routes(ctx: ConsoleContext) -> list[Route]:
    async def queue_values(request: Request) -> dict[str, Any]:
        f = queue_filters(request)
        items, total = await asyncio.to_thread(load_queue, ctx, request.state.staff, f)
        pages = max(1, -(-total // QUEUE_PAGE))
        base = {k: ("1" if v is True else v) for k, v in f.items() if v and k != "page"}
        return {"items": items, "filters": f, "now": utc_now(), "priorities": PRIORITIES, "total": total,
                "page": f["page"], "pages": pages, "first_row": (f["page"] - 1) * QUEUE_PAGE + 1,
                "page_query": urlencode(base)}

    @staff_only(ctx)
    async def queue_page(request: Request) -> Response:
        values = await queue_values(request)
        channels = await asyncio.to_thread(ctx.store.channels)
        failures = await asyncio.to_thread(ctx.store.resume_failures)
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "view_queue")
        return await render(ctx, request, "queue.html", channels=channels, failures=failures, **values)

    @staff_only(ctx, page=False)
    async def queue_rows(request: Request) -> Response:
        return await render(ctx, request, "_queue_rows.html", **await queue_values(request))

    async def ticket_values(request: Request, ticket: Ticket, state: TicketState) -> dict[str, Any]:
        session: StaffSession = request.state.staff
        notes = await asyncio.to_thread(ctx.store.notes, ticket.id)
        staff = await asyncio.to_thread(ctx.accounts.list_users, True)
        # Every look at a transcript, including live refreshes, is in the audit log.
        await asyncio.to_thread(ctx.store.audit, session.user.username, "view_transcript", ticket.id)
        label = await asyncio.to_thread(ctx.store.ticket_label, ticket.id)
        safety = await asyncio.to_thread(ctx.store.safety_check, ticket.id)
        reports = await asyncio.to_thread(ctx.store.reports_for_ticket, ticket.id) if ticket.is_report else []
        held_by_other = bool(state.assigned_to) and state.assigned_to != session.user.username
        now = utc_now()
        last_user = max((m.created_at for m in ticket.messages if m.author == "user"), default=None)
        window = reply_window(ticket.channel, last_user) if ticket.is_open else None
        return {"ticket": ticket, "state": state, "notes": notes, "now": now, "label": label,
                "safety": safety, "safety_text": SAFETY_TEXT,
                # Zalo's free/paid reply window, shown above the reply box (helpline.channels.windows).
                "window_notice": window.staff_notice(now) if window else None,
                "window_state": window.state(now) if window else None,
                "labels": LABEL_CHOICES, "label_required": ticket.priority in EMERGENCY_PRIORITIES,
                "can_flag_missed": ticket.priority not in EMERGENCY_PRIORITIES,
                "staff_list": [u for u in staff if u.username != state.assigned_to and u.role != "editor"],
                "can_reply": ticket.is_open and (not held_by_other or session.user.is_supervisor),
                "held_by_other": held_by_other, "quick_replies": replies.STAFF_QUICK_REPLIES,
                "escalate_minutes": max(1, ctx.settings.escalate_after_seconds // 60),
                "reports": reports, "quiet_report": is_quiet_report(ticket),
                "today": utc_now().astimezone(VN_TZ).date().isoformat()}

    @staff_only(ctx)
    async def ticket_page(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        values = await ticket_values(request, *found)
        flash = FLASH.get(request.query_params.get("msg", ""))
        return await render(ctx, request, "ticket.html", flash=flash, **values)

    @staff_only(ctx, page=False)
    async def transcript_part(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return PlainTextResponse("", 404)
        return await render(ctx, request, "_ticket_live.html", **await ticket_values(request, *found))

    @staff_only(ctx, role="supervisor")
    async def export(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket, state = found
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "export_transcript", ticket.id)
        lines = [f"Ca #{ticket.id} – kênh {ticket.channel} – người dùng {mask_id(ticket.sender_id)}",
                 f"Mức: {ticket.priority}; lý do: {', '.join(ticket.reasons) or '-'}",
                 f"Mở lúc {vn_time(ticket.created_at)}; kết thúc {vn_time(ticket.resolved_at)}", ""]
        for report in await asyncio.to_thread(ctx.store.reports_for_ticket, ticket.id):
            lines += [f"Báo tin {report.code}"] + [f"  {label}: {value}" for label, value in report.rows(masked=True)]
            if report.forwarded:
                lines.append(f"  Đã chuyển công an: {mask_for_staff(report.forwarded_to or '')}, ngày "
                             f"{report.forwarded_on:%d/%m/%Y} ({report.forwarded_by})")
            lines.append("")
        lines += [f"[{vn_time(m.created_at)}] {m.author}: {m.masked_text}" for m in ticket.messages]
        body = "\n".join(lines) + "\n"
        return PlainTextResponse(body, headers={
            "Content-Disposition": f'attachment; filename="ca-{ticket.id}.txt"'})

    @staff_only(ctx, role="supervisor")
    async def supervisor(request: Request) -> Response:
        stats = await asyncio.to_thread(ctx.store.stats, STATS_DAYS, VN_TZ)
        failures = await asyncio.to_thread(ctx.store.resume_failures)
        staff = await asyncio.to_thread(ctx.accounts.list_users)
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "view_supervisor")
        audit = await asyncio.to_thread(ctx.store.audit_entries, None, AUDIT_ROWS)
        weeks = await asyncio.to_thread(ctx.store.feedback_weeks, FEEDBACK_WEEKS, VN_TZ)
        return await render(ctx, request, "supervisor.html", stats=stats, chart=day_chart(stats.per_day), weeks=weeks,
                      failures=failures, staff_list=staff, audit=audit, now=utc_now())

    async def root(request: Request) -> Response:
        return RedirectResponse("/console/", 303)

    return [
        Route("/", root, methods=["GET"]),
        Route("/console", root, methods=["GET"]),
        Route("/console/", queue_page, methods=["GET"]),
        Route("/console/queue/rows", queue_rows, methods=["GET"]),
        Route("/console/tickets/{ticket_id}", ticket_page, methods=["GET"]),
        Route("/console/tickets/{ticket_id}/live", transcript_part, methods=["GET"]),
        Route("/console/tickets/{ticket_id}/export", export, methods=["GET"]),
        Route("/console/supervisor", supervisor, methods=["GET"]),
    ]
