"""Build, save and load the FAQ index.

Layout under the build folder::

    current -> index-<hash>/      symlink, swapped atomically after a good build
    index-<hash>/faiss.index      IndexFlatIP over L2-normalised vectors
    index-<hash>/manifest.json    model id, dim, content hash, one row per vector
    index-<hash>/entries.json     the validated entries the vectors belong to

A build that fails validation or loading never moves ``current``, so a broken
index never replaces a working one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpline.errors import IndexMismatch, KnowledgeBaseError
from helpline.kb.classifier import EntryClassifier
from helpline.kb.entries import Entry
from helpline.text import fold

if TYPE_CHECKING:
    import numpy as np

    from helpline.kb.embedder import Embedder

BUILDER_VERSION = 2
CURRENT = "current"
# Training the entry classifier grows with entries x features (10,000 entries would need
# gigabytes and hours); above this many entries the index has no classifier and retrieval
# fuses the dense and lexical signals only (docs/performance.md).
CLASSIFIER_MAX_ENTRIES_ENV = "HELPLINE_CLASSIFIER_MAX_ENTRIES"
CLASSIFIER_MAX_ENTRIES = 2000
# Exact search (IndexFlatIP) costs ~7 ms per query at 60,000 question forms on 2 cores; above
# this many vectors the build makes an HNSW graph instead (~0.2 ms, approximate: see
# docs/performance.md for its recall). The handbook (~2,200 forms) stays exact.
HNSW_MIN_VECTORS_ENV = "HELPLINE_HNSW_MIN_VECTORS"
HNSW_MIN_VECTORS = 20000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


@dataclass(frozen=True)
class IndexDoc:
    entry_id: str
    text: str


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict[str, Any]
    entries: dict[str, Entry]
    docs: list[IndexDoc]
    faiss_index: Any
    classifier: EntryClassifier | None = None


def index_docs(entries: Sequence[Entry]) -> list[IndexDoc]:
    """One document per question form, plus its folded copy when it differs."""
    docs: list[IndexDoc] = []
    for entry in entries:
        seen: set[str] = set()
        for text in entry.texts:
            for form in (text, fold(text, expand_teen_code=True)):
                if form and form not in seen:
                    seen.add(form)
                    docs.append(IndexDoc(entry.id, form))
    return docs


def _entry_to_json(entry: Entry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    data["last_checked"] = entry.last_checked.isoformat()
    return data


def _entry_from_json(data: dict[str, Any]) -> Entry:
    data = dict(data)
    data["last_checked"] = dt.date.fromisoformat(data["last_checked"])
    for key in ("legal_basis", "paraphrases"):
        data[key] = tuple(data[key])
    return Entry(**data)


def content_hash(entries: Sequence[Entry], model_id: str) -> str:
    payload = json.dumps(
        {"v": BUILDER_VERSION, "model": model_id, "entries": [_entry_to_json(e) for e in entries]},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def build_index(
    entries: Sequence[Entry],
    embedder: Embedder,
    build_dir: Path,
    *,
    force: bool = False,
    progress: Callable[[str], None] = print,
) -> Path:
    """Embed every question form, write a new index folder and point ``current`` at it."""
    import faiss
    import numpy as np

    build_dir.mkdir(parents=True, exist_ok=True)
    digest = content_hash(entries, embedder.model_id)
    target = build_dir / f"index-{digest[:12]}"
    current = build_dir / CURRENT
    if not force and current.exists() and current.resolve() == target.resolve():
        progress(f"index is up to date ({len(entries)} entries, {target.name})")
        return target
    docs = index_docs(entries)
    started = time.perf_counter()
    reused = _reusable_vectors(build_dir, embedder, docs)
    missing = list(dict.fromkeys(d.text for d in docs if d.text not in reused))
    progress(f"embedding {len(missing)} of {len(docs)} question forms of {len(entries)} entries with "
             f"{embedder.model_id} ({len(docs) - len(missing)} unchanged, taken from the current index) ...")
    if missing:
        fresh = embedder.encode_docs(missing, show_progress=True)
        reused.update(zip(missing, np.asarray(fresh, dtype="float32"), strict=True))
    vectors = np.ascontiguousarray(np.stack([reused[d.text] for d in docs]), dtype="float32")
    progress(f"embedded in {time.perf_counter() - started:.1f} s; writing {target.name}")
    if len(vectors) >= int(os.environ.get(HNSW_MIN_VECTORS_ENV, HNSW_MIN_VECTORS)):
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    staging = build_dir / f".staging-{digest[:12]}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    faiss.write_index(index, str(staging / "faiss.index"))
    limit = int(os.environ.get(CLASSIFIER_MAX_ENTRIES_ENV, CLASSIFIER_MAX_ENTRIES))
    if len(entries) <= limit:
        progress("training the entry classifier on questions and paraphrases ...")
        started = time.perf_counter()
        EntryClassifier.train([t for e in entries for t in e.texts],
                              [e.id for e in entries for _ in e.texts]).save(staging)
        progress(f"classifier trained in {time.perf_counter() - started:.1f} s")
    else:
        progress(f"no entry classifier: {len(entries)} entries > {limit} ({CLASSIFIER_MAX_ENTRIES_ENV})")
    manifest = {
        "builder_version": BUILDER_VERSION,
        "model_id": embedder.model_id,
        "dim": int(vectors.shape[1]),
        "content_hash": digest,
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "entry_count": len(entries),
        "docs": [{"entry_id": d.entry_id, "text": d.text} for d in docs],
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    (staging / "entries.json").write_text(
        json.dumps([_entry_to_json(e) for e in entries], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    # Prove the new folder loads before anything points at it.
    load_index(staging, expected_model_id=embedder.model_id)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    _point_current(build_dir, target)
    _remove_old_builds(build_dir, keep={target.name})
    progress(f"index ready: {target} ({index.ntotal} vectors, dim {vectors.shape[1]})")
    return target


def _reusable_vectors(build_dir: Path, embedder: Embedder, docs: Sequence[IndexDoc]) -> dict[str, np.ndarray]:
    """Vectors of unchanged question forms from the current index, so an edit re-embeds only what changed.

    Only when the current index was built with the same model, and one of its vectors still
    matches a fresh encoding (the document prefix may have changed since).
    """
    import numpy as np

    try:
        loaded = load_index(current_index_path(build_dir), expected_model_id=embedder.model_id)
    except Exception:
        return {}
    wanted = {d.text for d in docs}
    found: dict[str, np.ndarray] = {}
    for i, doc in enumerate(loaded.docs):
        if doc.text in wanted and doc.text not in found:
            found[doc.text] = np.asarray(loaded.faiss_index.reconstruct(i), dtype="float32")
    if not found:
        return {}
    probe = next(iter(found))
    if float(embedder.encode_docs([probe])[0] @ found[probe]) < 0.999:
        return {}
    return found


def _point_current(build_dir: Path, target: Path) -> None:
    tmp_link = build_dir / f".current-{os.getpid()}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    tmp_link.symlink_to(target.name)
    os.replace(tmp_link, build_dir / CURRENT)


def _remove_old_builds(build_dir: Path, keep: set[str], keep_count: int = 2) -> None:
    builds = sorted(
        (p for p in build_dir.glob("index-*") if p.is_dir() and p.name not in keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[keep_count - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def current_index_path(build_dir: Path) -> Path:
    return (build_dir / CURRENT).resolve()


def load_index(path: Path, *, expected_model_id: str | None = None) -> LoadedIndex:
    """Load an index folder (or the ``current`` link); refuse a model mismatch."""
    import faiss

    path = path.resolve()
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise KnowledgeBaseError([f"no index at {path}: run `make index`"])
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if expected_model_id is not None and manifest.get("model_id") != expected_model_id:
        raise IndexMismatch(
            [f"index at {path} was built with {manifest.get('model_id')!r}, "
             f"not {expected_model_id!r}: run `make index`"]
        )
    entries_raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
    entries = {e["id"]: _entry_from_json(e) for e in entries_raw}
    docs = [IndexDoc(d["entry_id"], d["text"]) for d in manifest["docs"]]
    index = faiss.read_index(str(path / "faiss.index"))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    problems = []
    if index.ntotal != len(docs):
        problems.append(f"index has {index.ntotal} vectors but the manifest lists {len(docs)}")
    if index.d != manifest.get("dim"):
        problems.append(f"index dim {index.d} != manifest dim {manifest.get('dim')}")
    unknown = {d.entry_id for d in docs} - set(entries)
    if unknown:
        problems.append(f"manifest refers to unknown entries {sorted(unknown)[:5]}")
    classifier = EntryClassifier.load(path) if (path / "classifier.npz").is_file() else None
    if classifier is not None and set(classifier.labels) != set(entries):
        problems.append("classifier labels do not match the entries")
    if problems:
        raise IndexMismatch([f"{path}: {p}" for p in problems])
    return LoadedIndex(path=path, manifest=manifest, entries=entries, docs=docs, faiss_index=index,
                       classifier=classifier)


def search_dense(loaded: LoadedIndex, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    scores, ids = loaded.faiss_index.search(query_vector.reshape(1, -1).astype("float32"), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
