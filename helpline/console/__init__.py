"""The hotline staff console: a small server-rendered web app inside the handoff service.

Vietnamese UI, no CDN (templates, CSS, JS and the chart are local), live updates over
Server-Sent Events. Depends on Starlette, Jinja2 and argon2-cffi (action-server environment);
never imported by the bot side.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from helpline.channels.outbox import Outbox
from helpline.console import analytics, auth, editor, live, ops, views
from helpline.console.live import ChangeFeed
from helpline.console.web import HERE, BodyLimit, ConsoleContext, ConsoleHeaders, make_templates
from helpline.handoff.accounts import StaffAccounts
from helpline.handoff.store import HandoffStore
from helpline.handoff.workers import DeskWorker
from helpline.ratelimit import Backoff, RateLimiter
from helpline.settings import Settings

__all__ = ["BodyLimit", "ChangeFeed", "ConsoleContext", "ConsoleHeaders", "console_routes"]


def console_routes(settings: Settings, store: HandoffStore, accounts: StaffAccounts, outbox: Outbox,
                   worker: DeskWorker, feed: ChangeFeed, login_limiter: RateLimiter | None = None) -> list[BaseRoute]:
    """All console routes (pages, actions, events, static files) for the handoff service's app."""
    limiter = login_limiter or RateLimiter(None)
    # HELPLINE_RATE_LIMIT_LOGIN=off turns off both per-address limits (the bucket and the backoff);
    # the per-account delay after failures always applies.
    backoff = Backoff(free=3, base=2.0) if limiter.enabled else Backoff(free=2**31)
    ctx = ConsoleContext(settings, store, accounts, outbox, worker, make_templates(), limiter, backoff)
    return [
        *auth.routes(ctx), *views.routes(ctx), *ops.routes(ctx), *editor.routes(ctx), *analytics.routes(ctx),
        *live.routes(ctx, feed),
        Mount("/console/static", app=StaticFiles(directory=str(HERE / "static")), name="console-static"),
    ]
