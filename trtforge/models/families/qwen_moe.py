"""Qwen MoE: Qwen3-MoE (q/k norms, no shared expert) and Qwen2-MoE (qkv bias, gated shared expert).

A layer is sparse when it is not in `mlp_only_layers` and (index + 1) is a multiple of
`decoder_sparse_step`; other layers use a dense MLP of `intermediate_size`.
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
from trtforge.models.spec import (
    ATTENTION,
    EMBEDDING,
    EXPERTS,
    LM_HEAD,
    MLP,
    ROUTER,
    SHARED_EXPERTS,
    SMALL,
    ParamCounts,
)


def moe_layer_indices(cfg: dict[str, Any], layers: int) -> list[int]:
    step = int(cfg.get("decoder_sparse_step") or 1)
    dense = set(cfg.get("mlp_only_layers") or [])
    return [i for i in range(layers) if i not in dense and (i + 1) % step == 0]


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    d = dims(cfg)
    hidden, layers, heads, kv, hd = d
    inter = int(need(cfg, "intermediate_size"))
    moe_inter = int(need(cfg, "moe_intermediate_size"))
    experts = int(need(cfg, "num_experts"))
    top_k = int(need(cfg, "num_experts_per_tok"))
    n_moe = len(moe_layer_indices(cfg, layers))
    n_dense = layers - n_moe

    small = 2 * hidden
    shared = 0
    if model_type == "qwen2_moe":
        small += qkv_bias(heads, kv, hd)
        shared_inter = int(cfg.get("shared_expert_intermediate_size") or 0)
        shared = gated_mlp(hidden, shared_inter) if shared_inter else 0
        router = hidden * experts + (hidden if shared_inter else 0)  # + shared_expert_gate
    else:
        small += 2 * hd  # q_norm, k_norm
        if cfg.get("attention_bias"):
            small += qkv_bias(heads, kv, hd) + hidden
        router = hidden * experts
    emb, head = embeddings(cfg, hidden)
    per_expert = gated_mlp(hidden, moe_inter)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        MLP: n_dense * gated_mlp(hidden, inter),
        EXPERTS: n_moe * experts * per_expert,
        SHARED_EXPERTS: n_moe * shared,
        ROUTER: n_moe * router,
        SMALL: layers * small + hidden,
    }
    active = {**total, EXPERTS: n_moe * top_k * per_expert}
    if not cfg.get("use_sliding_window"):
        cfg = {**cfg, "sliding_window": None, "layer_types": None}
    return dict(
        **d.fields(),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=active),
        kv_groups=standard_kv(cfg, layers, kv, hd),
        num_experts=experts,
        experts_per_token=top_k,
        num_shared_experts=1 if shared else 0,
        moe_intermediate_size=moe_inter,
        num_moe_layers=n_moe,
    )
