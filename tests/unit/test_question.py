"""Reading real messages: the asked part, the parts of a multi-part question, the facts of the story."""

from __future__ import annotations

import pytest

from helpline.kb.question import asked_kinds, facts_of, understand


def test_a_letter_loses_its_greeting_and_courtesy_and_keeps_the_question() -> None:
    q = understand("Chào luật sư, em có người chị họ năm nay 15 tuổi bị người quen đưa sang Trung Quốc bán "
                   "cho một gia đình. Xin hỏi người đó bị phạt tù bao nhiêu năm? Em xin cảm ơn.")
    # The question points back ("người đó"), so the sentence it points to comes with it.
    assert q.asked.startswith("em có người chị họ") and q.asked.endswith("người đó bị phạt tù bao nhiêu năm?")
    assert "Chào" not in q.body and "cảm ơn" not in q.body
    assert q.body.startswith("em có người chị họ")
    assert q.is_long
    assert q.facts.under_16 is True and q.facts.ages == (15,)


def test_the_last_question_of_a_story_is_the_asked_part() -> None:
    q = understand("Kính gửi ban biên tập, tôi ở huyện Mường Khương. Con gái tôi đi làm ở Campuchia đã 3 tháng "
                   "không liên lạc được. Tôi phải làm gì để nhờ giải cứu?")
    assert q.asked == "Tôi phải làm gì để nhờ giải cứu?"
    assert not q.body.lower().startswith("kính gửi")


def test_a_short_question_is_its_own_asked_part() -> None:
    q = understand("Mua bán người được hiểu như thế nào?")
    assert q.asked == q.body == "Mua bán người được hiểu như thế nào?"
    assert not q.is_long and q.parts == (q.asked,)


def test_a_two_part_question_is_split_main_part_first() -> None:
    q = understand("Mua bán người bị phạt bao nhiêu năm và nạn nhân được hỗ trợ những gì?")
    assert q.parts == ("Mua bán người bị phạt bao nhiêu năm", "nạn nhân được hỗ trợ những gì")


def test_a_courtesy_sentence_that_asks_is_kept() -> None:
    q = understand("Em bị giữ lương ở Lào 4 tháng. Mong luật sư tư vấn em nên làm gì?")
    assert "nên làm gì" in q.asked


@pytest.mark.parametrize(("text", "under_16"), [
    ("con toi 14 tuoi bi ru di", True),
    ("mua bán người dưới 16 tuổi thì bị phạt tù bao nhiêu năm", True),
    ("chi toi 19 tuoi bi ban sang tq", False),
    ("ban nguoi bi phat bao nhieu nam", None),
])
def test_the_victims_age_in_the_story(text: str, under_16: bool | None) -> None:
    assert facts_of(text).under_16 is under_16


def test_old_law_and_article_numbers_are_noticed() -> None:
    facts = facts_of("Theo luật 2011 thì Điều 150 quy định thế nào?")
    assert facts.asks_old_law and facts.articles == (150,)
    assert not facts_of("Luật hiện hành quy định thế nào?").asks_old_law


@pytest.mark.parametrize(("text", "kinds"), [
    ("Người mua bán trẻ 15 tuổi bị phạt tù bao nhiêu năm?", {"penalty"}),
    ("thang do lua ban chi e sang tq thi toi j", {"penalty"}),
    ("nan nhan tro ve duoc ho tro gi", {"support"}),
    ("Phát hiện người bị giữ ở nước ngoài thì báo ở đâu?", {"report"}),
    ("Mua bán người được hiểu như thế nào?", set()),
])
def test_the_kind_of_answer_asked_for(text: str, kinds: set[str]) -> None:
    assert asked_kinds(text) == kinds
