"""Zalo OA reply windows: free 48 h after the person's last message, paid up to 7 days, then closed."""

from __future__ import annotations

import datetime as dt

from helpline.channels.windows import reply_window

LAST = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc)  # 08:00 in Vietnam


def test_the_three_states_and_their_limits() -> None:
    window = reply_window("zalo", LAST)
    assert window is not None
    assert window.free_until == LAST + dt.timedelta(hours=48) and window.paid_until == LAST + dt.timedelta(days=7)
    assert window.state(LAST + dt.timedelta(hours=47, minutes=59)) == "free"
    assert window.state(LAST + dt.timedelta(hours=48)) == "paid"
    assert window.state(LAST + dt.timedelta(days=7)) == "closed"
    assert window.send_refusal(LAST + dt.timedelta(days=6)) is None
    assert "closed" in (window.send_refusal(LAST + dt.timedelta(days=8)) or "")


def test_staff_notices_name_the_times_in_vietnam() -> None:
    window = reply_window("zalo", LAST)
    assert window is not None
    free = window.staff_notice(LAST + dt.timedelta(hours=1))
    assert "miễn phí đến 08:00 04/03/2026" in free and "09/03/2026" in free
    assert "mất phí" in window.staff_notice(LAST + dt.timedelta(days=3))
    assert "hết hạn trả lời lúc 08:00 09/03/2026" in window.staff_notice(LAST + dt.timedelta(days=9))


def test_no_window_without_a_known_last_message_or_on_other_channels() -> None:
    assert reply_window("zalo", None) is None
    assert reply_window("telegram", LAST) is None
    naive = reply_window("zalo", LAST.replace(tzinfo=None))
    assert naive is not None and naive.state(LAST) == "free"
