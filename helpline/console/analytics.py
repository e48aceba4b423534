"""The supervisor's answer analytics page and its CSV export (core: :mod:`helpline.kb.analytics`)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from helpline.console.auth import staff_only
from helpline.console.chart import day_chart
from helpline.console.web import PRIORITY_LABELS, VN_TZ, ConsoleContext, render
from helpline.kb.analytics import LEVELS, compute, to_csv

WEEKS = 8
OUTCOME_LABELS = {"answer": "Trả lời ngay", "answer_alt": "Trả lời kèm gợi ý", "ask": "Hỏi lại",
                  "unknown": "Không tìm thấy", "rejected": "Bị chọn câu khác"}


def routes(ctx: ConsoleContext) -> list[Route]:
    def weeks(request: Request) -> int:
        raw = request.query_params.get("weeks", "")
        return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 52 else WEEKS

    @staff_only(ctx, role="supervisor")
    async def page(request: Request) -> Response:
        n = weeks(request)
        data = await asyncio.to_thread(compute, ctx.store.database, n, VN_TZ, ctx.store.clock())
        entries = await asyncio.to_thread(lambda: _questions(ctx))
        outcomes = [(w, {OUTCOME_LABELS[k]: v for k, v in c.items() if k in OUTCOME_LABELS})
                    for w, c in data.per_week("outcomes")]
        handoffs = [(w, {PRIORITY_LABELS.get(k, k): v for k, v in c.items()}) for w, c in data.per_week("handoffs")]
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "view_analytics")
        return await render(ctx, request, "analytics.html", data=data, weeks=n, entries=entries,
                            outcome_chart=day_chart(outcomes, "câu:"), handoff_chart=day_chart(handoffs, "ca:"),
                            reply_chart=day_chart(data.median_per_week(), "trung vị"), levels=LEVELS)

    @staff_only(ctx, role="supervisor")
    async def export(request: Request) -> Response:
        data = await asyncio.to_thread(compute, ctx.store.database, weeks(request), VN_TZ, ctx.store.clock())
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "export_analytics")
        return PlainTextResponse(to_csv(data), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="phan-tich-tra-loi.csv"'})

    return [Route("/console/supervisor/analytics", page, methods=["GET"]),
            Route("/console/supervisor/analytics.csv", export, methods=["GET"])]


def _questions(ctx: ConsoleContext) -> dict[str, str]:
    """Entry id -> question, from the current index (the top-entries table shows questions, not ids)."""
    try:
        from helpline.kb.index import current_index_path, load_index

        return {k: e.question for k, e in load_index(current_index_path(ctx.settings.index_dir)).entries.items()}
    except Exception:
        return {}
