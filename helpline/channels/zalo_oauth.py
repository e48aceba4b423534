"""Zalo OA access tokens: about 25 h each, renewed with a single-use refresh token.

The pair lives in ``channel_tokens`` (same database as the tickets). A refresh
is claimed with a lease so two processes never spend the same refresh token,
and the new pair replaces the old one in one compare-and-swap UPDATE. The
configured pair (``ZALO_ACCESS_TOKEN``/``ZALO_REFRESH_TOKEN``) only seeds the
table, or replaces it when the operator configures a new refresh token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

import httpx

from helpline import logmask
from helpline.channels.config import ZaloConfig
from helpline.channels.http import json_body, raise_for_http_status, raise_for_transport
from helpline.channels.store import ChannelStore, TokenPair, utc_now
from helpline.errors import HelplineError, SendFailed

logger = logging.getLogger(__name__)

TOKEN_CHANNEL = "zalo"  # noqa: S105 - a row key, not a secret
REFRESH_AHEAD = dt.timedelta(minutes=30)
REFRESH_LEASE = dt.timedelta(seconds=60)
REFUSED_RETRY_SECONDS = 600.0  # a refused refresh needs an operator; messages wait meanwhile


class ZaloTokens:
    def __init__(self, config: ZaloConfig, store: ChannelStore, client: httpx.AsyncClient,
                 now: Callable[[], dt.datetime] = utc_now, wait_step: float = 0.5) -> None:
        self._config = config
        self._store = store
        self._client = client
        self._now = now
        self._wait_step = wait_step
        self._pair: TokenPair | None = None
        self._lock = asyncio.Lock()

    async def _load(self) -> TokenPair:
        seed = TokenPair(self._config.access_token, self._config.refresh_token)
        try:
            pair = await asyncio.to_thread(self._store.seed_tokens, TOKEN_CHANNEL, seed)
            logmask.add_secrets((pair.access_token, pair.refresh_token))
            return pair
        except HelplineError as exc:
            raise SendFailed(f"zalo: token store unavailable ({exc})") from None

    async def access_token(self) -> str:
        """A valid access token, refreshed ahead of its expiry when the expiry is known."""
        if self._pair is None:
            self._pair = await self._load()
        pair = self._pair
        if pair.expires_at is not None and pair.expires_at - self._now() < REFRESH_AHEAD:
            pair = await self.refresh(pair.access_token)
        return pair.access_token

    async def refresh(self, stale_access_token: str) -> TokenPair:
        """Renew the pair after ``stale_access_token`` was refused; at most one refresh at a time."""
        async with self._lock:
            stored = await asyncio.to_thread(self._store.tokens, TOKEN_CHANNEL)
            if stored is None:
                stored = await self._load()
            if stored.access_token != stale_access_token and not self._expiring(stored):
                self._pair = stored  # someone (another process) already refreshed
                return stored
            if not await asyncio.to_thread(self._store.claim_refresh, TOKEN_CHANNEL, REFRESH_LEASE):
                return await self._wait_for_other(stale_access_token)
            try:
                new = await self._call_oauth(stored.refresh_token)
            except BaseException:
                await asyncio.to_thread(self._store.release_refresh, TOKEN_CHANNEL)
                raise
            await self._save(stored.refresh_token, new)
            self._pair = new
            logger.info("zalo access token refreshed; valid until %s", new.expires_at)
            return new

    def _expiring(self, pair: TokenPair) -> bool:
        return pair.expires_at is not None and pair.expires_at - self._now() < REFRESH_AHEAD

    async def _wait_for_other(self, stale: str) -> TokenPair:
        for _ in range(20):
            await asyncio.sleep(self._wait_step)
            stored = await asyncio.to_thread(self._store.tokens, TOKEN_CHANNEL)
            if stored is not None and stored.access_token != stale:
                self._pair = stored
                return stored
        raise SendFailed("zalo: token refresh in progress in another process", retry_after=10.0)

    async def _save(self, spent: str, new: TokenPair) -> None:
        # The old refresh token is spent now: losing the new pair would lock the OA out.
        for attempt in range(5):
            try:
                if not await asyncio.to_thread(self._store.replace_tokens, TOKEN_CHANNEL, spent, new):
                    logger.error("zalo token pair changed during a refresh; keeping the new pair in memory")
                return
            except HelplineError as exc:
                logger.error("could not store the refreshed zalo token pair (try %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5 * 2**attempt)
        logger.critical("the refreshed zalo token pair is only in memory: re-authorise the OA if this process stops")

    async def _call_oauth(self, refresh_token: str) -> TokenPair:
        url = f"{self._config.oauth_base}/v4/oa/access_token"
        try:
            response = await self._client.post(
                url, headers={"secret_key": self._config.app_secret},
                data={"refresh_token": refresh_token, "app_id": self._config.app_id, "grant_type": "refresh_token"},
            )
        except httpx.HTTPError as exc:
            raise_for_transport("zalo token refresh", exc)
        raise_for_http_status("zalo token refresh", response)
        body = json_body(response)
        access, new_refresh = body.get("access_token"), body.get("refresh_token")
        if response.status_code != 200 or not access or not new_refresh:
            code = body.get("error", response.status_code)
            logger.error("zalo refused the token refresh (error %s): re-authorise the OA and set ZALO_REFRESH_TOKEN",
                         code)
            raise SendFailed(f"zalo token refresh refused (error {code})", retry_after=REFUSED_RETRY_SECONDS)
        try:
            expires_in = float(body.get("expires_in") or 90000)
        except (TypeError, ValueError):
            expires_in = 90000.0
        logmask.add_secrets((str(access), str(new_refresh)))  # the new pair is as secret as the configured one
        return TokenPair(str(access), str(new_refresh), self._now() + dt.timedelta(seconds=expires_in))
