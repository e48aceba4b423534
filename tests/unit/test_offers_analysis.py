"""The offer analysis: signs with their evidence in every spelling, facts, bands, held abroad, FAQ routing."""

from __future__ import annotations

import pytest

from helpline.offers import SIGN_IDS, Band, analyse, looks_like_offer
from helpline.offers.signs import SIGNS

FACEBOOK = ("Có người trên Facebook mời em sang Campuchia làm chăm sóc khách hàng lương 30 triệu, bao vé máy bay, "
            "có nên đi không?")


def test_the_facebook_question_is_high_with_its_four_signs() -> None:
    result = analyse(FACEBOOK)
    assert result.band is Band.HIGH
    assert set(result.sign_ids) == {"high_pay", "travel_paid", "risky_destination", "chat_only_contact"}
    evidence = {f.sign.id: f.evidence for f in result.found}
    assert evidence["risky_destination"] == "campuchia"
    assert "facebook" in evidence["chat_only_contact"]


@pytest.mark.parametrize("text", [
    "co nguoi tren facebook moi em sang campuchia lam cham soc khach hang luong 30 trieu, bao ve may bay",
    "co ng tren fb moi e sang cpc lam cskh luong 30tr bao ve may bay co nen di ko",
    "CÓ NGƯỜI TRÊN FACEBOOK MỜI EM SANG CAMPUCHIA LÀM CHĂM SÓC KHÁCH HÀNG LƯƠNG 30 TRIỆU, BAO VÉ MÁY BAY",
])
def test_same_signs_without_diacritics_and_in_teen_code(text: str) -> None:
    assert set(analyse(text).sign_ids) == set(analyse(FACEBOOK).sign_ids)


@pytest.mark.parametrize(("sign", "text"), [
    ("high_pay", "viec nhe luong cao, chi can biet dung dien thoai"),
    ("high_pay", "Tuyển nhân viên trực page, lương 1.500$ một tháng"),
    ("travel_paid", "công ty lo hết chi phí đi lại"),
    ("travel_paid", "ho ung truoc tien ve, tru dan vao luong"),
    ("risky_destination", "làm ở Shwe Kokko"),
    ("risky_destination", "lam online ben kia bien gioi"),
    ("risky_destination", "sang Lào làm ở đặc khu"),
    ("chat_only_contact", "liên hệ qua Telegram @tuyendung"),
    ("no_contract", "sang đó rồi mới ký hợp đồng"),
    ("no_contract", "khong can hop dong gi ca"),
    ("passport_kept", "nộp hộ chiếu cho công ty giữ cho an toàn"),
    ("passport_kept", "ho bao giu cccd cua e"),
    ("tourist_visa", "đi visa du lịch rồi ở lại làm"),
    ("illegal_crossing", "đi đường tắt, không cần hộ chiếu"),
    ("illegal_crossing", "di duong mon qua bien gioi ban dem"),
    ("upfront_fee", "đóng phí hồ sơ 5 triệu trước"),
    ("upfront_fee", "chuyen khoan 10tr dat coc giu cho"),
    ("urgency_secrecy", "đừng nói với gia đình nhé"),
    ("urgency_secrecy", "chỉ còn 2 suất, bay ngay tuần này"),
    ("marriage_broker", "bà mối bảo lấy chồng Hàn Quốc, nhà trai gửi 50 triệu"),
    ("marriage_broker", "chi can xem anh roi cuoi, lay chong trung quoc"),
])
def test_each_sign_is_found(sign: str, text: str) -> None:
    assert sign in analyse(text).sign_ids


@pytest.mark.parametrize("text", [
    "Chào bạn, mình muốn hỏi về luật mua bán người năm 2024",
    "Tôi đi làm ở Hà Nội, lương 8 triệu",
    "gặp nhân viên tổng đài giúp mình",
    "Anh ấy bảo em cứ yên tâm",
])
def test_ordinary_text_has_no_sign(text: str) -> None:
    assert analyse(text).found == ()


def test_bao_meaning_say_is_not_travel_paid() -> None:
    assert "travel_paid" not in analyse("họ bảo nộp phí hồ sơ trước").sign_ids


def test_contact_with_an_office_is_not_chat_only() -> None:
    text = "Liên hệ Zalo hoặc đến văn phòng công ty tại Hà Nội, giấy phép số 123"
    assert "chat_only_contact" not in analyse(text).sign_ids


