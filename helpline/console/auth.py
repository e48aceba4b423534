"""Console login, logout and the access check every other handler goes through.

- Session cookie: random id, HttpOnly, SameSite=Strict, Path=/console, Secure on https (or when
  configured); a new id at every login (the old one is ended), so a planted id is useless.
- CSRF: every POST carries the session's token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) and, when the browser sends one, a same-origin ``Origin``. The login form uses
  a double-submit token of its own.
- Roles: ``agent``, ``supervisor`` and ``editor``; a handler may require roles. Editors only reach
  the handbook pages (``role`` naming ``editor``).
- Password guessing: per address, a token bucket (HELPLINE_RATE_LIMIT_LOGIN) and exponential backoff
  after failures (429 while it lasts); per account, a delay that doubles after failures and is
  bounded (the request is held, then checked), so nobody can lock a colleague out. The address is
  the TCP peer unless HELPLINE_TRUSTED_PROXIES names the proxy in front (see ``helpline.handoff``).
- TOTP: an account with an authenticator also needs its 6-digit code; the form asks for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import html
import logging
import secrets
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from helpline import replies
from helpline.console.web import ConsoleContext, Handler, client_address, read_form, render
from helpline.handoff.accounts import StaffSession
from helpline.ratelimit import retry_after_header

log = logging.getLogger(__name__)

_RELOAD = ('<!doctype html><html lang="vi"><head><meta charset="utf-8">'
           '<meta http-equiv="refresh" content="0;url={url}"><title>Đang mở…</title></head>'
           '<body><p><a href="{url}">Mở bàn trực</a></p></body></html>')
SESSION_COOKIE = "helpline_session"
LOGIN_COOKIE = "helpline_login"


def _secure(ctx: ConsoleContext, request: Request) -> bool:
    mode = ctx.settings.console_cookie_secure.strip().lower()
    if mode in ("true", "1", "yes"):
        return True
    if mode in ("false", "0", "no"):
        return False
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # some browsers send none; SameSite=Strict and the token still apply
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


def _safe_next(value: str | None) -> str:
    """Only local console paths: never another host (open redirect)."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


async def current_session(ctx: ConsoleContext, request: Request) -> StaffSession | None:
    idle = dt.timedelta(minutes=ctx.settings.console_idle_minutes)
    return await asyncio.to_thread(ctx.accounts.session, request.cookies.get(SESSION_COOKIE), idle)


