"""Telegram connector: ``/webhooks/telegram/webhook`` (python-telegram-bot sends the replies).

Webhook mode inside Rasa: with ``TELEGRAM_WEBHOOK_URL`` set, ``setWebhook`` (with
``TELEGRAM_SECRET_TOKEN``) is called when the server starts. Polling mode for
development: ``scripts/poll.py telegram`` long-polls ``getUpdates`` and forwards
each update to this webhook with the secret header (Telegram allows one mode at a time).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from connectors.base import SignedWebhookInput, header
from helpline.channels import telegram
from helpline.channels.config import TelegramConfig
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore

logger = logging.getLogger(__name__)


class TelegramInput(SignedWebhookInput):
    channel = telegram.CHANNEL
    text_limit = telegram.TEXT_LIMIT
    config_type = TelegramConfig

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        return bool(header(headers, telegram.SECRET_HEADER))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return telegram.verify(self.config, header(headers, telegram.SECRET_HEADER))

    def parse(self, body: bytes) -> list[Inbound]:
        return telegram.parse(body)

    def make_sender(self, store: ChannelStore) -> Sender:
        return telegram.TelegramSender(self.config, store)

    async def acknowledge(self, inbound: Inbound, sender: Sender) -> None:
        query_id = inbound.extra.get("callback_query_id")
        if query_id and isinstance(sender, telegram.TelegramSender):
            await sender.answer_callback(query_id)

    async def on_start(self, sender: Sender) -> None:
        if self.config.webhook_url and isinstance(sender, telegram.TelegramSender):
            await sender.set_webhook(self.config.webhook_url)
            logger.info("telegram webhook registered")
