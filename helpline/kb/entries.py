"""Knowledge-base entries: schema, loading and content validation.

Content lives in ``knowledge_base/faq/<topic>.yml``. The index build refuses
content that breaks a rule here, because a wrong phone number or an unlabelled
old law can hurt a real person.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpline.errors import KnowledgeBaseError
from helpline.text import clean, fold, has_diacritics

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
OLD_RULES_LABEL = "quy định cũ"
# Mentions of the 2011 law or its decrees that must carry the old-rules label.
OLD_LAW_PATTERN = re.compile(
    r"66/2011|09/2013|62/2012|luật[^.\n]{0,40}\b2011\b|luật năm 2011|nghị định 09", re.IGNORECASE
)
MIN_PARAPHRASES = 6
MIN_UNACCENTED_PARAPHRASES = 2
MAX_ANSWER_WORDS = 130
# Lexical cosine (folded text) above which two entries count as near-duplicates.
# Calibrated on the v1 knowledge base: distinct entries stay below 0.62 (answers) and 0.71 (questions).
NEAR_DUPLICATE_ANSWER = 0.75
NEAR_DUPLICATE_QUESTION = 0.9
REVIEW_AFTER_DAYS = 180

_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})+")
_NUMBER_RUN = re.compile(r"\+?\d(?:[ .,-]?\d)*")
_ARTICLE_BEFORE = re.compile(r"(điều|khoản|điểm|số hiệu|luật số|nghị định|quyết định)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    id: str
    topic: str
    question: str
    answer: str
    legal_basis: tuple[str, ...]
    law_version: str
    last_checked: dt.date
    paraphrases: tuple[str, ...]
    more: str = ""
    old_rules: bool = False
    source_file: str = ""

    @property
    def citation(self) -> str:
        """The legal basis as one line for the chat answer."""
        return "; ".join(self.legal_basis)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every question form that should retrieve this entry."""
        return (self.question, *self.paraphrases)

    def review_due(self, today: dt.date, days: int = REVIEW_AFTER_DAYS) -> bool:
        return (today - self.last_checked).days >= days


@dataclass(frozen=True)
class VerifiedNumber:
    number: str
    name: str
    source: str


def load_verified_numbers(path: Path) -> dict[str, VerifiedNumber]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    numbers = {}
    for item in data.get("numbers", []):
        digits = re.sub(r"\D", "", str(item["number"]))
        numbers[digits] = VerifiedNumber(digits, item["name"], item["source"])
    return numbers


@dataclass(frozen=True)
class UrgentSteps:
    """The entries whose answers are the practical steps after a third-party report."""

    entries: tuple[str, ...]
    ransom: tuple[str, ...] = ()  # for a ransom demand: the entries that say not to pay first

    def candidates(self, reasons: Sequence[str]) -> tuple[str, ...]:
        """The entries to choose from for a message detected with these reasons."""
        if self.ransom and any(r.split(":", 1)[0].startswith("ransom") for r in reasons):
            return self.ransom
        return self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys((*self.entries, *self.ransom)))