def staff_only(ctx: ConsoleContext, role: str | tuple[str, ...] | None = None,
               page: bool = True) -> Callable[[Handler], Handler]:
    """Wrap a handler: a live session (else login page or 401), the role, and CSRF on POST."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            session = await current_session(ctx, request)
            if session is None:
                if page and request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    if request.headers.get("sec-fetch-site") == "cross-site":
                        # A link from elsewhere (the staff Telegram alert): SameSite=Strict kept the cookie
                        # back. Reload from our own page, which sends it; a second miss goes to login.
                        return HTMLResponse(_RELOAD.format(url=html.escape(target, quote=True)))
                    return RedirectResponse(f"/console/login?next={quote(target, safe='')}", 303)
                return PlainTextResponse("Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại.", 401)
            request.state.staff = session
            if request.method == "POST":
                form = await read_form(request)
                if form is None:
                    return PlainTextResponse("Yêu cầu không hợp lệ.", 400)
                given = form.get("csrf_token") or request.headers.get("x-csrf-token", "")
                if not _same_origin(request) or not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
                    await asyncio.to_thread(ctx.store.audit, session.user.username, "csrf_rejected")
                    return await render(ctx, request, "error.html", 403, title="Yêu cầu bị từ chối",
                                  text="Yêu cầu không hợp lệ hoặc đã hết hạn (CSRF). Hãy tải lại trang rồi thử lại.")
                request.state.form = form
            allowed = (role,) if isinstance(role, str) else role
            # Editors work on the handbook only: the queue and transcripts are not theirs to see.
            if session.user.role == "editor" and (allowed is None or "editor" not in allowed):
                if page and request.method == "GET":
                    return RedirectResponse("/console/editor", 303)
                allowed = ()
            if allowed is not None and session.user.role not in allowed:
                await asyncio.to_thread(ctx.store.audit, session.user.username, f"denied {request.url.path}")
                return await render(ctx, request, "error.html", 403, title="Không có quyền",
                              text="Trang này chỉ dành cho giám sát viên." if allowed == ("supervisor",)
                              else "Bạn không có quyền mở trang này.")
            return await handler(request)

        return guarded

    return wrap


def routes(ctx: ConsoleContext) -> list[Route]:
    async def login_page(request: Request, error: str = "", status: int = 200, username: str = "",
                         need_code: bool = False, next_path: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = await render(ctx, request, "login.html", status, login_token=token, error=error,
                                next=_safe_next(next_path or request.query_params.get("next")),
                                username=username, need_code=need_code)
        response.set_cookie(LOGIN_COOKIE, token, max_age=1800, path="/console/login", httponly=True,
                            samesite="strict", secure=_secure(ctx, request))
        return response

    async def show_login(request: Request) -> Response:
        if await current_session(ctx, request) is not None:
            return RedirectResponse("/console/", 303)
        return await login_page(request)

    async def do_login(request: Request) -> Response:
        # Before anything else (argon2 is deliberately slow): password guessing from one address.
        address = client_address(request)
        wait = max(ctx.login_backoff.wait_time(address), ctx.login_limiter.hit(address))
        if wait:
            await asyncio.to_thread(ctx.store.audit, "?", "login_rate_limited")
            response = await login_page(request, replies.LOGIN_RATE_LIMITED, 429)
            response.headers["Retry-After"] = retry_after_header(wait)
            return response
        form = await read_form(request)
        if form is None:
            return PlainTextResponse("Yêu cầu không hợp lệ.", 400)
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(form.get("login_token", "").encode(), cookie.encode()) \
                or not _same_origin(request):
            return await login_page(request, "Phiên đăng nhập đã hết hạn, hãy thử lại.", 403)
        username = form.get("username", "").strip().lower()
        # The account's own delay after failures: held here (bounded), never a lock.
        hold = await asyncio.to_thread(ctx.accounts.login_delay, username)
        if hold:
            await asyncio.sleep(hold)
        result = await asyncio.to_thread(ctx.accounts.authenticate, username, form.get("password", ""),
                                         form.get("code") or None)
        if result.need_code:
            return await login_page(request, replies.LOGIN_CODE_NEEDED, 401, username=username, need_code=True,
                                    next_path=form.get("next"))
        if result.user is None:
            ctx.login_backoff.failure(address)
            # Only existing usernames are recorded: a mistyped field may hold a password.
            who = username if result.known else "?"
            await asyncio.to_thread(ctx.store.audit, who, "login_bad_code" if result.bad_code else "login_failed")
            if result.bad_code:
                return await login_page(request, replies.LOGIN_CODE_WRONG, 401, username=username, need_code=True,
                                        next_path=form.get("next"))
            return await login_page(request, replies.LOGIN_FAILED, 401, next_path=form.get("next"))
        ctx.login_backoff.success(address)
        lifetime = dt.timedelta(minutes=ctx.settings.console_session_minutes)
        session_id, _ = await asyncio.to_thread(ctx.accounts.create_session, result.user, lifetime,
                                                request.cookies.get(SESSION_COOKIE))
        await asyncio.to_thread(ctx.store.audit, result.user.username, "login")
        response = RedirectResponse(_safe_next(form.get("next")), 303)
        response.set_cookie(SESSION_COOKIE, session_id, max_age=int(lifetime.total_seconds()), path="/console",
                            httponly=True, samesite="strict", secure=_secure(ctx, request))
        response.delete_cookie(LOGIN_COOKIE, path="/console/login")
        return response

    @staff_only(ctx)
    async def logout(request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        await asyncio.to_thread(ctx.accounts.end_session, session_id)
        await asyncio.to_thread(ctx.store.audit, request.state.staff.user.username, "logout")
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    return [
        Route("/console/login", show_login, methods=["GET"]),
        Route("/console/login", do_login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
    ]
