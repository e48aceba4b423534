"""Vietnamese texts of the anonymous report (issue 16) that code assembles; the questions are in bot/domain.yml."""

from __future__ import annotations

from collections.abc import Sequence


def intro(retention_days: int) -> str:
    """Before the first question: what is stored, who sees it, for how long."""
    return (
        "Bạn có thể báo tin ẩn danh tại đây. Trước khi bắt đầu, bạn nên biết:\n"
        "• Mình chỉ lưu những gì bạn trả lời. Bạn không cần cho biết họ tên hay số điện thoại của mình.\n"
        "• Chỉ nhân viên tổng đài 111 đọc được báo tin này. Họ có thể chuyển cho công an để xác minh.\n"
        f"• Báo tin được xóa {retention_days} ngày sau khi nhân viên xử lý xong. Bạn có thể nhắn "
        "\"xóa dữ liệu của tôi\" bất cứ lúc nào (trừ báo tin đã được chuyển cho công an).\n"
        "Mình sẽ hỏi 6 câu ngắn. Câu nào không muốn trả lời, bạn nhắn \"bỏ qua\". Muốn dừng, nhắn \"thôi\". "
        "Nếu có người đang gặp nguy hiểm ngay lúc này, hãy gọi 113."
    )


def filed(code: str, contact_by_chat: bool) -> str:
    """After the report is stored: its code and how to add to it; never a promise of an outcome."""
    back = " Nhân viên có thể nhắn lại cho bạn tại đây." if contact_by_chat else ""
    return (
        f"Cảm ơn bạn đã báo tin. Mình đã chuyển báo tin cho nhân viên tổng đài 111.{back}\n"
        f"Mã báo tin của bạn: {code}\n"
        f"Muốn bổ sung thông tin, bạn nhắn mã này kèm nội dung trong cuộc trò chuyện này, ví dụ: "
        f"\"{code} hôm nay họ lại đến\". Trong lúc nhân viên xử lý báo tin, họ cũng đọc được những gì bạn nhắn "
        "ở đây.\n"
        "Bạn cũng có thể gọi 111 (miễn phí, 24/7) để báo trực tiếp. Nếu có người đang gặp nguy hiểm, "
        "hãy gọi ngay 113."
    )


def code_line(code: str) -> str:
    """The code, after the emergency texts of a report that said someone is in danger."""
    return f"Mình đã lưu báo tin của bạn. Mã báo tin: {code}. Muốn bổ sung, bạn nhắn mã này kèm nội dung."


NOT_SAVED = (
    "Xin lỗi, lúc này hệ thống đang trục trặc nên mình chưa lưu xong báo tin và chưa có mã cho bạn. "
    "Những gì bạn kể sẽ được chuyển cho nhân viên khi hệ thống hoạt động lại. "
    "Bạn có thể gọi 111 (miễn phí, 24/7) để báo trực tiếp; nếu có người đang gặp nguy hiểm, hãy gọi ngay 113."
)
NO_CODE = (
    "Mình đã chuyển báo tin cho nhân viên tổng đài 111, nhưng chưa tạo được mã báo tin vì hệ thống đang trục "
    "trặc. Muốn bổ sung, bạn gọi 111 (miễn phí, 24/7). Nếu có người đang gặp nguy hiểm, hãy gọi ngay 113."
)
STOPPED = (
    "Được rồi, mình dừng lại và không gửi báo tin này cho nhân viên. Khi nào cần, bạn cứ nhắn \"báo tin\" "
    "hoặc gọi 111 (miễn phí, 24/7)."
)
# The same words for an unknown code and for someone else's: a code reveals nothing to another sender.
UNKNOWN_CODE = (
    "Mình không tìm thấy báo tin nào có mã này trong cuộc trò chuyện này. Bạn kiểm tra lại mã, hoặc nhắn "
    "\"báo tin\" để gửi báo tin mới. Bạn cũng có thể gọi 111 (miễn phí, 24/7)."
)


def added(code: str) -> str:
    return (f"Mình đã thêm thông tin của bạn vào báo tin {code}. Nhân viên tổng đài 111 sẽ xem. "
            "Nếu có người đang gặp nguy hiểm, hãy gọi ngay 113.")


def kept_after_delete(codes: Sequence[str]) -> str:
    """Appended to "data deleted" when forwarded reports stay."""
    which = ", ".join(codes)
    return (f"Riêng báo tin {which} đã được nhân viên chuyển cho công an nên vẫn được giữ lại để phục vụ việc "
            "xác minh, đến hết thời hạn lưu trữ. Nếu có thắc mắc, bạn gọi 111 (miễn phí, 24/7).")
