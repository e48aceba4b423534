"""Channel state in SQLite and PostgreSQL: dedupe journal, token compare-and-swap, memos, payload keys."""

from __future__ import annotations

import datetime as dt

import pytest

from helpline.channels.inbound import Inbound, Location
from helpline.channels.store import MAX_REPLAYS, ChannelStore, TokenPair
from tests.conftest import Clock


@pytest.fixture
def store(db_url: str, clock: Clock) -> ChannelStore:
    return ChannelStore.from_url(db_url, now=clock)


def event(mid: str = "m1", sender: str = "u1") -> Inbound:
    return Inbound("zalo", sender, mid, "location", location=Location(10.5, 106.6))


def test_a_message_id_is_claimed_once(store: ChannelStore) -> None:
    assert store.claim_inbound(event()) is True
    assert store.claim_inbound(event()) is False
    assert store.claim_inbound(Inbound("facebook", "u1", "m1", "text", text="x")) is True, "ids are per channel"


def test_unfinished_messages_are_replayed_a_bounded_number_of_times(store: ChannelStore, clock: Clock) -> None:
    store.claim_inbound(event("m1"))
    store.claim_inbound(event("m2"))
    store.finish_inbound("zalo", "m2")
    assert store.unfinished_inbound(["zalo"], dt.timedelta(seconds=60)) == [], "too recent"
    clock.advance(seconds=61)
    [again] = store.unfinished_inbound(["zalo"], dt.timedelta(seconds=60))
    assert again == event("m1"), "the parsed event survives intact"
    assert store.unfinished_inbound(["telegram"], dt.timedelta(seconds=60)) == []
    assert store.unfinished_inbound(["zalo"], dt.timedelta(seconds=60)) == [], "claimed: leased for 60 s"
    for _ in range(MAX_REPLAYS - 1):
        clock.advance(seconds=61)
        assert store.unfinished_inbound(["zalo"], dt.timedelta(seconds=60))
    clock.advance(seconds=61)
    assert store.unfinished_inbound(["zalo"], dt.timedelta(seconds=60)) == []
    assert store.claim_inbound(event("m1")) is False, "still deduplicated"


def test_purge_keeps_recent_and_unfinished(store: ChannelStore, clock: Clock) -> None:
    store.claim_inbound(event("m1"))
    store.claim_inbound(event("m2"))
    store.finish_inbound("zalo", "m1")
    clock.advance(days=15)
    assert store.purge_inbound(dt.timedelta(days=14)) == 1
    assert store.claim_inbound(event("m2")) is False


def test_token_pair_seed_refresh_and_compare_and_swap(store: ChannelStore, clock: Clock) -> None:
    seeded = store.seed_tokens("zalo", TokenPair("a1", "r1"))
    assert seeded.access_token == "a1"
    assert store.claim_refresh("zalo", dt.timedelta(seconds=60)) is True
    assert store.claim_refresh("zalo", dt.timedelta(seconds=60)) is False, "one refresher at a time"
    new = TokenPair("a2", "r2", clock.now + dt.timedelta(hours=25))
    assert store.replace_tokens("zalo", "r1", new) is True
    assert store.replace_tokens("zalo", "r1", TokenPair("a3", "r3")) is False, "r1 was already spent"
    stored = store.tokens("zalo")
    assert stored is not None and (stored.access_token, stored.refresh_token) == ("a2", "r2")
    assert stored.expires_at == clock.now + dt.timedelta(hours=25)
    assert store.seed_tokens("zalo", TokenPair("a1", "r1")).access_token == "a2", "the configured pair is spent"
    assert store.seed_tokens("zalo", TokenPair("b1", "s1")).access_token == "b1", "a new configured pair wins"
    assert "a2" not in repr(stored)


def test_refresh_lease_expires(store: ChannelStore, clock: Clock) -> None:
    store.seed_tokens("zalo", TokenPair("a1", "r1"))
    assert store.claim_refresh("zalo", dt.timedelta(seconds=60))
    clock.advance(seconds=61)
    assert store.claim_refresh("zalo", dt.timedelta(seconds=60)), "a crashed refresher does not block forever"


def test_memo_payload_keys_and_privacy_delete(store: ChannelStore, clock: Clock) -> None:
    store.remember("zalobot", "zalobot:u1", "choices", ["/a", "/b"])
    store.remember("zalobot", "zalobot:u1", "choices", ["/c"])
    assert store.recall("zalobot", "zalobot:u1", "choices", dt.timedelta(hours=1)) == ["/c"]
    clock.advance(hours=2)
    assert store.recall("zalobot", "zalobot:u1", "choices", dt.timedelta(hours=1)) is None
    key = store.payload_key("/ask_faq" + "x" * 80)
    assert key == store.payload_key("/ask_faq" + "x" * 80) and store.payload_for(key) == "/ask_faq" + "x" * 80
    store.remember("zalo", "zalo:u1", "location", {"latitude": 1})
    store.remember("zalobot", "zalobot:u1", "location", {"latitude": 2})
    store.claim_inbound(event("m9", sender="u1"))
    # A privacy delete is per conversation key: the same platform id on another channel is someone else.
    assert store.delete_recipient("zalo:u1") == 2
    assert store.recall("zalobot", "zalobot:u1", "location", dt.timedelta(hours=1)) == {"latitude": 2}
    assert store.claim_inbound(event("m9", sender="u1")) is True
