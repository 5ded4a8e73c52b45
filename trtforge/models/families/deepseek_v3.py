"""DeepSeek-V3 / R1: multi-head latent attention (MLA), `first_k_dense_replace` dense layers, then
MoE layers with routed + shared experts and a sigmoid router with a score-correction bias.

The KV cache holds one compressed latent (kv_lora_rank) plus the decoupled RoPE key (qk_rope_head_dim)
per layer and token, shared by all heads. The multi-token-prediction module
(`num_nextn_predict_layers`) is not part of the served model and is reported as a note.
"""

from __future__ import annotations

from typing import Any

from trtforge.models.families.common import embeddings, gated_mlp, kv_groups, layer_windows, need
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


def mla_attention(cfg: dict[str, Any], hidden: int, heads: int) -> tuple[int, int]:
    """(linear weights, norm weights) of one MLA block."""
    q_lora = cfg.get("q_lora_rank")
    kv_lora = int(need(cfg, "kv_lora_rank"))
    rope = int(need(cfg, "qk_rope_head_dim"))
    nope = int(need(cfg, "qk_nope_head_dim"))
    v_dim = int(need(cfg, "v_head_dim"))
    q_head = nope + rope
    if q_lora:
        q = hidden * int(q_lora) + int(q_lora) * heads * q_head
        norms = int(q_lora) + kv_lora
    else:
        q = hidden * heads * q_head
        norms = kv_lora
    kv = hidden * (kv_lora + rope) + kv_lora * heads * (nope + v_dim)
    o = heads * v_dim * hidden
    return q + kv + o, norms


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    hidden = int(need(cfg, "hidden_size"))
    layers = int(need(cfg, "num_hidden_layers"))
    heads = int(need(cfg, "num_attention_heads"))
    inter = int(need(cfg, "intermediate_size"))
    moe_inter = int(need(cfg, "moe_intermediate_size"))
    experts = int(need(cfg, "n_routed_experts"))
    shared = int(cfg.get("n_shared_experts") or 0)
    top_k = int(need(cfg, "num_experts_per_tok"))
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(cfg.get("moe_layer_freq") or 1)
    n_moe = sum(1 for i in range(first_dense, layers) if i % freq == 0)
    attn, attn_norms = mla_attention(cfg, hidden, heads)
    emb, head = embeddings(cfg, hidden)
    per_expert = gated_mlp(hidden, moe_inter)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attn,
        MLP: (layers - n_moe) * gated_mlp(hidden, inter),
        EXPERTS: n_moe * experts * per_expert,
        SHARED_EXPERTS: n_moe * shared * per_expert,
        ROUTER: n_moe * (hidden * experts + experts),  # gate weight + e_score_correction_bias
        SMALL: layers * (2 * hidden + attn_norms) + hidden,
    }
    active = {**total, EXPERTS: n_moe * top_k * per_expert}
    latent = int(need(cfg, "kv_lora_rank")) + int(need(cfg, "qk_rope_head_dim"))
    notes = []
    mtp = int(cfg.get("num_nextn_predict_layers") or 0)
    if mtp:
        mtp_params = mtp * (
            attn
            + attn_norms
            + experts * per_expert
            + shared * per_expert
            + hidden * experts
            + experts
            + 2 * hidden * hidden
            + 5 * hidden
        )
        notes.append(
            f"{mtp} multi-token-prediction layer(s) (~{mtp_params / 1e9:.1f}B params) are not "
            "counted: they are used only for speculative decoding"
        )
    return dict(
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=heads,
        head_dim=int(cfg.get("qk_nope_head_dim", 128)) + int(cfg.get("qk_rope_head_dim", 64)),
        intermediate_size=inter,
        params=ParamCounts(total=total, active=active),
        kv_groups=kv_groups(
            layer_windows({**cfg, "sliding_window": None, "layer_types": None}, layers), latent, 0
        ),
        num_experts=experts,
        experts_per_token=top_k,
        num_shared_experts=shared,
        moe_intermediate_size=moe_inter,
        num_moe_layers=n_moe,
        mla=True,
        notes=tuple(notes),
    )
