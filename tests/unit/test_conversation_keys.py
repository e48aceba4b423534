"""Conversation keys, payload screening and web session tokens (framework-free parts of issue 13)."""

from __future__ import annotations

import pytest

from helpline.channels.keys import channel_of, conversation_key, edge_id, split_key
from helpline.channels.payloads import merge_offered, offered_in, screen
from helpline.errors import ConfigError, SendFailed
from helpline.websession import WebSessions, bearer

SECRET = b"s" * 40


def test_keys_name_a_person_on_one_channel_only() -> None:
    key = conversation_key("telegram", "123")
    assert key == "telegram:123" and split_key(key) == ("telegram", "123") and channel_of(key) == "telegram"
    assert conversation_key("rest", "telegram:123") == "rest:telegram:123", "a REST sender cannot pose as a key"
    assert channel_of("123") is None and channel_of("Telegram:1") is None and channel_of("telegram:") is None
    assert edge_id("telegram", "telegram:123") == "123"
    for wrong in ("123", "rest:123", "zalo:123"):
        with pytest.raises(SendFailed) as refused:
            edge_id("telegram", wrong)
        assert refused.value.permanent, "never sent, never retried"
    with pytest.raises(ValueError):
        conversation_key("tele gram", "1")


def test_a_payload_is_accepted_only_if_offered_and_restart_never() -> None:
    offered = merge_offered(None, offered_in([{"text": "?", "buttons": [{"title": "Có", "payload": "/affirm"},
                                                                         {"title": "x", "payload": "/restart"}]}]))
    assert screen("/affirm", offered) == ("/affirm", False)
    assert screen(" /affirm ", offered) == ("/affirm", False)
    assert screen("/emergency", offered) == ("emergency", True)
    assert screen('/ask_faq{"faq_id": "x"}', offered) == ('ask_faq{"faq_id": "x"}', True)
    assert screen("/restart", offered) == ("restart", True), "offered or not"
    assert screen("//session_start", []) == ("session_start", True)
    assert screen("cứu tôi", None) == ("cứu tôi", False)
    assert len(merge_offered([f"/p{i}" for i in range(100)], ["/new"])) <= 40


def test_session_tokens_verify_and_refuse_tampering_and_expiry() -> None:
    now = [1_000_000.0]
    sessions = WebSessions(SECRET, ttl_seconds=60, clock=lambda: now[0])
    token, session = sessions.issue()
    assert sessions.verify(token) == session and len(session.session_id) >= 22
    version, sid, expires, sig = token.split(".")
    assert sessions.verify(f"{version}.{sid}x.{expires}.{sig}") is None
    assert sessions.verify(f"{version}.{sid}.{int(expires) + 1}.{sig}") is None
    assert WebSessions(b"t" * 40).verify(token) is None, "another secret"
    assert sessions.verify(token + ".") is None and sessions.verify("") is None and sessions.verify(None) is None
    renewed, same = sessions.issue(session.session_id)
    assert same.session_id == session.session_id and sessions.verify(renewed) == same
    now[0] += 61
    assert sessions.verify(token) is None, "expired"
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None
    with pytest.raises(ConfigError):
        WebSessions(b"short")
