"""Check what an export wrote before it is published: files present, quantization block as the recipe asked.

Pure file reads (JSON + safetensors headers); no torch. Each problem is one line naming the file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "generation_config.json",
)


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (raises ValueError if the file is not one)."""
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("shorter than a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        if n <= 0 or n > 100 << 20:
            raise ValueError(f"implausible header length {n}")
        header = json.loads(f.read(n))
    size = path.stat().st_size
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        end = meta["data_offsets"][1]
        if 8 + n + end > size:
            raise ValueError(f"tensor {name} extends past the end of the file (truncated?)")
    return header


def _load_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        problems.append(f"{path.name} is missing")
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        problems.append(f"{path.name} is not valid JSON ({e})")
        return None


def _check_tensors(files: list[Path], problems: list[str]) -> int:
    count = 0
    for f in files:
        try:
            header = safetensors_header(f)
        except (OSError, ValueError) as e:
            problems.append(f"{f.name} is not a readable safetensors file ({e})")
            continue
        count += sum(1 for k in header if k != "__metadata__")
    return count


def validate_trtllm(d: Path, tp: int, pp: int, quant_algo: str, kv_algo: str | None) -> dict[str, Any]:
    """TensorRT-LLM checkpoint: config.json + rank{i}.safetensors for i < tp*pp, quantization block as
    asked."""
    problems: list[str] = []
    cfg = _load_json(d / "config.json", problems)
    world = tp * pp
    ranks = [d / f"rank{i}.safetensors" for i in range(world)]
    problems += [
        f"{r.name} is missing (world size {world} = tp {tp} x pp {pp})" for r in ranks if not r.is_file()
    ]
    extra = sorted(p.name for p in d.glob("rank*.safetensors") if p not in ranks)
    if extra:
        problems.append(f"unexpected rank files {extra} for world size {world}")
    if cfg is not None:
        mapping = cfg.get("mapping") or {}
        for key, want in (("world_size", world), ("tp_size", tp), ("pp_size", pp)):
            if mapping.get(key) != want:
                problems.append(f"config.json mapping.{key} is {mapping.get(key)!r}, expected {want}")
        q = cfg.get("quantization") or {}
        _check_quant_block(q, quant_algo, kv_algo, "config.json quantization", problems)
    tensors = _check_tensors([r for r in ranks if r.is_file()], problems)
    return {
        "kind": "trtllm",
        "ok": not problems,
        "problems": problems,
        "files": sorted(p.name for p in d.iterdir()),
        "tensors": tensors,
        "bytes": _size(d),
        "tp": tp,
        "pp": pp,
    }


def validate_hf(d: Path, quant_algo: str, kv_algo: str | None) -> dict[str, Any]:
    """Unified HF checkpoint: config.json (quant_method modelopt), hf_quant_config.json, weights,
    tokenizer."""
    problems: list[str] = []
    cfg = _load_json(d / "config.json", problems)
    hq = _load_json(d / "hf_quant_config.json", problems)
    if cfg is not None:
        qc = cfg.get("quantization_config") or {}
        if qc.get("quant_method") != "modelopt":
            problems.append(
                f"config.json quantization_config.quant_method is {qc.get('quant_method')!r}, "
                "expected 'modelopt'"
            )
        if not cfg.get("architectures"):
            problems.append("config.json has no architectures")
    if hq is not None:
        _check_quant_block(
            hq.get("quantization") or {}, quant_algo, kv_algo, "hf_quant_config.json quantization", problems
        )
    index = d / "model.safetensors.index.json"
    if index.is_file():
        idx = _load_json(index, problems) or {}
        shards = sorted({d / v for v in (idx.get("weight_map") or {}).values()})
        problems += [f"{s.name} (listed in the index) is missing" for s in shards if not s.is_file()]
        shards = [s for s in shards if s.is_file()]
    else:
        shards = [d / "model.safetensors"]
        if not shards[0].is_file():
            problems.append("model.safetensors is missing")
            shards = []
    tensors = _check_tensors(shards, problems)
    if not (d / "tokenizer.json").is_file() and not (d / "tokenizer.model").is_file():
        problems.append("no tokenizer (tokenizer.json / tokenizer.model) next to the weights")
    return {
        "kind": "hf",
        "ok": not problems,
        "problems": problems,
        "files": sorted(p.name for p in d.iterdir()),
        "tensors": tensors,
        "bytes": _size(d),
    }


def _check_quant_block(
    q: dict[str, Any], quant_algo: str, kv_algo: str | None, where: str, problems: list[str]
) -> None:
    got = q.get("quant_algo")
    if got is None or str(got).upper() != quant_algo.upper():
        problems.append(f"{where}.quant_algo is {got!r}, expected {quant_algo!r}")
    got_kv = q.get("kv_cache_quant_algo")
    if (got_kv or None) != (kv_algo or None) and str(got_kv).upper() != str(kv_algo).upper():
        problems.append(f"{where}.kv_cache_quant_algo is {got_kv!r}, expected {kv_algo!r}")


def copy_tokenizer(src: Path, dst: Path) -> list[str]:
    """Copy tokenizer/generation files the export does not write; returns the names copied."""
    import shutil

    copied = []
    for name in TOKENIZER_FILES:
        s = src / name
        if s.is_file() and not (dst / name).exists():
            shutil.copy2(s, dst / name)
            copied.append(name)
    return copied


def _size(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
