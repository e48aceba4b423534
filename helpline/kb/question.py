"""Reading a real message: the asked part, its sub-questions, and the facts of the story.

People write long letters ("Chào luật sư, em có người chị ... Xin hỏi ...") and long
Zalo stories. The question is usually one sentence; the story around it carries
facts the answer depends on (the victim's age, whether they ask about the old law).
This module finds those parts on the folded text; it knows nothing about entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from helpline.text import clean, fold

# Sentence ends, and also the line breaks and "..." of chat messages.
_SPLIT = re.compile(r"(?<=[.!?…;])\s+|\n+|\s+-\s+")
_AGE = re.compile(r"\b(\d{1,2})\s*(?:tuoi|t)\b")
_UNDER = re.compile(r"\b(?:duoi|chua du|chua toi|chua den)\s*(\d{1,2})\s*tuoi\b")
# Words that say the victim is a child under 16 ("trẻ em" is under 16 in Vietnamese law).
_CHILD = re.compile(r"\b(?:tre em|be gai|be trai|chau be|tre so sinh|tre nho|dua tre|con nho|em be|"
                    r"hoc sinh lop [1-9]|lop [1-9]|hoc sinh tieu hoc|hoc sinh cap 1|hoc sinh cap 2)\b")
_ARTICLE = re.compile(r"\bdieu\s*(\d{2,3})\b")

# Folded openings of a greeting, and whole courtesy sentences, that carry no question.
_GREETINGS = (
    "chao luat su", "kinh gui", "kinh chao", "thua luat su", "xin chao", "chao ban bien tap",
    "chao admin", "chao ban", "chao anh", "chao chi", "chao em", "chao chuyen gia", "chao tong dai",
    "chao trang", "chao moi nguoi", "chao ad", "chao", "hello", "hi", "alo",
)
_COURTESY = (
    "xin cam on", "cam on", "em cam on", "toi xin cam on", "xin chan thanh cam on", "mong luat su",
    "mong ban bien tap", "mong nhan duoc", "rat mong", "tran trong", "mong duoc", "mong admin",
    "mong moi nguoi", "em xin cam on", "chan thanh cam on", "nho ad", "mong ad",
)
# Folded phrases that open the asked part ("Xin hỏi ...").
_ASK_OPENERS = (
    "xin hoi", "cho toi hoi", "cho em hoi", "cho minh hoi", "toi muon hoi", "em muon hoi", "minh muon hoi",
    "xin cho biet", "cho biet", "luat su cho hoi", "vay cho hoi", "cho hoi", "hoi", "xin tu van",
    "nho tu van", "tu van giup", "giai dap giup", "muon biet", "toi muon biet", "em muon biet",
)
# Folded words that make a sentence a question in Vietnamese even without "?".
_QUESTION_WORDS = (
    "khong", "the nao", "ra sao", "bao nhieu", "bao lau", "gi", "o dau", "dau", "nao", "ai", "lam sao",
    "sao", "chua", "co phai", "hay la", "nhu nao", "muc nao", "may nam", "bao gio", "khi nao", "duoc ko",
)
_OLD_LAW = ("2011", "luat cu", "quy dinh cu", "truoc day", "truoc 2025", "truoc ngay 1 7 2025",
            "66 2011", "62 2012", "09 2013", "nghi dinh 09", "nghi dinh 62", "luat nam 2011")
# Where a message may join two questions: "...? ...", "...; ...", ", còn ...", "... và ...", "ngoài ra".
_PART_JOINERS = re.compile(
    r"\?\s+|;\s*|,?\s+(?:còn|con|và|va|với lại|voi lai|ngoài ra|ngoai ra|đồng thời|dong thoi|thêm nữa|them nua|"
    r"bên cạnh đó|ben canh do)\s+|,\s+(?=(?:nếu|neu|thì|thi|vậy|vay|liệu|lieu)\s)", re.IGNORECASE)

# What kind of answer the asked part wants, by folded cue phrases, and the topics that give it.
ASKED_KINDS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "penalty": (("bi phat", "phat tu", "bao nhieu nam", "may nam tu", "toi gi", "pham toi", "xu ly the nao",
                 "xu ly nhu the nao", "xu ly ra sao", "bi xu ly", "trach nhiem hinh su", "khung hinh phat",
                 "muc phat", "truy cuu", "an tu", "bi tu", "toi danh", "co toi", "bi phat", "muc an",
                 "hinh phat", "xu phat", "bi bat toi", "di tu", "ngoi tu"),
                frozenset({"hinh-phat", "hanh-vi-cam"})),
    "support": (("duoc ho tro", "ho tro gi", "ho tro nhung gi", "duoc huong", "che do", "tro cap",
                 "duoc giup gi", "quyen loi", "duoc nhung quyen", "quyen gi", "ho tro the nao",
                 "ho tro nhu the nao", "duoc boi thuong", "ho tro ra sao"),
                frozenset({"ho-tro", "quyen-nan-nhan"})),
    "report": (("bao o dau", "bao cho ai", "to giac o dau", "trinh bao", "goi so nao", "lien he ai",
                "lien he o dau", "bao ai", "goi ai", "bao tin o dau", "bao cong an", "nho ai", "tim den dau",
                "den dau", "lam sao de bao", "bao the nao"),
               frozenset({"bao-tin", "tiep-nhan"})),
}


def asked_kinds(text: str) -> frozenset[str]:
    """The kinds of answer (ASKED_KINDS) the folded text asks for."""
    folded = f" {fold(text)} "
    return frozenset(kind for kind, (cues, _) in ASKED_KINDS.items() if any(f" {c} " in folded for c in cues))


@dataclass(frozen=True)
class Facts:
    """What the story says that an answer may depend on."""

    ages: tuple[int, ...] = ()
    under_16: bool | None = None  # None: the story gives no age
    asks_old_law: bool = False
    articles: tuple[int, ...] = ()


@dataclass(frozen=True)
class Question:
    text: str  # the whole message, cleaned
    body: str  # the message without greetings and courtesy sentences
    asked: str  # the asked part: framing and courtesy removed (the whole text if nothing is found)
    parts: tuple[str, ...]  # sub-questions of a multi-part question, main part first
    facts: Facts

    @property
    def is_long(self) -> bool:
        return fold(self.asked) != fold(self.body)


def _sentences(text: str) -> list[str]:
    return [s.strip(" ,.") for s in _SPLIT.split(text) if s.strip(" ,.")]


def _starts(folded: str, phrases: tuple[str, ...]) -> str | None:
    for phrase in phrases:
        if folded == phrase or folded.startswith(phrase + " "):
            return phrase
    return None


def _drop_greeting(sentence: str) -> str:
    """"Chào luật sư, em có người chị..." -> "em có người chị..."."""
    head, sep, rest = sentence.partition(",")
    if sep and _starts(fold(head), _GREETINGS) and len(fold(head).split()) <= 8:
        return rest.strip()
    return "" if _starts(fold(sentence), _GREETINGS) and len(fold(sentence).split()) <= 6 else sentence


def _is_question(sentence: str) -> bool:
    if "?" in sentence:
        return True
    folded = fold(sentence)
    if _starts(folded, _ASK_OPENERS):
        return True
    padded = f" {folded} "
    return any(f" {w} " in padded for w in _QUESTION_WORDS)


def is_question(text: str) -> bool:
    """Whether any sentence of a message asks something ("?", "xin hỏi", "bao nhiêu", "không" ...)."""
    return any(_is_question(s) for s in _sentences(clean(text)))


_POINTING_BACK = ("nguoi do", "nguoi nay", "ke do", "hanh vi nay", "hanh vi do", "truong hop nay", "truong hop do",
                  "nhu vay", "nhu the", "viec nay", "viec do", "chuyen nay", "chuyen do", "vu nay", "vu do", "ho ")


def _needs_context(sentence: str) -> bool:
    folded = fold(sentence)
    return len(folded.split()) < 8 or any(f" {p} " in f" {folded} " for p in _POINTING_BACK)


def _strip_opener(sentence: str) -> str:
    words = sentence.split()
    folded = fold(sentence)
    opener = _starts(folded, _ASK_OPENERS)
    if opener and len(words) > len(opener.split()) + 2:
        return " ".join(words[len(opener.split()):]).lstrip(" ,:")
    return sentence


def facts_of(text: str) -> Facts:
    folded = fold(text, expand_teen_code=False)
    ages = tuple(int(a) for a in _AGE.findall(folded) if 0 < int(a) < 100)
    under = [int(a) for a in _UNDER.findall(folded)]
    under_16: bool | None = None
    if any(a <= 16 for a in under) or (ages and min(ages) < 16) or (not ages and _CHILD.search(folded)):
        under_16 = True
    elif ages and min(ages) >= 16:
        under_16 = False
    padded = f" {folded} "
    asks_old = any(f" {p} " in padded for p in _OLD_LAW)
    articles = tuple(int(a) for a in _ARTICLE.findall(folded))
    return Facts(ages, under_16, asks_old, articles)


def split_parts(asked: str) -> tuple[str, ...]:
    """Sub-questions of "A ...? B ...?" or "A ..., còn B ...?" when each side reads as a question of its own."""
    parts: list[str] = []
    rest = asked
    while len(parts) < 2:
        for joiner in _PART_JOINERS.finditer(rest):
            left, right = rest[:joiner.start()].strip(" ,.?"), rest[joiner.end():].strip(" ,.?")
            if (len(fold(left).split()) >= 4 and len(fold(right).split()) >= 4
                    and _is_question(left + ("?" if joiner.group().startswith("?") else ""))
                    and _is_question(right)):
                parts.append(left)
                rest = right
                break
        else:
            break
    return (*parts, rest.strip(" ,.?")) if parts else (asked,)


def understand(text: str) -> Question:
    """The asked part of a message, its sub-questions and the facts of its story."""
    text = clean(text)
    sentences = [s for s in (_drop_greeting(s) for s in _sentences(text)) if s]
    sentences = [s for s in sentences if not (_starts(fold(s), _COURTESY) and not _is_question(s))]
    if not sentences:
        return Question(text, text, text, (text,), facts_of(text))
    asked_from = None
    for i, sentence in enumerate(sentences):
        if _starts(fold(sentence), _ASK_OPENERS) and len(fold(sentence).split()) > 3:
            asked_from = i
    if asked_from is not None:
        chosen = sentences[asked_from:]
    else:
        questions = [i for i, s in enumerate(sentences) if _is_question(s)]
        chosen = [sentences[questions[-1]]] if questions else sentences
        # A short last question ("Vậy có sao không?") or one that points back ("người đó", "như vậy")
        # needs the sentence before it for its subject.
        if questions and questions[-1] > 0 and _needs_context(chosen[0]):
            chosen = [sentences[questions[-1] - 1], chosen[0]]
    if asked_from is not None and asked_from > 0 and _needs_context(_strip_opener(chosen[0])):
        chosen = [sentences[asked_from - 1], *chosen]
    asked = " ".join(_strip_opener(s) for s in chosen).strip() or text
    if len(sentences) == 1 and asked_from is None:
        asked = _strip_opener(sentences[0])
    return Question(text, " ".join(sentences), asked, split_parts(asked), facts_of(text))
