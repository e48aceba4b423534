"""The console's report pieces (issue 16) over the real service and SQLite, a fake Rasa on loopback:
the "Báo tin" filter, the report card, "forwarded to the police", closing a quiet report, the export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpline.console.web import VN_TZ
from helpline.handoff.models import REPORT_REASON
from helpline.handoff.reports import ReportFields
from tests.conftest import Clock
from tests.unit.console_client import Desk, csrf, fake_rasa, login, make_desk, post_form  # noqa: F401 (fake_rasa: the rasa fixture)
from tests.unit.fake_http import FakeHttp


@pytest.fixture
def desk(tmp_path: Path, clock: Clock, rasa: FakeHttp) -> Desk:
    clock.now = dt.datetime.now(dt.timezone.utc)
    return make_desk(tmp_path, clock, rasa_url=rasa.url)


def report(desk: Desk, sender: str = "r1") -> tuple[int, int, str]:
    ticket = desk.store.open_ticket("zalo", sender, "concern", [REPORT_REASON], [("user", "tôi muốn báo tin")])
    r = desk.store.add_report(ticket.id, ReportFields(what="Bà mối rủ em gái tôi sang Trung Quốc, số bà ấy 0912345678",
                                                      place="Mường Khương, Lào Cai", in_danger="no", contact="chat"))
    return ticket.id, r.id, r.code


def test_the_bao_tin_filter_lists_only_reports(desk: Desk) -> None:
    tid, _, _ = report(desk)
    other = desk.ticket(sender="x")
    client = desk.client()
    login(client, "minh")
    page = client.get("/console/?kind=report").text
    assert f'data-ticket="{tid}"' in page and f'data-ticket="{other}"' not in page
    assert 'class="badge report"' in page and '<option value="report" selected' in page
    rows = client.get("/console/queue/rows?kind=report").text  # the live refresh keeps the filter
    assert f'data-ticket="{tid}"' in rows and f'data-ticket="{other}"' not in rows
    everything = client.get("/console/").text
    assert f'data-ticket="{tid}"' in everything and f'data-ticket="{other}"' in everything


def test_forwarding_from_the_ticket_page_is_validated_and_audited(desk: Desk) -> None:
    tid, rid, code = report(desk)
    client = desk.client()
    login(client, "minh")
    page = client.get(f"/console/tickets/{tid}").text
    assert code in page and "Mường Khương, Lào Cai" in page and "Nhắn lại qua cuộc trò chuyện này" in page
    today = desk.clock.now.astimezone(VN_TZ).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert post_form(client, tid, f"reports/{rid}/forward", to="Công an", on=tomorrow).endswith("msg=badforward")
    assert post_form(client, tid, f"reports/{rid}/forward", to="  ", on=today.isoformat()).endswith("msg=badforward")
    assert post_form(client, tid, f"reports/{rid}/forward", to="Công an", on="hôm qua").endswith("msg=badforward")
    assert not desk.store.get_report(rid).forwarded  # type: ignore[union-attr]
    assert post_form(client, tid, f"reports/{rid}/forward", to="Công an huyện Mường Khương",
                on=today.isoformat()).endswith("msg=forwarded")
    assert desk.store.get_report(rid).forwarded_by == "minh"  # type: ignore[union-attr]
    assert any(e.who == "minh" and e.action.startswith(f"report_forwarded report={rid}")
               for e in desk.store.audit_entries(tid))
    assert "Đã chuyển công an:" in client.get(f"/console/tickets/{tid}").text
    # A report id of another ticket is not found from this one; no CSRF token, no change.
    other, other_rid, _ = report(desk, "r2")
    assert client.post(f"/console/tickets/{tid}/reports/{other_rid}/forward",
                       data={"csrf_token": csrf(client, f"/console/tickets/{tid}"), "to": "X",
                             "on": today.isoformat()}).status_code == 404
    assert client.post(f"/console/tickets/{other}/reports/{other_rid}/forward",
                       data={"to": "X", "on": today.isoformat()}).status_code == 403
    assert not desk.store.get_report(other_rid).forwarded  # type: ignore[union-attr]


def test_an_agent_cannot_forward_a_report_someone_else_holds(desk: Desk) -> None:
    tid, rid, _ = report(desk)
    desk.store.claim(tid, "hoa")
    client = desk.client()
    login(client, "minh")
    today = desk.clock.now.astimezone(VN_TZ).date().isoformat()
    assert post_form(client, tid, f"reports/{rid}/forward", to="Công an", on=today).endswith("msg=held")
    assert not desk.store.get_report(rid).forwarded  # type: ignore[union-attr]


def test_closing_a_quiet_report_does_not_resume_or_message_the_person(desk: Desk, rasa: FakeHttp) -> None:
    tid, _, _ = report(desk)
    client = desk.client()
    login(client, "minh")
    assert "Kết thúc ca báo tin" in client.get(f"/console/tickets/{tid}").text
    assert post_form(client, tid, "resolve").endswith("msg=report_closed")
    assert rasa.requests == []  # no tracker resume call
    assert desk.outbox.list() == []  # no "the assistant is back" message
    assert desk.store.ticket_state(tid).resume_pending is False


def test_the_export_includes_the_report_masked(desk: Desk) -> None:
    tid, _, code = report(desk)
    client = desk.client()
    login(client, "lan")
    body = client.get(f"/console/tickets/{tid}/export").text
    assert f"Báo tin {code}" in body and "Mường Khương, Lào Cai" in body
    assert "0912345678" not in body and "[sđt]" in body
