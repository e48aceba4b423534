"""User-facing Vietnamese texts produced by code (actions and channels).

Fixed small-talk answers live in bot/domain.yml; these are the texts that code
assembles or that must exist even when the action server is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from helpline.kb.entries import Entry

HOTLINE_LINE = "Gọi 111 – Tổng đài quốc gia về phòng, chống mua bán người, miễn phí, 24/7 – để báo tin và được hỗ trợ."

EMERGENCY_REPLY = (
    "Mình rất lo cho sự an toàn của bạn.\n"
    "• Nếu bạn đang gặp nguy hiểm ngay lúc này, hãy gọi 113 (Công an).\n"
    f"• {HOTLINE_LINE}\n"
    "Nếu có thể, hãy tìm đến nơi đông người hoặc đồn công an, đồn biên phòng gần nhất, "
    "và giữ điện thoại bên mình. Chỉ nhắn tin khi bạn thấy an toàn."
)
STAFF_JOINING = (
    "Mình đang báo nhân viên tổng đài vào trò chuyện với bạn ngay tại đây. "
    "Nếu chờ lâu, bạn hãy gọi thẳng 111."
)
STAFF_UNAVAILABLE = "Lúc này mình chưa chuyển được cho nhân viên, bạn hãy gọi thẳng 111 hoặc 113 nhé."
DELETE_CHAT_TIP = (
    "Khi đã an toàn, nếu lo người khác xem được, bạn có thể xóa cuộc trò chuyện này trên điện thoại "
    "(nhấn giữ cuộc trò chuyện rồi chọn Xóa)."
)

HANDOFF_REQUESTED = (
    "Mình đã báo nhân viên tổng đài. Họ sẽ trả lời bạn tại đây sớm nhất có thể. "
    "Trong lúc chờ, bạn có thể gọi 111 (miễn phí, 24/7). Nếu đang gặp nguy hiểm, hãy gọi 113."
)
WAITING_FOR_STAFF = (
    "Tin nhắn của bạn đã được chuyển cho nhân viên tổng đài, họ sẽ trả lời tại đây. "
    "Nếu đang gặp nguy hiểm, hãy gọi ngay 113; hoặc gọi 111 (miễn phí, 24/7)."
)

# Used when anything fails: the user must never get silence, and always gets 111.
SERVICE_FALLBACK = (
    "Xin lỗi, hệ thống đang gặp trục trặc nên mình chưa trả lời được câu này. "
    "Nếu bạn đang gặp nguy hiểm, hãy gọi ngay 113. "
    "Để báo tin hoặc được tư vấn, gọi 111 (miễn phí, 24/7)."
)

UNSURE_INTRO = "Mình chưa chắc đã hiểu đúng câu hỏi của bạn, nên không muốn trả lời sai. Có phải bạn muốn hỏi:"
UNSURE_NO_SUGGESTIONS = "Mình chưa tìm thấy câu trả lời phù hợp trong sổ tay hỏi đáp, nên không muốn đoán."
UNSURE_HOTLINE = "Nếu cần người tư vấn, bạn gọi 111 (miễn phí, 24/7)."
OUT_OF_SCOPE = (
    "Xin lỗi, mình chưa trả lời được câu này: mình chỉ biết về phòng, chống mua bán người (luật, "
    "dấu hiệu lừa đảo, quyền và hỗ trợ cho nạn nhân, cách báo tin). Bạn có thể hỏi, ví dụ:"
)

DATA_DELETED = (
    "Mình đã xóa dữ liệu cuộc trò chuyện của bạn trên hệ thống này. "
    "Ứng dụng nhắn tin vẫn giữ bản sao trên điện thoại của bạn: để xóa, nhấn giữ cuộc trò chuyện rồi chọn Xóa."
)

MORE_BUTTON = "Xem thêm"


@dataclass(frozen=True)
class Button:
    title: str
    payload: str

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "payload": self.payload}


def faq_payload(entry_id: str, part: str | None = None) -> str:
    """A Rasa intent payload that opens an entry directly (used by buttons)."""
    extra = f', "faq_part": "{part}"' if part else ""
    return f'/ask_faq{{"faq_id": "{entry_id}"{extra}}}'


def faq_answer(entry: Entry) -> tuple[str, list[Button]]:
    text = f"{entry.answer.strip()}\nCăn cứ: {entry.citation}."
    buttons = [Button(MORE_BUTTON, faq_payload(entry.id, "more"))] if entry.more else []
    return text, buttons


ALSO_ASK_INTRO = "Bạn cũng có thể hỏi:"


def faq_answer_with_alternatives(entry: Entry, alternatives: Sequence[Entry]) -> tuple[str, list[Button]]:
    """The answer, then 1-2 other questions it may have been (or the next part of a multi-part question)."""
    text, buttons = faq_answer(entry)
    if not alternatives:
        return text, buttons
    lines = [text, "", ALSO_ASK_INTRO] + [f"• {e.question}" for e in alternatives[:2]]
    return "\n".join(lines), buttons + [Button(e.question[:60], faq_payload(e.id)) for e in alternatives[:2]]


URGENT_STEPS_INTRO = "Trong lúc chờ, đây là những việc gia đình nên làm ngay:"


def urgent_steps(entry: Entry) -> str:
    """The practical steps of a handbook answer, given with the hotlines after a third-party report."""
    return f"{URGENT_STEPS_INTRO}\n{entry.answer.strip()}\nCăn cứ: {entry.citation}."


def faq_more(entry: Entry) -> str:
    body = entry.more.strip() or entry.answer.strip()
    return f"{body}\nCăn cứ: {entry.citation}."


def unsure(suggestions: Sequence[Entry], intro: str = UNSURE_INTRO) -> tuple[str, list[Button]]:
    """Say honestly that no answer was found, offer up to 3 likely questions and 111."""
    if not suggestions:
        return f"{UNSURE_NO_SUGGESTIONS} {UNSURE_HOTLINE}", []
    lines = [intro] + [f"• {e.question}" for e in suggestions[:3]] + [UNSURE_HOTLINE]
    return "\n".join(lines), [Button(e.question[:60], faq_payload(e.id)) for e in suggestions[:3]]

# Channels (Zalo, Messenger, Telegram): texts the connectors produce themselves.
CHOOSE_BY_NUMBER = "(Nhắn số thứ tự để chọn.)"
NON_TEXT_REPLY = (
    "Mình chỉ đọc được tin nhắn chữ, chưa xem được hình ảnh, nhãn dán, tệp hay tin nhắn thoại. "
    "Bạn hãy nhắn câu hỏi bằng chữ nhé. Nếu đang gặp nguy hiểm, hãy gọi ngay 113; "
    "để được tư vấn, gọi 111 (miễn phí, 24/7)."
)
# Zalo OA: the OA may write for free only 48 h after the person's last message (then paid, then
# not at all after 7 days); sent once per free window when the person waits for staff.
ZALO_WRITE_AGAIN = (
    "Nếu lâu chưa có phản hồi, bạn hãy nhắn lại cho chúng mình nhé. "
    "Nếu đang gặp nguy hiểm, hãy gọi ngay 113; hoặc gọi 111 (miễn phí, 24/7)."
)
# Messenger ``referral``: a person opened the chat from a link or an ad, before writing anything.
REFERRAL_WELCOME = (
    "Chào bạn! Mình là trợ lý tự động về phòng, chống mua bán người. Bạn có thể hỏi mình về luật, quyền "
    "của nạn nhân, dấu hiệu lừa đảo việc làm hay cách báo tin.\n\n"
    "Nếu bạn đang gặp nguy hiểm, hãy gọi ngay 113. Tổng đài 111 miễn phí, 24/7."
)
# Zalo Bot Platform ``message.unsupported.received``: the sender is in a protected group (a child, a
# person with a disability or who cannot read) and Zalo hides what they wrote. Very simple words, phones first.
PROTECTED_USER_REPLY = (
    "Gọi 111 để được giúp. Miễn phí. Ngày và đêm.\n"
    "Gặp nguy hiểm: gọi 113.\n"
    "111 cũng giúp trẻ em.\n"
    "Mình chưa đọc được tin nhắn của bạn. Hãy nhờ một người bạn tin giúp bạn gọi."
)
LOCATION_ATTACHED = (
    "Mình đã chuyển vị trí bạn gửi cho nhân viên tổng đài đang hỗ trợ bạn. "
    "Nếu đang gặp nguy hiểm ngay lúc này, hãy gọi 113 (Công an); hoặc gọi 111 (miễn phí, 24/7)."
)
LOCATION_NO_TICKET = (
    "Mình đã nhận vị trí bạn gửi. Mình là trợ lý tự động nên không tự chuyển vị trí này đi đâu, "
    "trừ khi bạn cần người hỗ trợ: hãy nhắn \"tôi muốn gặp nhân viên\" để mình báo nhân viên tổng đài. "
    "Nếu đang gặp nguy hiểm ngay lúc này, hãy gọi 113; hoặc gọi 111 (miễn phí, 24/7)."
)
ASK_HUMAN_BUTTON = "Gặp nhân viên"

# Handoff desk: texts the handoff service sends on its own, and staff quick replies.
STAFF_NO_REPLY_YET = (
    "Xin lỗi bạn, nhân viên tổng đài chưa trả lời kịp. Bạn hãy gọi thẳng 111 (miễn phí, 24/7) để được "
    "hỗ trợ ngay; nếu đang gặp nguy hiểm, hãy gọi 113 (Công an). Tin nhắn của bạn vẫn được giữ, "
    "nhân viên sẽ trả lời tại đây khi có thể."
)
BOT_RESUMED = (
    "Nhân viên tổng đài đã kết thúc trò chuyện. Trợ lý tự động đã trở lại, bạn có thể tiếp tục hỏi mình. "
    "Cần người hỗ trợ, bạn gọi 111 (miễn phí, 24/7); nếu đang gặp nguy hiểm, hãy gọi 113."
)
# (label shown to staff, text put in the reply box)
STAFF_QUICK_REPLIES: tuple[tuple[str, str], ...] = (
    ("Chào, hỏi an toàn",
     "Chào bạn, mình là nhân viên tổng đài 111. Bạn có đang ở nơi an toàn để nhắn tin không?"),
    ("Nguy hiểm: gọi 113",
     "Nếu bạn đang gặp nguy hiểm ngay lúc này, hãy gọi 113 (Công an). Bạn cũng có thể gọi 111, "
     "miễn phí, 24/7."),
    ("Hỏi nơi ở",
     "Bạn có thể cho mình biết bạn đang ở tỉnh, thành phố hoặc nước nào không? Chỉ nhắn khi bạn thấy an toàn."),
    ("Đã ghi nhận",
     "Mình đã ghi nhận thông tin của bạn và đang báo cán bộ hỗ trợ. Hãy giữ điện thoại bên mình "
     "và chỉ nhắn tin khi an toàn."),
    ("Cách xóa tin nhắn",
     "Khi đã an toàn, nếu lo người khác xem được, bạn có thể xóa cuộc trò chuyện này trên điện thoại "
     "(nhấn giữ cuộc trò chuyện rồi chọn Xóa)."),
)

# Abuse limits and outages (docs/reliability.md).
RATE_LIMITED = (
    "Bạn đang gửi tin nhắn nhanh quá nên mình tạm thời chưa xử lý được tin này. Bạn đợi một chút rồi nhắn lại nhé. "
    "Nếu đang gặp nguy hiểm, hãy gọi ngay 113 (Công an); để báo tin hoặc được tư vấn, gọi 111 (miễn phí, 24/7)."
)
LATE_TICKET_OPENED = (
    "Hệ thống đã hoạt động lại: mình đã chuyển tin nhắn của bạn cho nhân viên tổng đài, họ sẽ trả lời bạn tại đây. "
    "Nếu đang gặp nguy hiểm, hãy gọi ngay 113; hoặc gọi 111 (miễn phí, 24/7)."
)
# The staff console's answer to too many logins from one address.
LOGIN_RATE_LIMITED = "Có quá nhiều lần đăng nhập từ địa chỉ này. Hãy đợi vài phút rồi thử lại."
# Console login: wrong credentials (never says which, never "locked": accounts are not locked), and TOTP.
LOGIN_FAILED = ("Sai tên đăng nhập hoặc mật khẩu. Sau nhiều lần sai, mỗi lần thử phải chờ lâu hơn một chút "
                "(tối đa vài giây với mỗi tài khoản, lâu hơn với địa chỉ đã thử sai nhiều lần).")
LOGIN_CODE_NEEDED = "Tài khoản này dùng mã xác thực. Nhập lại mật khẩu và mã 6 số trong ứng dụng xác thực."
LOGIN_CODE_WRONG = "Mã xác thực không đúng hoặc đã dùng rồi. Nhập lại mật khẩu và mã 6 số mới nhất."
# A ticket opened while far more tickets than usual arrive at once (a flood): it is recorded but staff
# may see it late, so the person is told to call the hotlines directly.
TICKET_FLOOD_DELAYED = (
    "Mình đã ghi nhận yêu cầu của bạn, nhưng lúc này có rất nhiều tin nhắn cùng lúc nên nhân viên có thể "
    "trả lời chậm. Nếu đang gặp nguy hiểm, hãy gọi ngay 113; hoặc gọi 111 (miễn phí, 24/7)."
)
