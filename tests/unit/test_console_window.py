"""The console warns staff about Zalo's reply window on the ticket, before they reply."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.conftest import Clock
from tests.unit.console_client import login, make_desk


@pytest.mark.parametrize(("age", "state", "words"), [
    (dt.timedelta(hours=2), "free", "trả lời miễn phí đến"),
    (dt.timedelta(days=3), "paid", "đã hết thời gian miễn phí"),
    (dt.timedelta(days=8), "closed", "đã hết hạn trả lời"),
])
def test_a_zalo_ticket_shows_its_reply_window(tmp_path: Path, clock: Clock, age: dt.timedelta, state: str,
                                              words: str) -> None:
    clock.now = dt.datetime.now(dt.timezone.utc) - age  # the person's message was written that long ago
    desk = make_desk(tmp_path, clock)
    tid = desk.ticket(channel="zalo")
    client = desk.client()
    login(client, "minh")
    page = client.get(f"/console/tickets/{tid}").text
    match = re.search(r'<p class="flash window[^"]*" id="reply-window" data-window="(\w+)"[^>]*>([^<]+)</p>', page)
    assert match, "the window notice is on the ticket page"
    assert match.group(1) == state and words in match.group(2)
    assert page.index('id="reply-window"') < page.index('id="reply-form"'), "shown before the reply box"
    last = clock.now.astimezone(dt.timezone(dt.timedelta(hours=7)))
    paid_until = (last + dt.timedelta(days=7)).strftime("%H:%M %d/%m/%Y")
    assert paid_until in match.group(2)


def test_other_channels_show_no_window(tmp_path: Path, clock: Clock) -> None:
    clock.now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    desk = make_desk(tmp_path, clock)
    tid = desk.ticket(channel="telegram", sender="telegram:42")
    client = desk.client()
    login(client, "minh")
    assert 'id="reply-window"' not in client.get(f"/console/tickets/{tid}").text
