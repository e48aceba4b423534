"""Console actions on a ticket (all POST, CSRF-checked): reply, note, claim, transfer, resolve (with a
safety label), flag a missed emergency, mark a report forwarded to the police.

Each answers with a redirect back to the ticket and a flash code (post/redirect/get), so the
console works without JavaScript too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from helpline.console.auth import staff_only
from helpline.console.views import not_found, ticket_or_none
from helpline.console.web import ConsoleContext
from helpline.errors import HandoffError
from helpline.handoff.accounts import StaffUser
from helpline.handoff.desk import DeskConflict
from helpline.handoff.models import EMERGENCY_PRIORITIES, LABELS, TicketState
from helpline.handoff.reports import is_quiet_report

log = logging.getLogger(__name__)
STAFF_REPLY_NOT_QUEUED = "Trả lời của nhân viên chưa được đưa vào hàng gửi (lỗi cơ sở dữ liệu)."


def back(ticket_id: int, msg: str) -> RedirectResponse:
    return RedirectResponse(f"/console/tickets/{ticket_id}?msg={msg}", 303)


def held_by_other(state: TicketState, me: StaffUser) -> bool:
    """Another staff member holds the ticket, and ``me`` is not a supervisor (who may act anyway)."""
    return bool(state.assigned_to) and state.assigned_to != me.username and not me.is_supervisor


def routes(ctx: ConsoleContext) -> list[Route]:
    @staff_only(ctx)
    async def reply(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket, state = found
        me = request.state.staff.user
        if held_by_other(state, me):
            return back(ticket.id, "held")
        text = request.state.form.get("text", "")
        try:
            message = await asyncio.to_thread(ctx.store.add_staff_reply, ticket.id, me.username, text)
        except DeskConflict:
            return back(ticket.id, "closed")
        except ValueError:
            return back(ticket.id, "empty")
        try:
            await asyncio.to_thread(ctx.outbox.enqueue, ticket.channel, ticket.sender_id, {"text": message.text},
                                    kind="staff")
        except (HandoffError, ValueError):
            log.exception("ticket %d: the staff reply could not be queued for delivery", ticket.id)
            await asyncio.to_thread(ctx.store.add_message, ticket.id, "system", STAFF_REPLY_NOT_QUEUED)
            return back(ticket.id, "notsent")
        return back(ticket.id, "sent")

    @staff_only(ctx)
    async def note(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        try:
            await asyncio.to_thread(ctx.store.add_note, found[0].id, request.state.staff.user.username,
                                    request.state.form.get("text", ""))
        except ValueError:
            return back(found[0].id, "empty")
        return back(found[0].id, "noted")

    @staff_only(ctx)
    async def claim(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        me = request.state.staff.user
        try:
            await asyncio.to_thread(ctx.store.claim, found[0].id, me.username, force=me.is_supervisor)
        except DeskConflict as exc:
            return back(found[0].id, "closed" if "closed" in str(exc) else "held")
        if found[1].assigned_to is None:  # it was waiting: the bot has stepped back, the person is told
            await ctx.worker.announce_claim(found[0])
        return back(found[0].id, "claimed")

    @staff_only(ctx)
    async def transfer(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket, state = found
        me = request.state.staff.user
        if held_by_other(state, me):
            return back(ticket.id, "held")
        target = await asyncio.to_thread(ctx.accounts.get_user, request.state.form.get("to", ""))
        if target is None or not target.active:
            return back(ticket.id, "nouser")
        try:
            await asyncio.to_thread(ctx.store.transfer, ticket.id, target.username, me.username)
        except DeskConflict:
            return back(ticket.id, "closed")
        if state.assigned_to is None:
            await ctx.worker.announce_claim(ticket)
        return back(ticket.id, "transferred")

    @staff_only(ctx)
    async def resolve(request: Request) -> Response:
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket, state = found
        me = request.state.staff.user
        if held_by_other(state, me):
            return back(ticket.id, "held")
        if not ticket.is_open:
            return back(ticket.id, "already")
        form = request.state.form
        label = form.get("label", "").strip() or None
        if label is not None and label not in LABELS:
            return back(ticket.id, "badlabel")
        # The bot treated it as an emergency: staff say whether it was one (false alarms are measured).
        if label is None and ticket.priority in EMERGENCY_PRIORITIES:
            return back(ticket.id, "needlabel")
        try:
            closed_ticket, closed = await asyncio.to_thread(ctx.store.close_ticket, ticket.id, me.username,
                                                            label, form.get("label_note", ""))
        except ValueError:
            return back(ticket.id, "badlabel")
        if not closed:
            return back(ticket.id, "already")
        failure = await ctx.worker.resume_ticket(closed_ticket)
        if failure is None and is_quiet_report(closed_ticket):
            return back(ticket.id, "report_closed")  # the bot never paused: nobody is told it is back
        return back(ticket.id, "resolved" if failure is None else "resume_failed")

    @staff_only(ctx)
    async def forward_report(request: Request) -> Response:
        """Record that a report went to the police: to whom and on which day (audited)."""
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket, state = found
        me = request.state.staff.user
        if held_by_other(state, me):
            return back(ticket.id, "held")
        raw = request.path_params["report_id"]
        report = await asyncio.to_thread(ctx.store.get_report, int(raw)) if raw.isdigit() and len(raw) < 19 else None
        if report is None or report.ticket_id != ticket.id:
            return await not_found(ctx, request)
        form = request.state.form
        try:
            on = dt.date.fromisoformat(form.get("on", "").strip())
            await asyncio.to_thread(ctx.store.mark_forwarded, report.id, me.username, form.get("to", ""), on)
        except ValueError:
            return back(ticket.id, "badforward")
        return back(ticket.id, "forwarded")

    @staff_only(ctx)
    async def flag_missed(request: Request) -> Response:
        """"Báo sót": a conversation the bot did not escalate should have been flagged (any staff)."""
        found = await ticket_or_none(ctx, request)
        if found is None:
            return await not_found(ctx, request)
        ticket = found[0]
        try:
            await asyncio.to_thread(ctx.store.flag_missed, ticket.id, request.state.staff.user.username,
                                    request.state.form.get("label_note", ""))
        except DeskConflict:
            return back(ticket.id, "notmissed")
        except ValueError:
            return back(ticket.id, "badlabel")
        return back(ticket.id, "flagged")

    return [
        Route("/console/tickets/{ticket_id}/flag-missed", flag_missed, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/reply", reply, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/note", note, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/claim", claim, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/transfer", transfer, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/resolve", resolve, methods=["POST"]),
        Route("/console/tickets/{ticket_id}/reports/{report_id}/forward", forward_report, methods=["POST"]),
    ]
