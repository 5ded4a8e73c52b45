"""Dense decoder family: Llama 2/3.x, Mistral, Qwen2/2.5, Qwen3 (dense).

Differences that change the count: Qwen2 always has q/k/v biases (no o bias); Llama's
`attention_bias` covers q/k/v/o and `mlp_bias` the MLP; Qwen3 adds per-head q/k RMSNorms.
"""

from __future__ import annotations

from typing import Any

from trtforge.models.families.common import (
    attention_weights,
    dims,
    embeddings,
    gated_mlp,
    need,
    qkv_bias,
    standard_kv,
)
from trtforge.models.spec import ATTENTION, EMBEDDING, LM_HEAD, MLP, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    d = dims(cfg)
    hidden, layers, heads, kv, hd = d
    inter = int(need(cfg, "intermediate_size"))

    small = 2 * hidden  # input + post-attention RMSNorm
    if model_type == "qwen2":
        small += qkv_bias(heads, kv, hd)
    elif cfg.get("attention_bias"):
        small += qkv_bias(heads, kv, hd) + hidden
    if cfg.get("mlp_bias"):
        small += 2 * inter + hidden
    if model_type == "qwen3":
        small += 2 * hd  # q_norm, k_norm
    emb, head = embeddings(cfg, hidden)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        MLP: layers * gated_mlp(hidden, inter),
        SMALL: layers * small + hidden,
    }
    if model_type == "qwen2" and not cfg.get("use_sliding_window"):
        cfg = {**cfg, "sliding_window": None, "layer_types": None}
    return dict(
        **d.fields(),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=dict(total)),
        kv_groups=standard_kv(cfg, layers, kv, hd),
    )
