"""Staff feedback on tickets (labels, "Báo sót", weekly counts) and the safety-review export,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from helpline.errors import HandoffError
from helpline.handoff import HandoffStore
from helpline.handoff.desk import DeskConflict
from helpline.handoff.safety_review import export, guess_level, main
from tests.conftest import Clock


@pytest.fixture
def store(db_url: str, clock: Clock) -> HandoffStore:
    return HandoffStore.from_url(db_url, now=clock)


def _open(store: HandoffStore, sender: str, priority: str, text: str = "cứu em") -> int:
    return store.open_ticket("zalo", sender, priority, ["r"], [("user", text)]).id


def _actions(store: HandoffStore, ticket_id: int) -> list[str]:
    return [e.action for e in reversed(store.audit_entries(ticket_id))]


def test_resolve_with_a_label_stores_it_with_the_ticket_and_audits_it(store: HandoffStore) -> None:
    tid = _open(store, "a", "immediate")
    ticket, closed = store.close_ticket(tid, "lan", label="real_emergency", note="  đã gọi 113  ")
    assert closed and ticket.status == "resolved"
    label = store.ticket_label(tid)
    assert label is not None
    assert (label.label, label.note, label.labelled_by) == ("real_emergency", "đã gọi 113", "lan")
    assert _actions(store, tid)[-2:] == ["resolve", "label label=real_emergency"]
    # The audit log never holds the note's text.
    assert not any("113" in a for a in _actions(store, tid))
    # Resolving again does not relabel; a later label replaces the first.
    assert store.close_ticket(tid, "minh", label="not_emergency")[1] is False
    assert store.ticket_label(tid).label == "real_emergency"  # type: ignore[union-attr]
    store.label_ticket(tid, "minh", "flag_earlier")
    again = store.ticket_label(tid)
    assert again is not None and (again.label, again.note, again.labelled_by) == ("flag_earlier", None, "minh")


def test_unknown_label_changes_nothing(store: HandoffStore) -> None:
    tid = _open(store, "a", "urgent")
    with pytest.raises(ValueError):
        store.close_ticket(tid, "lan", label="maybe")
    assert store.get(tid).status == "open"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        store.label_ticket(tid, "lan", "real_emergency", note="x" * 1001)
    assert store.ticket_label(tid) is None
    with pytest.raises(HandoffError):
        store.label_ticket(9999, "lan", "real_emergency")
    # Resolving without a label still works (normal tickets).
    assert store.close_ticket(tid, "lan")[1] is True and store.ticket_label(tid) is None


def test_flag_missed_only_on_tickets_the_bot_did_not_escalate(store: HandoffStore) -> None:
    normal = _open(store, "a", "normal", "con em 13 tuổi đi với người quen trên mạng 3 ngày chưa về")
    urgent = _open(store, "b", "urgent")
    flagged = store.flag_missed(normal, "minh", "đứa trẻ đi với người lạ")
    assert flagged.label == "flag_earlier"
    assert store.ticket_label(normal).label == "flag_earlier"  # type: ignore[union-attr]
    assert "flag_missed label=flag_earlier" in _actions(store, normal)
    with pytest.raises(DeskConflict):
        store.flag_missed(urgent, "minh")
    assert store.ticket_label(urgent) is None
    # A resolved normal ticket can be flagged too.
    store.close_ticket(normal, "minh")
    store.flag_missed(normal, "lan")
    assert store.ticket_label(normal).labelled_by == "lan"  # type: ignore[union-attr]


def test_feedback_weeks_counts_misses_and_false_alarms(store: HandoffStore, clock: Clock) -> None:
    old_alarm = _open(store, "a", "immediate")
    store.close_ticket(old_alarm, "lan", label="not_emergency")
    clock.advance(days=8)
    alarm = _open(store, "b", "urgent")
    store.close_ticket(alarm, "lan", label="not_emergency")
    concern_not = _open(store, "c", "concern")  # not an alarm: the bot did not escalate
    store.close_ticket(concern_not, "lan", label="not_emergency")
    missed = _open(store, "d", "normal")
    store.flag_missed(missed, "minh")
    real = _open(store, "e", "immediate")
    store.close_ticket(real, "lan", label="real_emergency")
    weeks = store.feedback_weeks(4)
    assert len(weeks) == 4 and weeks[0].week > weeks[1].week
    assert all(w.week.weekday() == 0 for w in weeks)
    assert sum(w.misses for w in weeks) == 1 and sum(w.false_alarms for w in weeks) == 2
    assert sum(w.labelled for w in weeks) == 5
    newest = [w for w in weeks if w.labelled]
    assert newest[0].false_alarms >= 1  # the recent alarm is in a newer week than the old one
    assert store.feedback_weeks(1)[0].week == weeks[0].week


def test_labels_go_with_the_ticket_at_purge(store: HandoffStore, clock: Clock) -> None:
    tid = _open(store, "a", "urgent")
    store.close_ticket(tid, "lan", label="real_emergency")
    store.mark_resumed(tid)  # a ticket whose resume is pending is kept
    clock.advance(days=31)
    assert store.purge_resolved(dt.timedelta(days=30)) == 1
    assert store.ticket_label(tid) is None and store.labelled_cases() == []


def test_export_masks_personal_data_and_guesses_level_and_style(store: HandoffStore, clock: Clock,
                                                               tmp_path: Path) -> None:
    t1 = store.open_ticket("telegram", "555123456789", "normal", ["r"], [
        ("bot", "Chào bạn"),
        ("user", "con toi 12 tuoi di voi nguoi quen tren mang 3 ngay roi, so cua no 0912345678"),
        ("user", "giúp tôi"),
    ]).id
    store.flag_missed(t1, "minh", "gọi lại 0987654321")
    t2 = _open(store, "84901234567", "immediate", "Tôi đọc tin 'bị mua bán' trên báo, email tôi an@example.com")
    store.close_ticket(t2, "lan", label="not_emergency")
    t3 = _open(store, "84907654321", "urgent", "Em gái tôi bị giữ bên Campuchia, họ đòi 5000 đô")
    store.close_ticket(t3, "lan", label="real_emergency")
    store.open_ticket("zalo", "nobody", "normal", ["r"], [])  # unlabelled: not exported
    out = tmp_path / "review" / "safety_review.yml"
    counts = export(store, out, since_days=7)
    assert counts["items"] == 3 and counts["flag_earlier"] == 1 and counts["not_emergency"] == 1
    raw = out.read_text(encoding="utf-8")
    assert raw.startswith("# Safety review")
    assert "never" in raw.lower() and "lexicon" in raw
    for secret in ("0912345678", "0987654321", "an@example.com", "555123456789", "84901234567", "84907654321"):
        assert secret not in raw
    items = yaml.safe_load(raw)["items"]
    by_label = {i["label"]: i for i in items}
    missed = by_label["flag_earlier"]
    assert missed["text"].startswith("con toi 12 tuoi di voi nguoi quen")
    assert "[sđt]" in missed["text"] and "[sđt]" in missed["note"]
    assert (missed["level"], missed["style"], missed["source"]) == ("urgent", "unaccented", "staff_review")
    assert missed["ref"].startswith("telegram:") and "***" in missed["ref"]
    assert (by_label["not_emergency"]["level"], by_label["not_emergency"]["style"]) == ("none", "accented")
    assert by_label["real_emergency"]["level"] == "urgent"
    for item in items:
        assert {"text", "level", "style", "source", "label"} <= set(item)
    # --since keeps only recent labels.
    clock.advance(days=10)
    assert export(store, out, since_days=7)["items"] == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["items"] == []


def test_level_guess() -> None:
    assert guess_level("real_emergency", "immediate") == "immediate"
    assert guess_level("real_emergency", "normal") == "urgent"
    assert guess_level("flag_earlier", "concern") == "urgent"
    assert guess_level("not_emergency", "urgent") == "none"
    assert guess_level("not_emergency", "concern") == "concern"


def test_command_line_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = HandoffStore.from_url(url)
    tid = _open(store, "a", "urgent", "cứu em")
    store.close_ticket(tid, "lan", label="real_emergency")
    out = tmp_path / "out.yml"
    assert main(["--database", url, "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 labelled cases" in line and str(out) in line
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["items"][0]["label"] == "real_emergency"
