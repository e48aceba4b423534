"""Fuzzing the Rasa server's public endpoints over HTTP: the REST channel and every platform webhook
(tests/hardened.py stack). Any input gets a clear answer, never a 5xx; a message is never answered with
silence; replayed and out-of-order deliveries are answered once each."""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from helpline import replies
from helpline.db import Database
from tests.fakes import facebook as fake_facebook
from tests.fakes import zalo as fake_zalo
from tests.fakes.webhooks import CHANNELS, forged, load, new_mid, new_sender, readdress, signed, text_event
from tests.fuzz.conftest import examples, record
from tests.fuzz.test_fuzz_console import INJECTIONS
from tests.hardened import Hardened

_n = itertools.count(int(time.time() * 10) % 1_000_000 + 2_000_000)
EMOJI_ONLY = "😭😭🙏🙏🆘"
ZERO_WIDTH_ONLY = "\u200b\u200c\u200d\ufeff"
MIXED = "Tôi bị giữ ở 柬埔寨, паспорт bị lấy mất, help me ช่วยด้วย"
SPECIAL_TEXTS = [EMOJI_ONLY, ZERO_WIDTH_ONLY, MIXED, "a" * 10_000, "cứu " * 1500, "\u0000\u0001\u007f", "\t\n\r  ",
                 "ñ\u0303" * 50, *INJECTIONS]


def ip() -> str:
    return f"127.77.{next(_n) % 250}.{next(_n) % 250}"  # loopback: the REST channel answers local clients only


def texts_of(response: httpx.Response) -> list[str]:
    return [m.get("text", "") for m in response.json()]


# -- REST -------------------------------------------------------------------------------------

senders = st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(INJECTIONS), st.just(""), st.integers(),
                    st.none(), st.text(min_size=129, max_size=135), st.lists(st.text(max_size=3), max_size=2))
messages = st.one_of(st.text(max_size=120), st.sampled_from(SPECIAL_TEXTS), st.integers(), st.none(),
                     st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
# Half the bodies are well formed, so the bot itself (not only the validation) sees the odd texts.
valid_bodies = st.fixed_dictionaries({
    "sender": st.from_regex(r"fuzz-[a-z0-9]{1,12}", fullmatch=True),
    "message": st.one_of(st.text(min_size=1, max_size=200), st.sampled_from(SPECIAL_TEXTS)),
}).map(lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8"))
json_bodies = st.fixed_dictionaries({"sender": senders, "message": messages},
                                    optional={"metadata": st.one_of(st.none(), st.integers(), st.dictionaries(
                                        st.text(max_size=5), st.text(max_size=5), max_size=2))}).map(
    lambda d: json.dumps(d, ensure_ascii=False).encode("utf-8"))
raw_bodies = st.one_of(st.binary(max_size=300), st.sampled_from([
    b"", b"{", b"[]", b"null", b"42", b'"text"', b'{"sender": "a"}', b"\xff\xfe\xfd",
    b'{"sender": "s", "message": "\\ud800 lone surrogate"}', b'{"sender": "s", "message": "\xc3\x28"}',
    b'{"sender": "s", "message": "x", "sender": "dup"}', b'{"sender": "s", "message": NaN}', b"\x00" * 50,
]))
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                 "application/vnd.api+json", "text/html", "image/png"])


