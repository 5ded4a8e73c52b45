"""`auto` values for max_batch_size / max_num_tokens / max_seq_len.

The batch-size and token rounding is trtllm-bench's `finetune_setting` (tensorrt_llm/bench/build/tuning.py
@04cba882084a25665e7f80f5bda71b35b9790b6f), reproduced exactly in `trtllm_bench_setting`. Where trtforge
differs, and why (docs/planning.md has the table):
- Requests are bounded by the workload's concurrency as well as by the KV cache (trtllm-bench knows no
  concurrency, only the KV cache), so a 64-user service gets max_batch_size 64, as NVIDIA's tuned configs do.
- KV capacity comes from our memory model (weights + activations reserve, free_gpu_memory_fraction of the
  rest) instead of trtllm-bench's 0.95 x (total - weights), which ignores activations.
- On the PyTorch backend max_num_tokens is raised to cover a prefill wave (concurrency x ISL) up to 16384:
  NVIDIA's tuned gpt-oss configs use 16384-20000 where trtllm-bench's formula gives 2048.
"""

from __future__ import annotations

import math

PYTORCH_PREFILL_TOKENS_CAP = 16384  # curated gpt-oss configs; database configs use up to 20000
MAX_REQUESTS_CAP = 4096  # trtllm-bench: caps the decoder buffers
MAX_TOKENS_CAP = 32768  # trtllm-bench: caps the activation buffers
SEQ_SLACK = (
    256  # headroom above ISL + OSL for chat templates / stop tokens (NVIDIA's H200 config: 2048 -> 2304)
)


def trtllm_bench_setting(
    kv_cache_max_requests: float, input_len: int, output_len: int, pp: int
) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) exactly as trtllm-bench's optimistic `finetune_setting`."""
    raw_bs = min(kv_cache_max_requests, MAX_REQUESTS_CAP) / pp
    raw_token = min(raw_bs * (1 + input_len / output_len), MAX_TOKENS_CAP)
    if raw_bs < 256:
        max_bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        max_bs = 128 * math.ceil(raw_bs / 128)
    else:
        max_bs = 256 * math.ceil(raw_bs / 256)
    if raw_token < 4096:
        max_token = max(2048, 256 * math.ceil(raw_token / 256))
    elif raw_token < 8192:
        max_token = 512 * math.ceil(raw_token / 512)
    else:
        max_token = 1024 * math.ceil(raw_token / 1024)
    return max_bs, max_token


def auto_batch_and_tokens(
    kv_max_requests: float, input_len: int, output_len: int, concurrency: int, pp: int, backend: str
) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens): trtllm-bench's rounding of requests bounded by concurrency."""
    requests = max(1.0, min(kv_max_requests, float(concurrency)))
    max_bs, max_tokens = trtllm_bench_setting(requests, input_len, output_len, pp)
    if backend == "pytorch":
        wave = 1024 * math.ceil(min(requests * input_len, PYTORCH_PREFILL_TOKENS_CAP) / 1024)
        max_tokens = max(max_tokens, wave)
    return max_bs, max(max_tokens, max_bs)


def workload_seq_len(input_len: int, output_len: int) -> int:
    """max_seq_len for a stated workload: ISL + OSL rounded up to 256, plus 256 of slack."""
    return SEQ_SLACK * math.ceil((input_len + output_len) / SEQ_SLACK) + SEQ_SLACK


def round_down(value: int, step: int) -> int:
    return value if value < step else step * (value // step)
