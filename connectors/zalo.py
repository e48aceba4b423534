"""Zalo Official Account connector: ``/webhooks/zalo/webhook``. Protocol code in :mod:`helpline.channels.zalo`.

Zalo lets the OA answer for free only 48 h after the person's last message (paid up to 7 days,
then not at all), so a person handed to staff is told once per free window to write again if
nobody answers for long: each message of theirs reopens the window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from connectors.base import SignedWebhookInput, header
from connectors.runtime import ChannelRuntime
from connectors.turn import is_paused
from helpline import replies
from helpline.channels import zalo
from helpline.channels.config import ZaloConfig
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore
from helpline.channels.windows import WINDOWS
from helpline.channels.zalo_format import ZALO_TEXT_LIMIT

WRITE_AGAIN_MEMO = "write_again"


class ZaloInput(SignedWebhookInput):
    channel = zalo.CHANNEL
    text_limit = ZALO_TEXT_LIMIT
    config_type = ZaloConfig

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        return bool(header(headers, zalo.SIGNATURE_HEADER))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return zalo.verify(self.config, body, header(headers, zalo.SIGNATURE_HEADER))

    def registration_probe(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return zalo.registration_probe(body)

    def parse(self, body: bytes) -> list[Inbound]:
        return zalo.parse(body)

    def make_sender(self, store: ChannelStore) -> Sender:
        return zalo.ZaloSender(self.config, store)

    async def turn(self, inbound: Inbound) -> list[dict[str, Any]]:
        messages = await super().turn(inbound)
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if not messages or agent is None or not await is_paused(agent, inbound.key):
            return messages
        store = ChannelRuntime.get().store
        free_for = WINDOWS[self.channel][0]
        if await asyncio.to_thread(store.recall, self.channel, inbound.key, WRITE_AGAIN_MEMO, free_for):
            return messages
        await asyncio.to_thread(store.remember, self.channel, inbound.key, WRITE_AGAIN_MEMO, True)
        return [*messages, {"recipient_id": inbound.key, "text": replies.ZALO_WRITE_AGAIN}]
