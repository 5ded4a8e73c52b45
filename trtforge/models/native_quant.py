"""Read the quantization a published checkpoint already carries (config.json `quantization_config`)."""

from __future__ import annotations

import fnmatch
from typing import Any

from trtforge.models.spec import ATTENTION, EXPERTS, MLP, QUANTIZABLE_GROUPS, SHARED_EXPERTS, NativeQuant
from trtforge.toolchain.quant_formats import format_for_quant_algo

# Module-name patterns (as in modules_to_not_convert / ignore lists) -> the group they denote.
_GROUP_PATTERNS = {
    ATTENTION: ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn"),
    MLP: ("model.layers.0.mlp.gate_proj",),
    EXPERTS: (
        "model.layers.0.mlp.experts",
        "model.layers.0.mlp.experts.0.gate_proj",
        "model.layers.0.feed_forward.experts",
    ),
    SHARED_EXPERTS: ("model.layers.0.mlp.shared_experts", "model.layers.0.feed_forward.shared_expert"),
}


def _excluded(group: str, patterns: tuple[str, ...]) -> bool:
    names = _GROUP_PATTERNS[group]
    return any(
        fnmatch.fnmatch(name, pat) or name.startswith(pat.rstrip("*").rstrip("."))
        for name in names
        for pat in patterns
        if pat
    )


def parse_native_quant(cfg: dict[str, Any]) -> NativeQuant | None:
    """NativeQuant for a pre-quantized checkpoint, None for a plain BF16/FP16 one."""
    qc = cfg.get("quantization_config") or (cfg.get("text_config") or {}).get("quantization_config")
    if not qc:
        return None
    method = str(qc.get("quant_method", "unknown")).lower()
    skip = tuple(qc.get("modules_to_not_convert") or qc.get("ignore") or qc.get("ignored_layers") or ())
    fmt: str | None = None
    detail: dict[str, Any] = {}
    if method == "mxfp4":
        fmt = "mxfp4"
    elif method == "fp8":
        block = qc.get("weight_block_size")
        fmt = "fp8_block" if block else "fp8"
        if block:
            detail["weight_block_size"] = list(block)
    elif method in ("awq", "gptq"):
        bits = int(qc.get("bits", 4))
        fmt = "int4_awq" if bits == 4 else None
        detail["group_size"] = qc.get("group_size")
    elif method == "modelopt":
        algo = str(qc.get("quant_algo", "")).upper()
        fmt = format_for_quant_algo(algo)  # the quantization table's quant_algo column, read backwards
        detail["quant_algo"] = algo
        skip = tuple(qc.get("exclude_modules") or skip)
    groups = tuple(g for g in QUANTIZABLE_GROUPS if not _excluded(g, skip))
    return NativeQuant(method=method, format=fmt, groups=groups, modules_not_converted=skip, detail=detail)
