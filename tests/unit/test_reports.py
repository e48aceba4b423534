"""Anonymous reports (issue 16): reference codes, the report store, the "Báo tin" queue, forwarding,
retention and "delete my data", on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from helpline.db import Database
from helpline.errors import HandoffError
from helpline.handoff import HandoffStore
from helpline.handoff.models import REPORT_REASON
from helpline.handoff.reports import ReportFields, is_quiet_report
from helpline.refcode import ALPHABET, addition_text, find_code, looks_like_code, new_code
from helpline.retention import Retention
from tests.conftest import Clock

CODE = re.compile(rf"^BT-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
FIELDS = ReportFields(what="Có người rủ em gái tôi sang Trung Quốc lấy chồng, gọi 0912 345 678",
                      place="xã Bản Lầu, Lào Cai", happened_when="tuần trước", who="một bà mối", in_danger="no",
                      contact="chat")


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock, new_tickets="off")


def file(store: HandoffStore, sender: str, fields: ReportFields = FIELDS, channel: str = "zalo") -> tuple[int, str]:
    ticket = store.open_ticket(channel, sender, "concern", [REPORT_REASON], [("user", "tôi muốn báo tin")])
    report = store.add_report(ticket.id, fields)
    return ticket.id, report.code


# -- reference codes -------------------------------------------------------------------------


def test_new_codes_are_well_formed_and_do_not_repeat() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(CODE.match(c) for c in codes)
    # No look-alike characters in any code.
    assert not set("".join(codes)) & set("01ILO")


@pytest.mark.parametrize("text, code, rest", [
    ("BT-7K3M-Q9PA", "BT-7K3M-Q9PA", ""),
    ("bt 7k3m q9pa hắn lại gọi", "BT-7K3M-Q9PA", "hắn lại gọi"),
    ("mã của em là BT7K3MQ9PA.", "BT-7K3M-Q9PA", "mã của em là"),
    ("Bổ sung BT–7K3M–Q9PA: họ chuyển nhà", "BT-7K3M-Q9PA", "Bổ sung họ chuyển nhà"),
])
def test_codes_are_found_in_any_spelling(text: str, code: str, rest: str) -> None:
    assert find_code(text) == (code, rest)


def test_mistyped_or_absent_codes() -> None:
    assert find_code("BT-0000-1111") is None and looks_like_code("BT-0000-1111")  # 0 and 1 are not in codes
    assert find_code("bật tivi lên") is None and not looks_like_code("bật tivi lên")
    assert find_code("ABT-7K3M-Q9PA") is None


def test_filler_around_a_code_is_not_an_addition() -> None:
    assert addition_text("mã của tôi là") is None
    assert addition_text("bo sung them thong tin") is None
    assert addition_text("hôm nay họ lại đến nhà") == "hôm nay họ lại đến nhà"


# -- the store -------------------------------------------------------------------------------


def test_a_report_is_a_ticket_of_type_report_with_its_answers(store: HandoffStore) -> None:
    tid, code = file(store, "a")
    assert CODE.match(code)
    ticket = store.get(tid)
    assert ticket is not None and ticket.is_report and is_quiet_report(ticket)
    [report] = store.reports_for_ticket(tid)
    assert report.code == code and report.fields.place == "xã Bản Lầu, Lào Cai" and not report.forwarded
    # The page shows what was written; an export masks the phone number.
    assert ("Cách liên hệ lại", "Nhắn lại qua cuộc trò chuyện này") in report.rows()
    masked = dict(report.rows(masked=True))["Chuyện gì đã xảy ra"]
    assert "0912" not in masked and "[sđt]" in masked
    actions = [e.action for e in store.audit_entries(tid)]
    assert f"report_filed report={report.id}" in actions
    assert not any("Lào Cai" in a or "0912" in a for a in actions)


def test_skipped_answers_are_none_and_bad_answers_are_refused(store: HandoffStore) -> None:
    ticket = store.open_ticket("zalo", "b", "concern", [REPORT_REASON])
    report = store.add_report(ticket.id, ReportFields(what="  ", in_danger=None))
    assert report.fields == ReportFields()
    with pytest.raises(ValueError):
        store.add_report(ticket.id, ReportFields(what="x" * 2001))
    with pytest.raises(ValueError):
        store.add_report(ticket.id, ReportFields(in_danger="maybe"))
    with pytest.raises(HandoffError):
        store.add_report(99999, FIELDS)
    assert len(store.reports_for_ticket(ticket.id)) == 1


def test_only_the_same_sender_on_the_same_channel_can_use_a_code(store: HandoffStore) -> None:
    tid, code = file(store, "a")
    assert store.report_by_code(code, "zalo", "a") is not None
    assert store.report_by_code(code, "zalo", "someone-else") is None
    assert store.report_by_code(code, "telegram", "a") is None  # same id on another channel: another person
    assert store.add_to_report(code, "zalo", "someone-else", "thêm") is None
    assert store.add_to_report("BT-AAAA-BBBB", "zalo", "a", "thêm") is None
    assert [m.text for m in store.get(tid).messages if "thêm" in m.text] == []  # type: ignore[union-attr]


def test_an_addition_goes_to_the_report_and_reopens_its_ticket(store: HandoffStore, clock: Clock) -> None:
    tid, code = file(store, "a")
    store.close_ticket(tid, "lan")
    clock.advance(minutes=5)
    report = store.add_to_report(code, "zalo", "a", f"{code} hôm nay họ lại đến")
    assert report is not None and report.updated_at == clock.now
    ticket = store.get(tid)
    assert ticket is not None and ticket.is_open
    assert [m.author for m in ticket.messages[-2:]] == ["system", "user"]
    assert ticket.messages[-1].text.endswith("hôm nay họ lại đến")
    assert f"report_added report={report.id}" in [e.action for e in store.audit_entries(tid)]
    with pytest.raises(ValueError):
        store.add_to_report(code, "zalo", "a", "   ")


def test_an_addition_to_a_closed_report_leaves_it_closed_while_another_ticket_is_open(store: HandoffStore) -> None:
    tid, code = file(store, "a")
    store.close_ticket(tid, "lan")
    other = store.open_ticket("zalo", "a", "urgent", ["help_call:cuu em"], [("user", "cứu em")])
    assert store.add_to_report(code, "zalo", "a", "thêm tin") is not None
    assert store.get(tid).status == "resolved"  # type: ignore[union-attr]
    assert store.get(other.id).is_open  # type: ignore[union-attr]


def test_forwarding_is_audited_and_validated(store: HandoffStore, clock: Clock) -> None:
    tid, _code = file(store, "a")
    [report] = store.reports_for_ticket(tid)
    today = clock.now.astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    with pytest.raises(ValueError):
        store.mark_forwarded(report.id, "lan", "  ", today)
    with pytest.raises(ValueError):
        store.mark_forwarded(report.id, "lan", "Công an", today + dt.timedelta(days=1))
    with pytest.raises(HandoffError):
        store.mark_forwarded(99999, "lan", "Công an", today)
    done = store.mark_forwarded(report.id, "lan", "Công an huyện Mường Khương, gọi 0912345678", today)
    assert done.forwarded and done.forwarded_by == "lan" and done.forwarded_on == today
    [entry] = [e for e in store.audit_entries(tid) if e.action.startswith("report_forwarded")]
    assert entry.who == "lan" and f"report={report.id}" in entry.action and "Mường Khương" in entry.action
    assert "0912345678" not in entry.action  # masked in the audit log too


def test_the_report_queue_has_its_own_order(store: HandoffStore, clock: Clock) -> None:
    old, _ = file(store, "old")
    clock.advance(minutes=1)
    forwarded, _ = file(store, "fwd")
    store.mark_forwarded(store.reports_for_ticket(forwarded)[0].id, "lan", "Công an tỉnh",
                         clock.now.astimezone(dt.timezone(dt.timedelta(hours=7))).date())
    clock.advance(minutes=1)
    danger = store.open_ticket("zalo", "danger", "immediate", [REPORT_REASON, "report:in_danger"])
    store.add_report(danger.id, ReportFields(in_danger="yes"))
    clock.advance(minutes=1)
    new, _ = file(store, "new")
    store.open_ticket("zalo", "not-a-report", "immediate", ["help_call:cuu"])
    order = [i.ticket.id for i in store.report_queue("open")]
    # In danger first; then not yet forwarded, newest activity first; forwarded last.
    assert order == [danger.id, new, old, forwarded]
    assert store.report_queue_count("open") == 4
    # New information brings a report up.
    clock.advance(minutes=1)
    store.add_to_report(store.reports_for_ticket(old)[0].code, "zalo", "old", "thêm")
    assert [i.ticket.id for i in store.report_queue("open")][:2] == [danger.id, old]


def test_quiet_reports_are_not_escalated_but_joined_ones_are(store: HandoffStore, clock: Clock) -> None:
    quiet, _ = file(store, "a")
    joined, _ = file(store, "b")
    store.open_ticket("zalo", "b", "normal", ["ask_human"], [("user", "gặp nhân viên")])
    clock.advance(minutes=30)
    due = {t.id for t in store.escalation_due(dt.timedelta(minutes=5))}
    assert joined in due and quiet not in due
    assert not is_quiet_report(store.get(joined))  # type: ignore[arg-type]


# -- privacy -------------------------------------------------------------------------------


def test_delete_my_data_keeps_only_forwarded_reports(store: HandoffStore, clock: Clock) -> None:
    kept, kept_code = file(store, "a")
    store.close_ticket(kept, "lan")
    store.mark_forwarded(store.reports_for_ticket(kept)[0].id, "lan", "Công an",
                         clock.now.astimezone(dt.timezone(dt.timedelta(hours=7))).date())
    gone, gone_code = file(store, "a")
    other, _ = file(store, "a", channel="telegram")
    assert [r.code for r in store.forwarded_reports_of("zalo", "a")] == [kept_code]
    assert store.delete_sender("zalo", "a") == 1
    assert store.get(gone) is None and store.report_by_code(gone_code, "zalo", "a") is None
    assert store.get(kept) is not None and store.report_by_code(kept_code, "zalo", "a") is not None
    assert store.get(other) is not None  # another channel's person


def test_retention_deletes_resolved_reports_with_their_tickets(db_url: str, clock: Clock) -> None:
    store = HandoffStore.from_url(db_url, now=clock, new_tickets="off")
    now = clock.now
    clock.now = now - dt.timedelta(days=40)
    old, old_code = file(store, "old")
    store.mark_forwarded(store.reports_for_ticket(old)[0].id, "lan", "Công an",
                         clock.now.astimezone(dt.timezone(dt.timedelta(hours=7))).date())
    store.close_ticket(old, "lan")
    store.mark_resumed(old)
    still_open, open_code = file(store, "still-open")
    clock.now = now - dt.timedelta(days=5)
    recent, recent_code = file(store, "recent")
    store.close_ticket(recent, "lan")
    store.mark_resumed(recent)
    clock.now = now
    report = Retention(Database.from_url(db_url), 30, now=clock).run()
    assert report.tickets == 1
    assert store.report_by_code(old_code, "zalo", "old") is None  # forwarded, but past the period
    with store.database.transaction("count", write=False) as q:
        assert q.one("SELECT COUNT(*) FROM handoff_reports WHERE ticket_id = ?", (old,))[0] == 0  # type: ignore[index]
    assert store.report_by_code(open_code, "zalo", "still-open") is not None
    assert store.report_by_code(recent_code, "zalo", "recent") is not None
