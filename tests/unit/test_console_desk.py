"""Console work on tickets: replies through the outbox, resolve + bot resume (with a fake Rasa on
loopback), escalation, staff alerts, privacy (audit, masking, purge) and the live change feed."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from helpline import replies
from helpline.console.live import ChangeFeed
from helpline.handoff.workers import RESUME_EVENTS, TelegramNotifier
from tests.conftest import Clock
from tests.unit.console_client import RASA_TOKEN, Desk, fake_rasa, login, make_desk, post_form  # noqa: F401 (fake_rasa: the rasa fixture)
from tests.unit.fake_http import FakeHttp

SENDER = "84901234567"


@pytest.fixture
def desk(tmp_path: Path, clock: Clock, rasa: FakeHttp) -> Desk:
    clock.now = dt.datetime.now(dt.timezone.utc)
    return make_desk(tmp_path, clock, rasa_url=rasa.url, escalate_after_seconds=300)


def _audit(desk: Desk, tid: int | None = None) -> list[tuple[str, str]]:
    return [(e.who, e.action) for e in reversed(desk.store.audit_entries(tid, limit=500))]


def test_staff_reply_goes_to_the_ticket_and_the_outbox(desk: Desk) -> None:
    tid = desk.ticket()
    client = desk.client()
    login(client, "minh")
    location = post_form(client, tid, "reply", text="Chào bạn, mình là nhân viên tổng đài 111.")
    assert location == f"/console/tickets/{tid}?msg=sent"
    [item] = desk.outbox.list()
    assert (item.channel, item.recipient_id, item.kind) == ("zalo", SENDER, "staff")
    assert item.message == {"text": "Chào bạn, mình là nhân viên tổng đài 111."}
    ticket = desk.store.get(tid)
    assert ticket is not None and [m.author for m in ticket.messages] == ["user", "staff"]
    state = desk.store.ticket_state(tid)
    assert state.assigned_to == "minh" and state.first_staff_reply_at is not None
    page = client.get(location)
    assert "Đã gửi trả lời" in page.text and "Chào bạn, mình là nhân viên tổng đài 111." in page.text
    # An empty reply is refused and nothing is queued.
    assert post_form(client, tid, "reply", text="   ").endswith("msg=empty")
    assert len(desk.outbox.list()) == 1


def test_an_agent_cannot_reply_on_someone_elses_ticket(desk: Desk) -> None:
    tid = desk.ticket()
    desk.store.claim(tid, "hoa")
    client = desk.client()
    login(client, "minh")
    assert post_form(client, tid, "reply", text="Chào").endswith("msg=held")
    assert post_form(client, tid, "resolve").endswith("msg=held")
    assert desk.outbox.list() == [] and desk.store.get(tid).is_open  # type: ignore[union-attr]
    supervisor = desk.client()
    login(supervisor, "lan")
    assert post_form(supervisor, tid, "transfer", to="minh").endswith("msg=transferred")
    assert post_form(client, tid, "reply", text="Chào").endswith("msg=sent")


def test_claim_transfer_and_notes_from_the_console(desk: Desk) -> None:
    tid = desk.ticket()
    client = desk.client()
    login(client, "minh")
    assert post_form(client, tid, "claim").endswith("msg=claimed")
    assert post_form(client, tid, "note", text="Người dùng ở Sihanoukville, đã báo công an").endswith("msg=noted")
    assert post_form(client, tid, "transfer", to="nobody").endswith("msg=nouser")
    assert post_form(client, tid, "transfer", to="hoa").endswith("msg=transferred")
    assert desk.store.ticket_state(tid).assigned_to == "hoa"
    page = client.get(f"/console/tickets/{tid}").text
    assert "đã báo công an" in page and "Ghi chú nội bộ" in page
    # The person is told once that a staff member took the conversation; notes are never sent.
    assert [m.message["text"] for m in desk.outbox.list()] == [replies.STAFF_TOOK_OVER]


def test_resolve_resumes_the_bot_through_rasa_and_tells_the_user(desk: Desk, rasa: FakeHttp) -> None:
    tid = desk.ticket()
    client = desk.client()
    login(client, "minh")
    post_form(client, tid, "reply", text="Bạn đã an toàn chưa?")
    location = post_form(client, tid, "resolve", label="real_emergency")
    assert location.endswith("msg=resolved")
    [call] = rasa.requests
    assert call.path == f"/conversations/{SENDER}/tracker/events"
    assert call.query == {"token": [RASA_TOKEN]}
    assert call.body[0] == {"event": "resume"} and call.body == RESUME_EVENTS
    staff, back = desk.outbox.list()
    assert (back.kind, back.recipient_id, back.message) == ("bot", SENDER, {"text": replies.BOT_RESUMED})
    state = desk.store.ticket_state(tid)
    assert not state.resume_pending and state.resumed_at is not None
    assert [a for _, a in _audit(desk, tid) if a in ("resolve", "resume_bot")] == ["resolve", "resume_bot"]
    assert "Trợ lý tự động đã trở lại" in client.get(location).text
    # Resolving again does nothing more.
    assert post_form(client, tid, "resolve").endswith("msg=already")
    assert len(rasa.requests) == 1 and len(desk.outbox.list()) == 2


def test_unreachable_rasa_is_visible_and_retried_until_it_works(tmp_path: Path, clock: Clock) -> None:
    clock.now = dt.datetime.now(dt.timezone.utc)
    with FakeHttp() as rasa:
        rasa.status = 500
        desk = make_desk(tmp_path, clock, rasa_url=rasa.url)
        tid = desk.ticket()
        client = desk.client()
        login(client, "minh")
        location = post_form(client, tid, "resolve", label="real_emergency")
        assert location.endswith("msg=resume_failed")
        assert "CHƯA mở lại được trợ lý tự động" in client.get(location).text
        queue = client.get("/console/").text
        assert "Chưa mở lại được trợ lý tự động" in queue and f"#{tid}" in queue
        assert desk.outbox.list() == [], "the user is told the bot is back only once it is"
        state = desk.store.ticket_state(tid)
        assert state.resume_pending and state.resume_attempts == 1 and "HTTP 500" in str(state.resume_error)
        assert ("system", "resume_failed") in _audit(desk, tid)
        # Rasa comes back; the background retry (one round here) resumes and tells the user.
        rasa.status = 200
        assert asyncio.run(desk.worker.resume_once()) == 0, "not before its backoff"
        clock.advance(seconds=40)
        assert asyncio.run(desk.worker.resume_once()) == 1
        assert [r.body for r in rasa.requests] == [RESUME_EVENTS] * 2
        [back] = desk.outbox.list()
        assert back.message == {"text": replies.BOT_RESUMED}
        assert not desk.store.ticket_state(tid).resume_pending
        assert "Chưa mở lại được" not in client.get("/console/").text
    # Rasa entirely down (nothing listening) is a failure too, never an exception.
    other = make_desk(tmp_path / "b", clock, rasa_url="http://127.0.0.1:9")
    tid = other.ticket()
    ticket, _ = other.store.close_ticket(tid, "minh")
    failure = asyncio.run(other.worker.resume_ticket(ticket))
    assert failure is not None and "unreachable" in failure and RASA_TOKEN not in failure


def test_escalation_reminds_the_user_once_and_turns_the_ticket_red(desk: Desk, clock: Clock) -> None:
    waiting = desk.ticket(sender="u-waiting")
    answered = desk.ticket(sender="u-answered", channel="telegram")
    desk.store.add_staff_reply(answered, "minh", "Chào bạn")
    clock.advance(seconds=299)
    assert asyncio.run(desk.worker.escalate_once()) == 0
    clock.advance(seconds=2)
    assert asyncio.run(desk.worker.escalate_once()) == 1
    assert asyncio.run(desk.worker.escalate_once()) == 0
    [reminder] = desk.outbox.list()
    assert (reminder.channel, reminder.recipient_id) == ("zalo", "u-waiting")
    assert "111" in reminder.message["text"] and reminder.message["text"] == replies.STAFF_NO_REPLY_YET
    assert desk.store.ticket_state(waiting).escalated and not desk.store.ticket_state(answered).escalated
    assert ("system", "escalate") in _audit(desk, waiting)
    client = desk.client()
    login(client, "minh")
    rows = client.get("/console/queue/rows").text
    assert f'class="prio-immediate escalated" data-ticket="{waiting}"' in rows
    assert f'class="prio-immediate" data-ticket="{answered}"' in rows
    assert "Quá hạn:" in client.get(f"/console/tickets/{waiting}").text
    assert f"Ca #{waiting}<" in client.get("/console/?escalated=1").text


def test_queue_is_sorted_by_risk_then_waiting(desk: Desk, clock: Clock) -> None:
    normal = desk.ticket(sender="a", priority="normal")
    clock.advance(minutes=1)
    urgent = desk.ticket(sender="b", priority="urgent")
    clock.advance(minutes=1)
    immediate = desk.ticket(sender="c", priority="immediate")
    client = desk.client()
    login(client, "minh")
    rows = client.get("/console/queue/rows").text
    order = [rows.index(f'data-ticket="{t}"') for t in (immediate, urgent, normal)]
    assert order == sorted(order)
    assert f'data-ticket="{normal}"' not in client.get("/console/queue/rows?priority=urgent").text


def test_new_tickets_are_posted_to_the_staff_telegram_group(desk: Desk) -> None:
    with FakeHttp() as telegram:
        desk.worker.notifier = TelegramNotifier(telegram.url, "123:bot-token", "-100200")
        tid = desk.ticket(text="cứu em, số của em là 0912 345 678")
        assert asyncio.run(desk.worker.notify_once()) == 1
        assert asyncio.run(desk.worker.notify_once()) == 0, "each ticket is announced once"
        [call] = telegram.requests
        assert call.path == "/bot123:bot-token/sendMessage"
        assert call.body["chat_id"] == "-100200"
        text = call.body["text"]
        assert f"#{tid}" in text and "NGUY HIỂM NGAY" in text and f"/console/tickets/{tid}" in text
        assert SENDER not in text and "84***67" in text
        assert "cứu" not in text and "0912" not in text, "no message text in the alert"
        telegram.status = 502
        desk.ticket(sender="other")
        assert asyncio.run(desk.worker.notify_once()) == 0
        assert len(desk.store.unnotified()) == 1, "a failed alert is retried next round"


def test_every_transcript_access_is_audited_and_exports_are_masked(desk: Desk) -> None:
    tid = desk.ticket(text="em tên Lan, sđt 0912 345 678, CCCD 012345678901")
    supervisor = desk.client()
    login(supervisor, "lan")
    page = supervisor.get(f"/console/tickets/{tid}")
    assert "0912 345 678" in page.text, "staff handling the ticket see what the person wrote"
    assert SENDER not in page.text, "platform ids are always masked"
    supervisor.get(f"/console/tickets/{tid}/live")
    export = supervisor.get(f"/console/tickets/{tid}/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    assert "0912" not in export.text and "012345678901" not in export.text and SENDER not in export.text
    assert "[sđt]" in export.text and "[số giấy tờ]" in export.text
    actions = [a for w, a in _audit(desk, tid) if w == "lan"]
    assert actions == ["view_transcript", "view_transcript", "export_transcript"]
    queue = supervisor.get("/console/").text
    assert "0912" not in queue, "queue previews are masked"


def test_user_text_is_escaped(desk: Desk) -> None:
    tid = desk.ticket(text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    client = desk.client()
    login(client, "minh")
    for path in (f"/console/tickets/{tid}", "/console/", "/console/queue/rows"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in client.get(f"/console/tickets/{tid}").text


def test_purge_removes_old_resolved_tickets_and_audits(desk: Desk, clock: Clock) -> None:
    old = desk.ticket(sender="old")
    desk.store.close_ticket(old, "minh")
    desk.store.mark_resumed(old)
    desk.outbox.enqueue("zalo", "old", {"text": "cũ"})
    keep = desk.ticket(sender="open")
    clock.advance(days=31)
    assert asyncio.run(desk.worker.purge_once()) == 1
    assert desk.store.get(old) is None and desk.store.get(keep) is not None
    assert ("system", "purge_resolved count=1") in _audit(desk)


def test_change_feed_tells_listeners_which_tickets_changed(desk: Desk, clock: Clock) -> None:
    async def scenario() -> list[dict[str, object]]:
        feed = ChangeFeed(desk.store)
        queue = feed.subscribe()
        assert await feed.poll_once() is False, "the first poll only sets the baseline"
        tid = desk.ticket(sender="live")
        assert await feed.poll_once() is True
        first = await queue.get()
        clock.advance(seconds=1)
        assert await feed.poll_once() is False
        desk.store.add_message(tid, "user", "tin mới")
        await feed.poll_once()
        second = await queue.get()
        feed.unsubscribe(queue)
        return [first, second, {"id": tid}]

    first, second, ids = asyncio.run(scenario())
    assert first["all"] is True, "a new ticket changes the count: full refresh"
    assert ids["id"] in second["tickets"]  # type: ignore[operator]


def test_supervisor_view_numbers_chart_and_audit(desk: Desk, clock: Clock) -> None:
    a = desk.ticket(sender="a", channel="zalo")
    clock.advance(minutes=2)
    desk.store.add_staff_reply(a, "minh", "Chào")  # first reply after 2 minutes
    clock.advance(days=1)
    desk.ticket(sender="b", channel="telegram")
    desk.ticket(sender="c", channel="telegram", priority="urgent")
    client = desk.client()
    login(client, "lan")
    page = client.get("/console/supervisor").text
    assert '<p class="big">3</p>' in page, "three open tickets"
    assert '<p class="big" id="avg-first-reply">2 phút</p>' in page
    assert "Telegram: <strong>2</strong>" in page and "Zalo: <strong>1</strong>" in page
    bars = page.count('<rect class="bar ')
    assert bars == 2, "one bar segment per channel and day: zalo yesterday, telegram today"
    assert "2 ca qua telegram" in page and "1 ca qua zalo" in page
    assert "<code>staff_reply</code>" in page and "<code>login</code>" in page, "the audit log is shown"


def test_tokens_never_reach_the_logs(desk: Desk, rasa: FakeHttp, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    with FakeHttp() as telegram:
        desk.worker.notifier = TelegramNotifier(telegram.url, "123:secret-bot-token", "-100200")
        tid = desk.ticket(text="em bị giữ, sđt 0912 345 678")
        asyncio.run(desk.worker.notify_once())
        ticket, _ = desk.store.close_ticket(tid, "minh")
        assert asyncio.run(desk.worker.resume_ticket(ticket)) is None
    assert "HTTP Request" in caplog.text, "the check must see httpx's own request lines"
    for secret in (RASA_TOKEN, "secret-bot-token", SENDER, "0912 345 678"):
        assert secret not in caplog.text


def test_a_broken_database_gives_staff_a_clear_page(tmp_path: Path, clock: Clock) -> None:
    from starlette.testclient import TestClient

    from helpline.handoff import HandoffStore
    from helpline.handoff.service import create_app
    from helpline.settings import Settings

    broken = HandoffStore.from_url(f"sqlite:///{tmp_path}")  # a folder is no database
    client = TestClient(create_app(Settings(data_dir=tmp_path, staff_token="x" * 20), broken), follow_redirects=False)
    response = client.get("/console/login")
    assert response.status_code == 200, "the login page needs no database"
    client.cookies.set("helpline_session", "anything", path="/console")
    response = client.get("/console/")
    assert response.status_code == 503 and "111" in response.text


def test_a_change_right_after_a_page_connects_is_not_taken_as_the_baseline(desk: Desk, clock: Clock) -> None:
    # The page refreshes everything on "hello"; a message written before the feed's next poll must
    # still be published, or the agent would not see it until they reload.
    tid = desk.ticket(sender="connecting")

    async def scenario() -> dict[str, object]:
        feed = ChangeFeed(desk.store)
        queue = feed.subscribe()
        await feed.ensure_baseline()  # what the SSE stream does before it says hello
        clock.advance(seconds=1)
        desk.store.add_message(tid, "user", "tin nhắn ngay lúc trang vừa mở")
        assert await feed.poll_once() is True
        event = await queue.get()
        feed.unsubscribe(queue)
        return event

    assert tid in asyncio.run(scenario())["tickets"]  # type: ignore[operator]


def test_the_console_shows_waiting_and_claimed_and_the_safety_answer(desk: Desk) -> None:
    tid = desk.ticket()
    client = desk.client()
    login(client, "minh")
    queue = client.get("/console/").text
    assert 'class="badge waiting"' in queue and 'class="badge claimed"' not in queue
    page = client.get(f"/console/tickets/{tid}").text
    assert "trợ lý tự động vẫn trả lời" in page and "Chưa hỏi" in page
    desk.store.answer_safety(tid, "unsafe", "[bấm nút] Không an toàn")
    assert post_form(client, tid, "claim").endswith("msg=claimed")
    queue = client.get("/console/").text
    assert 'class="badge claimed"' in queue and 'class="badge waiting"' not in queue
    page = client.get(f"/console/tickets/{tid}").text
    assert "trợ lý tự động đã dừng" in page and 'class="safety-unsafe">Không an toàn' in page
    # A second claim (by the holder) tells the person nothing new.
    assert post_form(client, tid, "claim").endswith("msg=claimed")
    assert [m.message["text"] for m in desk.outbox.list()] == [replies.STAFF_TOOK_OVER]
    ticket = desk.store.get(tid)
    assert ticket is not None and [m.text for m in ticket.messages].count(replies.STAFF_TOOK_OVER) == 1
