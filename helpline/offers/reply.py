"""The Vietnamese texts of the offer check: the form's questions and the result (band, signs, what to do)."""

from __future__ import annotations

from helpline.offers.analysis import BAND_TEXT, Analysis, Band

SKIP_HINT = "(Không biết thì nhắn \"bỏ qua\"; muốn dừng thì nhắn \"thôi\".)"
ASK_TEXT = (
    "Bạn dán hoặc kể lại lời mời giúp mình: ai mời, đi đâu, làm gì, lương bao nhiêu, ai trả chi phí. "
    "Mình sẽ chỉ ra những dấu hiệu đáng lo. Bạn không cần ghi tên thật hay số điện thoại."
)
QUESTIONS: dict[str, str] = {
    "offer_text": ASK_TEXT,
    "country": "Việc làm ở nước nào, nơi nào?",
    "contact": "Bạn biết lời mời này qua đâu: người quen, Facebook, Zalo, Telegram, hay văn phòng công ty?",
    "travel": "Ai trả tiền vé, đi lại, làm giấy tờ: bạn tự trả hay bên tuyển lo?",
    "contract": "Có hợp đồng ký trước khi đi không?",
    "passport": "Đi bằng hộ chiếu và giấy tờ gì? Có ai đòi giữ hộ chiếu của bạn không?",
    "company": "Tên công ty hoặc người tuyển là gì (nếu biết)?",
}
SKIP_CHOICES = ("Bỏ qua", "Thôi")  # buttons under each question (numbered text where there are no buttons)
STOP_CHOICE = ("Thôi",)
STARTED = "Mình sẽ hỏi vài câu ngắn để kiểm tra lời mời này. " + SKIP_HINT
STOPPED = (
    "Được, mình dừng kiểm tra ở đây. Khi cần, bạn nhắn \"kiểm tra lời mời việc làm\" để làm lại. "
    "Nếu còn băn khoăn, gọi 111 (miễn phí, 24/7)."
)
MENU_BUTTON = "Kiểm tra lời mời việc làm"

_BAND_LEAD = {
    Band.HIGH: "Lời mời này có NHIỀU DẤU HIỆU LỪA ĐẢO / MUA BÁN NGƯỜI. Bạn đừng nhận lời, đừng nộp tiền, đừng "
               "đưa giấy tờ khi chưa kiểm tra được.",
    Band.CHECK: "Lời mời này CẦN KIỂM TRA THÊM trước khi nhận lời.",
    Band.LOW: "Mình CHƯA THẤY DẤU HIỆU RÕ, NHƯNG HÃY KIỂM TRA: kẻ lừa đảo cũng có thể viết lời mời trông rất thật.",
}
LICENCE_CHECK = (
    "Cách kiểm tra công ty đưa người đi làm việc ở nước ngoài:\n"
    "• Chỉ doanh nghiệp có giấy phép mới được làm việc này (Luật 69/2020). Tra giấy phép trên trang của Cục "
    "Quản lý lao động ngoài nước: www.dolab.gov.vn.\n"
    "• Công ty phải treo bản sao giấy phép ở trụ sở và đăng trên trang web của mình.\n"
    "• Công ty không được thu tiền môi giới của người lao động. Chỉ nộp tiền sau khi đã ký hợp đồng, nộp thẳng "
    "cho công ty (không qua người trung gian), và đòi hóa đơn hoặc biên lai có dấu."
)
FAMILY = (
    "Trước khi đi, hãy nói cho gia đình và để lại: tên, địa chỉ công ty; bản chụp hợp đồng và hộ chiếu; tên, "
    "số điện thoại người tuyển; địa chỉ nơi làm. Hẹn giờ gọi về thường xuyên và một câu ám hiệu để báo khi "
    "gặp nguy hiểm."
)
HOTLINE = (
    "Còn băn khoăn, bạn gọi 111 – Tổng đài quốc gia về phòng, chống mua bán người (miễn phí, 24/7). "
    "Nếu bạn hoặc người thân đang bị giữ, bị ép, hãy gọi ngay 113."
)
MARRIAGE_FAMILY = (
    "Trước khi nhận lời, hãy nói với gia đình, gặp trực tiếp người kia ở Việt Nam, và đừng đi theo người "
    "mai mối qua biên giới. Giữ hộ chiếu, giấy tờ và điện thoại bên mình."
)


MESSAGE_LIMIT = 1500  # under every channel's limit (Facebook 2000), so no sign is cut in half


def result_messages(analysis: Analysis) -> list[str]:
    """The result as short messages: band and signs first, then how to check and 111."""
    head = f"Kết quả: {BAND_TEXT[analysis.band]}.\n{_BAND_LEAD[analysis.band]}"
    messages: list[str] = []
    if analysis.found:
        current = f"{head}\n\nNhững dấu hiệu mình thấy:"
        for n, item in enumerate(analysis.found, start=1):
            sign = item.sign
            block = f"{n}. {sign.title}.\n   Vì sao đáng lo: {sign.why}\n   Nên làm: {sign.check}"
            if len(current) + 1 + len(block) > MESSAGE_LIMIT:
                messages.append(current)
                current = block
            else:
                current = f"{current}\n{block}"
        messages.append(current)
    else:
        messages.append(f"{head}\n\nHãy hỏi rõ công việc, nơi làm, người tuyển, và kiểm tra công ty trước khi "
                        "nhận lời.")
    messages.append(MARRIAGE_FAMILY if analysis.marriage else f"{LICENCE_CHECK}\n\n{FAMILY}")
    messages.append(HOTLINE)
    return messages
