"""Phi-3 (mini / small-context medium): fused qkv_proj and gate_up_proj, no biases."""

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
from trtforge.models.spec import ATTENTION, EMBEDDING, LM_HEAD, MLP, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    d = dims(cfg)
    hidden, layers, heads, kv, hd = d
    inter = int(need(cfg, "intermediate_size"))
    emb, head = embeddings(cfg, hidden)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        # qkv_proj is one matrix of heads*hd + 2*kv*hd rows: the same count as separate q/k/v.
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        MLP: layers * gated_mlp(hidden, inter),
        SMALL: layers * 2 * hidden + hidden,
    }
    return dict(
        **d.fields(),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=dict(total)),
        kv_groups=standard_kv(cfg, layers, kv, hd),
    )
