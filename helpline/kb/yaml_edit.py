"""Write an approved change back to ``knowledge_base/faq/<topic>.yml``, keeping everything else as it was.

ruamel.yaml's round-trip mode keeps key order, comments, quoting and block scalars; only the
fields whose value really changed are touched, and list items that stay keep their own quoting,
so ``git diff`` shows the change and nothing else.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

# The editable fields, in the order a new entry is written (as the handbook's files have them).
FIELDS: tuple[str, ...] = ("question", "answer", "more", "legal_basis", "law_version", "last_checked",
                           "old_rules", "paraphrases")
LIST_FIELDS = ("legal_basis", "paraphrases")
BLOCK_FIELDS = ("answer", "more")


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load(text: str) -> Any:
    return _yaml().load(text)


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _block(value: str) -> LiteralScalarString:
    return LiteralScalarString(value.strip() + "\n")


def _tail_comment(seq: CommentedSeq) -> Any:
    """Take the comment (such as the blank line before the next entry) hanging after the last item."""
    return seq.ca.items.pop(len(seq) - 1, None) if len(seq) else None


def _put_tail_comment(seq: CommentedSeq, comment: Any) -> None:
    if comment is not None and len(seq):
        seq.ca.items[len(seq) - 1] = comment


def _set_list(node: CommentedMap, key: str, values: list[str]) -> None:
    current = node.get(key)
    if not isinstance(current, CommentedSeq):
        node[key] = CommentedSeq([DoubleQuotedScalarString(v) for v in values])
        return
    if [str(v) for v in current] == values:
        return
    kept = {str(v): v for v in current}
    tail = _tail_comment(current)
    # Remove what went (from the end, so indexes hold), then add what is new at the end.
    for i in range(len(current) - 1, -1, -1):
        if str(current[i]) not in values:
            del current[i]
    present = [str(v) for v in current]
    for v in values:
        if v not in present:
            current.append(kept.get(v, DoubleQuotedScalarString(v)))
            present.append(v)
    _put_tail_comment(current, tail)


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, str):
        return str(old if old is not None else "").strip() == new.strip()
    return bool(old == new)


def set_fields(node: CommentedMap, values: Mapping[str, Any]) -> None:
    """Set only the fields that differ; an empty ``more`` is removed."""
    for key in FIELDS:
        if key not in values:
            continue
        new = values[key]
        if key in LIST_FIELDS:
            _set_list(node, key, [str(v) for v in new])
        elif key == "more" and not str(new).strip():
            node.pop("more", None)
        elif _same(node.get(key), new):
            continue
        elif key in BLOCK_FIELDS:
            node[key] = _block(str(new))
        elif key == "last_checked":
            node[key] = new if isinstance(new, dt.date) else dt.date.fromisoformat(str(new))
        elif key == "old_rules":
            node[key] = bool(new)
        else:
            node[key] = DoubleQuotedScalarString(str(new))
        if key == "more" and "more" in node and list(node).index("more") != list(node).index("answer") + 1:
            # A new "more" goes right after the answer, as in the handbook's files.
            value = node.pop("more")
            node.insert(list(node).index("answer") + 1, "more", value)


def find(data: Any, entry_id: str) -> tuple[CommentedSeq, int] | None:
    entries = data.get("entries") if isinstance(data, Mapping) else None
    for i, item in enumerate(entries or []):
        if isinstance(item, Mapping) and str(item.get("id")) == entry_id:
            return entries, i
    return None


def edit_entry(text: str, entry_id: str, values: Mapping[str, Any]) -> str:
    data = load(text)
    found = find(data, entry_id)
    if found is None:
        raise KeyError(entry_id)
    entries, i = found
    set_fields(entries[i], values)
    return dump(data)


def add_entry(text: str, entry_id: str, values: Mapping[str, Any]) -> str:
    data = load(text)
    if find(data, entry_id) is not None:
        raise ValueError(f"entry {entry_id!r} exists already")
    node = CommentedMap()
    node["id"] = entry_id
    for key in FIELDS:
        if key in values and (key != "more" or str(values[key]).strip()):
            node[key] = None
    set_fields(node, values)
    if data.get("entries") is None:
        data["entries"] = CommentedSeq()
    data["entries"].append(node)
    out = dump(data)
    # A blank line before the new entry, as between the others.
    marker = f"\n  - id: {entry_id}\n"
    at = out.rfind(marker)
    if at > 0 and not out[:at].endswith("\n"):
        out = out[:at] + "\n" + out[at:]
    return out


def remove_entry(text: str, entry_id: str) -> str:
    data = load(text)
    found = find(data, entry_id)
    if found is None:
        raise KeyError(entry_id)
    entries, i = found
    tail = _tail_comment(entries) if i == len(entries) - 1 else None
    del entries[i]
    _put_tail_comment(entries, tail)
    return dump(data)


def new_topic_file(topic: str, title: str) -> str:
    return dump({"topic": topic, "title": DoubleQuotedScalarString(title), "entries": CommentedSeq()})
