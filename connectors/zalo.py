"""Zalo Official Account connector: ``/webhooks/zalo/webhook``. Protocol code in :mod:`helpline.channels.zalo`."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import SignedWebhookInput, header
from helpline.channels import zalo
from helpline.channels.config import ZaloConfig
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore
from helpline.channels.zalo_format import ZALO_TEXT_LIMIT


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
