"""The learning loop (issue 17): unanswered questions, YAML round-trip, four eyes, editor pages.

Real SQLite, the real embedding model (grouping), the real handbook files (copied), the real
validation of the build and the real console over Starlette's test client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.services as services_module
from actions.faq import ActionAnswerFaq
from actions.services import Services
from helpline import replies
from helpline.console.web import VN_TZ
from helpline.db import Database
from helpline.handoff import HandoffStore
from helpline.handoff.schema import SCHEMA
from helpline.kb import yaml_edit
from helpline.kb.analytics import compute
from helpline.kb.editing import DraftRefused, Drafts, approval_problem, entry_values
from helpline.kb.embedder import Embedder
from helpline.kb.entries import load_entries
from helpline.kb.index import current_index_path
from helpline.kb.publish import Publisher
from helpline.kb.unanswered import LearningLog, Unanswered, group_questions, masked_question
from helpline.retention import Retention
from helpline.settings import Settings
from tests.conftest import Clock
from tests.unit.console_client import PASSWORD, csrf, login, make_desk

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "bao-tin-khi-nao-goi-113"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A copy of the handbook (faq/ and verified_numbers.yml), under git so diffs can be read."""
    base = tmp_path / "knowledge_base"
    shutil.copytree(ROOT / "knowledge_base" / "faq", base / "faq")
    shutil.copy(ROOT / "knowledge_base" / "verified_numbers.yml", base / "verified_numbers.yml")
    for cmd in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "kb"]):
        subprocess.run(["git", *cmd], cwd=base, check=True, capture_output=True)
    return base / "faq"


def git_diff(kb: Path) -> str:
    return subprocess.run(["git", "diff", "-U0"], cwd=kb.parent, check=True, capture_output=True, text=True).stdout


def changed_lines(diff: str) -> list[str]:
    return [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database.from_url(f"sqlite:///{tmp_path / 'handoff.db'}", schema=SCHEMA)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    s = Settings()
    return Embedder(s.embed_model, query_prefix=s.embed_query_prefix, doc_prefix=s.embed_doc_prefix)


# -- unanswered questions -----------------------------------------------------------------------

def test_question_is_masked_before_it_is_stored_and_has_no_sender(db: Database) -> None:
    log = LearningLog(db)
    log.record("zalo", "ask", "em o 12 ngo 5 pho Hue, sdt 0912345678, cccd 001203004567 bi lua", ["a", "b"])
    with db.transaction("read", write=False) as q:
        row = q.one("SELECT * FROM kb_unanswered")
        columns = [c[1] for c in q.all("PRAGMA table_info(kb_unanswered)")]
    stored = " ".join(str(v) for v in row or ())
    assert "0912345678" not in stored and "001203004567" not in stored
    assert "[sđt]" in stored and "[số giấy tờ]" in stored
    assert not [c for c in columns if "sender" in c]
    assert masked_question("  ") == ""
    with pytest.raises(ValueError):
        log.record("zalo", "ask", "   ", [])


def test_a_choice_is_recorded_on_the_question_it_answers(db: Database) -> None:
    log = LearningLog(db)
    log.record("telegram", "ask", "goi so may 0912345678", ["x", "y"])
    assert log.chose("goi so may 0912345678", "y")
    assert not log.chose("another question", "y")
    (row,) = log.open_questions()
    assert row.chosen == "y" and row.candidates == ("x", "y") and "0912345678" not in row.text


def test_retention_purges_old_unanswered_questions(tmp_path: Path) -> None:
    clock = Clock()
    db = Database.from_url(f"sqlite:///{tmp_path / 'handoff.db'}", schema=SCHEMA)
    LearningLog(db, now=clock).record("zalo", "unknown", "cau hoi cu", [])
    clock.advance(days=40)
    LearningLog(db, now=clock).record("zalo", "unknown", "cau hoi moi", [])
    report = Retention(db, 30, now=clock).run()
    assert report.unanswered == 1
    assert [r.text for r in LearningLog(db).open_questions()] == ["cau hoi moi"]


def _row(i: int, text: str) -> Unanswered:
    return Unanswered(i, "zalo", dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), "ask", text, (), None)