def test_rest_channel_answers_any_input_clearly(hardened: Hardened) -> None:
    hard = hardened

    @hsettings(max_examples=examples(120))
    @given(body=st.one_of(valid_bodies, json_bodies, raw_bodies), ctype=st.one_of(
        st.just("application/json"), content_types))
    def check(body: bytes, ctype: str) -> None:
        headers = {"X-Real-IP": ip(), **({"Content-Type": ctype} if ctype else {})}
        response = hard.http.post(f"{hard.rasa}/webhooks/rest/webhook", content=body, headers=headers)
        record("REST channel", response.status_code)
        assert response.status_code in (200, 400, 413, 415, 429), (response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/json")
        if response.status_code in (200, 429):
            texts = texts_of(response)
            assert texts and all(isinstance(t, str) for t in texts), "never silence"
            if response.status_code == 429:
                assert any("111" in t for t in texts)
        else:
            assert response.json().get("error"), "a clear reason"

    check()


@pytest.mark.parametrize(("what", "body", "ctype", "status"), [
    ("0 bytes", b"", "application/json", 400),
    ("5 MB", b'{"sender": "big", "message": "' + b"a" * (5 * 1024 * 1024) + b'"}', "application/json", 413),
    ("malformed JSON", b'{"sender": "x", "message": ', "application/json", 400),
    ("wrong content type", b"sender=x&message=hi", "application/x-www-form-urlencoded", 415),
    ("invalid UTF-8", b'{"sender": "x", "message": "\xff\xfe"}', "application/json", 400),
    ("10,000 characters", json.dumps({"sender": "long", "message": "a" * 10_000}).encode(), "application/json", 413),
    ("sender not a string", b'{"sender": 5, "message": "hi"}', "application/json", 400),
])
def test_rest_bad_input_gets_a_clear_error(hardened: Hardened, what: str, body: bytes, ctype: str,
                                           status: int) -> None:
    response = hardened.http.post(f"{hardened.rasa}/webhooks/rest/webhook", content=body,
                                  headers={"Content-Type": ctype, "X-Real-IP": ip()})
    assert response.status_code == status, (what, response.text[:200])


@pytest.mark.parametrize(("what", "text", "needs_111"), [
    ("emoji only", EMOJI_ONLY, False),
    ("zero-width only", ZERO_WIDTH_ONLY, True),  # nothing left to read: the fallback, with 111
    ("mixed scripts", MIXED, False),
    ("HTML/JS", '<script>alert(1)</script><img src=x onerror=alert(1)>', False),
    ("SQL", "'; DROP TABLE events; -- \" OR 1=1", False),
])
def test_rest_odd_text_is_answered(hardened: Hardened, what: str, text: str, needs_111: bool) -> None:
    sender = f"odd-{uuid.uuid4().hex[:8]}"
    response = hardened.rest(sender, text)
    assert response.status_code == 200, what
    texts = texts_of(response)
    assert texts and all(texts), what
    assert not needs_111 or any("111" in t for t in texts)
    assert not any("<script" in t or "onerror" in t for t in texts), "user text is never echoed"


def test_rest_lone_surrogates_and_nul_are_cleaned_not_fatal(hardened: Hardened) -> None:
    body = b'{"sender": "surrogate-' + uuid.uuid4().hex[:6].encode() + b'", "message": "xin ch\\u00e0o \\ud800\\u0000"}'
    response = hardened.http.post(f"{hardened.rasa}/webhooks/rest/webhook", content=body,
                                  headers={"Content-Type": "application/json", "X-Real-IP": ip()})
    assert response.status_code == 200 and all(texts_of(response))


def test_rest_rate_limits_answer_429_with_the_hotlines(hardened: Hardened) -> None:
    hard = hardened
    address = "127.77.0.1"  # the REST channel answers loopback clients only
    statuses = []
    for _ in range(500):  # cheap requests: the per-address limit counts before anything is read
        statuses.append(hard.http.post(f"{hard.rasa}/webhooks/rest/webhook", content=b"{}", headers={
            "Content-Type": "application/json", "X-Real-IP": address}).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and len(statuses) > 300, "a burst of 300, then limited"
    limited = hard.rest("someone", "cứu tôi", ip=address)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert any("113" in t and "111" in t for t in texts_of(limited))
    assert hard.rest("someone", "chào bạn").status_code == 200, "another address is not affected"

    sender = f"flood-{uuid.uuid4().hex[:8]}"
    for _ in range(20):
        assert hard.rest(sender, ZERO_WIDTH_ONLY).status_code == 200  # nothing for the bot, cheap
    flooded = hard.rest(sender, "hỏi tiếp")
    assert flooded.status_code == 429 and replies.RATE_LIMITED in texts_of(flooded)
    # On REST (anyone can claim danger there) danger-looking text no longer lifts the limit, but the
    # answer still names 113 and 111.
    danger = hard.rest(sender, "cuu toi voi toi bi nhot")
    assert danger.status_code == 429 and any("113" in t and "111" in t for t in texts_of(danger))


# -- platform webhooks ---------------------------------------------------------------------------

TEMPLATES = {
    "zalo": ["user_send_text", "user_send_image", "user_send_location", "user_send_sticker", "user_seen_message",
             "follow", "button_payload"],
    "zalobot": ["text", "image", "sticker", "unsupported", "group_text", "choice_number"],
    "facebook": ["text", "postback", "quick_reply", "image", "location", "read", "echo", "reaction",
                 "batched_duplicate"],
    "telegram": ["text", "callback_query", "edited_message", "group_text", "location", "photo", "sticker"],
}
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.text(max_size=8), kids, max_size=3), max_leaves=12)


