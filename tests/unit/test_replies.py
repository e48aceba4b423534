from __future__ import annotations

import datetime as dt
import json
import re

from helpline import replies
from helpline.kb.entries import Entry

ENTRY = Entry(
    id="bao-tin-tong-dai-111",
    topic="bao-tin",
    question="Tổng đài 111 là gì?",
    answer="111 là tổng đài miễn phí, 24/7.",
    legal_basis=("Nghị định 162/2025/NĐ-CP",),
    law_version="NĐ 162/2025/NĐ-CP",
    last_checked=dt.date(2026, 11, 22),
    paraphrases=(),
    more="Chi tiết hơn.",
)


def test_answer_carries_its_legal_basis_and_a_more_button() -> None:
    text, buttons = replies.faq_answer(ENTRY)
    assert text.startswith(ENTRY.answer)
    assert "Căn cứ: Nghị định 162/2025/NĐ-CP." in text
    assert [b.title for b in buttons] == [replies.MORE_BUTTON]
    assert "faq_part" in buttons[0].payload


def test_payload_is_a_rasa_intent_with_json_entities() -> None:
    payload = replies.faq_payload("a-b", "more")
    match = re.fullmatch(r"/ask_faq(\{.*\})", payload)
    assert match and json.loads(match.group(1)) == {"faq_id": "a-b", "faq_part": "more"}


def test_unsure_offers_at_most_three_questions_and_111() -> None:
    text, buttons = replies.unsure([ENTRY] * 5)
    assert "111" in text and text.startswith(replies.UNSURE_INTRO)
    assert len(buttons) == 3
    text, buttons = replies.unsure([])
    assert "111" in text and buttons == []


def test_every_fallback_and_emergency_text_names_the_hotlines() -> None:
    for text in (replies.SERVICE_FALLBACK, replies.EMERGENCY_REPLY, replies.WAITING_FOR_STAFF,
                 replies.HANDOFF_REQUESTED, replies.STAFF_UNAVAILABLE, replies.WAITING_111_LINE,
                 replies.SAFETY_ACK_NO_TICKET, *replies.SAFETY_ACK.values()):
        assert "111" in text and "113" in text, text
    # What the waiting model says: a staff member took over; danger while staff have it.
    assert "111" in replies.STAFF_TOOK_OVER and "113" in replies.STAFF_TOOK_OVER
    assert "113" in replies.DANGER_WITH_STAFF
    assert replies.SAFETY_QUESTION.startswith("Bạn có đang ở nơi an toàn để nhắn tin không?")
    assert "miễn phí" in replies.EMERGENCY_REPLY and "24/7" in replies.EMERGENCY_REPLY
