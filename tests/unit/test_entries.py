from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpline.errors import KnowledgeBaseError
from helpline.kb.entries import load_entries, phone_numbers_in
from helpline.settings import PROJECT_ROOT

NUMBERS = PROJECT_ROOT / "knowledge_base" / "verified_numbers.yml"

GOOD = """
  - id: t-one
    question: "Mua bán người là gì?"
    answer: "{answer}"
    legal_basis: {basis}
    law_version: "53/2024/QH15"
    last_checked: 2026-11-22
    paraphrases:
      - "Buôn người nghĩa là gì?"
      - "Thế nào là mua bán người?"
      - "Khái niệm mua bán người"
      - "Mua bán người được hiểu ra sao?"
      - "mua ban nguoi la gi"
      - "buon nguoi la j"
"""


def write_kb(tmp_path: Path, answer: str = "Gọi 111 miễn phí.", basis: str = '["Điều 2 Luật số 53/2024/QH15"]') -> Path:
    faq = tmp_path / "faq"
    faq.mkdir()
    body = "topic: t\nentries:" + GOOD.format(answer=answer, basis=basis)
    (faq / "t.yml").write_text(textwrap.dedent(body), encoding="utf-8")
    return faq


def problems(faq: Path) -> str:
    with pytest.raises(KnowledgeBaseError) as err:
        load_entries(faq, NUMBERS)
    return str(err.value)


def test_valid_entry_loads(tmp_path: Path) -> None:
    [entry] = load_entries(write_kb(tmp_path), NUMBERS)
    assert entry.id == "t-one" and entry.topic == "t"
    assert entry.citation == "Điều 2 Luật số 53/2024/QH15"
    assert len(entry.texts) == 7


def test_missing_citation_fails(tmp_path: Path) -> None:
    assert "missing citation" in problems(write_kb(tmp_path, basis="[]"))


def test_unverified_phone_number_fails(tmp_path: Path) -> None:
    assert "1800599920" in problems(write_kb(tmp_path, answer="Gọi 1800 599 920 để được giúp."))


def test_obsolete_hotline_fails(tmp_path: Path) -> None:
    assert "18001567" in problems(write_kb(tmp_path, answer="Gọi 1800 1567."))


def test_old_law_without_label_fails(tmp_path: Path) -> None:
    msg = problems(write_kb(tmp_path, answer="Luật số 66/2011/QH12 quy định 5 quyền."))
    assert "quy định cũ" in msg


def test_old_law_with_label_passes(tmp_path: Path) -> None:
    load_entries(write_kb(tmp_path, answer="Theo quy định cũ, Luật số 66/2011/QH12 có 5 quyền."), NUMBERS)


def test_phone_detection_ignores_money_and_articles() -> None:
    assert phone_numbers_in("phạt 20.000.000 - 100.000.000 đồng, Điều 115, 3.000-30.000 USD") == []
    assert phone_numbers_in("gọi 113 hoặc 111") == ["113", "111"]
    assert phone_numbers_in("gọi 0912-345-678") == ["0912345678"]


def test_real_knowledge_base_is_valid_and_covers_every_topic() -> None:
    entries = load_entries(PROJECT_ROOT / "knowledge_base" / "faq")
    assert len(entries) >= 40
    topics = {e.topic for e in entries}
    expected = {"luat", "khai-niem", "hanh-vi-cam", "hinh-phat", "quyen-nan-nhan", "ho-tro",
                "tiep-nhan", "bao-tin", "dau-hieu", "di-lam-an-toan", "chuong-trinh"}
    assert expected <= topics
    for entry in entries:
        assert "1800" not in entry.answer + entry.more


def test_near_duplicate_entries_fail(tmp_path: Path) -> None:
    faq = write_kb(tmp_path)
    body = (faq / "t.yml").read_text(encoding="utf-8")
    twin = body.split("entries:", 1)[1].replace("t-one", "t-two")
    twin = twin.replace("Mua bán người là gì?", "Buôn bán người là gì?")
    for old, new in [("Buôn người nghĩa là gì?", "Buôn người có nghĩa là gì vậy?"),
                     ("Thế nào là mua bán người?", "Thế nào gọi là buôn người?"),
                     ("Khái niệm mua bán người", "Khái niệm buôn người"),
                     ("Mua bán người được hiểu ra sao?", "Buôn người được hiểu ra sao?"),
                     ("mua ban nguoi la gi", "buon ban nguoi la gi"), ("buon nguoi la j", "buon ban nguoi la j")]:
        twin = twin.replace(old, new)
    (faq / "t.yml").write_text(body + twin, encoding="utf-8")
    assert "near-duplicate answers" in problems(faq)