def mutate(data: Any, path: list[int], value: Any, delete: bool) -> Any:
    """Replace (or delete) one node of a JSON document, chosen by ``path`` (indexes into keys/items)."""
    data = copy.deepcopy(data)
    node, parent, key = data, None, None
    for step in path:
        if isinstance(node, dict) and node:
            parent, key = node, list(node)[step % len(node)]
        elif isinstance(node, list) and node:
            parent, key = node, step % len(node)
        else:
            break
        node = parent[key]
    if parent is None:
        return value
    if delete and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = value
    return data


@pytest.mark.parametrize("channel", CHANNELS)
def test_webhooks_answer_any_signed_body_clearly(hardened: Hardened, channel: str) -> None:
    hard = hardened

    @hsettings(max_examples=examples(40))
    @given(template=st.sampled_from(TEMPLATES[channel]), path=st.lists(st.integers(0, 20), max_size=4),
           value=st.one_of(json_values, st.sampled_from(SPECIAL_TEXTS)), delete=st.booleans(),
           event_name=st.one_of(st.none(), st.text(max_size=20)), raw=st.one_of(st.none(), st.binary(max_size=200)),
           replay=st.booleans())
    def check(template: str, path: list[int], value: Any, delete: bool, event_name: str | None, raw: bytes | None,
              replay: bool) -> None:
        n = next(_n)
        data = load(channel, template)
        try:
            data = readdress(channel, data, new_sender(channel, n), new_mid(channel, n))
        except (KeyError, TypeError):
            pass  # an event without a sender (a Zalo "follow"): sent as it is
        data = mutate(data, path, value, delete)
        if event_name is not None and isinstance(data, dict):
            data["event_name" if channel in ("zalo", "zalobot") else "object"] = event_name  # unknown event types
        if channel == "zalo" and isinstance(data, dict):
            data.setdefault("app_id", fake_zalo.APP_ID)
        if raw is None and not isinstance(data, dict):
            raw = json.dumps(data, ensure_ascii=False).encode()  # a JSON document that is not an object
        body, headers = signed(channel, data) if raw is None else signed_raw(channel, raw)
        statuses = [hard.webhook(channel, body, headers, ip=ip()).status_code for _ in range(2 if replay else 1)]
        for status in statuses:
            record(f"webhook {channel}", status)
            assert status in (200, 400, 403), status  # 403: a Zalo body whose app_id was mutated away

    check()


def signed_raw(channel: str, raw: bytes) -> tuple[bytes, dict[str, str]]:
    """Arbitrary bytes with a valid signature over them (where the signature covers the body)."""
    _, headers = signed(channel, {})
    if channel == "facebook":
        headers["X-Hub-Signature-256"] = fake_facebook.sign(raw)
    elif channel == "zalo":
        try:
            headers["X-ZEvent-Signature"] = fake_zalo.sign(raw)
        except (ValueError, AttributeError):  # not a JSON object: Zalo's MAC needs its timestamp field
            headers["X-ZEvent-Signature"] = "mac=" + "0" * 64
    return raw, headers


