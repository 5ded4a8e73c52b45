"""Phi-3 (mini / small-context medium): fused qkv_proj and gate_up_proj, no biases."""

from __future__ import annotations

from typing import Any

from trtforge.models.families.common import (
    attention_weights,
    embeddings,
    gated_mlp,
    head_dim,
    kv_heads,
    need,
    standard_kv,
)
from trtforge.models.spec import ATTENTION, EMBEDDING, LM_HEAD, MLP, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    hidden = int(need(cfg, "hidden_size"))
    layers = int(need(cfg, "num_hidden_layers"))
    heads = int(need(cfg, "num_attention_heads"))
    inter = int(need(cfg, "intermediate_size"))
    kv, hd = kv_heads(cfg), head_dim(cfg)
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
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv,
        head_dim=hd,
        intermediate_size=inter,
        params=ParamCounts(total=total, active=dict(total)),
        kv_groups=standard_kv(cfg, layers, kv, hd),
    )
