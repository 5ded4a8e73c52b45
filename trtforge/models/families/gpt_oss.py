"""gpt-oss: biased q/k/v/o projections, per-head attention sinks, biased router and experts.

Experts store a fused gate_up projection (E, hidden, 2*inter) with a (E, 2*inter) bias and a down
projection (E, inter, hidden) with a (E, hidden) bias. Layers alternate sliding (128) and full attention.
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
from trtforge.models.spec import ATTENTION, EMBEDDING, EXPERTS, LM_HEAD, ROUTER, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    d = dims(cfg)
    hidden, layers, heads, kv, hd = d
    inter = int(need(cfg, "intermediate_size"))
    experts = int(cfg.get("num_local_experts") or need(cfg, "num_experts"))
    top_k = int(cfg.get("num_experts_per_tok") or need(cfg, "experts_per_token"))
    emb, head = embeddings(cfg, hidden)
    per_expert = gated_mlp(hidden, inter)
    per_expert_bias = 2 * inter + hidden
    attn_small = qkv_bias(heads, kv, hd) + hidden + heads  # biases + sinks
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        EXPERTS: layers * experts * per_expert,
        ROUTER: layers * (hidden * experts + experts),
        SMALL: layers * (2 * hidden + attn_small + experts * per_expert_bias) + hidden,
    }
    active = {
        **total,
        EXPERTS: layers * top_k * per_expert,
        SMALL: layers * (2 * hidden + attn_small + top_k * per_expert_bias) + hidden,
    }
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