@pytest.mark.parametrize("channel", CHANNELS)
def test_webhook_bad_input_gets_a_clear_answer(hardened: Hardened, channel: str) -> None:
    hard = hardened
    url = f"{hard.rasa}/webhooks/{channel}/webhook"
    sender, mid = new_sender(channel, next(_n)), new_mid(channel, next(_n))
    body, headers = signed(channel, text_event(channel, sender, mid, "xin chào"))
    assert httpx.post(url, content=b"", headers={"X-Real-IP": ip()}).status_code == 401, "0 bytes, unsigned"
    assert hard.webhook(channel, *forged(channel, text_event(channel, sender, mid, "x"))).status_code == 403
    big = b'{"a": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert hard.webhook(channel, big, headers).status_code == 413
    for raw in (b"", b"\xff\xfe\xfd{", b"not json", b"[1, 2]"):
        status = hard.webhook(channel, *signed_raw(channel, raw)).status_code
        assert status in (400, 403), (raw, status)  # 403: Zalo's MAC covers the app_id inside the body
    wrong_type = {**headers, "Content-Type": "text/plain"}
    assert hard.webhook(channel, body, wrong_type).status_code == 200, "signed: the content type is not trusted"
    long_sender, long_mid = new_sender(channel, next(_n)), new_mid(channel, next(_n))
    assert hard.webhook(channel, *signed(channel, text_event(channel, long_sender, long_mid,
                                                             "cứu " * 2500))).status_code == 200
    assert hard.platforms[channel].wait_texts(long_sender, 1, timeout=90), "a 10,000-character message is answered"
    assert hard.platforms[channel].wait_texts(sender, 1, timeout=90)


def outbox_keys(hard: Hardened, channel: str, sender: str) -> list[str]:
    db = Database.from_url(hard.direct_db_url)
    with db.transaction("read dedupe keys", write=False) as q:
        rows = q.all("SELECT dedupe_key FROM outbox WHERE channel = ? AND recipient_id = ?",
                     (channel, f"{channel}:{sender}"))  # the outbox holds conversation keys
    return [r[0] for r in rows]


@pytest.mark.parametrize("channel", CHANNELS)
def test_replayed_and_out_of_order_deliveries_are_answered_once_each(hardened: Hardened, channel: str) -> None:
    hard, fake = hardened, hardened.platforms[channel]
    base = next(_n)
    sender = new_sender(channel, base)
    mids = [new_mid(channel, base + k) for k in range(3)]
    questions = ["Tổng đài 111 là gì?", "Mua bán người là gì?", "cảm ơn bạn"]
    bodies = [signed(channel, text_event(channel, sender, m, q)) for m, q in zip(mids, questions, strict=True)]
    for k in (2, 0, 1, 0, 2, 1):  # newest first, then replays
        assert hard.webhook(channel, *bodies[k]).status_code == 200
    platform_ids = {f"u{m}" if channel == "telegram" else m for m in mids}  # Telegram's are update ids
    keys = fake.wait_for(lambda: (ks := outbox_keys(hard, channel, sender)) and
                         {k.split(":")[1] for k in ks} == platform_ids and ks, timeout=120)
    time.sleep(3)
    keys = outbox_keys(hard, channel, sender)
    assert len(keys) == len(set(keys)), "no reply queued twice"
    assert len(fake.texts_to(sender)) == len(keys), "each queued reply delivered once"


def test_zz_logs_after_fuzzing_hold_no_secret(hardened: Hardened) -> None:
    everything = "\n".join(hardened.logs().values())
    leaked = [s[:4] + "…" for s in hardened.secrets if s in everything]
    assert not leaked, f"secrets in the logs: {leaked}"
