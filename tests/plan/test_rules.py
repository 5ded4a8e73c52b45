"""Backend, quantization and layout rules: each refusal is one line that names what works."""

from __future__ import annotations

import pytest

from tests.plan.conftest import plan_for


def test_nvfp4_on_h100_is_an_error_with_alternatives() -> None:
    p = plan_for("meta-llama/Llama-3.1-8B-Instruct", "H100", quantization={"format": "nvfp4"})
    assert not p.fits
    assert any("nvfp4 needs SM 100+" in e and "fp8" in e and "int4_awq" in e for e in p.errors)


def test_nvfp4_on_b200() -> None:
    p = plan_for("meta-llama/Llama-3.1-70B-Instruct", "B200", quantization={"format": "nvfp4"})
    assert p.fits and p.quantization.bytes_per_weight == 0.5625 and p.quantization.kv_cache == "fp8"
    assert p.quantization.modelopt_config == "NVFP4_DEFAULT_CFG"


def test_fp8_needs_ada_or_newer() -> None:
    p = plan_for("meta-llama/Llama-3.1-8B-Instruct", "A100-80GB", quantization={"format": "fp8"})
    assert not p.fits and any("fp8 needs SM 89+" in e for e in p.errors)


def test_native_mxfp4_on_ampere_is_refused() -> None:
    p = plan_for("openai/gpt-oss-120b", "A100-80GB")
    assert not p.fits and any("SM 90+" in e and "H100" in e for e in p.errors)


def test_requantizing_native_weights_is_refused() -> None:
    p = plan_for("openai/gpt-oss-120b", "B200", quantization={"format": "nvfp4"})
    assert any("quantization.format: native" in e for e in p.errors)


def test_auto_backend_is_pytorch() -> None:
    assert plan_for("meta-llama/Llama-3.1-8B-Instruct", "H100").backend == "pytorch"


def test_tensorrt_backend_when_asked_and_possible() -> None:
    p = plan_for(
        "meta-llama/Llama-3.1-8B-Instruct",
        "H100",
        engine={"backend": "tensorrt"},
        quantization={"format": "fp8"},
        outputs={"triton_repo": False},
    )
    assert p.fits and p.backend == "tensorrt" and p.toolchain.engine_backend_available


def test_tensorrt_backend_needs_a_trtllm_checkpoint() -> None:
    """Only the quantize step exports a TensorRT-LLM checkpoint: an unquantized engine build would fail at
    compile (no checkpoint), so the plan refuses it and names the recipe field."""
    p = plan_for("meta-llama/Llama-3.1-8B-Instruct", "H100", engine={"backend": "tensorrt"})
    assert not p.fits and p.backend == "tensorrt"
    assert any("TensorRT-LLM checkpoint" in e and "quantization.format" in e for e in p.errors)


def test_tensorrt_backend_after_1_2_names_1_2_1() -> None:
    p = plan_for(
        "meta-llama/Llama-3.1-8B-Instruct",
        "H100",
        engine={"backend": "tensorrt"},
        toolchain={
            "trtllm_version": "1.3.0rc21",
            "triton_image": "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3",
        },
    )
    assert not p.fits and any("1.2.1" in e for e in p.errors)


def test_tensorrt_backend_for_pytorch_only_architecture() -> None:
    p = plan_for("openai/gpt-oss-120b", "H100", engine={"backend": "tensorrt"})
    assert not p.fits and any("GptOssForCausalLM" in e and "engine.backend: pytorch" in e for e in p.errors)


def test_int4_awq_engine_refused_on_blackwell_but_fine_on_pytorch() -> None:
    engine = plan_for(
        "meta-llama/Llama-3.1-8B-Instruct",
        "B200",
        quantization={"format": "int4_awq"},
        engine={"backend": "tensorrt"},
    )
    assert not engine.fits and any("not supported by TensorRT engines on SM 100" in e for e in engine.errors)
    assert plan_for("meta-llama/Llama-3.1-8B-Instruct", "B200", quantization={"format": "int4_awq"}).fits


