"""ModelSpec: what a model's config.json says that planning needs, with exact parameter and KV arithmetic.

Parameters are counted per *group* because planning treats groups differently: a quantization format
applies to the linear weights of attention / MLP / experts, while embeddings, the output head, routers,
norms, biases and a vision tower stay in the checkpoint dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trtforge.toolchain.quant_formats import kv_dtype_bytes

# Parameter groups. QUANTIZABLE are the linear weights a weight-quantization format rewrites.
EMBEDDING = "embedding"
LM_HEAD = "lm_head"
ATTENTION = "attention"
MLP = "mlp"
EXPERTS = "experts"
SHARED_EXPERTS = "shared_experts"
ROUTER = "router"
VISION = "vision"
SMALL = "small"  # norms, biases, attention sinks, MLA norms: never quantized, negligible

QUANTIZABLE_GROUPS = (ATTENTION, MLP, EXPERTS, SHARED_EXPERTS)
ALL_GROUPS = (EMBEDDING, LM_HEAD, ATTENTION, MLP, EXPERTS, SHARED_EXPERTS, ROUTER, VISION, SMALL)


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts per group: `total` as stored, `active` as used for one token (MoE top-k)."""

    total: dict[str, int]
    active: dict[str, int]

    @property
    def total_params(self) -> int:
        return sum(self.total.values())

    @property
    def active_params(self) -> int:
        return sum(self.active.values())

    @property
    def active_params_without_embedding(self) -> int:
        """OpenAI / DeepSeek convention: active parameters without the input embedding table."""
        return self.active_params - self.active.get(EMBEDDING, 0)


@dataclass(frozen=True)
class KVGroup:
    """Layers that cache the same number of elements per token and share an attention window.

    `elements_per_token` is per layer: 2 * kv_heads * head_dim for K+V, or kv_lora_rank + rope_dim
    for an MLA latent cache. `window` is None for full attention, else the sliding/chunk size.
    `kv_heads` is 0 for an MLA latent cache (replicated on every tensor-parallel rank).
    """

    layers: int
    elements_per_token: int
    window: int | None = None
    kv_heads: int = 0


@dataclass(frozen=True)
class NativeQuant:
    """Quantization the published checkpoint already carries (config.json `quantization_config`)."""

    method: str  # as written in config.json: mxfp4, fp8, awq, gptq, modelopt, compressed-tensors
    format: str | None  # trtforge's format name (see trtforge/data/quant_formats.yaml), None if unknown
    groups: tuple[str, ...]  # parameter groups stored in that format
    modules_not_converted: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """Everything planning needs to know about one model, derived from config.json alone."""

    architecture: str
    model_type: str
    family: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    params: ParamCounts
    kv_groups: tuple[KVGroup, ...]
    dtype: str = "bf16"
    num_experts: int = 0
    experts_per_token: int = 0
    num_shared_experts: int = 0
    moe_intermediate_size: int = 0
    num_moe_layers: int = 0
    mla: bool = False
    native_quantization: NativeQuant | None = None
    backends: dict[str, bool] = field(default_factory=dict)
    backend_notes: tuple[str, ...] = ()
    pytorch_min_version: str | None = None
    notes: tuple[str, ...] = ()
    source: str = ""

    @property
    def total_params(self) -> int:
        return self.params.total_params

    @property
    def active_params(self) -> int:
        return self.params.active_params

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def windowed(self) -> bool:
        return any(g.window is not None for g in self.kv_groups)

    def kv_bytes_per_token(self, kv_dtype: str) -> float:
        """Marginal KV bytes per token once a sequence is longer than every attention window.

        Only full-attention layers grow with the sequence; windowed layers are a fixed cost per
        sequence (`kv_window_bytes_per_sequence`).
        """
        per_elem = kv_dtype_bytes(kv_dtype)
        return sum(g.layers * g.elements_per_token for g in self.kv_groups if g.window is None) * per_elem

    def kv_window_bytes_per_sequence(self, kv_dtype: str) -> float:
        """Bytes a sequence holds in windowed (sliding / chunked) layers once it fills their windows."""
        per_elem = kv_dtype_bytes(kv_dtype)
        return sum(g.layers * g.elements_per_token * g.window for g in self.kv_groups if g.window) * per_elem

    def kv_bytes_for_sequence(self, seq_len: int, kv_dtype: str) -> float:
        """KV bytes one sequence of `seq_len` tokens holds (all ranks together)."""
        per_elem = kv_dtype_bytes(kv_dtype)
        total = 0.0
        for g in self.kv_groups:
            tokens = seq_len if g.window is None else min(seq_len, g.window)
            total += g.layers * g.elements_per_token * tokens
        return total * per_elem

    def kv_bytes_for_sequence_per_gpu(self, seq_len: int, kv_dtype: str, tp: int, pp: int) -> float:
        """KV bytes one sequence holds on the busiest GPU of a tp x pp layout.

        Heads split over tensor-parallel ranks; when tp exceeds the KV heads, heads are replicated
        (one per rank, as trtllm-bench's `max(tp, kv_heads)` assumes). MLA latent caches are
        replicated on every rank. Pipeline stages hold ceil(layers / pp) layers.
        """
        per_elem = kv_dtype_bytes(kv_dtype)
        total = 0.0
        for g in self.kv_groups:
            if g.kv_heads:
                heads_per_rank = max(1, math.ceil(g.kv_heads / tp))
                elems = g.elements_per_token * heads_per_rank / g.kv_heads
            else:
                elems = g.elements_per_token
            tokens = seq_len if g.window is None else min(seq_len, g.window)
            total += g.layers * elems * tokens
        stage_share = math.ceil(self.num_layers / pp) / self.num_layers
        return total * per_elem * stage_share
