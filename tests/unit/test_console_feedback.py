"""Console feedback on the bot's safety call: the resolve form's label, "Báo sót", the weekly counts
on the supervisor view (real service over SQLite, a fake Rasa on loopback)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from helpline.handoff.safety_review import export
from tests.conftest import Clock
from tests.unit.console_client import Desk, fake_rasa, login, make_desk, post_form  # noqa: F401 (fake_rasa: the rasa fixture)
from tests.unit.fake_http import FakeHttp


@pytest.fixture
def desk(tmp_path: Path, clock: Clock, rasa: FakeHttp) -> Desk:
    clock.now = dt.datetime.now(dt.timezone.utc)
    return make_desk(tmp_path, clock, rasa_url=rasa.url)


def _actions(desk: Desk, tid: int) -> list[tuple[str, str]]:
    return [(e.who, e.action) for e in reversed(desk.store.audit_entries(tid))]


def test_the_resolve_form_offers_the_three_labels_required_on_emergencies(desk: Desk) -> None:
    emergency = desk.ticket(sender="a", priority="immediate")
    normal = desk.ticket(sender="b", priority="normal", text="cho hỏi thủ tục xuất khẩu lao động")
    client = desk.client()
    login(client, "minh")
    page = client.get(f"/console/tickets/{emergency}").text
    form = page[page.index('id="resolve-form"'):page.index("</form>", page.index('id="resolve-form"'))]
    for value, text in (("real_emergency", "Khẩn cấp thật"), ("not_emergency", "Không phải khẩn cấp"),
                        ("flag_earlier", "Lẽ ra phải báo khẩn cấp sớm hơn")):
        assert re.search(rf'value="{value}" required> {text}', form), value
    assert "bắt buộc với ca khẩn cấp" in form
    assert "Báo sót" not in page, "the bot escalated this one: nothing to flag as missed"
    normal_page = client.get(f"/console/tickets/{normal}").text
    assert "(không bắt buộc)" in normal_page and ' required>' not in normal_page.split('id="resolve-form"')[1][:900]
    assert "Báo sót" in normal_page


def test_an_emergency_is_not_resolved_without_a_label(desk: Desk, rasa: FakeHttp) -> None:
    tid = desk.ticket(priority="urgent")
    client = desk.client()
    login(client, "minh")
    location = post_form(client, tid, "resolve")
    assert location.endswith("msg=needlabel")
    assert "hãy chọn đánh giá" in client.get(location).text
    assert desk.store.get(tid).is_open and rasa.requests == []  # type: ignore[union-attr]
    assert post_form(client, tid, "resolve", label="guess").endswith("msg=badlabel")
    assert desk.store.get(tid).is_open  # type: ignore[union-attr]
    location = post_form(client, tid, "resolve", label="not_emergency", label_note="hỏi thông tin, không nguy hiểm")
    assert location.endswith("msg=resolved")
    label = desk.store.ticket_label(tid)
    assert label is not None and (label.label, label.labelled_by) == ("not_emergency", "minh")
    assert label.note == "hỏi thông tin, không nguy hiểm"
    assert ("minh", "label label=not_emergency") in _actions(desk, tid)
    page = client.get(f"/console/tickets/{tid}").text
    assert "Không phải khẩn cấp" in page and "hỏi thông tin, không nguy hiểm" in page


def test_a_normal_ticket_resolves_without_a_label(desk: Desk) -> None:
    tid = desk.ticket(priority="normal", text="xin chào")
    client = desk.client()
    login(client, "minh")
    assert post_form(client, tid, "resolve").endswith("msg=resolved")
    assert desk.store.ticket_label(tid) is None


def test_flag_missed_on_a_ticket_the_bot_did_not_escalate(desk: Desk) -> None:
    normal = desk.ticket(sender="a", priority="normal", text="con toi 13 tuoi di voi nguoi quen tren mang 4 ngay roi")
    urgent = desk.ticket(sender="b", priority="urgent")
    client = desk.client()
    login(client, "hoa")
    location = post_form(client, normal, "flag-missed", label_note="trẻ em đi với người lạ")
    assert location.endswith("msg=flagged")
    label = desk.store.ticket_label(normal)
    assert label is not None and (label.label, label.labelled_by) == ("flag_earlier", "hoa")
    assert ("hoa", "flag_missed label=flag_earlier") in _actions(desk, normal)
    page = client.get(f"/console/tickets/{normal}").text
    assert "Lẽ ra phải báo khẩn cấp sớm hơn" in page and 'id="flag-missed-form"' not in page
    assert post_form(client, urgent, "flag-missed").endswith("msg=notmissed")
    assert desk.store.ticket_label(urgent) is None
    # Without the CSRF token nothing happens.
    other = desk.ticket(sender="c", priority="normal")
    assert client.post(f"/console/tickets/{other}/flag-missed", data={}).status_code == 403
    assert desk.store.ticket_label(other) is None


def test_supervisor_sees_misses_and_false_alarms_per_week(desk: Desk, clock: Clock, tmp_path: Path) -> None:
    alarm = desk.ticket(sender="a", priority="immediate")
    missed = desk.ticket(sender="b", priority="normal", text="em gai toi di theo ban tren mang 3 ngay chua ve")
    client = desk.client()
    login(client, "lan")
    post_form(client, alarm, "resolve", label="not_emergency")
    post_form(client, missed, "flag-missed")
    page = client.get("/console/supervisor").text
    assert "Bỏ sót và báo nhầm theo tuần" in page
    rows = re.findall(r'<td class="misses">(\d+)</td><td class="false-alarms">(\d+)</td>', page)
    assert len(rows) == 8 and rows[0] == ("1", "1") and all(r == ("0", "0") for r in rows[1:])
    # An agent does not see the supervisor view.
    agent = desk.client()
    login(agent, "minh")
    assert agent.get("/console/supervisor").status_code == 403
    # The labels reach the review export.
    counts = export(desk.store, tmp_path / "review.yml")
    assert (counts["not_emergency"], counts["flag_earlier"]) == (1, 1)
