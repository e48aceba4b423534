"""Retrieval with the real multilingual model over the real knowledge base."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from helpline.errors import IndexMismatch
from helpline.kb.embedder import Embedder
from helpline.kb.entries import Entry, load_entries, load_urgent_steps
from helpline.kb.index import build_index, current_index_path, load_index
from helpline.kb.ranking import FEATURES, FIXED_WEIGHTS, MODEL_FILE, Outcome, RankingModel
from helpline.kb.retriever import FaqRetriever
from helpline.settings import PROJECT_ROOT, Settings

GOLDEN = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "retrieval_golden.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="module")
def entries(settings: Settings) -> list[Entry]:
    return load_entries(settings.kb_dir)


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    if not Path(settings.embed_model).exists() and os.sep in settings.embed_model:
        pytest.fail(f"embedding model folder {settings.embed_model} is missing: run `make model`")
    return Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                    doc_prefix=settings.embed_doc_prefix)


@pytest.fixture(scope="module")
def build_dir(settings: Settings, entries: list[Entry], embedder: Embedder) -> Path:
    """The project's index, built (or confirmed up to date) by the real build."""
    build_index(entries, embedder, settings.index_dir, progress=lambda _m: None)
    return settings.index_dir


@pytest.fixture(scope="module")
def retriever(build_dir: Path, embedder: Embedder) -> Iterator[FaqRetriever]:
    yield FaqRetriever(build_dir, embedder)


def test_golden_questions_find_their_entry(retriever: FaqRetriever) -> None:
    items = GOLDEN["items"]
    missing = {i["id"] for i in items} - set(retriever.entries)
    assert not missing, f"golden set refers to unknown entries {missing}"
    top1 = top3 = 0
    misses = []
    for item in items:
        ids = [h.entry_id for h in retriever.retrieve(item["q"]).hits]
        top1 += ids[:1] == [item["id"]]
        top3 += item["id"] in ids[:3]
        if ids[:1] != [item["id"]]:
            misses.append((item["q"], item["id"], ids[:3]))
    n = len(items)
    assert top3 / n >= 0.9, misses
    assert top1 / n >= 0.8, misses


def test_confident_answers_are_right_on_the_golden_set(retriever: FaqRetriever) -> None:
    wrong = []
    for item in GOLDEN["items"]:
        result = retriever.retrieve(item["q"])
        if result.confident and result.best and result.best.entry_id != item["id"]:
            wrong.append((item["q"], result.best.entry_id))
    assert len(wrong) <= 1, wrong


@pytest.mark.parametrize("nonsense", ["xqzt bnm kkk plo vrrr", "asdfgh", "giá bitcoin hôm nay bao nhiêu", "😀😀😀"])
def test_nonsense_is_not_answered_confidently(retriever: FaqRetriever, nonsense: str) -> None:
    result = retriever.retrieve(nonsense)
    assert not result.confident
    assert len(result.hits) <= 3


def test_empty_query_returns_nothing(retriever: FaqRetriever) -> None:
    result = retriever.retrieve("   ")
    assert result.hits == () and not result.confident


def test_every_entry_question_retrieves_itself(retriever: FaqRetriever, entries: list[Entry]) -> None:
    wrong = [e.id for e in entries if (b := retriever.retrieve(e.question).best) is None or b.entry_id != e.id]
    assert not wrong


def test_index_refuses_another_model(build_dir: Path) -> None:
    with pytest.raises(IndexMismatch):
        load_index(current_index_path(build_dir), expected_model_id="some-other-model")


def test_rebuild_is_idempotent(build_dir: Path, entries: list[Entry], embedder: Embedder) -> None:
    before = current_index_path(build_dir)
    messages: list[str] = []
    assert build_index(entries, embedder, build_dir, progress=messages.append) == before
    assert any("up to date" in m for m in messages)


