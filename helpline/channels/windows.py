"""Reply windows: how long after a person's last message a channel still lets us write to them.

Zalo Official Account (issue 15, from Zalo's OA messaging rules): a consultation message
(``/v3.0/oa/message/cs``) is free for 48 h after the user's last message, paid (through a linked
Zalo Cloud Account) up to 7 days, then impossible. The outbox refuses a message once the window
is closed, the console warns staff before they reply, and the bot tells a person who waits for
staff to write again if nobody answers for long.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

State = Literal["free", "paid", "closed"]
# channel -> (free for, paid up to); channels not listed have no window the project tracks.
WINDOWS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "zalo": (dt.timedelta(hours=48), dt.timedelta(days=7)),
}
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _vn(value: dt.datetime) -> str:
    return value.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")


@dataclass(frozen=True)
class ReplyWindow:
    channel: str
    last_user_at: dt.datetime
    free_until: dt.datetime
    paid_until: dt.datetime

    def state(self, now: dt.datetime) -> State:
        now = _aware(now)
        if now < self.free_until:
            return "free"
        return "paid" if now < self.paid_until else "closed"

    def staff_notice(self, now: dt.datetime) -> str:
        """What staff read above the reply box (Vietnamese, like the rest of the console)."""
        state = self.state(now)
        if state == "free":
            return (f"Zalo: trả lời miễn phí đến {_vn(self.free_until)}; sau đó tin nhắn mất phí "
                    f"đến {_vn(self.paid_until)}, rồi không gửi được nữa.")
        if state == "paid":
            return (f"Zalo: đã hết thời gian miễn phí lúc {_vn(self.free_until)}. Tin nhắn bây giờ mất phí "
                    f"(cần tài khoản Zalo Cloud còn tiền) và chỉ gửi được đến {_vn(self.paid_until)}.")
        return (f"Zalo: đã hết hạn trả lời lúc {_vn(self.paid_until)}. Tin nhắn sẽ không gửi được "
                "cho đến khi người dùng nhắn lại.")

    def send_refusal(self, now: dt.datetime) -> str | None:
        """The outbox's reason to fail a message at once, or None while it may still be sent."""
        if self.state(now) != "closed":
            return None
        return (f"{self.channel}: the 7-day reply window closed at {self.paid_until.isoformat(timespec='minutes')} "
                "(the user's last message was more than 7 days ago)")


def reply_window(channel: str, last_user_at: dt.datetime | None) -> ReplyWindow | None:
    """The window of a conversation on ``channel`` whose person last wrote at ``last_user_at``."""
    spans = WINDOWS.get(channel)
    if spans is None or last_user_at is None:
        return None
    last = _aware(last_user_at)
    return ReplyWindow(channel, last, last + spans[0], last + spans[1])
