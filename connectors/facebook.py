"""Facebook Messenger connector: ``/webhooks/facebook/webhook``. Protocol code in :mod:`helpline.channels.facebook`."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import SignedWebhookInput, header
from helpline.channels import facebook
from helpline.channels.config import FacebookConfig
from helpline.channels.inbound import Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore


class FacebookInput(SignedWebhookInput):
    channel = facebook.CHANNEL
    text_limit = facebook.TEXT_LIMIT
    config_type = FacebookConfig

    def signature_present(self, headers: Mapping[str, str]) -> bool:
        return bool(header(headers, facebook.SIGNATURE_HEADER))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return facebook.verify_signature(self.config, body, header(headers, facebook.SIGNATURE_HEADER))

    def parse(self, body: bytes) -> list[Inbound]:
        return facebook.parse(body)

    def make_sender(self, store: ChannelStore) -> Sender:
        return facebook.FacebookSender(self.config, store)

    async def subscription(self, args: Mapping[str, str]) -> tuple[int, str]:
        if not self.enabled:
            return 503, "the facebook channel is disabled on this server"
        challenge = facebook.verify_subscription(self.config, args)
        return (200, challenge) if challenge is not None else (403, "verification failed")
