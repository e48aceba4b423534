"""Editing the handbook from the console: drafts, the build's validation, four eyes, write-back.

A change (edit, create or retire an entry) is a draft until a *second* person approves it: another
editor, or a supervisor. Before a draft is saved and again before it is written, the whole
handbook with the change applied goes through the build's own validation
(:func:`helpline.kb.entries.load_entries` on a copy), so the console shows the same problems as
``make kb-validate``. An approved change is written to ``knowledge_base/faq/<topic>.yml`` by
:mod:`helpline.kb.yaml_edit` (only the change shows in ``git diff``), with its diff kept as the
entry's history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline.db import Database, from_db_ts
from helpline.errors import KnowledgeBaseError
from helpline.handoff.models import utc_now
from helpline.handoff.schema import DRAFT_KINDS
from helpline.kb import yaml_edit
from helpline.kb.entries import ID_PATTERN, Entry, load_entries

APPROVER_ROLES = ("editor", "supervisor")
MAX_FIELD = 4000
MAX_ITEMS = 60


class DraftRefused(ValueError):
    """A draft that cannot be saved or approved, with the reasons (Vietnamese or the build's own)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Draft:
    id: int
    entry_id: str
    kind: str
    topic: str
    values: dict[str, Any]
    note: str
    author: str
    status: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    diff: str | None


def approval_problem(draft_author: str, approver: str, approver_role: str) -> str | None:
    """Why this person may not approve this draft (four eyes), or None if they may."""
    if approver_role not in APPROVER_ROLES:
        return "Chỉ biên tập viên hoặc giám sát viên mới được duyệt thay đổi."
    if approver == draft_author:
        return "Không tự duyệt thay đổi của chính mình: cần một biên tập viên khác hoặc giám sát viên duyệt."
    return None


def entry_values(entry: Entry) -> dict[str, Any]:
    """An entry's editable fields, as a draft stores them."""
    return {"question": entry.question, "answer": entry.answer, "more": entry.more,
            "legal_basis": list(entry.legal_basis), "law_version": entry.law_version,
            "last_checked": entry.last_checked.isoformat(), "old_rules": entry.old_rules,
            "paraphrases": list(entry.paraphrases)}


def values_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Draft values from the edit form; one list item per line. Raises DraftRefused on malformed input."""
    problems = []

    def lines(name: str) -> list[str]:
        items = [line.strip() for line in form.get(name, "").replace("\r", "").split("\n") if line.strip()]
        if len(items) > MAX_ITEMS:
            problems.append(f"{name}: tối đa {MAX_ITEMS} dòng")
        return items[:MAX_ITEMS]

    values: dict[str, Any] = {}
    for name in ("question", "answer", "more", "law_version"):
        text = form.get(name, "").replace("\r", "").strip()
        if len(text) > MAX_FIELD:
            problems.append(f"{name}: quá dài (tối đa {MAX_FIELD} ký tự)")
        values[name] = text
    values["legal_basis"] = lines("legal_basis")
    values["paraphrases"] = lines("paraphrases")
    values["old_rules"] = form.get("old_rules") in ("1", "on", "true")
    checked = form.get("last_checked", "").strip()
    try:
        values["last_checked"] = dt.date.fromisoformat(checked).isoformat()
    except ValueError:
        problems.append("Ngày kiểm tra lại phải có dạng NNNN-TT-NN (ví dụ 2026-12-01).")
        values["last_checked"] = checked
    if problems:
        raise DraftRefused(problems)
    return values


def _changed_text(faq_dir: Path, kind: str, entry_id: str, topic: str, values: Mapping[str, Any]) -> tuple[Path, str]:
    """The file the change goes to and its new text."""
    path = faq_dir / f"{topic}.yml"
    if kind == "create":
        text = path.read_text(encoding="utf-8") if path.is_file() else yaml_edit.new_topic_file(topic, topic)
        return path, yaml_edit.add_entry(text, entry_id, values)
    text = path.read_text(encoding="utf-8")
    if kind == "retire":
        return path, yaml_edit.remove_entry(text, entry_id)
    return path, yaml_edit.edit_entry(text, entry_id, values)


def check_change(faq_dir: Path, kind: str, entry_id: str, topic: str, values: Mapping[str, Any]) -> list[str]:
    """The build's validation problems of the whole handbook with this change applied ([] when fine)."""
    if kind not in DRAFT_KINDS:
        return [f"unknown kind {kind!r}"]
    if not ID_PATTERN.match(entry_id or ""):
        return ["Mã câu hỏi (id) chỉ gồm chữ thường không dấu, số và dấu '-' (ví dụ: bao-tin-moi)."]
    if not re.fullmatch(r"[a-z0-9-]{1,40}", topic or ""):
        return ["Chủ đề không hợp lệ."]
    try:
        path, new_text = _changed_text(faq_dir, kind, entry_id, topic, values)
    except KeyError:
        return [f"Không có câu hỏi {entry_id!r} trong {topic}.yml."]
    except (ValueError, OSError) as exc:
        return [str(exc)]
    with tempfile.TemporaryDirectory(prefix="kb-check-") as tmp:
        copy = Path(tmp) / "faq"
        shutil.copytree(faq_dir, copy)
        numbers = faq_dir.parent / "verified_numbers.yml"
        (copy / path.name).write_text(new_text, encoding="utf-8")
        try:
            load_entries(copy, numbers if numbers.is_file() else None)
        except KnowledgeBaseError as exc:
            return [p for p in exc.problems if _about(p, entry_id, path.name)] or list(exc.problems)
    return []


def _about(problem: str, entry_id: str, file_name: str) -> bool:
    """Problems that concern the changed entry (others existed before and are not this editor's doing)."""
    return f"[{entry_id}]" in problem or f"'{entry_id}'" in problem or problem.startswith(f"{file_name}:")


class Drafts:
    """Drafts and their history in ``kb_drafts`` (handoff database); the handbook files under ``faq_dir``."""

    def __init__(self, database: Database, faq_dir: Path, now: Callable[[], dt.datetime] = utc_now) -> None:
        self._db = database
        self._d = database.dialect
        self.faq_dir = faq_dir
        self._now = now

    def propose(self, author: str, kind: str, entry_id: str, topic: str, values: Mapping[str, Any],
                note: str = "") -> Draft:
        """Save a draft after the build's validation; raises DraftRefused with the problems."""
        problems = check_change(self.faq_dir, kind, entry_id, topic, values)
        if problems:
            raise DraftRefused(problems)
        with self._db.transaction("save a handbook draft") as q:
            draft_id = q.insert(
                "INSERT INTO kb_drafts (entry_id, kind, topic, payload, note, author, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'draft', ?)",
                (entry_id, kind, topic, json.dumps(dict(values), ensure_ascii=False), note[:500], author,
                 self._d.ts(self._now())))
        draft = self.get(draft_id)
        assert draft is not None
        return draft

    def get(self, draft_id: int) -> Draft | None:
        rows = self._select("WHERE id = ?", (draft_id,))
        return rows[0] if rows else None

    def pending(self) -> list[Draft]:
        return self._select("WHERE status = 'draft'", ())

    def history(self, entry_id: str) -> list[Draft]:
        return self._select("WHERE entry_id = ?", (entry_id,))

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Draft]:
        with self._db.transaction("read handbook drafts", write=False) as q:
            rows = q.all("SELECT id, entry_id, kind, topic, payload, note, author, status, created_at, decided_by, "
                         f"decided_at, diff FROM kb_drafts {where} ORDER BY id DESC LIMIT 200", params)
        return [Draft(int(r[0]), r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], from_db_ts(r[8]), r[9],
                      from_db_ts(r[10]) if r[10] is not None else None, r[11]) for r in rows]

    def approve(self, draft_id: int, approver: str, approver_role: str) -> Draft:
        """Four eyes, validation again against today's files, then write the file; returns the approved draft."""
        draft = self.get(draft_id)
        if draft is None or draft.status != "draft":
            raise DraftRefused(["Bản nháp này không còn chờ duyệt."])
        problem = approval_problem(draft.author, approver, approver_role)
        if problem:
            raise DraftRefused([problem])
        problems = check_change(self.faq_dir, draft.kind, draft.entry_id, draft.topic, draft.values)
        if problems:
            raise DraftRefused(problems)
        path, new_text = _changed_text(self.faq_dir, draft.kind, draft.entry_id, draft.topic, draft.values)
        old_text = path.read_text(encoding="utf-8") if path.is_file() else ""
        diff = "".join(difflib.unified_diff(old_text.splitlines(True), new_text.splitlines(True),
                                            f"a/{path.name}", f"b/{path.name}"))
        with self._db.transaction("approve a handbook draft") as q:
            if not q.run("UPDATE kb_drafts SET status = 'approved', decided_by = ?, decided_at = ?, diff = ? "
                         "WHERE id = ? AND status = 'draft'", (approver, self._d.ts(self._now()), diff, draft_id)):
                raise DraftRefused(["Bản nháp này không còn chờ duyệt."])
            _write_atomic(path, new_text)
        return dataclasses.replace(draft, status="approved", decided_by=approver, diff=diff)

    def reject(self, draft_id: int, who: str, who_role: str) -> bool:
        if who_role not in APPROVER_ROLES:
            return False
        with self._db.transaction("reject a handbook draft") as q:
            return bool(q.run("UPDATE kb_drafts SET status = 'rejected', decided_by = ?, decided_at = ? "
                              "WHERE id = ? AND status = 'draft'", (who, self._d.ts(self._now()), draft_id)))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
