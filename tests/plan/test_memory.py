"""Bytes per weight (with scale overhead), sharding of weights, reserve, and the KV-cache split."""

from __future__ import annotations

import pytest

from trtforge.models import load_model_spec
from trtforge.plan.formats import kv_formats, weight_formats
from trtforge.plan.memory import GIB, group_bytes, max_seq_len_in, reserve_bytes, weights_per_gpu


@pytest.mark.parametrize(
    "fmt,expected",
    [
        ("none", 2.0),
        ("fp8", 1.0),
        ("nvfp4", 0.5 + 1 / 16),
        ("mxfp4", 0.5 + 1 / 32),
        ("int4_awq", 0.5 + 2 / 128),
        ("w4a8_awq", 0.5 + 2 / 128),
        ("int8_sq", 1.0),
        ("fp8_block", 1 + 4 / (128 * 128)),
    ],
)
def test_bytes_per_weight_include_scales(fmt: str, expected: float) -> None:
    assert weight_formats()[fmt].bytes_per_weight == pytest.approx(expected)


def test_kv_formats() -> None:
    assert kv_formats()["fp8"].bytes == 1.0 and kv_formats()["nvfp4"].bytes == pytest.approx(0.5625)
    assert kv_formats()["nvfp4"].min_sm == 100 and kv_formats()["fp8"].min_sm == 89


def test_gpt_oss_weights_keep_attention_and_embeddings_in_bf16() -> None:
    spec = load_model_spec("openai/gpt-oss-120b")
    by_group = group_bytes(spec, ("experts",), 0.53125)
    assert by_group["experts"] == spec.params.total["experts"] * 0.53125
    assert by_group["attention"] == spec.params.total["attention"] * 2
    assert by_group["embedding"] == spec.params.total["embedding"] * 2
    assert 64e9 < sum(by_group.values()) < 66e9  # ~65 GB (shared/models/README.md)


def test_sharding() -> None:
    spec = load_model_spec("meta-llama/Llama-3.1-70B-Instruct")
    by_group = group_bytes(spec, (), 2.0)
    one = weights_per_gpu(spec, by_group, 1, 1)
    assert one == pytest.approx(sum(by_group.values()))
    small = by_group["small"]  # norms are replicated, everything else splits
    assert weights_per_gpu(spec, by_group, 2, 1) == pytest.approx((one - small) / 2 + small)
    # pp=2: half the layers plus the larger of embedding / lm_head on the busiest stage.
    layers = sum(by_group[g] for g in ("attention", "mlp", "small"))
    assert weights_per_gpu(spec, by_group, 1, 2) == pytest.approx(layers / 2 + by_group["lm_head"])


def test_reserve_grows_with_max_num_tokens() -> None:
    spec = load_model_spec("openai/gpt-oss-120b")
    small = reserve_bytes(spec, "pytorch", 1, 1, 1, 2048, 64)
    large = reserve_bytes(spec, "pytorch", 1, 1, 1, 16384, 64)
    assert 2 * GIB < small < large < 8 * GIB
    assert reserve_bytes(spec, "pytorch", 2, 1, 2, 2048, 64) > 2.5 * GIB  # NCCL buffers


def test_max_seq_len_in_respects_windows() -> None:
    spec = load_model_spec("openai/gpt-oss-120b")
    budget = 10 * GIB
    n = max_seq_len_in(spec, "bf16", 1, 1, budget)
    assert spec.kv_bytes_for_sequence_per_gpu(n, "bf16", 1, 1) <= budget
    assert spec.kv_bytes_for_sequence_per_gpu(n + 1, "bf16", 1, 1) > budget
    llama = load_model_spec("meta-llama/Llama-3.1-8B-Instruct")
    assert max_seq_len_in(llama, "bf16", 1, 1, 131072 * 1000) == 1000
