"""Per-GPU memory model: weights, reserve (runtime overhead + activations), KV cache.

    total = weights + reserve + KV cache + what the runtime leaves free
    KV cache = free_gpu_memory_fraction x (total - weights - reserve)

This is how the TensorRT-LLM runtime sizes its KV cache: it loads the weights, runs a forward pass of
max_num_tokens to measure activations, then takes `free_gpu_memory_fraction` of the memory still free.
docs/planning.md walks through it for gpt-oss-120b on an H100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trtforge.models import ModelSpec
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
)

GIB = 1024**3

# Fixed per-GPU overhead by backend, GiB: CUDA context (~0.5), cuBLAS/cuDNN workspaces and the runtime's
# decoder/sampler buffers; the PyTorch backend also keeps CUDA-graph pools and the allocator's slack.
RUNTIME_OVERHEAD_GIB = {"pytorch": 2.0, "tensorrt": 1.5, "reference": 0.5}
NCCL_OVERHEAD_GIB = 0.5  # NCCL/all-reduce buffers when more than one GPU works together
ACTIVATION_BYTES = 2  # BF16/FP16 activations
LOGITS_BYTES = 4  # FP32 logits of the sampled tokens


@dataclass(frozen=True)
class MemoryBreakdown:
    weights: float  # bytes per GPU
    reserve: float
    kv_cache: float
    total: float
    fraction: float

    @property
    def free_after_load(self) -> float:
        return self.total - self.weights - self.reserve


def group_bytes(
    spec: ModelSpec, quantized_groups: tuple[str, ...], bytes_per_weight: float, dtype_bytes: float = 2.0
) -> dict[str, float]:
    """Bytes per parameter group: quantized groups at the format's cost, the rest in the checkpoint dtype."""
    return {
        g: n * (bytes_per_weight if g in quantized_groups else dtype_bytes)
        for g, n in spec.params.total.items()
    }


def weights_per_gpu(spec: ModelSpec, by_group: dict[str, float], tp: int, pp: int) -> float:
    """Bytes of weights on the busiest GPU of a tp x pp layout.

    Attention, MLP and experts are split tp ways (experts over moe_tp x moe_ep = tp ranks); the embedding and
    lm_head are vocabulary-parallel; routers, norms and biases are replicated; a vision tower sits whole on
    the first stage. Pipeline stages hold ceil(layers / pp) layers; the first also holds the embedding and the
    last the lm_head, so the busiest stage is counted with the larger of the two.
    """
    layer_share = math.ceil(spec.num_layers / pp) / spec.num_layers
    sharded = sum(by_group.get(g, 0.0) for g in (ATTENTION, MLP, EXPERTS, SHARED_EXPERTS)) / tp
    replicated = by_group.get(ROUTER, 0.0) + by_group.get(SMALL, 0.0)
    emb, head = by_group.get(EMBEDDING, 0.0) / tp, by_group.get(LM_HEAD, 0.0) / tp
    ends = emb + head if pp == 1 else max(emb + by_group.get(VISION, 0.0), head)
    vision = by_group.get(VISION, 0.0) if pp == 1 else 0.0
    return (sharded + replicated) * layer_share + ends + vision


def activation_bytes_per_token(spec: ModelSpec, tp: int, ep: int) -> float:
    """Peak activation bytes per scheduled token inside one layer (the largest live tensors), per GPU."""
    hidden = spec.hidden_size
    elems: float = 4 * hidden  # residual stream, normed input, attention output, MLP output
    elems += (spec.num_attention_heads + 2 * spec.num_kv_heads) * spec.head_dim / tp  # fused qkv
    elems += spec.num_attention_heads * spec.head_dim / tp  # attention context before o_proj
    dense = 3 * spec.intermediate_size / tp if spec.num_moe_layers < spec.num_layers else 0.0
    moe = 0.0
    if spec.is_moe:
        moe_tp = max(1, tp // ep)
        # Routed tokens are permuted (top-k copies of the hidden state in and out) and expanded to the
        # expert's gate/up width; counted as if every routed copy lands on this rank (all-gather MoE).
        moe = spec.experts_per_token * (2 * hidden + 3 * spec.moe_intermediate_size / moe_tp)
        if spec.num_shared_experts:
            moe += 3 * spec.num_shared_experts * spec.moe_intermediate_size / tp
    return max(dense, moe) * ACTIVATION_BYTES + elems * ACTIVATION_BYTES


def reserve_bytes(
    spec: ModelSpec, backend: str, tp: int, pp: int, ep: int, max_num_tokens: int, max_batch_size: int
) -> float:
    """Runtime overhead + activations of a max_num_tokens forward + FP32 logits of max_batch_size tokens."""
    fixed = RUNTIME_OVERHEAD_GIB[backend] + (NCCL_OVERHEAD_GIB if tp * pp > 1 else 0.0)
    activations = max_num_tokens * activation_bytes_per_token(spec, tp, ep)
    logits = max_batch_size * spec.vocab_size / tp * LOGITS_BYTES
    return fixed * GIB + activations + logits


def kv_bytes_per_token_per_gpu(spec: ModelSpec, kv_dtype: str, tp: int, pp: int, seq_len: int) -> float:
    """Average KV bytes per token on the busiest GPU, for sequences of `seq_len` tokens."""
    seq_len = max(1, seq_len)
    return spec.kv_bytes_for_sequence_per_gpu(seq_len, kv_dtype, tp, pp) / seq_len


def max_seq_len_in(spec: ModelSpec, kv_dtype: str, tp: int, pp: int, kv_bytes: float) -> int:
    """Longest single sequence whose KV cache fits in `kv_bytes` on the busiest GPU."""
    full = spec.kv_bytes_for_sequence_per_gpu(1, kv_dtype, tp, pp)  # every layer holds token 1
    if full <= 0 or kv_bytes <= 0:
        return 0
    windows = spec.kv_window_bytes_per_sequence(kv_dtype) > 0
    if not windows:
        return int(kv_bytes // full)
    # Past every window only full-attention layers grow: solve bytes(n) <= kv_bytes by bisection.
    lo, hi = 0, max(1, spec.max_position_embeddings) * 4
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if spec.kv_bytes_for_sequence_per_gpu(mid, kv_dtype, tp, pp) <= kv_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


__all__ = [
    "GIB",
    "MemoryBreakdown",
    "activation_bytes_per_token",
    "group_bytes",
    "kv_bytes_per_token_per_gpu",
    "max_seq_len_in",
    "reserve_bytes",
    "weights_per_gpu",
]
