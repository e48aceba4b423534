"""Every text a user can see names only verified numbers, never the obsolete line.

111 and 113 may appear anywhere; 112, 114 and 115 only in the one entry that lists the national emergency numbers.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from helpline import replies
from helpline.kb.entries import load_entries, load_verified_numbers, phone_numbers_in
from helpline.settings import PROJECT_ROOT

ALLOWED = set(load_verified_numbers(PROJECT_ROOT / "knowledge_base" / "verified_numbers.yml"))
EVERYWHERE = {"111", "113"}
EMERGENCY_LIST_ENTRY = "kb.bao-tin-cac-so-khan-cap"


@lru_cache(maxsize=1)
def user_facing_texts() -> list[tuple[str, str]]:
    texts = [(f"replies.{name}", value) for name, value in vars(replies).items()
             if name.isupper() and isinstance(value, str)]
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    for name, variants in domain["responses"].items():
        texts += [(f"domain.{name}", v.get("text", "")) for v in variants]
    for entry in load_entries(PROJECT_ROOT / "knowledge_base" / "faq"):
        texts += [(f"kb.{entry.id}", entry.answer), (f"kb.{entry.id}.more", entry.more)]
    return texts


def test_only_verified_numbers_are_shown() -> None:
    assert ALLOWED == {"111", "112", "113", "114", "115"}
    bad = [(where, n) for where, text in user_facing_texts() for n in phone_numbers_in(text) if n not in ALLOWED]
    assert not bad


def test_other_emergency_numbers_only_in_their_entry() -> None:
    shown = {(where, n) for where, text in user_facing_texts() for n in phone_numbers_in(text)}
    outside = [(where, n) for where, n in shown
               if n not in EVERYWHERE and where.removesuffix(".more") != EMERGENCY_LIST_ENTRY]
    assert not outside
    listed = {n for where, n in shown if where.removesuffix(".more") == EMERGENCY_LIST_ENTRY}
    assert ALLOWED <= listed


def test_the_obsolete_hotline_is_never_shown() -> None:
    assert not [where for where, text in user_facing_texts() if "1800" in text.replace(" ", "")]


def test_emergency_texts_give_both_numbers() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    hotline = domain["responses"]["utter_hotline"][0]["text"]
    assert "111" in hotline and "113" in hotline and "miễn phí" in hotline and "24/7" in hotline
    assert "113" in replies.EMERGENCY_REPLY and "111" in replies.EMERGENCY_REPLY
