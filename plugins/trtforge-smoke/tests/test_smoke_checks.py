"""check_checkpoint on hand-written safetensors files: every dtype's NaN/Inf bit patterns, structure
problems."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from trtforge_smoke.checks import _nonfinite, check_checkpoint


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    """Write a safetensors file by hand (dtype names as the format spells them, raw little-endian bytes)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def bf16(values: list[float]) -> bytes:
    return (np.array(values, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()


def checkpoint(tmp_path: Path, tensors: dict, *, index: dict | None = None, quant: bool = False) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    write_safetensors(tmp_path / "model.safetensors", tensors)
    if index is not None:
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}))
    if quant:
        (tmp_path / "hf_quant_config.json").write_text(json.dumps({"quantization": {"quant_algo": "FP8"}}))
    return tmp_path


@pytest.mark.parametrize(
    "dtype,raw,bad",
    [
        ("F32", np.array([1.0, np.nan, np.inf, -np.inf, 0.0], "<f4").tobytes(), 3),
        ("F16", np.array([1.0, np.nan, np.inf, 65504.0], "<f2").tobytes(), 2),
        ("BF16", bf16([1.0, float("nan"), float("inf"), -3.0e38]), 2),
        ("F8_E4M3", bytes([0x00, 0x7E, 0x7F, 0xFF, 0xFE]), 2),  # e4m3fn: 0x7F/0xFF are NaN, 0x7E is 448
        ("F8_E5M2", bytes([0x7B, 0x7C, 0xFC, 0x7D, 0x01]), 3),  # 0x7C inf, 0xFC -inf, 0x7D NaN
        ("I8", bytes([0x7F, 0xFF]), 0),
    ],
)
def test_nonfinite_bit_patterns(dtype: str, raw: bytes, bad: int) -> None:
    assert _nonfinite(dtype, raw) == bad


def test_clean_checkpoint_passes(tmp_path: Path) -> None:
    ck = checkpoint(
        tmp_path,
        {
            "a.weight": ("BF16", [2, 2], bf16([1, 2, 3, 4])),
            "a.scale": ("F32", [1], np.array([0.5], "<f4").tobytes()),
        },
        quant=True,
    )
    report = check_checkpoint(ck)
    assert (
        report.problems == [] and report.tensors == 2 and report.files == 1 and report.quantization == "FP8"
    )


def test_nan_and_zero_tensors_are_found(tmp_path: Path) -> None:
    ck = checkpoint(
        tmp_path,
        {
            "good": ("BF16", [2], bf16([1, 2])),
            "nan": ("BF16", [2], bf16([1, float("nan")])),
            "zeros": ("F32", [3], bytes(12)),
        },
    )
    report = check_checkpoint(ck)
    assert report.nonfinite == {"nan": 1} and report.zero_tensors == ["zeros"]
    assert report.problems == ["nan: 1 NaN/Inf values"]
    assert check_checkpoint(ck, scan_values=False).problems == []  # structure only


def test_structure_problems(tmp_path: Path) -> None:
    ck = checkpoint(
        tmp_path,
        {"w": ("F32", [4], bytes(12))},  # 12 bytes where 4 x F32 needs 16
        index={"w": "model.safetensors", "missing": "model.safetensors", "x": "model-2.safetensors"},
    )
    problems = " | ".join(check_checkpoint(ck).problems)
    assert "w holds 12 bytes" in problems
    assert "index maps missing to model.safetensors, which does not hold it" in problems
    assert "index maps x to model-2.safetensors, which is missing" in problems


def test_truncated_file_and_missing_config(tmp_path: Path) -> None:
    ck = checkpoint(tmp_path, {"w": ("F32", [1024], bytes(4096))})
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[:-100])
    (ck / "config.json").unlink()
    problems = check_checkpoint(ck).problems
    assert any("runs past the end of the file" in p for p in problems)
    assert any(p.startswith("config.json is missing") for p in problems)