def test_new_index_is_picked_up_and_a_broken_one_is_not(
    tmp_path: Path, entries: list[Entry], embedder: Embedder
) -> None:
    build_dir = tmp_path / "build"
    build_index(entries[:8], embedder, build_dir, progress=lambda _m: None)
    retriever = FaqRetriever(build_dir, embedder, reload_check_seconds=0)
    assert len(retriever.entries) == 8

    build_index(entries[:10], embedder, build_dir, progress=lambda _m: None)
    assert retriever.retrieve("mua bán người là gì").hits
    assert len(retriever.entries) == 10

    # A corrupted folder that somehow became current must not replace the working one.
    good = current_index_path(build_dir)
    broken = build_dir / "index-broken"
    shutil.copytree(good, broken)
    (broken / "faiss.index").write_bytes(b"not an index")
    (build_dir / "current").unlink()
    (build_dir / "current").symlink_to(broken.name)
    assert retriever.retrieve("mua bán người là gì").hits
    assert retriever.index_path == good


def test_story_facts_decide_between_the_two_penalty_articles(retriever: FaqRetriever) -> None:
    story = ("Chào luật sư, hàng xóm nhà em bị bắt vì bán một bé gái {age} tuổi sang Trung Quốc. "
             "Xin hỏi người đó có thể bị phạt tù bao nhiêu năm?")
    young = retriever.retrieve(story.format(age=13))
    adult = retriever.retrieve(story.format(age=22))
    assert young.best is not None and young.best.entry_id == "hinh-phat-mua-ban-nguoi-duoi-16"
    assert adult.best is not None and adult.best.entry_id == "hinh-phat-mua-ban-nguoi-tren-16"


def test_current_law_comes_before_old_rules_unless_asked(retriever: FaqRetriever) -> None:
    now = retriever.retrieve("Nạn nhân mua bán người có những quyền gì?")
    old = retriever.retrieve("Theo luật năm 2011 thì nạn nhân mua bán người có những quyền gì?")
    assert now.best is not None and not retriever.entries[now.best.entry_id].old_rules
    assert old.best is not None and retriever.entries[old.best.entry_id].old_rules


def test_policy_outcomes_follow_the_calibrated_confidence(retriever: FaqRetriever) -> None:
    sure = retriever.retrieve("Tổng đài 111 là gì?")
    assert sure.outcome is Outcome.ANSWER and sure.confidence >= retriever.model.answer_at
    vague = retriever.retrieve("cho em hoi cai nay voi")
    assert vague.outcome is Outcome.ASK and vague.confidence < retriever.model.suggest_at
    assert retriever.alternatives(vague) == []


def test_a_multi_part_question_offers_its_second_part(retriever: FaqRetriever) -> None:
    result = retriever.retrieve("Tội mua bán người bị phạt tù bao nhiêu năm và nạn nhân được hỗ trợ những gì?")
    assert result.confident and result.best is not None
    assert result.best.entry_id == "hinh-phat-mua-ban-nguoi-tren-16"
    offered = [e.id for e in retriever.alternatives(result)]
    assert offered and offered[0] == "ho-tro-cac-che-do"


def test_the_shipped_ranking_model_loads_and_names_known_features() -> None:
    model = RankingModel.load(MODEL_FILE)
    assert set(model.weights) <= set(FEATURES)
    assert 0 < model.suggest_at <= model.answer_at < 1
    assert model.weights["age_mismatch"] == FIXED_WEIGHTS["age_mismatch"]


@pytest.mark.parametrize(("report", "wanted"), [
    ("con toi 14 tuoi di theo nguoi quen tren mang, 3 ngay nay khong lien lac duoc", {"bao-tin-tre-em-mat-tich"}),
    ("Có người gọi nói đang giữ anh tôi ở Campuchia, đòi 10.000 đô mới thả",
     {"dau-hieu-lua-dao-tien-chuoc", "bao-tin-lo-chuyen-tien-chuoc"}),
    ("chi gai toi sang trung quoc lam viec, 2 tuan nay mat lien lac",
     {"bao-tin-nguoi-than-mat-lien-lac", "bao-tin-yeu-cau-giai-cuu", "bao-tin-nho-giai-cuu-o-nuoc-ngoai"}),
])
def test_an_urgent_report_finds_the_familys_steps(retriever: FaqRetriever, settings: Settings, report: str,
                                                  wanted: set[str]) -> None:
    steps = load_urgent_steps(settings.kb_dir.parent / "urgent_steps.yml")
    assert set(steps) <= set(retriever.entries), "urgent_steps.yml names entries that do not exist"
    entry = retriever.best_among(report, steps)
    assert entry is not None and entry.id in wanted
