"""The result texts: band wording (never "safe"), every sign explained, licence check, family, 111, length."""

from __future__ import annotations

from helpline.offers import BAND_TEXT, Band, analyse
from helpline.offers.reply import QUESTIONS, result_messages
from helpline.text import fold

FACEBOOK = ("Có người trên Facebook mời em sang Campuchia làm chăm sóc khách hàng lương 30 triệu, bao vé máy bay, "
            "có nên đi không?")
FACEBOOK_TEXT_LIMIT = 2000


def test_the_result_names_the_band_each_sign_and_111() -> None:
    analysis = analyse(FACEBOOK)
    messages = result_messages(analysis)
    text = "\n".join(messages)
    assert BAND_TEXT[Band.HIGH] in text
    for found in analysis.found:
        assert found.sign.title in text and found.sign.why in text and found.sign.check in text
    assert "www.dolab.gov.vn" in text and "gia đình" in text
    assert "111" in messages[-1] and "113" in messages[-1]
    assert "1800" not in text


def test_no_band_is_worded_as_safe() -> None:
    for band in Band:
        assert "an toàn" not in BAND_TEXT[band]
    low = "\n".join(result_messages(analyse("Công ty tuyển lao động đi Nhật, hợp đồng ký ở văn phòng")))
    assert BAND_TEXT[Band.LOW] in low and "an toàn" not in fold(low).replace("an toan", "", 0)
    assert "kiểm tra" in low


def test_a_marriage_offer_gets_marriage_advice() -> None:
    text = "\n".join(result_messages(analyse("bà mối bảo lấy chồng Trung Quốc, gửi bố mẹ 100 triệu")))
    assert "Môi giới lấy chồng" in text and "gặp trực tiếp" in text


def test_every_message_fits_a_facebook_message() -> None:
    everything = analyse("tuyển gấp, việc nhẹ lương cao ở Campuchia, bao vé, liên hệ telegram, sang đó mới ký hợp "
                         "đồng, giữ hộ chiếu cho an toàn, visa du lịch, đi đường tắt, phí hồ sơ 5 triệu, đừng nói "
                         "với gia đình, lấy chồng Trung Quốc")
    assert len(everything.found) == 11
    assert all(len(m) <= FACEBOOK_TEXT_LIMIT for m in result_messages(everything))


def test_every_form_question_is_short() -> None:
    assert all(len(q) <= 200 for q in QUESTIONS.values())