def load_urgent_steps(path: Path) -> UrgentSteps:
    """knowledge_base/urgent_steps.yml: the steps entries, and the ransom subset."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return UrgentSteps(tuple(str(i) for i in data.get("entries", [])),
                       tuple(str(i) for i in data.get("ransom", [])))


def phone_numbers_in(text: str) -> list[str]:
    """Phone-like numbers in a text (digits only), ignoring money amounts and article numbers."""
    found = []
    for match in _NUMBER_RUN.finditer(text):
        run = match.group(0).strip(" .-")
        # "3.000-30.000" is a range of amounts, "0912-345-678" one number.
        parts = run.split("-") if _MONEY.search(run) else [run]
        for raw in (p.strip() for p in parts):
            if not raw or _MONEY.fullmatch(raw) or "," in raw:
                continue
            digits = re.sub(r"\D", "", raw)
            before = text[max(0, match.start() - 20) : match.start()]
            if raw.startswith("+") or len(digits) >= 8:
                found.append(digits)
            elif re.fullmatch(r"11\d", digits) and not _ARTICLE_BEFORE.search(before):
                found.append(digits)
    return found


def _as_date(value: Any, where: str, problems: list[str]) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{where}: last_checked must be a date (YYYY-MM-DD), got {value!r}")
        return dt.date.min


def _entry_problems(entry: Entry, allowed: dict[str, VerifiedNumber], where: str) -> list[str]:
    problems = []
    if not ID_PATTERN.match(entry.id):
        problems.append(f"{where}: id must be lower-case words joined by '-'")
    if not entry.question or not entry.answer:
        problems.append(f"{where}: question and answer are required")
    if not entry.legal_basis or not all(b.strip() for b in entry.legal_basis):
        problems.append(f"{where}: missing citation (legal_basis)")
    if not entry.law_version:
        problems.append(f"{where}: law_version is required")
    words = len(entry.answer.split())
    if words > MAX_ANSWER_WORDS:
        problems.append(f"{where}: answer has {words} words; keep it under {MAX_ANSWER_WORDS}, put detail in 'more'")
    if len(entry.paraphrases) < MIN_PARAPHRASES:
        problems.append(f"{where}: {len(entry.paraphrases)} paraphrases, need at least {MIN_PARAPHRASES}")
    unaccented = sum(1 for p in entry.paraphrases if not has_diacritics(p))
    if unaccented < MIN_UNACCENTED_PARAPHRASES:
        problems.append(f"{where}: needs at least {MIN_UNACCENTED_PARAPHRASES} unaccented/teen-code paraphrases")
    for part, text in (("answer", entry.answer), ("more", entry.more)):
        for number in phone_numbers_in(text):
            if number not in allowed:
                problems.append(f"{where}: {part} contains phone number {number} that is not on the verified list")
        mentions_old = OLD_LAW_PATTERN.search(text) or OLD_LAW_PATTERN.search(" ".join(entry.legal_basis))
        if mentions_old and OLD_RULES_LABEL not in text.lower() and text.strip():
            problems.append(f"{where}: {part} cites the 2011 law or its decrees without the label '{OLD_RULES_LABEL}'")
    if entry.old_rules and OLD_RULES_LABEL not in entry.answer.lower():
        problems.append(f"{where}: old_rules entries must say '{OLD_RULES_LABEL}' in the answer")
    return problems


def _parse_entry(raw: Any, topic: str, source: str, index: int, problems: list[str]) -> Entry | None:
    where = f"{source} entry #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    where = f"{source} [{raw.get('id', '?')}]"
    known = {"id", "question", "answer", "more", "legal_basis", "law_version", "last_checked", "paraphrases",
             "old_rules"}
    unknown = set(raw) - known
    if unknown:
        problems.append(f"{where}: unknown field(s) {sorted(unknown)}")
    basis = raw.get("legal_basis") or []
    if isinstance(basis, str):
        basis = [basis]
    return Entry(
        id=str(raw.get("id", "")),
        topic=topic,
        question=clean(str(raw.get("question", ""))),
        answer=str(raw.get("answer", "")).strip(),
        more=str(raw.get("more", "") or "").strip(),
        legal_basis=tuple(str(b).strip() for b in basis),
        law_version=str(raw.get("law_version", "")).strip(),
        last_checked=_as_date(raw.get("last_checked"), where, problems),
        paraphrases=tuple(clean(str(p)) for p in raw.get("paraphrases") or []),
        old_rules=bool(raw.get("old_rules", False)),
        source_file=source,
    )


def load_entries(faq_dir: Path, numbers_file: Path | None = None) -> list[Entry]:
    """Load and validate every entry; raise KnowledgeBaseError listing all problems."""
    numbers_file = numbers_file or faq_dir.parent / "verified_numbers.yml"
    allowed = load_verified_numbers(numbers_file)
    problems: list[str] = []
    entries: list[Entry] = []
    files = sorted(faq_dir.glob("*.yml"))
    if not files:
        raise KnowledgeBaseError([f"no *.yml files in {faq_dir}"])
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: invalid YAML: {exc}")
            continue
        topic = str(data.get("topic", ""))
        if not topic:
            problems.append(f"{path.name}: missing 'topic'")
        for i, raw in enumerate(data.get("entries") or []):
            entry = _parse_entry(raw, topic, path.name, i, problems)
            if entry is not None:
                problems.extend(_entry_problems(entry, allowed, f"{path.name} [{entry.id}]"))
                entries.append(entry)
    problems.extend(_duplicate_problems(entries))
    problems.extend(_near_duplicate_problems(entries))
    if problems:
        raise KnowledgeBaseError(problems)
    return entries


def _duplicate_problems(entries: Iterable[Entry]) -> list[str]:
    problems = []
    seen_ids: dict[str, str] = {}
    owner_of_text: dict[str, str] = {}
    for entry in entries:
        if entry.id in seen_ids:
            problems.append(f"duplicate id {entry.id!r} in {entry.source_file} and {seen_ids[entry.id]}")
        seen_ids[entry.id] = entry.source_file
        for text in entry.texts:
            key = fold(text)
            other = owner_of_text.get(key)
            if other and other != entry.id:
                problems.append(f"question form {text!r} appears in both {other!r} and {entry.id!r}")
            owner_of_text[key] = entry.id
    return problems


def _near_duplicate_problems(entries: list[Entry]) -> list[str]:
    """Entries whose answers, or any two of whose question forms, are nearly the same text."""
    from helpline.kb.lexical import LexicalIndex

    problems = []
    answers = LexicalIndex([e.answer for e in entries])
    for i, entry in enumerate(entries):
        for j, score in enumerate(answers.scores(entry.answer)):
            if j > i and score >= NEAR_DUPLICATE_ANSWER:
                problems.append(f"near-duplicate answers ({score:.2f}): {entry.id!r} and {entries[j].id!r}")
    forms = [(e.id, t) for e in entries for t in e.texts]
    questions = LexicalIndex([t for _, t in forms])
    reported: set[tuple[str, str]] = set()
    for i, (entry_id, text) in enumerate(forms):
        for j, score in enumerate(questions.scores(text)):
            other = forms[j][0]
            pair = (min(entry_id, other), max(entry_id, other))
            if j > i and other != entry_id and score >= NEAR_DUPLICATE_QUESTION and pair not in reported:
                reported.add(pair)
                problems.append(
                    f"near-duplicate question forms ({score:.2f}): {text!r} in {entry_id!r} and "
                    f"{forms[j][1]!r} in {other!r}"
                )
    return problems
