"""A Redis lock store that stays correct when several Rasa replicas serve one conversation.

Rasa 3.6's ``RedisLockStore`` changes a conversation's ticket lock with a plain
GET, change, SET. Two replicas receiving messages of the same person at the
same moment both read the same lock and both write it back: tickets are lost
or issued twice, so two turns of one conversation run at once, or a waiting
message finds its lock gone and fails with ``LockError`` (tests/scale showed
both). Here every change of a lock is one optimistic Redis transaction
(WATCH/MULTI/EXEC, retried on conflict), so tickets are issued and served in
order whichever replica handles each message.

Configured in ``bot/endpoints.scaled.yml`` as ``type: bot.lock_store.AtomicRedisLockStore``
with the same keys as Rasa's ``type: redis``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

Change = Callable[[TicketLock | None], tuple[TicketLock | None, Any]]


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: str, change: Change) -> Any:
        """Apply ``change`` to the stored lock atomically; None as the new lock deletes it."""
        key = self.key_prefix + conversation_id
        result: list[Any] = []

        def transaction(pipe: Any) -> None:
            raw = pipe.get(key)
            lock, value = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
            pipe.multi()
            if lock is None:
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            result[:] = [value]

        self.red.transaction(transaction, key)
        return result[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def change(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return int(self._change(conversation_id, change))
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, change)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, change)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove this ticket, and the lock itself when nobody else holds a ticket, in one step."""

        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, change)
