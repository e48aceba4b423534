"""Console pages for the handbook's editors: unanswered questions, entry editing, drafts, publishing.

Editors and supervisors only (agents never see these pages, editors never see tickets). Every
action is in the audit log. Core logic lives in :mod:`helpline.kb.unanswered`,
:mod:`helpline.kb.editing` and :mod:`helpline.kb.publish`; this module is the web adapter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from helpline import replies
from helpline.channels import facebook, telegram, zalo
from helpline.channels.messages import reply_from_message
from helpline.channels.zalo_format import zalo_parts
from helpline.console.auth import staff_only
from helpline.console.web import ConsoleContext, render
from helpline.errors import HelplineError
from helpline.kb.editing import DraftRefused, Drafts, check_change, entry_values, values_from_form
from helpline.kb.entries import REVIEW_AFTER_DAYS, Entry, load_entries
from helpline.kb.index import current_index_path, load_index
from helpline.kb.publish import Publisher
from helpline.kb.unanswered import Group, LearningLog, group_questions

EDITORS = ("editor", "supervisor")
_ENTRY_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+){0,12}$")
EDITOR_FLASH = {
    "saved": ("ok", "Đã lưu bản nháp. Thay đổi chỉ có hiệu lực khi một biên tập viên khác hoặc giám sát viên duyệt."),
    "approved": ("ok", "Đã duyệt và ghi vào sổ tay. Đang xây lại chỉ mục tìm kiếm (xem tiến độ bên dưới)."),
    "rejected": ("ok", "Đã từ chối bản nháp."),
    "handled": ("ok", "Đã ghi nhận: nhóm câu hỏi này được đánh dấu là ngoài phạm vi."),
    "paraphrase": ("ok", "Đã tạo bản nháp thêm cách hỏi. Cần người thứ hai duyệt."),
    "refused": ("error", "Không thực hiện được. Xem lý do bên dưới."),
    "publishing": ("ok", "Đang xây lại chỉ mục tìm kiếm từ các tệp hiện có (xem tiến độ bên dưới)."),
}


@dataclass(frozen=True)
class PreviewPart:
    text: str
    buttons: tuple[str, ...]


def channel_preview(entry: Entry) -> list[tuple[str, list[PreviewPart]]]:
    """How the answer looks on each channel: the real message mappers, split points and buttons included."""
    text, buttons = replies.faq_answer(entry)
    message = {"text": text, "buttons": [b.as_dict() for b in buttons]}
    out: list[tuple[str, list[PreviewPart]]] = []
    bodies, _ = zalo.request_bodies("preview", message)
    out.append(("Zalo OA", [PreviewPart(b["message"]["text"], tuple(
        x["title"] for x in b["message"].get("attachment", {}).get("payload", {}).get("buttons", [])))
        for b in bodies]))
    parts = zalo_parts(reply_from_message(message, "zalobot"), native_buttons=False)
    out.append(("Zalo Bot", [PreviewPart(p.text, ()) for p in parts]))
    objects, _ = facebook.message_objects(message)
    out.append(("Messenger", [PreviewPart(o.get("text", ""), tuple(q["title"] for q in o.get("quick_replies", [])))
                              for o in objects]))
    calls = telegram.requests_for("preview", message)
    out.append(("Telegram", [PreviewPart(p.get("text", ""), tuple(
        row[0]["text"] for row in p.get("reply_markup", {}).get("inline_keyboard", []))) for _, p in calls]))
    return out


def entry_from_values(entry_id: str, topic: str, values: dict[str, Any]) -> Entry:
    try:
        checked = dt.date.fromisoformat(str(values.get("last_checked")))
    except ValueError:
        checked = dt.date.today()
    return Entry(entry_id, topic, str(values.get("question", "")), str(values.get("answer", "")),
                 tuple(values.get("legal_basis") or ()), str(values.get("law_version", "")), checked,
                 tuple(values.get("paraphrases") or ()), str(values.get("more", "")), bool(values.get("old_rules")))


class EditorServices:
    """What the editor pages share: the learning log, drafts, the publisher, the handbook as it is now."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.log = LearningLog(ctx.store.database)
        self.drafts = Drafts(ctx.store.database, ctx.settings.kb_dir)
        self.publisher = Publisher(env={"HELPLINE_KB_DIR": str(ctx.settings.kb_dir),
                                        "HELPLINE_INDEX_DIR": str(ctx.settings.index_dir)},
                                   on_done=self._built)
        self._lock = threading.Lock()

    def _built(self, status: Any) -> None:
        line = "kb_publish ok" if status.state == "ok" else "kb_publish failed"
        self.ctx.store.audit("console", f"{line} ({status.reason})")

    @cached_property
    def embedder(self) -> Any:
        from helpline.kb.embedder import Embedder

        s = self.ctx.settings
        return Embedder(s.embed_model, query_prefix=s.embed_query_prefix, doc_prefix=s.embed_doc_prefix)

    def entries(self) -> dict[str, Entry]:
        """The handbook files as they are (the index's copy if a file is broken)."""
        try:
            return {e.id: e for e in load_entries(self.ctx.settings.kb_dir)}
        except HelplineError:
            return dict(load_index(current_index_path(self.ctx.settings.index_dir)).entries)

    def groups(self) -> list[Group]:
        rows = self.log.open_questions()
        try:
            with self._lock:
                return group_questions(rows, self.embedder)
        except Exception:  # no model: group by identical text only
            return group_questions(rows, None)


