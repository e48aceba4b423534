"""Facebook Messenger connector: ``/webhooks/facebook/webhook``. Protocol code in :mod:`helpline.channels.facebook`.

Handover Protocol: while another app (the Page inbox) owns a person's thread, their events come as
``standby``: the bot stays quiet and their texts go to the open ticket. ``take_thread_control``
(the inbox took the thread) and ``pass_thread_control`` (it came back) are remembered per person
and noted on the ticket. With ``FACEBOOK_HANDOVER_INBOX=1`` the bot passes the thread to the Page
inbox itself when it hands a person to staff; a staff reply from the console takes it back first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connectors.base import SignedWebhookInput, header
from connectors.runtime import ChannelRuntime
from connectors.turn import MEDIA_NAMES, is_paused, ticket_note
from helpline import replies
from helpline.channels import facebook
from helpline.channels.config import FacebookConfig
from helpline.channels.inbound import MEDIA_KINDS, Inbound
from helpline.channels.outbox import Sender
from helpline.channels.store import ChannelStore
from helpline.errors import SendFailed
from helpline.text import clean, mask_id

logger = logging.getLogger(__name__)

# Lines on the ticket, for staff.
TAKEN_NOTE = "[Messenger: cuộc trò chuyện đã chuyển sang hộp thư của Trang; trợ lý tự động im lặng]"
PASSED_BACK_NOTE = "[Messenger: hộp thư của Trang đã trả cuộc trò chuyện cho trợ lý tự động]"
HANDED_NOTE = "[Messenger: đã chuyển cuộc trò chuyện sang hộp thư của Trang để nhân viên trả lời ở đó]"


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

    async def turn(self, inbound: Inbound) -> list[dict[str, Any]]:
        runtime = ChannelRuntime.get()
        key = inbound.key
        if inbound.kind == "handover":
            taken = inbound.extra.get("action") == "take"
            owner = (inbound.extra.get("owner") or "other") if taken else None
            await facebook.remember_thread(runtime.store, key, owner)
            await ticket_note(self.channel, key, TAKEN_NOTE if taken else PASSED_BACK_NOTE)
            return []
        if inbound.extra.get("standby"):
            # Another app answers this person; staff in the console still see what they write.
            text = clean(inbound.user_text)
            if inbound.kind in MEDIA_KINDS:
                text = f"[Người dùng gửi {MEDIA_NAMES.get(inbound.kind, 'tệp')}]"
            if text:
                await ticket_note(self.channel, key, text)
            return []
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if inbound.kind == "referral":
            if agent is not None and await is_paused(agent, key):
                return []
            return [{"recipient_id": key, "text": replies.REFERRAL_WELCOME}]
        # An event in ``messaging`` means the bot owns the thread (again).
        await facebook.remember_thread(runtime.store, key, None)
        messages = await super().turn(inbound)
        if self.config.handover_inbox and agent is not None and await is_paused(agent, key):
            await self._hand_to_inbox(runtime, key)
        return messages

    async def _hand_to_inbox(self, runtime: ChannelRuntime, key: str) -> None:
        sender = runtime.sender(self.channel)
        if not isinstance(sender, facebook.FacebookSender) or await facebook.thread_elsewhere(runtime.store, key):
            return
        try:
            await sender.pass_thread(key, "handed to helpline staff")
        except SendFailed as exc:  # the console still has the ticket; the bot stays paused either way
            logger.warning("facebook: could not pass the thread of %s to the Page inbox: %s", mask_id(key), exc)
            return
        await ticket_note(self.channel, key, HANDED_NOTE)
