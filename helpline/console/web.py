"""Shared plumbing of the staff console: context, templates, labels, forms, security headers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline.channels.outbox import Outbox
from helpline.handoff.accounts import StaffAccounts
from helpline.handoff.models import TicketMessage, mask_for_staff
from helpline.handoff.store import HandoffStore
from helpline.handoff.workers import DeskWorker
from helpline.ratelimit import Backoff, RateLimiter
from helpline.settings import Settings
from helpline.text import mask_id, show_bidi

HERE = Path(__file__).resolve().parent
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")  # Vietnam has no daylight saving time
MAX_FORM_BYTES = 64 * 1024

PRIORITY_LABELS = {"immediate": "Nguy hiểm ngay", "urgent": "Khẩn", "concern": "Đáng lo", "normal": "Thường"}
CHANNEL_LABELS = {"zalo": "Zalo", "messenger": "Messenger", "facebook": "Messenger", "telegram": "Telegram",
                  "rest": "Web"}
AUTHOR_LABELS = {"user": "Người dùng", "bot": "Trợ lý tự động", "staff": "Nhân viên", "system": "Hệ thống"}
ROLE_LABELS = {"agent": "Nhân viên", "supervisor": "Giám sát", "editor": "Biên tập viên"}
# Flash messages are chosen by code, so a link can never inject text into the page.
FLASH = {
    "sent": ("ok", "Đã gửi trả lời. Tin nhắn đang được chuyển tới người dùng qua kênh của họ."),
    "notsent": ("error", "Đã lưu trả lời nhưng chưa đưa được vào hàng gửi. Hãy thử gửi lại."),
    "empty": ("error", "Nội dung trống hoặc quá dài (tối đa 2000 ký tự)."),
    "closed": ("error", "Ca này đã kết thúc."),
    "held": ("error", "Ca này đang do người khác phụ trách. Nhờ giám sát chuyển ca nếu cần."),
    "claimed": ("ok", "Bạn đã nhận ca này. Trợ lý tự động đã dừng trả lời người dùng; họ được báo có nhân viên."),
    "transferred": ("ok", "Đã chuyển ca."),
    "nouser": ("error", "Không có nhân viên đó."),
    "noted": ("ok", "Đã lưu ghi chú nội bộ."),
    "resolved": ("ok", "Đã kết thúc ca. Trợ lý tự động đã trở lại và người dùng đã được báo."),
    "resume_failed": ("error", "Đã kết thúc ca, nhưng CHƯA mở lại được trợ lý tự động (máy chủ Rasa không phản hồi). "
                               "Hệ thống đang tự thử lại; người dùng chưa được báo."),
    "already": ("ok", "Ca này đã được kết thúc trước đó."),
    "needlabel": ("error", "Ca khẩn cấp: hãy chọn đánh giá (khẩn cấp thật / không khẩn cấp / lẽ ra phải báo sớm hơn) "
                           "trước khi kết thúc ca."),
    "badlabel": ("error", "Đánh giá không hợp lệ hoặc ghi chú quá dài (tối đa 1000 ký tự)."),
    "flagged": ("ok", "Đã báo sót: ca này được đánh dấu \"lẽ ra phải báo sớm hơn\" để xem lại."),
    "notmissed": ("error", "Ca này đã được trợ lý báo khẩn cấp; hãy đánh giá khi kết thúc ca."),
    "report_closed": ("ok", "Đã kết thúc ca báo tin. Trợ lý tự động vẫn đang trả lời người dùng như bình thường."),
    "forwarded": ("ok", "Đã ghi nhận: báo tin đã được chuyển cho công an (có trong nhật ký)."),
    "badforward": ("error", "Hãy ghi rõ đã chuyển cho ai (tối đa 200 ký tự) và ngày chuyển (không sau hôm nay)."),
}
# The person's answer to the safety check at the start of a handoff (helpline.handoff.waiting).
SAFETY_TEXT = {
    "asked": "Đã hỏi, chưa trả lời",
    "safe": "An toàn",
    "unsafe": "Không an toàn",
    "unsure": "Không chắc",
    "no_answer": "Không trả lời (nhắn chuyện khác)",
}
# Staff labels on the bot's safety call (helpline.handoff.models.LABELS), as the console shows them.
LABEL_TEXT = {
    "real_emergency": "Khẩn cấp thật",
    "not_emergency": "Không phải khẩn cấp",
    "flag_earlier": "Lẽ ra phải báo khẩn cấp sớm hơn",
}


@dataclass
class ConsoleContext:
    """Everything the console's handlers share."""

    settings: Settings
    store: HandoffStore
    accounts: StaffAccounts
    outbox: Outbox
    worker: DeskWorker
    templates: Environment
    # Login attempts per client address (HELPLINE_RATE_LIMIT_LOGIN), and exponential backoff per address
    # after failed ones; each account's checks are delayed too (bounded: accounts never lock).
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    login_backoff: Backoff = field(default_factory=lambda: Backoff(free=3, base=2.0))


