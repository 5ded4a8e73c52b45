"""Gemma 2: four RMSNorms per layer, tied embeddings by default, alternating sliding/global layers."""

from __future__ import annotations

from typing import Any

from trtforge.models.families.common import (
    attention_weights,
    embeddings,
    gated_mlp,
    head_dim,
    kv_heads,
    need,
    qkv_bias,
    standard_kv,
)
from trtforge.models.spec import ATTENTION, EMBEDDING, LM_HEAD, MLP, SMALL, ParamCounts


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    hidden = int(need(cfg, "hidden_size"))
    layers = int(need(cfg, "num_hidden_layers"))
    heads = int(need(cfg, "num_attention_heads"))
    inter = int(need(cfg, "intermediate_size"))
    kv, hd = kv_heads(cfg), head_dim(cfg)
    small = 4 * hidden
    if cfg.get("attention_bias"):
        small += qkv_bias(heads, kv, hd) + hidden
    emb, head = embeddings(cfg, hidden, tied_default=True)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),
        MLP: layers * gated_mlp(hidden, inter),
        SMALL: layers * small + hidden,
    }
    if not cfg.get("layer_types"):
        # Older Gemma 2 configs predate layer_types: even layers slide, odd layers are global.
        cfg = {
            **cfg,
            "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
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