def test_a_licensed_looking_offer_is_low_never_safe() -> None:
    result = analyse("Công ty XKLĐ tuyển 20 nữ đi Nhật đơn hàng thực phẩm, lương 28 triệu, hợp đồng 3 năm ký tại "
                     "văn phòng Hà Nội, giấy phép số 123/LĐTBXH")
    assert result.band is Band.LOW
    assert result.found == ()


def test_one_weak_sign_needs_checking_and_strong_signs_are_high() -> None:
    assert analyse("tuyển người đi Đài Loan, đóng phí hồ sơ 10 triệu").band is Band.CHECK
    assert analyse("họ bảo đi đường tắt qua biên giới").band is Band.HIGH
    assert analyse("bà mối bảo lấy chồng Trung Quốc, gửi bố mẹ 100 triệu").band is Band.CHECK
    assert analyse("bà mối bảo lấy chồng Trung Quốc, giữ hộ chiếu cho an toàn").band is Band.HIGH


def test_bao_ve_is_tickets_unless_it_is_the_job() -> None:
    assert "travel_paid" in analyse("lương 30 triệu, bao vé, liên hệ ngay").sign_ids
    assert "travel_paid" not in analyse("tuyển người làm bảo vệ casino, lương 10 triệu").sign_ids


def test_missing_facts_are_what_the_message_did_not_say() -> None:
    result = analyse(FACEBOOK)
    assert "country" not in result.missing and "contact" not in result.missing and "travel" not in result.missing
    assert set(result.missing) == {"contract", "passport", "company"}
    assert analyse("có người mời em đi làm").missing == ("country", "contact", "travel", "contract", "passport",
                                                        "company")


def test_form_answers_are_read_against_their_question() -> None:
    base = "có người mời em đi làm ở Nhật"
    assert analyse(base).band is Band.LOW
    answered = analyse(base, {"travel": "họ trả hết", "contract": "chưa có", "passport": "ho bao nop cho ho giu",
                              "contact": "qua zalo"})
    assert {"travel_paid", "no_contract", "passport_kept", "chat_only_contact"} <= set(answered.sign_ids)
    assert answered.band is Band.HIGH
    assert "travel" not in answered.missing


def test_self_paid_travel_and_a_signed_contract_add_no_sign() -> None:
    result = analyse("có người mời em đi làm ở Nhật", {"travel": "em tự trả", "contract": "có hợp đồng rồi"})
    assert result.found == ()


def test_skipped_answers_count_as_asked() -> None:
    result = analyse("có người mời em đi làm", {"country": "bỏ qua", "contact": "ko biet"})
    assert result.known["country"] == "skip" and result.known["contact"] == "skip"
    assert "country" not in result.missing and result.found == ()


def test_already_abroad_and_held_is_an_emergency() -> None:
    assert analyse("em đang ở Campuchia, họ giữ hộ chiếu không cho về, cứu em").held_abroad
    assert analyse("e dang o cpc bi nhot ko cho ve").held_abroad
    assert not analyse(FACEBOOK).held_abroad


def test_offers_route_from_the_faq_path_but_general_questions_do_not() -> None:
    assert looks_like_offer(FACEBOOK)
    assert looks_like_offer("co ba moi bao lay chong han quoc, nha trai gui 50tr")
    assert not looks_like_offer("việc nhẹ lương cao có đáng tin không")
    assert not looks_like_offer("tội mua bán người bị phạt bao nhiêu năm")


def test_the_catalogue_has_the_fixed_ids_and_texts() -> None:
    assert SIGN_IDS == ("high_pay", "travel_paid", "risky_destination", "chat_only_contact", "no_contract",
                        "passport_kept", "tourist_visa", "illegal_crossing", "upfront_fee", "urgency_secrecy",
                        "marriage_broker")
    for sign in SIGNS:
        assert sign.title and sign.why and sign.check
        assert "1800" not in sign.why + sign.check


def test_a_what_if_question_is_not_routed_as_an_offer() -> None:
    assert not looks_like_offer("nếu bị giữ hộ chiếu khi làm việc ở nước ngoài thì báo ai")


def test_keeping_ones_own_passport_is_not_a_sign() -> None:
    assert "passport_kept" not in analyse("có người mời em đi Nhật", {"passport": "hộ chiếu em tự cầm"}).sign_ids
    answer = {"passport": "có, họ bảo đưa hộ chiếu cho họ"}
    assert "passport_kept" in analyse("có người mời em đi Nhật", answer).sign_ids
