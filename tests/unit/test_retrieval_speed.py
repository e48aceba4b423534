"""The performance changes of issue 5 keep retrieval's results: vectorised lexical scores, the
query-vector cache, the classifier cap for large knowledge bases, and the scaled stack's nginx file."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from helpline.kb import index as index_module
from helpline.kb.embedder import Embedder, VectorCache
from helpline.kb.entries import load_entries
from helpline.kb.index import build_index, current_index_path
from helpline.kb.lexical import LexicalIndex, features
from helpline.kb.retriever import FaqRetriever
from helpline.settings import Settings
from helpline.stack_scaled import ScaledPorts, render_nginx_conf
from scripts.bench.synthetic import HashEmbedder, synthetic_entries


def reference_scores(index: LexicalIndex, docs: list[str], query: str) -> list[float]:
    """The pure-Python postings loop LexicalIndex used before it was vectorised."""
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for doc_id, doc in enumerate(docs):
        weights = index._weigh(features(doc))
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for feat, w in weights.items():
            postings[feat].append((doc_id, w / norm))
    out = [0.0] * len(docs)
    weights = index._weigh(features(query))
    norm = math.sqrt(sum(w * w for w in weights.values()))
    if not norm:
        return out
    for feat, qw in weights.items():
        for doc_id, dw in postings.get(feat, ()):
            out[doc_id] += qw * dw / norm
    return out


def test_vectorised_lexical_scores_equal_the_postings_loop() -> None:
    entries = load_entries(Settings.from_env().kb_dir)
    docs = [t for e in entries[:60] for t in e.texts]
    index = LexicalIndex(docs)
    assert index._dense.size and index._sparse.nnz, "the sample should use both dense and sparse rows"
    rng = random.Random(5)
    queries = [*rng.sample(docs, 20), "ban nguoi sang tq thi bi tu may nam vay", "xyz qqq", ""]
    for query in queries:
        scores = index.scores(query)
        expected = np.asarray(reference_scores(index, docs, query))
        # The matrix product adds in another order: equal up to float rounding, and zero exactly
        # where no feature is shared (that decides which entries are candidates).
        np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12, err_msg=query)
        assert np.array_equal(scores > 0, expected > 0), query


def test_query_vectors_are_cached_by_exact_text(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = Embedder("unused-model", cache_size=2)
    calls: list[str] = []

    def encode(texts: list[str], batch_size: int = 32) -> np.ndarray:
        calls.extend(texts)
        return np.full((len(texts), 4), float(len(calls)), dtype=np.float32)

    monkeypatch.setattr(embedder, "encode_queries", encode)
    first = embedder.encode_query("tổng đài 111 là gì")
    assert embedder.encode_query("tổng đài 111 là gì") is first
    assert not first.flags.writeable, "a cached vector cannot be changed by a caller"
    embedder.encode_query("Tổng đài 111 là gì")  # another text (case differs): encoded again
    embedder.encode_query("c")  # evicts the least recently used
    embedder.encode_query("tổng đài 111 là gì")
    assert calls == ["tổng đài 111 là gì", "Tổng đài 111 là gì", "c", "tổng đài 111 là gì"]
    assert (embedder.query_cache.hits, len(embedder.query_cache)) == (1, 2)


def test_a_zero_size_cache_keeps_nothing() -> None:
    cache = VectorCache(0)
    cache.put("a", np.zeros(3, dtype=np.float32))
    assert cache.get("a") is None and len(cache) == 0


def test_large_knowledge_bases_are_indexed_without_the_classifier(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    entries = synthetic_entries(load_entries(Settings.from_env().kb_dir), 200)
    monkeypatch.setenv(index_module.CLASSIFIER_MAX_ENTRIES_ENV, "150")
    build_index(entries, HashEmbedder(), tmp_path, progress=lambda _m: None)
    assert not (current_index_path(tmp_path) / "classifier.npz").exists()
    retriever = FaqRetriever(tmp_path, HashEmbedder())
    best = retriever.retrieve(entries[170].question).best
    assert best is not None and best.entry_id == entries[170].id and best.classifier == 0.0


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed")
def test_the_rendered_nginx_configuration_is_valid(tmp_path: Path) -> None:
    ports = ScaledPorts(rasa=15005, actions=15055, handoff=15080, rasa_replicas=(15006, 15007),
                        actions_replicas=(15056, 15057))
    conf = render_nginx_conf(ports, tmp_path / "nginx")
    text = conf.read_text()
    assert "server 127.0.0.1:15006" in text and "server 127.0.0.1:15057" in text and "{{" not in text
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run([nginx, "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
