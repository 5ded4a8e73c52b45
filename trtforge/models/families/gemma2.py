"""Gemma 2: four RMSNorms per layer, tied embeddings by default, alternating sliding/global layers."""

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
        **d.fields(),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=dict(total)),
        kv_groups=standard_kv(cfg, layers, kv, hd),
    )
