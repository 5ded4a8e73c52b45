"""The facts the issue says the planner must get right, and NVIDIA's tuned configs as the bar."""

from __future__ import annotations

from tests.plan.conftest import plan_for

WORKLOAD_1K1K_64 = {"workload": {"input_len": 1024, "output_len": 1024, "concurrency": 64}}


def test_gpt_oss_120b_native_mxfp4_fits_one_h100() -> None:
    p = plan_for("openai/gpt-oss-120b", "H100")
    assert p.fits and p.errors == []
    assert p.backend == "pytorch" and p.moe_backend == "TRITON"
    assert (p.parallel.tp, p.parallel.pp, p.parallel.ep) == (1, 1, 1)
    assert p.quantization.format == "native" and p.quantization.weight_format == "mxfp4"
    assert p.quantization.quant_algo == "W4A16_MXFP4" and p.quantization.source == "native"
    # ~65 GB of weights (shared/models/README.md): 60-62 GiB.
    assert 60 < p.memory.weights_gib_per_gpu < 62
    assert (
        p.memory.weights_gib_per_gpu + p.memory.reserve_gib + p.memory.kv_cache_gib_per_gpu
        < p.memory.total_gib
    )
    assert p.limits.max_kv_tokens >= p.limits.max_seq_len == 131072


def test_llama4_scout_int4_awq_fits_one_h100_but_not_its_10m_context() -> None:
    p = plan_for("meta-llama/Llama-4-Scout-17B-16E-Instruct", "H100", quantization={"format": "int4_awq"})
    assert p.fits and p.backend == "pytorch" and p.parallel.tp == 1
    assert p.quantization.quant_algo == "W4A16_AWQ" and p.quantization.group_size == 128
    assert 50 < p.memory.weights_gib_per_gpu < 60  # ~56 GiB all-INT4 (shared/models/README.md)
    assert p.limits.max_seq_len < 10_485_760
    assert p.limits.max_kv_tokens >= p.limits.max_seq_len
    assert any("10485760-token context" in w and "capped" in w for w in p.warnings)


def test_llama_70b_bf16_needs_two_h100s() -> None:
    one = plan_for("meta-llama/Llama-3.1-70B-Instruct", "H100")
    assert not one.fits
    assert len(one.errors) == 1
    line = one.errors[0]
    assert "needs 2×H100-SXM-80GB: use target.gpus: 2" in line and "quantization.format: fp8" in line
    two = plan_for("meta-llama/Llama-3.1-70B-Instruct", "H100", gpus=2)
    assert two.fits and (two.parallel.tp, two.parallel.pp, two.parallel.world_size) == (2, 1, 2)
    eight = plan_for("meta-llama/Llama-3.1-70B-Instruct", "H100", gpus=8)
    assert eight.parallel.tp == 2  # the smallest that fits


def test_gpt_oss_120b_h200_matches_nvidia_tuned_config() -> None:
    p = plan_for("openai/gpt-oss-120b", "H200", engine=WORKLOAD_1K1K_64)
    assert p.tuned_config == "database/openai/gpt-oss-120b/H200/1k1k_tp1_conc64"
    assert (p.limits.max_batch_size, p.limits.max_num_tokens, p.limits.max_seq_len) == (64, 20000, 2304)
    assert p.memory.free_gpu_memory_fraction == 0.85
    assert p.moe_backend == "TRITON" and p.quantization.kv_cache == "bf16"


def test_gpt_oss_120b_b200_matches_nvidia_tuned_config() -> None:
    p = plan_for("openai/gpt-oss-120b", "B200", engine=WORKLOAD_1K1K_64)
    assert p.tuned_config == "database/openai/gpt-oss-120b/B200/1k1k_tp1_conc64"
    assert (p.limits.max_batch_size, p.limits.max_num_tokens, p.limits.max_seq_len) == (64, 20000, 2068)
    assert p.memory.free_gpu_memory_fraction == 0.85
    assert p.moe_backend == "TRTLLM" and p.quantization.kv_cache == "fp8"
    assert p.quantization.quant_algo == "W4A8_MXFP4_MXFP8"


def test_gpt_oss_120b_h100_derives_settings_close_to_the_tuned_ones() -> None:
    """No tuned H100 entry exists: the derived plan lands on the same batch / sequence settings as H200's."""
    p = plan_for("openai/gpt-oss-120b", "H100", engine=WORKLOAD_1K1K_64)
    assert p.tuned_config is None
    assert (p.limits.max_batch_size, p.limits.max_seq_len) == (64, 2304)
    assert 16384 <= p.limits.max_num_tokens <= 20000
    assert p.moe_backend == "TRITON" and p.memory.free_gpu_memory_fraction == 0.85


def test_tuned_config_needs_the_same_workload() -> None:
    p = plan_for(
        "openai/gpt-oss-120b",
        "H200",
        engine={"workload": {"input_len": 8192, "output_len": 1024, "concurrency": 64}},
    )
    assert p.tuned_config is None and p.limits.max_seq_len == 9472  # 9216 rounded to 256, + 256


def test_explicit_recipe_values_beat_the_tuned_config() -> None:
    p = plan_for("openai/gpt-oss-120b", "H200", engine={**WORKLOAD_1K1K_64, "max_num_tokens": 8192})
    assert p.tuned_config is not None and p.limits.max_num_tokens == 8192
