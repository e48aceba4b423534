"""Issue 13, identity: nobody can act as someone else (on the real stack, tests/hardened.py).

A conversation is ``<channel>:<platform id>``: the REST channel's free-chosen ``sender`` can
never name a Telegram user's conversation, a web chat is identified by a server-signed session
token, a user cannot type intents the bot did not offer, ``/restart`` cannot end a handoff, and
the REST and web channels refuse other origins, text/plain bodies, remote clients and floods.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from helpline import replies
from helpline.handoff import HandoffStore, Ticket
from helpline.stack import PROJECT_ROOT, RASA_VENV
from tests.fakes.webhooks import new_mid, new_sender, signed, text_event
from tests.hardened import Hardened, until

_n = itertools.count(int(time.time() * 10) % 1_000_000 + 500_000)
DANGER = "cuu toi voi, toi bi nhot o Campuchia"
ASK_HUMAN = "tôi muốn gặp nhân viên"
DELETE = "xóa dữ liệu của tôi"


def ip() -> str:
    return f"127.13.{next(_n) % 250}.{next(_n) % 250}"


def tg_say(hard: Hardened, user: str, text: str) -> httpx.Response:
    return hard.webhook("telegram", *signed("telegram", text_event("telegram", user, new_mid("telegram", next(_n)),
                                                                   text)))


def tickets_of(hard: Hardened, channel: str, platform_id: str) -> list[Ticket]:
    """Open tickets of one person, whatever the key format (so the check means the same on any code)."""
    store = HandoffStore.from_url(hard.direct_db_url)
    return [t for t in store.list_tickets("open", limit=1000)
            if t.channel == channel and t.sender_id in (platform_id, f"{channel}:{platform_id}")]


def full(hard: Hardened, ticket: Ticket) -> Ticket:
    found = HandoffStore.from_url(hard.direct_db_url).get(ticket.id)
    assert found is not None
    return found


def texts(response: httpx.Response) -> str:
    body = response.json()
    return "\n".join(m.get("text", "") for m in body) if isinstance(body, list) else ""


def staff_reply(hard: Hardened, ticket_id: int, text: str) -> None:
    console = hard.console("agent")
    page = console.get(f"/console/tickets/{ticket_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    sent = console.post(f"/console/tickets/{ticket_id}/reply", data={"text": text, "csrf_token": token.group(1)})
    assert sent.status_code == 303 and sent.headers["location"].endswith("msg=sent"), sent.text[:300]


@pytest.fixture(scope="module", autouse=True)
def warm(hardened: Hardened) -> None:
    """The action server loads its model on the first call: wait until the bot answers normally."""
    until(lambda: replies.SERVICE_FALLBACK not in hardened.rest_text(f"warm-{uuid.uuid4().hex[:8]}", "xin chào"),
          180, "the bot answers normally")


# -- web chat sessions --------------------------------------------------------------------------

def web_session(hard: Hardened, address: str | None = None) -> str:
    response = hard.http.post(f"{hard.rasa}/webhooks/web/session", json={},
                              headers={"X-Real-IP": address or ip()})
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return str(response.json()["token"])


def web_say(hard: Hardened, token: str, text: str, address: str | None = None) -> httpx.Response:
    return hard.http.post(f"{hard.rasa}/webhooks/web/webhook", json={"message": text},
                          headers={"Authorization": f"Bearer {token}", "X-Real-IP": address or ip()})


def web_poll(hard: Hardened, token: str) -> httpx.Response:
    return hard.http.get(f"{hard.rasa}/webhooks/web/messages",
                         headers={"Authorization": f"Bearer {token}", "X-Real-IP": ip()})


def test_a_staff_reply_reaches_only_the_web_session_that_holds_the_token(hardened: Hardened) -> None:
    hard = hardened
    mine, other = web_session(hard), web_session(hard)
    session_id = mine.split(".")[1]
    first = web_say(hard, mine, ASK_HUMAN)
    assert first.status_code == 200 and replies.HANDOFF_REQUESTED in texts(first), first.text[:500]
    ticket = until(lambda: tickets_of(hard, "web", session_id), 30, "the web ticket")[0]
    assert ticket.sender_id == f"web:{session_id}"
    secret = f"Chào bạn, nhân viên đây {uuid.uuid4().hex[:6]}"
    staff_reply(hard, ticket.id, secret)
    time.sleep(1.5)
    # Another session, and REST senders naming the session id, get nothing of it.
    assert secret not in texts(web_poll(hard, other)) and secret not in texts(web_say(hard, other, "xin chào"))
    for sender in (session_id, f"web:{session_id}", mine):
        assert secret not in texts(hard.rest(sender, "xin chào")), sender
    # The holder of the token gets it, exactly once.
    got = web_poll(hard, mine)
    assert got.status_code == 200 and secret in texts(got), got.text[:500]
    assert secret not in texts(web_poll(hard, mine))


def test_web_session_tokens_forged_expired_or_tampered_get_401(hardened: Hardened) -> None:
    from helpline.websession import WebSessions

    hard = hardened
    good = web_session(hard)
    assert web_say(hard, good, "xin chào").status_code == 200
    version, sid, expires, signature = good.split(".")
    flipped = sid[:-1] + ("A" if sid[-1] != "A" else "B")
    secret = (Path(hard.stack.env["HELPLINE_DATA_DIR"]) / "web_session_secret").read_bytes().strip()
    expired, _ = WebSessions(secret, ttl_seconds=1, clock=lambda: time.time() - 3600).issue(sid)
    bad = {
        "tampered session id": f"{version}.{flipped}.{expires}.{signature}",
        "extended expiry": f"{version}.{sid}.{int(expires) + 86400}.{signature}",
        "forged signature": f"{version}.{sid}.{expires}.{'A' * len(signature)}",
        "someone else's secret": WebSessions(b"x" * 48).issue(sid)[0],
        "expired": expired,
        "garbage": "not-a-token",
    }
    for what, token in bad.items():
        response = web_say(hard, token, "xin chào")
        assert response.status_code == 401, (what, response.status_code, response.text[:200])
        assert web_poll(hard, token).status_code == 401, what
    unsigned = hard.http.post(f"{hard.rasa}/webhooks/web/webhook", json={"message": "xin chào"},
                              headers={"X-Real-IP": ip()})
    assert unsigned.status_code == 401


# -- one identity across channels -------------------------------------------------------------

def test_a_rest_sender_equal_to_a_telegram_id_cannot_read_append_to_or_delete_that_conversation(
        hardened: Hardened) -> None:
    hard, tg = hardened, hardened.platforms["telegram"]
    user = new_sender("telegram", next(_n))
    assert tg_say(hard, user, DANGER).status_code == 200
    tg.wait_texts(user, 2)
    ticket = until(lambda: tickets_of(hard, "telegram", user), 30, "the Telegram ticket")[0]
    lines_before = len(full(hard, ticket).messages)
    marker = f"zq{uuid.uuid4().hex[:6]}"

    address = ip()
    appended = hard.rest(user, f"xin chào {marker}", ip=address)
    assert appended.status_code == 200
    asked = hard.rest(user, DELETE, ip=address)
    offered = [b.get("payload") for m in asked.json() for b in m.get("buttons") or []]
    assert asked.status_code == 200 and "/affirm" in offered, asked.text[:500]
    deleted = hard.rest(user, "/affirm", ip=address)  # offered to the REST sender: its own data goes
    assert replies.DATA_DELETED in texts(deleted), deleted.text[:500]

    still = tickets_of(hard, "telegram", user)
    assert [t.id for t in still] == [ticket.id], "the Telegram ticket survived"
    assert all(marker not in m.text for m in full(hard, ticket).messages), "nothing was added to it"
    assert len(full(hard, ticket).messages) == lines_before
    tracker = hard.tracker(f"telegram:{user}")
    assert tracker["events"], "the Telegram conversation is whole"
    assert HandoffStore.from_url(hard.direct_db_url).open_ticket_state("telegram", f"telegram:{user}").waiting

    secret = f"Nhân viên trả lời {uuid.uuid4().hex[:6]}"
    staff_reply(hard, ticket.id, secret)
    until(lambda: secret in tg.texts_to(user), 30, "the staff reply reaches the Telegram user")
    assert secret not in texts(hard.rest(user, "co ai khong", ip=address)), "a REST sender never gets it"


def test_forged_intent_payloads_and_raw_emergency_from_many_senders_open_no_ticket(hardened: Hardened) -> None:
    hard = hardened
    forged = ["/emergency", '/emergency{"x": 1}', "  /ask_human", '/ask_faq{"faq_id": "khong-co"}']
    senders = [f"forge-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    for n, sender in enumerate(senders):
        response = hard.rest(sender, forged[n % len(forged)])
        assert response.status_code == 200, response.text[:300]
        assert replies.EMERGENCY_REPLY not in texts(response)
    token = web_session(hard)
    assert replies.EMERGENCY_REPLY not in texts(web_say(hard, token, "/emergency"))
    time.sleep(1.0)
    opened = [s for s in senders if tickets_of(hard, "rest", s)]
    assert opened == [], f"forged intents opened {len(opened)} tickets"
    assert not tickets_of(hard, "web", token.split(".")[1])
    for sender in senders[:2]:
        intents = [e.get("parse_data", {}).get("intent", {}).get("name") for e in hard.tracker(sender)["events"]
                   if e.get("event") == "user"]
        assert "emergency" not in intents and "ask_human" not in intents, intents


def test_restart_during_a_handoff_keeps_the_conversation_with_staff(hardened: Hardened) -> None:
    """A forged ``/restart`` cannot take a conversation back from the staff member who holds it."""
    hard, tg = hardened, hardened.platforms["telegram"]
    store = HandoffStore.from_url(hard.direct_db_url)
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    assert replies.HANDOFF_REQUESTED in hard.rest_text(sender, ASK_HUMAN)
    [ticket] = tickets_of(hard, "rest", sender)
    store.claim(ticket.id, "lan")
    after = hard.rest(sender, "/restart")
    assert after.status_code == 200 and texts(after) == "", "the bot stays silent: staff have it"
    greeted = hard.rest(sender, "xin chào")
    assert texts(greeted) == "", "the bot did not come back"
    assert tickets_of(hard, "rest", sender), "the ticket is still open"
    assert ("user", "restart") in [(m.author, m.text) for m in full(hard, ticket).messages], "staff see it"
    assert all("restart" not in (e.get("event") or "") for e in hard.tracker(sender)["events"])

    user = new_sender("telegram", next(_n))
    assert tg_say(hard, user, ASK_HUMAN).status_code == 200
    tg.wait_texts(user, 1)
    [held] = until(lambda: tickets_of(hard, "telegram", user), 30, "the Telegram ticket")
    store.claim(held.id, "lan")
    assert tg_say(hard, user, "/restart").status_code == 200
    until(lambda: ("user", "restart") in [(m.author, m.text) for m in full(hard, held).messages], 30,
          "the /restart went to staff")
    assert store.open_ticket_state("telegram", f"telegram:{user}").assigned_to == "lan"  # type: ignore[union-attr]
    assert all("restart" not in (e.get("event") or "") for e in hard.tracker(f"telegram:{user}")["events"])


# -- the REST and web channels' doors -----------------------------------------------------------

def test_rest_and_web_refuse_other_origins_text_plain_and_remote_clients(hardened: Hardened) -> None:
    hard = hardened
    url = f"{hard.rasa}/webhooks/rest/webhook"
    body = json.dumps({"sender": f"door-{uuid.uuid4().hex[:6]}", "message": "xin chào"})
    plain = hard.http.post(url, content=body, headers={"Content-Type": "text/plain", "X-Real-IP": ip()})
    assert plain.status_code == 415, "a cross-origin no-cors POST (text/plain) is refused"
    other_site = hard.http.post(url, content=body, headers={"Content-Type": "application/json", "X-Real-IP": ip(),
                                                           "Origin": "https://evil.example"})
    assert other_site.status_code == 403
    remote = hard.http.post(url, content=body, headers={"Content-Type": "application/json",
                                                       "X-Real-IP": "203.0.113.7"})
    assert remote.status_code == 403, "REST answers loopback clients only"
    assert hard.http.post(url, content=body, headers={"Content-Type": "application/json",
                                                      "X-Real-IP": ip()}).status_code == 200

    session = f"{hard.rasa}/webhooks/web/session"
    assert hard.http.post(session, content="{}", headers={"Content-Type": "text/plain",
                                                          "X-Real-IP": ip()}).status_code == 415
    assert hard.http.post(session, json={}, headers={"Origin": "https://evil.example",
                                                     "X-Real-IP": ip()}).status_code == 403
    token = web_session(hard)
    assert hard.http.post(f"{hard.rasa}/webhooks/web/webhook", content='{"message": "hi"}',
                          headers={"Content-Type": "text/plain", "Authorization": f"Bearer {token}",
                                   "X-Real-IP": ip()}).status_code == 415


def test_emergency_text_does_not_lift_limits_and_one_address_cannot_open_many_conversations(
        hardened: Hardened) -> None:
    hard = hardened
    address = ip()
    senders = [f"burst-{uuid.uuid4().hex[:8]}" for _ in range(14)]
    answers = [hard.rest(s, DANGER, ip=address) for s in senders]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "a burst of new senders from one address is capped"
    assert all("113" in texts(r) and "111" in texts(r) for r in refused)
    time.sleep(1.0)
    opened = [s for s in senders if tickets_of(hard, "rest", s)]
    assert len(opened) <= 10, f"{len(opened)} tickets from one address"

    one = f"flood-{uuid.uuid4().hex[:8]}"
    statuses = [hard.rest(one, f"{DANGER} {n}", ip=ip()) for n in range(24)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, "danger-looking text no longer skips the per-sender limit on REST"
    # Over the limit with a ticket open, the messages still reach staff, and the person is told so.
    assert all("113" in texts(r) and "111" in texts(r) for r in limited)

    web_address = ip()
    new = [hard.http.post(f"{hard.rasa}/webhooks/web/session", json={}, headers={"X-Real-IP": web_address})
           for _ in range(14)]
    assert [r.status_code for r in new].count(200) <= 10 and new[-1].status_code == 429
    assert "111" in texts(new[-1]) and "113" in texts(new[-1])


# -- channel health routes ----------------------------------------------------------------------

PROBE = """
import sys
from sanic import Sanic
from connectors.zalo import ZaloInput

async def on_new(message):
    return None

app = Sanic("zalo_probe")
channel = ZaloInput.from_credentials(None)
app.blueprint(channel.blueprint(on_new), url_prefix="/webhooks/zalo")
app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
"""


def test_a_disabled_channels_health_route_names_no_setting(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZALO_")}
    env.update(HELPLINE_DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'handoff.db'}",
               PYTHONPATH=str(PROJECT_ROOT), HELPLINE_CONFIG="/nonexistent.yml")
    log = tmp_path / "probe.log"
    with log.open("w") as out:
        probe = subprocess.Popen([str(RASA_VENV / "bin" / "python"), "-c", PROBE, str(port)], cwd=PROJECT_ROOT,
                                 env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def health() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/webhooks/zalo/", timeout=2)
            except httpx.HTTPError:
                return None

        response = until(health, 60, "the probe server")
        posted = httpx.post(f"http://127.0.0.1:{port}/webhooks/zalo/webhook", content=b"{}", timeout=5)
    finally:
        probe.terminate()
        probe.wait(10)
    assert response.json() == {"status": "disabled"}
    assert posted.status_code == 503 and "ZALO_" not in posted.text
    assert "ZALO_" in log.read_text(), "the operator still finds the missing names in the log"
