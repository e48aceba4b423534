"""Index build time and retrieval latency at 160 (the real handbook), 1,000 and 10,000 entries.

- The real handbook is built with the real e5 model (the same code as ``make index``).
- Synthetic sizes are built with :class:`HashEmbedder` (seconds instead of the real model's
  minutes); the printout adds what embedding their question forms with the real model
  would cost, from the encoding rate measured in the same run (marked "est.").
- Retrieval latency is one ``FaqRetriever.retrieve`` with the query vector already cached
  (faiss search + lexical scoring + classifier + fusion): the encode itself does not depend
  on the index size and is reported on its own.
- At 10,000 entries, faiss IndexFlatIP is compared with IndexHNSWFlat (speed, and recall of
  the 40 candidates the retriever takes).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from helpline.kb.entries import load_entries
from helpline.kb.index import build_index, current_index_path, load_index
from helpline.kb.retriever import FaqRetriever
from helpline.settings import Settings
from scripts.bench.report import pct
from scripts.bench.synthetic import HashEmbedder, synthetic_entries
from scripts.bench.workload import Workload

SIZES = (1000, 10000)
QUERIES = 300


class _CachedHash(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str, np.ndarray] = {}

    def encode_query(self, text: str) -> np.ndarray:
        if text not in self._cache:
            self._cache[text] = super().encode_query(text)
        return self._cache[text]


class _Quiet:
    """The real encoder without the build's progress bar (it would fill the report)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id

    def encode_docs(self, texts: Any, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self.embedder.encode_docs(texts, batch_size=batch_size, show_progress=False)

    def encode_queries(self, texts: Any, batch_size: int = 32) -> np.ndarray:
        return self.embedder.encode_queries(texts, batch_size=batch_size)

    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode_query(text)


def _retrieval_ms(retriever: FaqRetriever, queries: list[str]) -> list[float]:
    for q in queries:  # fill the query-vector cache: what is left is the size-dependent part
        retriever.retrieve(q)
    out = []
    for q in queries:
        start = time.perf_counter()
        retriever.retrieve(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _build(entries: list[Any], embedder: Any, folder: Path) -> tuple[float, int]:
    start = time.perf_counter()
    path = build_index(entries, embedder, folder, force=True, progress=lambda _msg: None)
    return time.perf_counter() - start, len(load_index(path).docs)


def flat_vs_hnsw(index_path: Path, queries: np.ndarray, k: int = 40) -> dict[str, float]:
    """Exact IndexFlatIP against the HNSW graph the build makes at this size (same vectors)."""
    import faiss

    from helpline.kb.index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

    stored = load_index(index_path).faiss_index
    vectors = stored.reconstruct_n(0, stored.ntotal)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    start = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.add(vectors)
    built = time.perf_counter() - start
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    timings: dict[str, list[float]] = {"flat": [], "hnsw": []}
    found: dict[str, list[set[int]]] = {"flat": [], "hnsw": []}
    for name, index in (("flat", flat), ("hnsw", hnsw)):
        for q in queries:
            start = time.perf_counter()
            _, ids = index.search(q.reshape(1, -1), k)
            timings[name].append((time.perf_counter() - start) * 1000)
            found[name].append(set(ids[0].tolist()))
    recall = float(np.mean([len(h & f) / len(f) for h, f in zip(found["hnsw"], found["flat"], strict=True)]))
    return {"vectors": float(flat.ntotal), "flat_p50": pct(timings["flat"], 50), "flat_p95": pct(timings["flat"], 95),
            "hnsw_p50": pct(timings["hnsw"], 50), "hnsw_p95": pct(timings["hnsw"], 95), "hnsw_build_s": built,
            "recall": recall}


def run(log: Callable[[str], None] = print, sizes: tuple[int, ...] = SIZES) -> None:
    from helpline.kb.embedder import Embedder

    settings = Settings.from_env()
    real = load_entries(settings.kb_dir)
    queries = Workload().questions[:QUERIES]
    rows: list[tuple[str, float, int, str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="helpline-index-bench-") as tmp:
        embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                            doc_prefix=settings.embed_doc_prefix)
        embedder.encode_queries(["khởi động"])  # model load is not build time
        log(f"building the real index ({len(real)} entries) with the real model ...")
        seconds, docs = _build(real, _Quiet(embedder), Path(tmp) / "real")
        rate = docs / seconds
        retriever = FaqRetriever(Path(tmp) / "real", embedder)
        rows.append((f"{len(real)} (real, e5)", seconds, docs, "measured", _retrieval_ms(retriever, queries)))
        encode = []
        for q in queries[:60]:
            start = time.perf_counter()
            embedder.encode_queries([q])
            encode.append((time.perf_counter() - start) * 1000)
        hnsw: dict[str, float] | None = None
        for size in sizes:
            entries = synthetic_entries(real, size)
            log(f"building a synthetic index of {size} entries ...")
            folder = Path(tmp) / f"s{size}"
            seconds, docs = _build(entries, _CachedHash(), folder)
            retriever = FaqRetriever(folder, _CachedHash())
            note = f"+ ~{docs / rate:.0f} s real-model encoding (est.)"
            rows.append((f"{size} (synthetic)", seconds, docs, note, _retrieval_ms(retriever, queries)))
            if size == max(sizes):
                hnsw = flat_vs_hnsw(current_index_path(folder), HashEmbedder().encode_queries(queries))
    print("\nIndex build and retrieval (retrieval = one retrieve() with the query vector cached)")
    print(f"  {'entries':<20}{'forms':>7}{'build s':>9}  {'':<38}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for label, seconds, docs, note, ms in rows:
        print(f"  {label:<20}{docs:>7}{seconds:>9.1f}  {note:<38}{pct(ms, 50):>8.2f}{pct(ms, 95):>8.2f}"
              f"{pct(ms, 99):>8.2f}")
    print(f"  real-model encoding: {rate:.0f} question forms/s in the build; one query p50 {pct(encode, 50):.1f} ms, "
          f"p95 {pct(encode, 95):.1f} ms (size-independent, skipped when the query vector is cached)")
    if hnsw is not None:
        print(f"  faiss at {int(hnsw['vectors'])} vectors, k=40: IndexFlatIP p50 {hnsw['flat_p50']:.2f} ms "
              f"p95 {hnsw['flat_p95']:.2f} ms; IndexHNSWFlat(M=32, efSearch=128, used by the build at this size) "
              f"p50 {hnsw['hnsw_p50']:.2f} ms "
              f"p95 {hnsw['hnsw_p95']:.2f} ms, recall@40 {hnsw['recall']:.3f}, built in {hnsw['hnsw_build_s']:.1f} s")