def make_templates() -> Environment:
    # finalize: every {{ value }} a page shows has its bidi controls made visible (an RLO in a message
    # cannot make staff read it reversed, or disguise what follows it), then it is HTML-escaped.
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True), finalize=_finalize)
    env.filters.update(vn_time=vn_time, waited=waited, priority=lambda p: PRIORITY_LABELS.get(p, p),
                       channel=lambda c: CHANNEL_LABELS.get(c, c), author=lambda a: AUTHOR_LABELS.get(a, a),
                       role=lambda r: ROLE_LABELS.get(r, r), mask_id=mask_id, mask_pii=mask_for_staff, preview=preview,
                       visible=show_bidi, label=lambda v: LABEL_TEXT.get(v, v))
    return env


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        return show_bidi(value)
    return value


def vn_time(value: dt.datetime | None, with_date: bool = True) -> str:
    if value is None:
        return "–"
    local = value.astimezone(VN_TZ)
    return local.strftime("%H:%M %d/%m/%Y") if with_date else local.strftime("%H:%M")


def preview(message: TicketMessage | str, limit: int = 120) -> str:
    """Masked and shortened for the queue; masked first, so a cut cannot expose part of a number.

    A stored message brings its mask (made once when it was stored): rendering a queue masks nothing.
    """
    masked = message.masked_text if isinstance(message, TicketMessage) else mask_for_staff(message)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def waited(seconds: float | None) -> str:
    """A duration in Vietnamese: "45 giây", "12 phút", "2 giờ 5 phút", "3 ngày 4 giờ"."""
    if seconds is None:
        return "–"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s} giây"
    if s < 3600:
        return f"{s // 60} phút"
    if s < 86400:
        return f"{s // 3600} giờ {s % 3600 // 60} phút"
    return f"{s // 86400} ngày {s % 86400 // 3600} giờ"


def client_address(request: Request) -> str:
    """The client's address (uvicorn takes it from X-Forwarded-For only when the proxy is trusted)."""
    return request.client.host if request.client else "?"


async def render(ctx: ConsoleContext, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page rendered in a worker thread: a long queue never holds up the event loop (or ``/health``)."""
    staff = getattr(request.state, "staff", None)
    template = ctx.templates.get_template(name)
    html = await anyio.to_thread.run_sync(lambda: template.render(request=request, staff=staff,
                                                                  csrf=staff.csrf_token if staff else "", **values))
    return HTMLResponse(html, status_code=status)


async def read_form(request: Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body as a dict (None if too large or not a form)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {} if not kind else None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        return None


_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", _CSP.encode()), (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]


class ConsoleHeaders:
    """Adds security headers to every ``/console`` response, and no-store to all but static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/console"):
            await self.app(scope, receive, send)
            return
        extra = list(_HEADERS)
        if not path.startswith("/console/static/"):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """413 for request bodies over ``max_bytes``: by ``Content-Length`` at once, or while a chunked one streams.

    The body is drained (up to :data:`DRAIN_LIMIT`) before answering, so an ordinary client that is
    still sending reads the 413 instead of a reset connection.
    """

    DRAIN_LIMIT = 16 * 1024 * 1024

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, drained: int = 0) -> None:
        more, seen = drained >= 0, drained
        while more and seen <= self.DRAIN_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            more = message.get("more_body", False)
        console = scope.get("path", "").startswith("/console")
        if status == 413:
            body = ("Yêu cầu quá lớn." if console else '{"error": "request body too large"}').encode()
        else:
            body = ("Yêu cầu không hợp lệ." if console else '{"error": "invalid Content-Length"}').encode()
        kind = b"text/plain; charset=utf-8" if console else b"application/json"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._refuse(scope, receive, send, 400, drained=-1)
                return
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send, 413)
                return
            await self.app(scope, receive, send)
            return
        # No length: read the (chunked) body here, up to the limit, then hand it over.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, drained=size if message.get("more_body") else -1)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


Handler = Callable[[Request], Awaitable[Any]]
