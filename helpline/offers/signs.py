"""Warning signs of a job or marriage offer, from the fact base (legal-facts.md §4, §5.6, CONFIRMED only).

Each sign has a fixed id (the evaluation set is labelled with these ids), a short title, why it matters
("vì sao đáng lo") and what to ask or check. The patterns that find a sign live in :mod:`.analysis`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sign:
    id: str
    title: str
    why: str
    check: str
    strong: bool = False  # on its own enough for the "nhiều dấu hiệu" band


SIGNS: tuple[Sign, ...] = (
    Sign(
        "high_pay",
        "Lương cao bất thường cho việc dễ",
        "Lời mời \"việc nhẹ, lương cao, không cần bằng cấp\" là chiêu quen thuộc mà Công an và Bộ Ngoại giao "
        "đã cảnh báo.",
        "Hỏi rõ công việc cụ thể, nơi làm, tên chủ sử dụng. Việc thật không hứa lương vài chục triệu "
        "cho việc không cần kinh nghiệm.",
    ),
    Sign(
        "travel_paid",
        "Bên tuyển lo hết vé, đi lại, ăn ở",
        "Nhiều người bị lừa sang Campuchia, Myanmar được bao vé, bao đi lại; sau đó bị ép làm việc "
        "và gia đình bị đòi tiền chuộc.",
        "Hỏi ai trả, trả thế nào và vì sao. Đừng nhận vé hay tiền của người mình chưa kiểm tra được.",
    ),
    Sign(
        "risky_destination",
        "Nơi đến có nhiều vụ lừa đảo, mua bán người",
        "Nhiều người bị lừa sang Campuchia, Myanmar, vùng biên giới Lào, bị ép làm lừa đảo qua mạng, cờ bạc, "
        "bị đánh, bị bán qua lại giữa các \"công ty\".",
        "Chỉ đi làm ở nước ngoài qua doanh nghiệp có giấy phép đưa người lao động đi làm việc ở nước ngoài. "
        "Không đi theo lời mời làm việc trái phép ở Campuchia hay bất kỳ nước nào.",
        strong=True,
    ),
    Sign(
        "chat_only_contact",
        "Chỉ liên lạc qua mạng xã hội",
        "Kẻ lừa thường chỉ nhắn qua Facebook, Zalo, Telegram, điện thoại, gửi ảnh hợp đồng, biên lai "
        "cho có vẻ thật, rồi chặn liên lạc.",
        "Hỏi tên công ty, địa chỉ trụ sở, người đại diện. Đến tận nơi và kiểm tra giấy phép.",
    ),
    Sign(
        "no_contract",
        "Không có hợp đồng, hoặc sang đến nơi mới ký",
        "Không ký hợp đồng trước khi đi là dấu hiệu Bộ Ngoại giao cảnh báo: sang đến nơi bạn không còn "
        "quyền chọn.",
        "Đòi hợp đồng bằng tiếng Việt, ký trước khi đi, đọc kỹ công việc, lương, nơi làm, bảo hiểm.",
    ),
    Sign(
        "passport_kept",
        "Đòi giữ hộ chiếu, giấy tờ",
        "Người bị lừa thường bị thu hộ chiếu, giấy tờ để không bỏ về được.",
        "Không đưa hộ chiếu, căn cước cho ai giữ \"hộ\". Giấy tờ của bạn phải luôn ở bên bạn.",
        strong=True,
    ),
    Sign(
        "tourist_visa",
        "Đi bằng thị thực du lịch để làm việc",
        "Đi làm bằng thị thực du lịch nghĩa là không có hợp đồng lao động, không qua doanh nghiệp có giấy "
        "phép: đúng những dấu hiệu Bộ Ngoại giao cảnh báo. Bạn dễ bị ép, bị giữ mà khó nhờ ai giúp.",
        "Đi làm việc ở nước ngoài phải có hợp đồng và đi qua doanh nghiệp có giấy phép.",
        strong=True,
    ),
    Sign(
        "illegal_crossing",
        "Đi đường tắt, không cần hộ chiếu, không cần thủ tục",
        "Xuất cảnh trái phép có thể bị phạt hành chính 3–5 triệu đồng hoặc bị xử lý hình sự; "
        "người đi lậu dễ bị giữ và bị bán.",
        "Không đi theo đường mòn, đường tắt hay người dẫn qua biên giới. Chỉ xuất cảnh qua cửa khẩu, "
        "có giấy tờ.",
        strong=True,
    ),
    Sign(
        "upfront_fee",
        "Đòi tiền cọc, phí hồ sơ trước",
        "Thu tiền môi giới của người lao động là việc luật cấm (Luật 69/2020, Điều 7). Kẻ lừa thường thu "
        "tiền rồi biến mất.",
        "Chỉ nộp tiền sau khi đã ký hợp đồng, nộp thẳng cho doanh nghiệp, không qua trung gian, và đòi "
        "hóa đơn, biên lai có dấu.",
    ),
    Sign(
        "urgency_secrecy",
        "Giục đi gấp, dặn giữ bí mật",
        "Giục quyết nhanh và dặn đừng nói với ai là để bạn không kịp hỏi ai, kiểm tra gì.",
        "Không quyết vội. Nói cho gia đình biết và kiểm tra kỹ trước khi nhận lời.",
    ),
    Sign(
        "marriage_broker",
        "Môi giới lấy chồng, lấy vợ nước ngoài",
        "Môi giới hôn nhân trái phép với người nước ngoài thường thu tiền cọc 15–25 triệu. Khi có lừa dối "
        "hoặc ép buộc và \"giao\" người để lấy tiền, đó là mua bán người. Nhiều phụ nữ bị bán qua biên giới "
        "Trung Quốc làm vợ.",
        "Đừng đi theo lời hứa lấy chồng, lấy vợ qua ảnh hay qua người mai mối. Nói với gia đình và "
        "hỏi 111 trước.",
    ),
)

BY_ID: dict[str, Sign] = {s.id: s for s in SIGNS}
SIGN_IDS: tuple[str, ...] = tuple(BY_ID)
