"""Rasa message -> neutral reply, splitting, numbered fallback, and strict per-person outbox order."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from helpline import replies
from helpline.channels.inbound import Inbound, choice_number
from helpline.channels.messages import Button, numbered_text, reply_from_message, split_message_dict
from helpline.channels.outbox import Outbox, OutboxWorker
from helpline.channels.zalo_format import zalo_parts
from helpline.errors import SendFailed
from tests.conftest import Clock


def test_reply_from_rasa_message_and_custom() -> None:
    reply = reply_from_message({"text": "a", "buttons": [{"title": "T", "payload": "/p"}, {"bad": 1}]}, "zalo")
    assert reply.buttons == (Button("T", "/p"),)
    native = reply_from_message({"custom": {"telegram": {"text": "x", "parse_mode": "HTML"}}}, "telegram")
    assert native.native == {"text": "x", "parse_mode": "HTML"}
    assert reply_from_message({"custom": {"telegram": {"text": "x"}}}, "zalo").empty
    assert reply_from_message({"custom": {"text": "hi"}}, "zalo").text == "hi"


def test_split_message_dict_keeps_buttons_last() -> None:
    text = "Câu một. " * 400
    parts = split_message_dict({"text": text, "buttons": [{"title": "x", "payload": "/x"}]}, 2000)
    assert len(parts) >= 2 and all(len(p["text"]) <= 2000 for p in parts)
    assert "buttons" in parts[-1] and all("buttons" not in p for p in parts[:-1])


def test_numbered_text_and_choice_numbers() -> None:
    text = numbered_text("Chọn:", [Button("A", "/a"), Button("B", "/b")])
    assert text == f"Chọn:\n\n1. A\n2. B\n{replies.CHOOSE_BY_NUMBER}"
    assert [choice_number(t) for t in ("2", " 3. ", "2)", "12", "2 nguoi", "")] == [2, 3, 2, 12, None, None]


@pytest.mark.parametrize(("typed", "number"), [
    ("số 1", 1), ("so 2", 2), ("câu 2", 2), ("cau 3", 3), ("lựa chọn 1", 1), ("lua chon 2", 2), ("Số 3.", 3),
    ("CÂU 2", 2), ("chọn 3", 3), ("so  1", 1), ("số 1 2", None), ("sốt 1", None),
    ("tôi chọn số 2 vì", None), ("câu 2 thì sao", None), ("số", None),
])
def test_choice_words_before_the_number(typed: str, number: int | None) -> None:
    assert choice_number(typed) == number


def test_choice_words_in_decomposed_unicode() -> None:
    import unicodedata
    assert choice_number(unicodedata.normalize("NFD", "lựa chọn 2")) == 2


def test_zalo_mapping_is_shared_by_both_zalo_apis() -> None:
    reply = reply_from_message({"text": "Hỏi:", "buttons": [{"title": "A", "payload": "/a"}]}, "zalo")
    [native] = zalo_parts(reply, native_buttons=True)
    [numbered] = zalo_parts(reply, native_buttons=False)
    # Both number the options in the text (OA buttons on message/cs are unconfirmed); the OA adds buttons.
    assert native.buttons == (Button("A", "/a"),) and native.text == numbered.text
    assert numbered.choices == native.choices == ("/a",) and "1. A" in numbered.text and not numbered.buttons


def test_inbound_round_trips_as_json() -> None:
    event = Inbound("telegram", "1", "u5", "postback", payload="/x", extra={"callback_query_id": "q"})
    assert Inbound.from_json(event.to_json()) == event


class Flaky:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.fail_text: str | None = None

    async def send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        if message["text"] == self.fail_text:
            raise SendFailed("HTTP 503")
        self.received.append(f"{recipient_id}:{message['text']}")


def test_outbox_keeps_each_persons_order_across_a_retry(tmp_path: Any) -> None:
    clock = Clock()
    outbox = Outbox.from_url(f"sqlite:///{tmp_path / 'o.db'}", now=clock)
    platform = Flaky()
    worker = OutboxWorker(outbox, {"zalo": platform})
    for text in ("1", "2", "3"):
        outbox.enqueue("zalo", "alice", {"text": text})
    outbox.enqueue("zalo", "bob", {"text": "b"})
    platform.fail_text = "1"
    asyncio.run(worker.run_once())
    assert platform.received == ["bob:b"], "alice's later parts wait for her first"
    platform.fail_text = None
    clock.advance(seconds=5)

    async def drain() -> None:
        while await worker.run_once():
            pass

    asyncio.run(drain())
    assert platform.received == ["bob:b", "alice:1", "alice:2", "alice:3"]
