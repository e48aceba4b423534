"""Zalo Bot Platform connector: ``/webhooks/zalobot/webhook``. Protocol code in :mod:`helpline.channels.zalobot`.

With ``ZALO_BOT_WEBHOOK_URL`` set, the webhook is registered (``setWebhook`` with
the secret token) when the server starts. For development without a public URL,
``scripts/poll.py zalobot`` long-polls ``getUpdates`` and forwards to this webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from connectors.base import SignedWebhookInput, header
from helpline.channels import zalobot
from helpline.channels.config import ZaloBotConfig
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore
from helpline.channels.zalo_format import ZALO_TEXT_LIMIT

logger = logging.getLogger(__name__)


class ZaloBotInput(SignedWebhookInput):
    channel = zalobot.CHANNEL
    text_limit = ZALO_TEXT_LIMIT
    config_type = ZaloBotConfig

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        return bool(header(headers, zalobot.SECRET_HEADER))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return zalobot.verify(self.config, header(headers, zalobot.SECRET_HEADER))

    def parse(self, body: bytes) -> list[Inbound]:
        return zalobot.parse(body)

    def make_sender(self, store: ChannelStore) -> Sender:
        return zalobot.ZaloBotSender(self.config, store)

    async def on_start(self, sender: Sender) -> None:
        if self.config.webhook_url and isinstance(sender, zalobot.ZaloBotSender):
            await sender.api.set_webhook(self.config.webhook_url)
            logger.info("zalobot webhook registered")
