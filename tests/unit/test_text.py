from __future__ import annotations

import pytest

from helpline.text import (
    clean,
    fold,
    fold_tokens,
    has_diacritics,
    mask_id,
    mask_pii,
    split_message,
    strip_diacritics,
)


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("Mua bán người là gì?", "Mua ban nguoi la gi?"),
        ("Đường dây nóng", "Duong day nong"),
        ("đồn biên phòng", "don bien phong"),
        ("ĐIỀU 151", "DIEU 151"),
        ("Quyền của nạn nhân", "Quyen cua nan nhan"),
    ],
)
def test_strip_diacritics_keeps_case_and_maps_d(accented: str, plain: str) -> None:
    assert strip_diacritics(accented) == plain


def test_decomposed_and_composed_input_fold_the_same() -> None:
    composed = "người"
    decomposed = "ngu\u031bo\u031b\u0300i"  # NFD form as some keyboards send it
    assert composed != decomposed
    assert fold(composed) == fold(decomposed) == "nguoi"


def test_fold_accented_and_unaccented_match() -> None:
    assert fold("Bị lừa bán sang Campuchia thì làm gì?") == fold("bi lua ban sang campuchia thi lam gi")


@pytest.mark.parametrize(
    ("teen", "expected"),
    [
        ("ko dc", "khong duoc"),
        ("sdt tong dai la j", "so dien thoai tong dai la gi"),
        ("mk bi giu hc", "minh bi giu ho chieu"),
        ("Đc ko ạ", "duoc khong a"),
    ],
)
def test_teen_code_is_expanded(teen: str, expected: str) -> None:
    assert fold(teen) == expected


def test_teen_code_expansion_can_be_disabled() -> None:
    assert fold_tokens("ko dc", expand_teen_code=False) == ["ko", "dc"]


def test_clean_removes_zero_width_and_collapses_space() -> None:
    assert clean(" cứu\u200b   tôi \n") == "cứu tôi"


def test_has_diacritics() -> None:
    assert has_diacritics("cứu tôi")
    assert has_diacritics("đi")
    assert not has_diacritics("cuu toi")


def test_split_message_respects_limit_and_sentences() -> None:
    text = "Câu một ngắn. " * 30 + "\n\n" + "Đoạn hai. " * 10
    chunks = split_message(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks).replace("\n\n", " ").split() == text.split()


def test_split_message_cuts_overlong_words() -> None:
    chunks = split_message("x" * 250, 100)
    assert [len(c) for c in chunks] == [100, 100, 50]


def test_split_message_short_text_unchanged() -> None:
    assert split_message("Gọi 111.", 2000) == ["Gọi 111."]
    with pytest.raises(ValueError):
        split_message("abc", 0)


def test_mask_pii_hides_phones_ids_emails_but_not_hotlines() -> None:
    text = "Gọi 111 hoặc 113. Số em 0912 345 678, +84 912345678, CCCD 012345678901, mail a.b@x.vn"
    masked = mask_pii(text)
    assert "0912" not in masked and "912345678" not in masked and "012345678901" not in masked
    assert "a.b@x.vn" not in masked
    assert "111" in masked and "113" in masked


def test_mask_id() -> None:
    assert mask_id("1234567890") == "12***90"
    assert mask_id("abc") == "***"
    assert mask_id("telegram:123456789") == "telegram:12***89"


def test_clean_strips_bidi_controls_and_show_bidi_names_them() -> None:
    from helpline.text import show_bidi

    hostile = "gọi \u202e111\u202c ngay \u2066x\u2069\u200e\u200f\u061c"
    assert clean(hostile) == "gọi 111 ngay x"
    shown = show_bidi(hostile)
    assert "⟨RLO⟩" in shown and "⟨PDF⟩" in shown and "⟨LRI⟩" in shown and "⟨ALM⟩" in shown
    assert not any(c in shown for c in "\u202e\u202c\u2066\u2069\u200e\u200f\u061c")
    assert show_bidi("bình thường") == "bình thường"


def test_fold_applies_nfkc_so_fullwidth_and_compatibility_forms_match() -> None:
    assert fold("ｃｕｕ ｔｏｉ") == fold("cứu tôi") == "cuu toi"
    assert fold("ＳＤＴ ｃｕａ ｔｏｉ") == "so dien thoai cua toi"


def test_email_scanner_matches_the_old_pattern_exactly() -> None:
    import random
    import re

    from helpline.text import mask_emails

    old = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
    rng = random.Random(13)
    for _ in range(20000):
        text = "".join(rng.choice("ab1_.+-@ @.xé\n") for _ in range(rng.randint(0, 16)))
        assert mask_emails(text) == old.sub("[email]", text), repr(text)
    assert mask_emails("lien he a.b+c@mail.vn hoac x@y.z.") == "lien he [email] hoac [email]"