def test_similar_questions_are_grouped_and_sorted_by_frequency(embedder: Embedder) -> None:
    rows = [_row(1, "gọi 111 có mất tiền không"), _row(2, "Gọi 111 có mất tiền không?"),
            _row(3, "goi 111 co mat tien ko"), _row(4, "gọi tổng đài 111 có bị tính cước không"),
            _row(5, "thủ tục làm hộ chiếu ở đâu"), _row(6, "con mèo nhà tôi bị ốm")]
    groups = group_questions(rows, embedder)
    assert groups[0].count >= 3
    assert {1, 2, 3} <= set(groups[0].ids)
    assert not {5, 6} & set(groups[0].ids)
    assert any(g.ids == [6] for g in groups)
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)


# -- YAML round-trip ------------------------------------------------------------------------------

def test_round_trip_without_change_keeps_every_file_byte_for_byte() -> None:
    for path in sorted((ROOT / "knowledge_base" / "faq").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        assert yaml_edit.dump(yaml_edit.load(text)) == text, path.name


def test_adding_a_paraphrase_changes_only_that_line(kb: Path) -> None:
    path = kb / "bao-tin.yml"
    entry = next(e for e in load_entries(kb) if e.id == ENTRY)
    values = entry_values(entry)
    values["paraphrases"].append("goi so nao khi bi nhot")
    path.write_text(yaml_edit.edit_entry(path.read_text(encoding="utf-8"), ENTRY, values), encoding="utf-8")
    assert changed_lines(git_diff(kb)) == ['+      - "goi so nao khi bi nhot"']


def test_editing_answer_and_date_touches_only_those_fields(kb: Path) -> None:
    path = kb / "bao-tin.yml"
    entry = next(e for e in load_entries(kb) if e.id == ENTRY)
    values = entry_values(entry)
    values["answer"] = entry.answer + "\nGọi 111 miễn phí."
    values["last_checked"] = "2026-12-02"
    path.write_text(yaml_edit.edit_entry(path.read_text(encoding="utf-8"), ENTRY, values), encoding="utf-8")
    lines = changed_lines(git_diff(kb))
    assert "+      Gọi 111 miễn phí." in lines
    assert "+    last_checked: 2026-12-02" in lines and "-    last_checked: 2026-11-22" in lines
    assert len(lines) == 3
    assert next(e for e in load_entries(kb) if e.id == ENTRY).last_checked == dt.date(2026, 12, 2)


# -- drafts and four eyes -------------------------------------------------------------------------

def test_four_eyes_rules_by_role() -> None:
    assert approval_problem("an", "an", "editor")  # nobody approves their own change
    assert approval_problem("an", "an", "supervisor")
    assert approval_problem("an", "binh", "agent")  # agents never approve
    assert approval_problem("an", "binh", "editor") is None
    assert approval_problem("an", "lan", "supervisor") is None


def test_a_draft_changes_nothing_until_a_second_person_approves(db: Database, kb: Path) -> None:
    drafts = Drafts(db, kb)
    entry = next(e for e in load_entries(kb) if e.id == ENTRY)
    values = entry_values(entry)
    values["paraphrases"].append("bi giu o cpc thi goi so nao")
    draft = drafts.propose("an", "edit", ENTRY, entry.topic, values)
    assert git_diff(kb) == ""
    with pytest.raises(DraftRefused):
        drafts.approve(draft.id, "an", "editor")
    with pytest.raises(DraftRefused):
        drafts.approve(draft.id, "minh", "agent")
    approved = drafts.approve(draft.id, "binh", "editor")
    assert approved.status == "approved"
    assert changed_lines(git_diff(kb)) == ['+      - "bi giu o cpc thi goi so nao"']
    (history,) = drafts.history(ENTRY)
    assert history.decided_by == "binh" and "bi giu o cpc" in (history.diff or "")
    with pytest.raises(DraftRefused):
        drafts.approve(draft.id, "lan", "supervisor")  # decided once


def test_the_builds_validation_refuses_bad_drafts(db: Database, kb: Path) -> None:
    drafts = Drafts(db, kb)
    entry = next(e for e in load_entries(kb) if e.id == ENTRY)
    bad = entry_values(entry)
    bad["answer"] += " Hoặc gọi 1800 1567."
    bad["legal_basis"] = []
    with pytest.raises(DraftRefused) as refused:
        drafts.propose("an", "edit", ENTRY, entry.topic, bad)
    text = " ".join(refused.value.problems)
    assert "18001567" in text and "legal_basis" in text
    dup = entry_values(entry)
    dup["paraphrases"].append("Tổng đài 111 là gì?")  # another entry's question
    with pytest.raises(DraftRefused) as refused:
        drafts.propose("an", "edit", ENTRY, entry.topic, dup)
    assert "bao-tin-tong-dai-111" in " ".join(refused.value.problems)
    old = entry_values(entry)
    old["more"] = "Theo Luật Phòng, chống mua bán người năm 2011, ..."
    with pytest.raises(DraftRefused) as refused:
        drafts.propose("an", "edit", ENTRY, entry.topic, old)
    assert "quy định cũ" in " ".join(refused.value.problems)
    assert drafts.pending() == [] and git_diff(kb) == ""


# -- the console ----------------------------------------------------------------------------------

def test_editor_role_sees_the_handbook_and_never_the_tickets(tmp_path: Path, kb: Path) -> None:
    clock = Clock()
    desk = make_desk(tmp_path, clock, kb_dir=kb, index_dir=ROOT / "knowledge_base" / "build")
    desk.accounts.add_user("bien", PASSWORD, "editor")
    assert desk.accounts.get_user("bien").role == "editor"  # type: ignore[union-attr]
    ticket = desk.ticket()
    with desk.client() as editor, desk.client() as agent:
        assert login(editor, "bien").status_code == 303
        assert editor.get("/console/").headers["location"] == "/console/editor"
        assert editor.get(f"/console/tickets/{ticket}").headers["location"] == "/console/editor"
        assert editor.get("/api/tickets").status_code == 401
        home = editor.get("/console/editor")
        assert home.status_code == 200 and "Cần kiểm tra lại" in home.text and "Hàng chờ" not in home.text
        login(agent, "minh")
        assert agent.get("/console/editor").status_code == 403


def test_unanswered_group_to_paraphrase_to_approval_in_the_console(tmp_path: Path, kb: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []  # the build itself is tested below and end to end (tests/e2e/test_editing.py)
    monkeypatch.setattr(Publisher, "request", lambda self, reason: builds.append(reason))
    clock = Clock()
    desk = make_desk(tmp_path, clock, kb_dir=kb, index_dir=tmp_path / "build")
    desk.accounts.add_user("bien", PASSWORD, "editor")
    desk.accounts.add_user("tap", PASSWORD, "editor")
    log = LearningLog(desk.store.database, now=clock)
    for _ in range(2):
        log.record("zalo", "ask", "bi giu o cpc thi goi so nao 0912345678", [ENTRY, "bao-tin-tong-dai-111"])
    with desk.client() as first, desk.client() as second:
        login(first, "bien")
        page = first.get("/console/editor/unanswered")
        assert "2 lần" in page.text and "0912345678" not in page.text and "[sđt]" in page.text
        ids = re.search(r'name="ids" value="([0-9,]+)"', page.text).group(1)  # type: ignore[union-attr]
        token = csrf(first, "/console/editor/unanswered")
        done = first.post("/console/editor/unanswered", data={"csrf_token": token, "ids": ids, "action": "paraphrase",
                                                              "entry_id": ENTRY})
        assert done.headers["location"] == "/console/editor?msg=paraphrase"
        assert "Chưa có câu hỏi nào cần xem" in first.get("/console/editor/unanswered").text
        home = first.get("/console/editor").text
        assert "Bản nháp của bạn" in home and "/approve" not in home  # no approving one's own draft
        draft_id = re.search(r'data-draft="(\d+)"', home).group(1)  # type: ignore[union-attr]
        refused = first.post(f"/console/editor/drafts/{draft_id}/approve", data={"csrf_token": token})
        assert "msg=refused" in refused.headers["location"] and git_diff(kb) == ""
        login(second, "tap")
        token2 = csrf(second, "/console/editor")
        ok = second.post(f"/console/editor/drafts/{draft_id}/approve", data={"csrf_token": token2})
        assert ok.headers["location"] == "/console/editor?msg=approved"
    assert changed_lines(git_diff(kb)) == ['+      - "bi giu o cpc thi goi so nao [sđt]"']
    assert builds == [f"bản nháp #{draft_id}"]
    actions = [e.action for e in desk.store.audit_entries(None, 50)]
    assert any(a.startswith(f"kb_unanswered paraphrase entry={ENTRY} n=2") for a in actions)
    assert any(a.startswith(f"kb_draft approved edit entry={ENTRY}") for a in actions)


def test_store_tables_exist_on_a_database_created_before_them(tmp_path: Path) -> None:
    """Existing databases keep working: the new tables come with CREATE IF NOT EXISTS."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database.from_url(url, schema=[s for s in SCHEMA if "kb_" not in s and "staff_roles" not in s])
    with old.transaction("touch") as q:
        q.one("SELECT COUNT(*) FROM staff_users")
    store = HandoffStore.from_url(url)
    LearningLog(store.database).record("zalo", "unknown", "x y z", [])
    assert len(LearningLog(store.database).open_questions()) == 1


def test_a_build_that_fails_validation_keeps_the_working_index(tmp_path: Path, kb: Path) -> None:
    build = tmp_path / "build"
    shutil.copytree(current_index_path(ROOT / "knowledge_base" / "build"), build / "index-old")
    (build / "current").symlink_to("index-old")
    path = kb / "bao-tin.yml"
    path.write_text(path.read_text(encoding="utf-8").replace('law_version: "NĐ 162/2025/NĐ-CP"', 'law_version: ""', 1),
                    encoding="utf-8")
    publisher = Publisher(env={"HELPLINE_KB_DIR": str(kb), "HELPLINE_INDEX_DIR": str(build)})
    publisher.request("test")
    status = publisher.wait(120)
    assert status.state == "failed"
    assert "law_version is required" in status.error
    assert current_index_path(build) == (build / "index-old").resolve()


# -- the FAQ action records outcomes (real retriever, real store) ---------------------------------

def _tracker(text: str, events: list[dict[str, Any]], entities: list[dict[str, Any]] | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": "ask_faq", "confidence": 0.9}, "entities": entities or []}
    events = [*events, {"event": "user", "text": text, "parse_data": latest, "input_channel": "telegram"}]
    return Tracker("telegram:123456789", {}, latest, events, False, None, None, "action_listen")


def _run(trk: Tracker) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerFaq().run(dispatcher, trk, {}))
    return dispatcher.messages


def test_the_faq_action_records_asks_choices_and_rejections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(Settings(data_dir=tmp_path))
    monkeypatch.setattr(services_module, "_services", services)
    vague = "cho em hoi cai vu do 0912345678"
    (reply,) = _run(_tracker(vague, []))
    assert reply["text"].startswith(replies.UNSURE_INTRO)
    offered = [b["payload"].split('"faq_id": "')[1].split('"')[0] for b in reply["buttons"]]
    log = services.learning
    (row,) = log.open_questions()
    assert row.kind == "ask" and row.channel == "telegram" and list(row.candidates) == offered
    assert "0912345678" not in row.text and "123456789" not in repr(row)
    # The person presses the second button: recorded as their choice on that question.
    asked = [{"event": "user", "text": vague},
             {"event": "bot", "text": reply["text"], "data": {"buttons": reply["buttons"]}}]
    press = [{"entity": "faq_id", "value": offered[1]}]
    _run(_tracker(reply["buttons"][1]["payload"], asked, press))
    (row,) = log.open_questions()
    assert row.chosen == offered[1]
    # An answer with alternatives, and the person presses an alternative: the answer missed.
    answer_text, buttons = replies.faq_answer_with_alternatives(
        services.retriever.entry(ENTRY), [services.retriever.entry("bao-tin-tong-dai-111")])  # type: ignore[arg-type]
    answered = [{"event": "user", "text": "so nao goi khi nguy hiem"},
                {"event": "bot", "text": answer_text, "data": {"buttons": [b.as_dict() for b in buttons]}}]
    _run(_tracker(buttons[-1].payload, answered, [{"entity": "faq_id", "value": "bao-tin-tong-dai-111"}]))
    rejected = [r for r in log.open_questions() if r.kind == "rejected"]
    assert len(rejected) == 1 and rejected[0].chosen == "bao-tin-tong-dai-111"
    assert rejected[0].text == "so nao goi khi nguy hiem" and ENTRY not in rejected[0].candidates
    with services.handoff.database.transaction("read", write=False) as q:
        outcomes = [r[0] for r in q.all("SELECT outcome FROM kb_outcomes ORDER BY id")]
    assert outcomes == ["ask", "chosen", "rejected"]


# -- analytics ------------------------------------------------------------------------------------

def test_weekly_analytics_per_channel_and_csv(tmp_path: Path) -> None:
    clock = Clock()
    desk = make_desk(tmp_path, clock)
    log = LearningLog(desk.store.database, now=clock)
    for outcome in ("answer", "answer", "answer_alt", "ask", "unknown"):
        log.outcome("zalo", outcome, "bao-tin-tong-dai-111" if outcome.startswith("answer") else None, "bao-tin")
    log.outcome("telegram", "ask")
    first = desk.ticket(sender="84901111111", priority="immediate", channel="zalo")
    desk.ticket(sender="84902222222", priority="concern", channel="zalo")
    clock.advance(minutes=4)
    desk.store.add_staff_reply(first, "minh", "Chào bạn")
    data = compute(desk.store.database, 8, VN_TZ, clock())
    zalo = next(r for r in data.rows if r.channel == "zalo")
    assert zalo.questions == 5 and zalo.answer_rate == pytest.approx(0.6)
    assert zalo.clarification_rate == pytest.approx(0.2) and zalo.unanswered == 2
    assert zalo.handoffs == {"immediate": 1, "concern": 1} and zalo.median_first_reply == pytest.approx(240)
    assert next(r for r in data.rows if r.channel == "telegram").clarification_rate == 1.0
    assert data.top_entries == [("bao-tin-tong-dai-111", 3)] and data.top_topics == [("bao-tin", 3)]
    [(week, top_e, top_t)] = [w for w in data.top_per_week() if w[1]]
    assert top_e == [("bao-tin-tong-dai-111", 3)] and top_t == [("bao-tin", 3)] and zalo.week == week
    with desk.client() as sup, desk.client() as agent:
        login(sup, "lan")
        page = sup.get("/console/supervisor/analytics")
        assert page.status_code == 200 and "60%" in page.text and "4 phút" in page.text
        exported = sup.get("/console/supervisor/analytics.csv")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        header, *lines = exported.text.strip().splitlines()
        assert header.startswith("week_start,channel,questions,answered,answer_rate")
        assert any(",zalo,5,3,0.600,1,0.200,2,1,0,1,0,240,bao-tin-tong-dai-111 (3),bao-tin (3)" in line
                   for line in lines)
        assert 'id="top-per-week"' in page.text
        assert "8490" not in exported.text and "8490" not in page.text
        login(agent, "minh")
        assert agent.get("/console/supervisor/analytics.csv").status_code == 403


def test_a_rebuild_embeds_only_the_changed_question_forms(tmp_path: Path, embedder: Embedder) -> None:
    import dataclasses

    import numpy as np

    from helpline.kb.index import build_index, load_index

    entries = load_entries(ROOT / "knowledge_base" / "faq")[:6]
    build = tmp_path / "build"
    build_index(entries, embedder, build, progress=lambda _m: None)
    changed = [dataclasses.replace(entries[0], paraphrases=(*entries[0].paraphrases, "cau hoi moi them vao")),
               *entries[1:]]
    messages: list[str] = []
    build_index(changed, embedder, build, progress=messages.append)
    assert any(m.startswith("embedding 1 of ") for m in messages), messages
    loaded = load_index(current_index_path(build))
    i = next(n for n, d in enumerate(loaded.docs) if d.text == "cau hoi moi them vao")
    fresh = embedder.encode_docs(["cau hoi moi them vao"])[0]
    assert float(np.dot(loaded.faiss_index.reconstruct(i), fresh)) > 0.999


def test_learning_tables_and_editor_role_on_both_databases(db_url: str, kb: Path) -> None:
    from helpline.handoff.accounts import StaffAccounts

    store = HandoffStore.from_url(db_url)
    accounts = StaffAccounts(store.database)
    accounts.add_user("bien", PASSWORD, "editor")
    accounts.add_user("minh", PASSWORD, "agent")
    assert {u.username: u.role for u in accounts.list_users()} == {"bien": "editor", "minh": "agent"}
    assert accounts.authenticate("bien", PASSWORD).user.role == "editor"  # type: ignore[union-attr]
    log = LearningLog(store.database)
    row_id = log.record("zalo", "ask", "goi 0912345678 hoi", ["a"])
    assert log.handle([row_id], "out_of_scope", "bien") == 1 and log.open_questions() == []
    log.outcome("zalo", "answer", "a", "t")
    drafts = Drafts(store.database, kb)
    entry = next(e for e in load_entries(kb) if e.id == ENTRY)
    values = entry_values(entry)
    values["paraphrases"].append("so nao goi khi bi ep")
    draft = drafts.propose("bien", "edit", ENTRY, entry.topic, values)
    assert drafts.approve(draft.id, "lan", "supervisor").status == "approved"
    assert drafts.history(ENTRY)[0].decided_by == "lan"


def test_khong_phai_after_an_answer_records_the_question_as_rejected(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from actions.faq import ActionFaqRejected

    services = Services(Settings(data_dir=tmp_path))
    monkeypatch.setattr(services_module, "_services", services)
    entry = services.retriever.entry(ENTRY)
    assert entry is not None
    text, _ = replies.faq_answer(entry)
    answered = [{"event": "user", "text": "goi so nao truoc 0987654321"}, {"event": "bot", "text": text, "data": {}}]
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionFaqRejected().run(dispatcher, _tracker("không phải", answered), {}))
    assert dispatcher.messages[0]["text"] == replies.ANSWER_REJECTED and "111" in replies.ANSWER_REJECTED
    (row,) = services.learning.open_questions()
    assert row.kind == "rejected" and row.candidates == (ENTRY,) and "0987654321" not in row.text
    # After a clarification there was no answer to reject: nothing more is recorded.
    asked_back = [{"event": "user", "text": "cai do la gi"}, {"event": "bot", "text": replies.UNSURE_INTRO, "data": {}}]
    asyncio.run(ActionFaqRejected().run(CollectingDispatcher(), _tracker("không phải", asked_back), {}))
    assert len(services.learning.open_questions()) == 1
