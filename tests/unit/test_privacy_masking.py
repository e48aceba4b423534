"""Personal data and secrets never reach a log line: address masking, and the process-wide log cleaner."""

from __future__ import annotations

import io
import logging

import pytest

from helpline import logmask
from helpline.text import ADDRESS_MASK, mask_addresses, mask_pii


@pytest.mark.parametrize(("text", "hidden"), [
    ("em ở số nhà 12 ngõ 34 đường Lê Lợi, phường Bến Nghé, quận 1", ["12", "34", "Lê Lợi", "Bến Nghé"]),
    ("nhà em ở hẻm 45/2 Nguyễn Trãi", ["45/2", "Nguyễn Trãi"]),
    ("thôn Đông Hòa, xã Tân Phú", ["Đông Hòa", "Tân Phú"]),
    ("ấp Bình Thạnh", ["Bình Thạnh"]),
    ("kiệt 12 Trần Phú", ["Trần Phú"]),
    ("em o to 3 ap 2", ["to 3", "ap 2"]),
    ("duong Le Loi phuong Ben Nghe", ["Le Loi", "Ben Nghe"]),
    ("ngo 12 ngach 3 Kim Ma", ["ngo 12", "Kim Ma"]),
])
def test_addresses_are_masked(text: str, hidden: list[str]) -> None:
    masked = mask_addresses(text)
    assert ADDRESS_MASK in masked
    assert not [h for h in hidden if h in masked], masked


@pytest.mark.parametrize("text", [
    "gọi đường dây nóng 111 ngay", "tổ chức xã hội", "Tổ quốc", "thành phố Hồ Chí Minh",
    "Điều 150 Bộ luật Hình sự", "em bị giữ ở Sihanoukville", "cach 5 km", "xa Ha Noi lam",
    "Tội mua bán người bị phạt mấy năm?",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_addresses(text) == text


def test_mask_pii_covers_phone_id_email_and_address() -> None:
    text = "Em tên Lan, sđt 0912 345 678, CCCD 012345678901, mail lan@x.vn, ở ngõ 5 Kim Mã. Gọi 111."
    masked = mask_pii(text)
    for secret in ("0912", "012345678901", "lan@x.vn", "ngõ 5", "Kim Mã"):
        assert secret not in masked
    assert "111" in masked and "Lan" in masked


@pytest.fixture
def log_output() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("test.privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)


def test_log_records_lose_secrets_and_personal_data(log_output: io.StringIO) -> None:
    logmask.install(["sk-live-0123456789abcdef"], env={"TELEGRAM_BOT_TOKEN": "123456:tg-token-abcdef",
                                                        "DATABASE_URL": "postgresql://u:pg-pass-xyz@db:5432/h"})
    logger = logging.getLogger("test.privacy")
    logger.info("calling https://api.telegram.org/bot%s/sendMessage", "123456:tg-token-abcdef")
    logger.warning("secret %s and db %s", "sk-live-0123456789abcdef", "postgresql://u:pg-pass-xyz@db:5432/h")
    logger.info("user wrote: em ở ngõ 5 Kim Mã, sđt 0987654321")
    try:
        raise ValueError("bad input from 0987654321 with token sk-live-0123456789abcdef")
    except ValueError:
        logger.exception("failed")
    out = log_output.getvalue()
    for leaked in ("tg-token-abcdef", "sk-live-0123456789abcdef", "pg-pass-xyz", "0987654321", "Kim Mã"):
        assert leaked not in out, leaked
    assert out.count("***") >= 3 and "[sđt]" in out and ADDRESS_MASK in out
    assert "Traceback" in out and "ValueError" in out, "tracebacks stay useful"


def test_json_escaped_texts_are_masked_too(log_output: io.StringIO) -> None:
    logmask.install()
    logging.getLogger("test.privacy").debug('{"event": "user", "text": "em \\u1edf ng\\u00f5 5 Kim M\\u00e3"}')
    out = log_output.getvalue()
    assert "Kim M" not in out and ADDRESS_MASK in out


def test_secrets_from_env_finds_tokens_and_url_passwords() -> None:
    found = logmask.secrets_from_env({
        "ZALO_OA_SECRET_KEY": "oa-secret-key-1", "FACEBOOK_APP_SECRET": "fb-app-secret", "RASA_TOKEN": "rasa-token-1",
        "HELPLINE_TRACKER_DB_URL": "postgresql://rasa:tracker-pw@h/db", "HELPLINE_DATA_DIR": "/var/lib/helpline",
        "SHORT_TOKEN": "abc", "PATH": "/usr/bin",
    })
    assert found == {"oa-secret-key-1", "fb-app-secret", "rasa-token-1", "tracker-pw"}


def test_messages_are_masked_once_when_stored(tmp_path: object) -> None:
    from pathlib import Path

    from helpline.handoff import HandoffStore

    store = HandoffStore.from_url(f"sqlite:///{Path(str(tmp_path)) / 'h.db'}")
    text = "em o ngõ 12 Lê Lợi, sđt 0912 345 678, mail em.be@gmail.com \u202eabc"
    ticket = store.open_ticket("zalo", "u1", "urgent", ["x"], [("user", text)])
    store.add_message(ticket.id, "staff", "goi 0987654321 nhe")
    with store.database.transaction("read masks", write=False) as q:
        stored = [r[0] for r in q.all("SELECT masked FROM handoff_message_masks ORDER BY message_id")]
    assert len(stored) == 2 and stored[0] == ticket.messages[0].masked
    for secret in ("0912 345 678", "em.be@gmail.com", "Lê Lợi", "\u202e", "0987654321"):
        assert all(secret not in s for s in stored)
    assert "⟨RLO⟩" in stored[0]
    full = store.get(ticket.id)
    assert full is not None and full.messages[0].text == text, "the raw text is kept for the ticket view"
    [listed] = store.list_tickets()
    assert listed.last_message is not None and listed.last_message.masked == stored[1]
    [item] = store.queue()
    assert item.ticket.last_message is not None and item.ticket.last_message.masked_text == stored[1]


def test_deleting_a_person_deletes_the_stored_masks_too(db_url: str) -> None:
    import datetime as dt

    from helpline.handoff import HandoffStore

    store = HandoffStore.from_url(db_url)
    ticket = store.open_ticket("zalo", "u-del", "urgent", ["x"], [("user", "em ở ngõ 5 Kim Mã"), ("bot", "113")])
    store.resolve(store.open_ticket("zalo", "u-old", "normal", [], [("user", "cũ")]).id, "lan")

    def masks() -> int:
        with store.database.transaction("count masks", write=False) as q:
            row = q.one("SELECT COUNT(*) FROM handoff_message_masks")
        return int(row[0]) if row else 0

    assert masks() == 3
    assert store.delete_sender("zalo", "u-del") == 1 and store.get(ticket.id) is None
    assert masks() == 1, "the masked copy of an erased transcript goes with it"
    assert store.purge_resolved(dt.timedelta(0)) == 1 and masks() == 0
