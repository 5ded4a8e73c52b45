"""ModelSpec -> the JSON document `trtforge inspect --json` prints (pure)."""

from __future__ import annotations

from typing import Any

from trtforge.models.spec import ModelSpec

REPORTED_KV_DTYPES = ("bf16", "fp8")


def inspect_report(spec: ModelSpec) -> dict[str, Any]:
    """Everything `inspect` shows, keyed as documented in docs/planning.md."""
    native = spec.native_quantization
    windows = sorted({g.window for g in spec.kv_groups if g.window})
    report: dict[str, Any] = {
        "architecture": spec.architecture,
        "model_type": spec.model_type,
        "family": spec.family,
        "dtype": spec.dtype,
        "total_params": spec.total_params,
        "active_params": spec.active_params,
        "active_params_without_embedding": spec.params.active_params_without_embedding,
        "params_by_group": {g: n for g, n in spec.params.total.items() if n},
        "num_layers": spec.num_layers,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_attention_heads": spec.num_attention_heads,
        "num_kv_heads": spec.num_kv_heads,
        "head_dim": spec.head_dim,
        "num_experts": spec.num_experts,
        "experts_per_token": spec.experts_per_token,
        "num_shared_experts": spec.num_shared_experts,
        "num_moe_layers": spec.num_moe_layers,
        "vocab_size": spec.vocab_size,
        "max_position_embeddings": spec.max_position_embeddings,
        "attention": "mla"
        if spec.mla
        else ("gqa" if spec.num_kv_heads < spec.num_attention_heads else "mha"),
        "attention_windows": {
            str(w): sum(g.layers for g in spec.kv_groups if g.window == w) for w in windows
        },
        # Marginal bytes per token (full-attention layers; windowed layers are the per-sequence cost below).
        "kv_cache_bytes_per_token": {d: spec.kv_bytes_per_token(d) for d in REPORTED_KV_DTYPES},
        "kv_cache_window_bytes_per_sequence": {
            d: spec.kv_window_bytes_per_sequence(d) for d in REPORTED_KV_DTYPES
        },
        "native_quantization": None
        if native is None
        else {
            "method": native.method,
            "format": native.format,
            "quantized_groups": list(native.groups),
            "modules_not_converted": list(native.modules_not_converted),
            **native.detail,
        },
        "backends": dict(spec.backends),
        "backend_notes": list(spec.backend_notes),
        "notes": list(spec.notes),
        "source": spec.source,
    }
    for key in ("kv_cache_bytes_per_token", "kv_cache_window_bytes_per_sequence"):
        report[key] = {d: int(v) if float(v).is_integer() else v for d, v in report[key].items()}
    return report
