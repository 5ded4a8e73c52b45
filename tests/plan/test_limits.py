"""trtllm-bench's rounding, reproduced exactly, and trtforge's auto limits on top of it."""

from __future__ import annotations

import pytest

from trtforge.plan.limits import auto_batch_and_tokens, trtllm_bench_setting, workload_seq_len


# Expected values worked by hand from finetune_setting in tensorrt_llm/bench/build/tuning.py @04cba882.
@pytest.mark.parametrize(
    "requests,expected",
    [
        (10, (64, 2048)),  # min batch 64; min tokens 2048
        (100, (128, 2048)),  # 32 * ceil(100/32) = 128; 200 tokens -> 2048
        (300, (384, 2048)),  # 128 * ceil(300/128) = 384; 600 tokens -> 2048
    ],
)
def test_trtllm_bench_setting_small_cases(requests: float, expected: tuple[int, int]) -> None:
    assert trtllm_bench_setting(requests, 1024, 1024, 1) == expected


def test_trtllm_bench_setting_large_cases() -> None:
    assert trtllm_bench_setting(2000, 4096, 512, 1) == (2048, 18432)  # 256*ceil(2000/256); 18000 -> 1024*18
    assert trtllm_bench_setting(4000, 4096, 512, 1) == (4096, 32768)  # 36000 tokens capped at 32768
    assert trtllm_bench_setting(9000, 128, 128, 1) == (4096, 8192)  # requests capped at 4096; 8192 tokens
    assert trtllm_bench_setting(3000, 1024, 1024, 2) == (1536, 3072)  # pp halves; 128*ceil(1500/128) = 1536
    assert trtllm_bench_setting(2500, 1000, 1000, 1)[1] == 5120  # 5000 -> 512*ceil(5000/512)


def test_concurrency_bounds_the_batch() -> None:
    assert auto_batch_and_tokens(500, 1024, 1024, 64, 1, "tensorrt") == (64, 2048)
    # PyTorch backend: a prefill wave of 64 x 1024 tokens, capped at 16384.
    assert auto_batch_and_tokens(500, 1024, 1024, 64, 1, "pytorch") == (64, 16384)
    assert auto_batch_and_tokens(500, 512, 128, 4, 1, "pytorch") == (64, 2048)
    # The KV cache, not the concurrency, bounds it when it holds fewer requests.
    assert auto_batch_and_tokens(40, 1024, 1024, 256, 1, "tensorrt")[0] == 64
    assert auto_batch_and_tokens(300, 1024, 1024, 1000, 1, "tensorrt")[0] == 384


def test_workload_seq_len() -> None:
    assert workload_seq_len(1024, 1024) == 2304  # NVIDIA's H200 gpt-oss config
    assert workload_seq_len(2048, 512) == 2816
    assert workload_seq_len(1000, 1) == 1280
