"""Checkpoint smoke checks that need neither torch nor a GPU: structure, and every weight's bits.

Reads safetensors files directly (8-byte little-endian header length, JSON header, raw tensor bytes) and
streams each floating-point tensor through a fixed buffer, counting non-finite values from the bit patterns,
so it works for BF16 and FP8 (which numpy cannot represent) and keeps memory flat for any checkpoint size.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 16 << 20  # bytes read per step (a multiple of every element size)
ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
    "F4": 1,
    "E8M0": 1,
}


def _nonfinite(dtype: str, raw: bytes) -> int:
    """How many values in `raw` (whole elements of dtype) are NaN or infinite; 0 for integer types."""
    if dtype == "F32":
        return int(np.count_nonzero(~np.isfinite(np.frombuffer(raw, "<f4"))))
    if dtype == "F64":
        return int(np.count_nonzero(~np.isfinite(np.frombuffer(raw, "<f8"))))
    if dtype == "F16":
        return int(np.count_nonzero((np.frombuffer(raw, "<u2") & 0x7C00) == 0x7C00))
    if dtype == "BF16":
        return int(np.count_nonzero((np.frombuffer(raw, "<u2") & 0x7F80) == 0x7F80))
    if dtype == "F8_E4M3":  # e4m3fn: no infinities; NaN is S.1111.111
        return int(np.count_nonzero((np.frombuffer(raw, "u1") & 0x7F) == 0x7F))
    if dtype == "F8_E5M2":  # IEEE-like: exponent all ones is inf or NaN
        return int(np.count_nonzero((np.frombuffer(raw, "u1") & 0x7C) == 0x7C))
    return 0


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """(header, offset of the data section) of a safetensors file; ValueError if it is not one."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > 100 << 20:
            raise ValueError(f"header length {n} is implausible")
        header = json.loads(f.read(n))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header, 8 + n


@dataclass
class Report:
    files: int = 0
    tensors: int = 0
    bytes: int = 0
    nonfinite: dict[str, int] = field(default_factory=dict)
    zero_tensors: list[str] = field(default_factory=list)
    quantization: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "tensors": self.tensors,
            "bytes": self.bytes,
            "nonfinite": self.nonfinite,
            "zero_tensors": self.zero_tensors,
            "quantization": self.quantization,
            "problems": self.problems,
        }


def _check_file(path: Path, report: Report, *, scan_values: bool) -> set[str]:
    try:
        header, start = read_header(path)
    except (OSError, ValueError) as exc:
        report.problems.append(f"{path.name}: unreadable safetensors header ({exc})")
        return set()
    size = path.stat().st_size
    names = {k for k in header if k != "__metadata__"}
    report.files += 1
    with open(path, "rb") as f:
        for name in sorted(names, key=lambda k: header[k].get("data_offsets", [0])[0]):
            info = header[name]
            dtype, shape, (lo, hi) = (
                info.get("dtype"),
                info.get("shape", []),
                info.get("data_offsets", (0, -1)),
            )
            item = ITEMSIZE.get(dtype)
            count = 1
            for d in shape:
                count *= d
            if item is None:
                report.problems.append(f"{path.name}: {name} has unknown dtype {dtype}")
                continue
            if dtype != "F4" and hi - lo != count * item:
                report.problems.append(
                    f"{path.name}: {name} holds {hi - lo} bytes, shape {shape} x {dtype} needs {count * item}"
                )
                continue
            if start + hi > size:
                report.problems.append(f"{path.name}: {name} runs past the end of the file (truncated?)")
                continue
            report.tensors += 1
            report.bytes += hi - lo
            if not scan_values:
                continue
            f.seek(start + lo)
            left, bad, nonzero = hi - lo, 0, False
            while left > 0:
                raw = f.read(min(BLOCK, left))
                left -= len(raw)
                bad += _nonfinite(dtype, raw)
                nonzero = nonzero or any(raw)
            if bad:
                report.nonfinite[name] = bad
            if not nonzero and count > 0:
                report.zero_tensors.append(name)
    return names


def check_checkpoint(ckpt: Path, *, scan_values: bool = True) -> Report:
    """Structural and numeric checks of a Hugging Face-style checkpoint directory."""
    report = Report()
    config_path = ckpt / "config.json"
    try:
        config = json.loads(config_path.read_text())
        if not config.get("architectures"):
            report.problems.append("config.json has no 'architectures'")
    except (OSError, ValueError) as exc:
        report.problems.append(f"config.json is missing or invalid ({exc.__class__.__name__})")
        config = {}
    quant = config.get("quantization_config") or {}
    if (ckpt / "hf_quant_config.json").is_file():
        try:
            hq = json.loads((ckpt / "hf_quant_config.json").read_text())
            report.quantization = (hq.get("quantization") or {}).get("quant_algo") or "modelopt"
        except (OSError, ValueError):
            report.problems.append("hf_quant_config.json is invalid JSON")
    elif quant:
        report.quantization = quant.get("quant_algo") or quant.get("quant_method") or "unknown"
    files = sorted(ckpt.glob("*.safetensors"))
    if not files:
        report.problems.append("no *.safetensors weights")
    present: dict[str, set[str]] = {f.name: _check_file(f, report, scan_values=scan_values) for f in files}
    index_path = ckpt / "model.safetensors.index.json"
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text()).get("weight_map", {})
        except (OSError, ValueError):
            weight_map = {}
            report.problems.append("model.safetensors.index.json is invalid JSON")
        for tensor, fname in sorted(weight_map.items()):
            if fname not in present:
                report.problems.append(f"index maps {tensor} to {fname}, which is missing")
            elif tensor not in present[fname]:
                report.problems.append(f"index maps {tensor} to {fname}, which does not hold it")
    for name, n in sorted(report.nonfinite.items()):
        report.problems.append(f"{name}: {n} NaN/Inf values")
    return report
