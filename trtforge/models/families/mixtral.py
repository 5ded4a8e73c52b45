"""Mixtral: Llama attention, every layer a top-k MoE of SwiGLU experts, a bias-free router."""

from __future__ import annotations

from typing import Any

from trtforge.models.families.common import (
    attention_weights,
    dims,
    embeddings,
    gated_mlp,
    need,
    standard_kv,
)
from trtforge.models.spec import ATTENTION, EMBEDDING, EXPERTS, LM_HEAD, ROUTER, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    d = dims(cfg)
    hidden, layers, heads, kv, hd = d
    inter = int(need(cfg, "intermediate_size"))
    experts = int(need(cfg, "num_local_experts"))
    top_k = int(need(cfg, "num_experts_per_tok"))
    emb, head = embeddings(cfg, hidden)
    per_expert = gated_mlp(hidden, inter)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        EXPERTS: layers * experts * per_expert,
        ROUTER: layers * hidden * experts,
        SMALL: layers * 2 * hidden + hidden,
    }
    active = {**total, EXPERTS: layers * top_k * per_expert}
    return dict(
        **d.fields(),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=active),
        kv_groups=standard_kv(cfg, layers, kv, hd),
        num_experts=experts,
        experts_per_token=top_k,
        moe_intermediate_size=inter,
        num_moe_layers=layers,
    )
