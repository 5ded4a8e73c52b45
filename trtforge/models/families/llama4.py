"""Llama 4 (Scout, Maverick): nested text_config, MoE with a shared expert on `moe_layers`
(every `interleave_moe_layer_step`-th layer), dense layers of `intermediate_size_mlp`, chunked
attention on RoPE layers (every 4th layer is global NoPE), and a vision tower + projector.
"""

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
from trtforge.models.spec import (
    ATTENTION,
    EMBEDDING,
    EXPERTS,
    LM_HEAD,
    MLP,
    ROUTER,
    SHARED_EXPERTS,
    SMALL,
    VISION,
    ParamCounts,
)


def moe_layer_indices(text: dict[str, Any], layers: int) -> list[int]:
    if text.get("moe_layers") is not None:
        return [int(i) for i in text["moe_layers"]]
    step = int(text.get("interleave_moe_layer_step") or 1)
    return list(range(step - 1, layers, step))


def layer_types(text: dict[str, Any], layers: int) -> list[str]:
    if text.get("layer_types"):
        return list(text["layer_types"])
    no_rope = text.get("no_rope_layers")
    if not no_rope:
        interval = int(text.get("no_rope_layer_interval") or 4)
        no_rope = [int((i + 1) % interval != 0) for i in range(layers)]
    # no_rope_layers[i] == 1 means "uses RoPE" -> chunked attention; 0 -> global NoPE layer.
    return ["chunked_attention" if flag else "full_attention" for flag in no_rope]


def vision_params(vision: dict[str, Any], text_hidden: int) -> int:
    """Llama4VisionModel + multi_modal_projector (transformers' modeling_llama4)."""
    if not vision:
        return 0
    h = int(vision.get("hidden_size", 768))
    inter = int(vision.get("intermediate_size", 5632))
    layers = int(vision.get("num_hidden_layers", 34))
    patch = int(vision.get("patch_size", 14))
    image = int(vision.get("image_size", 448))
    channels = int(vision.get("num_channels", 3))
    proj_in = int(vision.get("projector_input_dim", 4096))
    proj_out = int(vision.get("projector_output_dim", 4096))
    out_dim = int(vision.get("vision_output_dim", 7680))
    patches = (image // patch) ** 2 + 1
    per_layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * 2 * h
    return (
        channels * patch * patch * h  # unfold-conv patch embedding, no bias
        + h
        + patches * h  # class + positional embeddings
        + 2 * 2 * h  # layernorm_pre / layernorm_post (weight + bias)
        + layers * per_layer
        + inter * proj_in
        + proj_out * proj_out  # pixel-shuffle MLP fc1 / fc2
        + out_dim * text_hidden
    )  # multi_modal_projector


def build(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    text = cfg.get("text_config") or cfg
    hidden = int(need(text, "hidden_size"))
    layers = int(need(text, "num_hidden_layers"))
    heads = int(need(text, "num_attention_heads"))
    inter = int(need(text, "intermediate_size"))
    inter_mlp = int(text.get("intermediate_size_mlp") or inter)
    experts = int(need(text, "num_local_experts"))
    top_k = int(need(text, "num_experts_per_tok"))
    kv, hd = kv_heads(text), head_dim(text)
    n_moe = len(moe_layer_indices(text, layers))
    per_expert = gated_mlp(hidden, inter)
    tied = text.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
    emb, head = embeddings({**text, "tie_word_embeddings": tied}, hidden)
    total = {
        EMBEDDING: emb,
        LM_HEAD: head,
        ATTENTION: layers * attention_weights(hidden, heads, kv, hd),  # qk norm has no weights
        MLP: (layers - n_moe) * gated_mlp(hidden, inter_mlp),
        EXPERTS: n_moe * experts * per_expert,
        SHARED_EXPERTS: n_moe * per_expert,
        ROUTER: n_moe * hidden * experts,
        VISION: vision_params(cfg.get("vision_config") or {}, hidden),
        SMALL: layers * 2 * hidden + hidden,
    }
    active = {**total, EXPERTS: n_moe * top_k * per_expert}
    kv_cfg = {**text, "layer_types": layer_types(text, layers)}
    return dict(
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv,
        head_dim=hd,
        intermediate_size=inter_mlp,
        params=ParamCounts(total=total, active=active),
        kv_groups=standard_kv(kv_cfg, layers, kv, hd),
        num_experts=experts,
        experts_per_token=top_k,
        num_shared_experts=1,
        moe_intermediate_size=inter,
        num_moe_layers=n_moe,
    )