def _ids(raw: str) -> list[int]:
    return [int(x) for x in raw.split(",") if x.strip().isdigit()][:500]


def routes(ctx: ConsoleContext) -> list[Route]:
    svc = EditorServices(ctx)

    def me(request: Request) -> Any:
        return request.state.staff.user

    async def audit(request: Request, action: str) -> None:
        await asyncio.to_thread(ctx.store.audit, me(request).username, action)

    @staff_only(ctx, role=EDITORS)
    async def home(request: Request) -> Response:
        entries = await asyncio.to_thread(svc.entries)
        today = dt.date.today()
        due = sorted((e for e in entries.values() if e.review_due(today)), key=lambda e: e.last_checked)
        pending = await asyncio.to_thread(svc.drafts.pending)
        unanswered = await asyncio.to_thread(svc.log.open_questions)
        await audit(request, "view_editor")
        return await render(ctx, request, "editor_home.html", due=due, pending=pending, entries=entries,
                            unanswered=len(unanswered), build=svc.publisher.status, review_days=REVIEW_AFTER_DAYS,
                            flash=EDITOR_FLASH.get(request.query_params.get("msg", "")),
                            problems=request.query_params.getlist("p")[:12])

    @staff_only(ctx, role=EDITORS)
    async def unanswered_page(request: Request) -> Response:
        groups = await asyncio.to_thread(svc.groups)
        entries = await asyncio.to_thread(svc.entries)
        await audit(request, "view_unanswered")
        return await render(ctx, request, "editor_unanswered.html", groups=groups, entries=entries,
                            flash=EDITOR_FLASH.get(request.query_params.get("msg", "")),
                            problems=request.query_params.getlist("p")[:12])

    @staff_only(ctx, role=EDITORS)
    async def unanswered_action(request: Request) -> Response:
        form = request.state.form
        ids = _ids(form.get("ids", ""))
        action = form.get("action", "")
        user = me(request)
        if not ids:
            return RedirectResponse("/console/editor/unanswered", 303)
        if action == "out_of_scope":
            n = await asyncio.to_thread(svc.log.handle, ids, "out_of_scope", user.username)
            await audit(request, f"kb_unanswered out_of_scope n={n}")
            return RedirectResponse("/console/editor/unanswered?msg=handled", 303)
        texts = await asyncio.to_thread(svc.log.texts, ids)
        if not texts:
            return RedirectResponse("/console/editor/unanswered", 303)
        if action == "draft":
            await asyncio.to_thread(svc.log.handle, ids, "draft", user.username)
            await audit(request, f"kb_unanswered draft_new n={len(ids)}")
            return RedirectResponse("/console/editor/new?" + urlencode({"question": texts[0]}), 303)
        if action == "paraphrase":
            entry_id = form.get("entry_id", "").strip()
            entries = await asyncio.to_thread(svc.entries)
            entry = entries.get(entry_id) if _ENTRY_ID.match(entry_id) else None
            if entry is None:
                return RedirectResponse("/console/editor/unanswered?" + urlencode(
                    {"msg": "refused", "p": f"Không có câu hỏi mã {entry_id!r}."}), 303)
            values = entry_values(entry)
            values["paraphrases"] = [*values["paraphrases"], texts[0]]
            try:
                draft = await asyncio.to_thread(svc.drafts.propose, user.username, "edit", entry.id, entry.topic,
                                                values, "Thêm cách hỏi từ câu hỏi chưa trả lời được")
            except DraftRefused as exc:
                return RedirectResponse("/console/editor/unanswered?" + urlencode(
                    [("msg", "refused"), *(("p", p) for p in exc.problems)]), 303)
            await asyncio.to_thread(svc.log.handle, ids, "paraphrase", user.username)
            await audit(request, f"kb_unanswered paraphrase entry={entry.id} n={len(ids)} draft=#{draft.id}")
            return RedirectResponse("/console/editor?msg=paraphrase", 303)
        return RedirectResponse("/console/editor/unanswered", 303)

    @staff_only(ctx, role=EDITORS)
    async def entries_page(request: Request) -> Response:
        entries = await asyncio.to_thread(svc.entries)
        topics: dict[str, list[Entry]] = {}
        for e in sorted(entries.values(), key=lambda e: (e.topic, e.id)):
            topics.setdefault(e.topic, []).append(e)
        return await render(ctx, request, "editor_entries.html", topics=topics)

    async def edit_form(request: Request, entry_id: str, topic: str, values: dict[str, Any], *, new: bool,
                        problems: list[str] | None = None, checked: bool = False, status: int = 200) -> Response:
        history = await asyncio.to_thread(svc.drafts.history, entry_id) if not new else []
        preview = channel_preview(entry_from_values(entry_id, topic, values))
        entries = await asyncio.to_thread(svc.entries)
        return await render(ctx, request, "editor_entry.html", status, entry_id=entry_id, topic=topic, values=values,
                            new=new, problems=problems or [], checked=checked, preview=preview, history=history,
                            topics=sorted({e.topic for e in entries.values()}))

    async def entry_in_path(request: Request) -> Entry | Response:
        """The handbook entry named in the path, or the 404 page."""
        entry_id = request.path_params["entry_id"]
        entries = await asyncio.to_thread(svc.entries)
        entry = entries.get(entry_id) if _ENTRY_ID.match(entry_id) else None
        if entry is None:
            return await render(ctx, request, "error.html", 404, title="Không tìm thấy",
                                text="Không có câu hỏi này trong sổ tay.")
        return entry

    @staff_only(ctx, role=EDITORS)
    async def entry_page(request: Request) -> Response:
        entry = await entry_in_path(request)
        if not isinstance(entry, Entry):
            return entry
        return await edit_form(request, entry.id, entry.topic, entry_values(entry), new=False)

    async def save(request: Request, entry_id: str, topic: str, new: bool) -> Response:
        form = request.state.form
        user = me(request)
        action = form.get("action", "check")
        try:
            values = values_from_form(form)
        except DraftRefused as exc:
            return await edit_form(request, entry_id, topic, dict(form), new=new, problems=exc.problems, status=400)
        kind = "create" if new else "retire" if action == "retire" else "edit"
        if action == "check":
            problems = await asyncio.to_thread(check_change, ctx.settings.kb_dir, kind, entry_id, topic, values)
            return await edit_form(request, entry_id, topic, values, new=new, problems=problems, checked=True)
        try:
            draft = await asyncio.to_thread(svc.drafts.propose, user.username, kind, entry_id, topic, values,
                                            form.get("note", ""))
        except DraftRefused as exc:
            return await edit_form(request, entry_id, topic, values, new=new, problems=exc.problems, status=400)
        await audit(request, f"kb_draft {kind} entry={entry_id} draft=#{draft.id}")
        return RedirectResponse("/console/editor?msg=saved", 303)

    @staff_only(ctx, role=EDITORS)
    async def entry_post(request: Request) -> Response:
        entry = await entry_in_path(request)
        if not isinstance(entry, Entry):
            return entry
        return await save(request, entry.id, entry.topic, new=False)

    @staff_only(ctx, role=EDITORS)
    async def new_page(request: Request) -> Response:
        question = request.query_params.get("question", "")[:500]
        values = {"question": question, "answer": "", "more": "", "legal_basis": [], "law_version": "",
                  "last_checked": dt.date.today().isoformat(), "old_rules": False, "paraphrases": []}
        return await edit_form(request, "", request.query_params.get("topic", ""), values, new=True)

    @staff_only(ctx, role=EDITORS)
    async def new_post(request: Request) -> Response:
        form = request.state.form
        entry_id, topic = form.get("entry_id", "").strip(), form.get("topic", "").strip()
        return await save(request, entry_id, topic, new=True)

    @staff_only(ctx, role=EDITORS)
    async def decide(request: Request) -> Response:
        raw = request.path_params["draft_id"]
        if not raw.isdigit() or len(raw) > 12:
            return RedirectResponse("/console/editor", 303)
        user = me(request)
        if request.path_params["decision"] not in ("approve", "reject"):
            return RedirectResponse("/console/editor", 303)
        if request.path_params["decision"] == "reject":
            if await asyncio.to_thread(svc.drafts.reject, int(raw), user.username, user.role):
                await audit(request, f"kb_draft rejected draft=#{raw}")
            return RedirectResponse("/console/editor?msg=rejected", 303)
        try:
            draft = await asyncio.to_thread(svc.drafts.approve, int(raw), user.username, user.role)
        except DraftRefused as exc:
            await audit(request, f"kb_draft approve_refused draft=#{raw}")
            return RedirectResponse("/console/editor?" + urlencode(
                [("msg", "refused"), *(("p", p) for p in exc.problems)]), 303)
        await audit(request, f"kb_draft approved {draft.kind} entry={draft.entry_id} draft=#{draft.id}")
        svc.publisher.request(f"bản nháp #{draft.id}")
        return RedirectResponse("/console/editor?msg=approved", 303)

    @staff_only(ctx, role=EDITORS)
    async def publish(request: Request) -> Response:
        """Rebuild the index from the files as they are (e.g. after content came in through git)."""
        await audit(request, "kb_publish requested")
        svc.publisher.request(f"yêu cầu của {me(request).username}")
        return RedirectResponse("/console/editor?msg=publishing", 303)

    return [
        Route("/console/editor", home, methods=["GET"]),
        Route("/console/editor/publish", publish, methods=["POST"]),
        Route("/console/editor/unanswered", unanswered_page, methods=["GET"]),
        Route("/console/editor/unanswered", unanswered_action, methods=["POST"]),
        Route("/console/editor/entries", entries_page, methods=["GET"]),
        Route("/console/editor/entries/{entry_id}", entry_page, methods=["GET"]),
        Route("/console/editor/entries/{entry_id}", entry_post, methods=["POST"]),
        Route("/console/editor/new", new_page, methods=["GET"]),
        Route("/console/editor/new", new_post, methods=["POST"]),
        Route("/console/editor/drafts/{draft_id}/{decision:str}", decide, methods=["POST"]),
    ]
