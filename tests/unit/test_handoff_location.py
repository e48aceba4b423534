"""HandoffStore.set_location: a location shared on a channel lands on the person's open ticket only."""

from __future__ import annotations

import pytest

from helpline.handoff import HandoffStore
from tests.conftest import Clock


def test_location_is_set_on_open_tickets_only(db_url: str, clock: Clock) -> None:
    store = HandoffStore.from_url(db_url, now=clock)
    ticket = store.open_ticket("zalo", "u1", "immediate", ("lexicon:x",))
    where = {"latitude": 10.76, "longitude": 106.65, "source": "zalo"}
    assert store.set_location(ticket.id, where) is True
    saved = store.get(ticket.id)
    assert saved is not None and saved.location == where
    store.resolve(ticket.id, "staff")
    assert store.set_location(ticket.id, {"latitude": 1.0, "longitude": 2.0}) is False
    assert store.set_location(9999, where) is False
    with pytest.raises(ValueError):
        store.set_location(ticket.id, {"bad": object()})