def test_fp8_kv_on_ampere_is_refused() -> None:
    p = plan_for("meta-llama/Llama-3.1-8B-Instruct", "A100-80GB", quantization={"kv_cache": "fp8"})
    assert not p.fits and any("kv_cache fp8 needs SM 89+" in e for e in p.errors)


def test_explicit_tp_must_divide_heads() -> None:
    p = plan_for(
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "H100",
        gpus=4,
        target={"tp": 3},
        quantization={"format": "int4_awq"},
    )
    assert not p.fits and any("tp=3 does not divide the 40 attention heads" in e for e in p.errors)


def test_moe_gets_expert_parallelism() -> None:
    p = plan_for("openai/gpt-oss-120b", "H100", gpus=2, target={"tp": 2})
    assert (p.parallel.tp, p.parallel.ep) == (2, 2)  # TRITON MoE kernels shard experts only
    mixtral = plan_for("mistralai/Mixtral-8x22B-Instruct-v0.1", "H100", gpus=8)
    assert mixtral.fits and mixtral.parallel.ep == mixtral.parallel.tp and 8 % mixtral.parallel.ep == 0


def test_explicit_max_seq_len_too_long_for_the_kv_cache() -> None:
    p = plan_for("meta-llama/Llama-3.1-70B-Instruct", "H100", gpus=2, engine={"max_seq_len": 131072})
    assert not p.fits
    assert any(
        "engine.max_seq_len 131072" in e and "engine.max_seq_len:" in e.split("needs", 1)[1] for e in p.errors
    )


def test_explicit_max_seq_len_beyond_the_model_context() -> None:
    p = plan_for("Qwen/Qwen2.5-7B-Instruct", "H100", engine={"max_seq_len": 65536})
    assert not p.fits and any("exceeds" in e and "32768" in e for e in p.errors)


def test_stated_workload_prefers_a_layout_that_serves_it() -> None:
    """70B FP8 squeezes onto one H100, but its KV cache would hold only ~6 requests: with 2 GPUs, TP=2."""
    wl = {"workload": {"input_len": 4096, "output_len": 1024, "concurrency": 64}, "max_seq_len": 16384}
    p = plan_for(
        "meta-llama/Llama-3.1-70B-Instruct", "H100", gpus=2, quantization={"format": "fp8"}, engine=wl
    )
    assert p.parallel.tp == 2
    alone = plan_for(
        "meta-llama/Llama-3.1-70B-Instruct", "H100", gpus=1, quantization={"format": "fp8"}, engine=wl
    )
    assert alone.fits and alone.parallel.tp == 1 and any("requests will queue" in w for w in alone.warnings)


def test_405b_suggests_more_gpus_or_fp8() -> None:
    p = plan_for("meta-llama/Llama-3.1-405B-Instruct", "H100", gpus=8)
    # one node holds 8 H100s (gpus.yaml node_gpus): never "16×H100"; a bigger GPU or FP8 instead
    assert not p.fits and len(p.errors) == 1
    assert "16" not in p.errors[0].split(":")[-1] and "8×H200-141GB" in p.errors[0]
    assert "quantization.format: fp8" in p.errors[0]
    assert plan_for("meta-llama/Llama-3.1-405B-Instruct", "H100", gpus=8, quantization={"format": "fp8"}).fits


def test_deepseek_v3_fp8_on_eight_h200() -> None:
    p = plan_for("deepseek-ai/DeepSeek-V3", "H200", gpus=8)
    assert p.fits and p.parallel.tp == 8 and p.parallel.ep == 8
    assert p.quantization.weight_format == "fp8_block" and p.quantization.kv_cache == "fp8"


@pytest.mark.parametrize("gpu", ["H100", "H200", "B200", "L40S", "cpu"])
def test_plans_are_deterministic(gpu: str) -> None:
    a = plan_for("mistralai/Mixtral-8x7B-Instruct-v0.1", gpu, gpus=1 if gpu == "cpu" else 4)
    b = plan_for("mistralai/Mixtral-8x7B-Instruct-v0.1", gpu, gpus=1 if gpu == "cpu" else 4)
    assert a.model_dump() == b.model_dump()
