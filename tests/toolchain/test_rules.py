"""Cross-option and hardware rules, each with the TensorRT-LLM behaviour it guards against."""

from __future__ import annotations

import dataclasses

import pytest

from trtforge.toolchain import rules
from trtforge.toolchain.rules import EngineBuildOptions, LlmApiOptions

GOOD = EngineBuildOptions(
    version="1.2.1",
    architecture="LlamaForCausalLM",
    sm=90,
    max_batch_size=128,
    max_input_len=8191,
    max_seq_len=8192,
    max_num_tokens=2048,
    quant_algo="FP8",
    kv_cache_quant_algo="FP8",
    fp8_context_fmha=True,
)


def engine(**kw) -> list[str]:
    return rules.check_engine_options(dataclasses.replace(GOOD, **kw))


def test_good_engine_options() -> None:
    assert rules.check_engine_options(GOOD) == []


@pytest.mark.parametrize(
    "kw,needle",
    [
        # version rule
        ({"version": "1.3.0rc27"}, "last release with it is 1.2.1"),
        ({"version": "0.21.0"}, "older than its extracted option spec"),
        ({"architecture": "GptOssForCausalLM"}, "not in TensorRT-LLM's engine MODEL_MAP"),
        # hardware
        ({"quant_algo": "NVFP4", "gemm_plugin": "nvfp4"}, "NVFP4 weights need a GPU with SM 100+"),
        ({"sm": 80, "fp8_context_fmha": False}, "FP8 weights need a GPU with SM 89+"),
        (
            {"quant_algo": "W4A16_AWQ", "kv_cache_quant_algo": None, "fp8_context_fmha": False, "sm": 100},
            "rejected on SM 100",
        ),
        (
            {
                "kv_cache_quant_algo": "INT8",
                "fp8_context_fmha": False,
                "paged_context_fmha": False,
                "chunked_prefill": False,
                "max_num_tokens": 8192,
                "sm": 100,
            },
            "INT8 KV cache is rejected",
        ),
        (
            {
                "extra_plugins": ("gemm_swiglu_plugin",),
                "sm": 100,
                "quant_algo": "NVFP4",
                "gemm_plugin": "nvfp4",
            },
            "rejected on SM 100",
        ),
        # quant formats
        ({"quant_algo": "NVFP4_AWQ", "sm": 100, "fp8_context_fmha": False}, "cannot be built into an engine"),
        ({"quant_algo": "W4A16_MXFP4", "fp8_context_fmha": False}, "does not build W4A16_MXFP4 engines"),
        ({"gemm_plugin": "nvfp4"}, "needs an NVFP4 checkpoint"),
        # chunked context / paged context FMHA / FP8 context FMHA
        (
            {"paged_context_fmha": False, "fp8_context_fmha": False},
            "chunked prefill (chunked context) needs paged context FMHA",
        ),
        ({"kv_cache_type": "continuous"}, "needs a paged KV cache"),
        ({"context_fmha": False, "fp8_context_fmha": False}, "needs --context_fmha enable"),
        ({"kv_cache_quant_algo": None}, "FP8 context FMHA with paged context FMHA needs an FP8 KV cache"),
        ({"fp8_context_fmha": False}, "forces FP8 context FMHA on"),
        (
            {"quant_algo": "W4A16_AWQ", "fp8_context_fmha": False, "gemm_plugin": "auto"},
            "would silently turn paged context FMHA off",
        ),
        (
            {"quant_algo": None, "fp8_context_fmha": True},
            "FP8 context FMHA needs FP8, W4A8_AWQ or NVFP4 weights",
        ),
        ({"kv_cache_quant_algo": "INT8", "fp8_context_fmha": False}, "does not work with an INT8 KV cache"),
        # limits
        ({"max_input_len": 9000}, "exceeds max_seq_len"),
        ({"max_num_tokens": 128 * 8192 + 1}, "would clamp it"),
        ({"max_num_tokens": 16}, "below tokens_per_block"),
        ({"chunked_prefill": False}, "without chunked prefill"),
        ({"opt_num_tokens": 512}, "cannot be used together"),
        ({"max_batch_size": 0}, "must be >= 1"),
        # speculative decoding
        (
            {"speculative_mode": "eagle", "max_draft_len": 20},
            "max_num_tokens >= max_batch_size x (max_draft_len + 1)",
        ),
        (
            {
                "speculative_mode": "eagle",
                "max_draft_len": 300,
                "max_num_tokens": 128 * 301,
                "max_seq_len": 8192,
            },
            "max_draft_len <= 256",
        ),
        (
            {
                "speculative_mode": "eagle",
                "max_draft_len": 2,
                "max_batch_size": 600,
                "max_num_tokens": 600 * 3,
            },
            "max_batch_size <= 512",
        ),
        ({"speculative_mode": "medusa", "max_draft_len": 0}, "needs max_draft_len >= 1"),
        ({"max_draft_len": 3}, "without --speculative_decoding_mode"),
        (
            {
                "speculative_mode": "medusa",
                "max_draft_len": 3,
                "gather_context_logits": True,
                "max_num_tokens": 512,
            },
            "gather_context_logits",
        ),
        # fusions
        ({"reduce_fusion": True}, "only applies with tp > 1"),
        ({"user_buffer": True}, "needs --reduce_fusion enable"),
        ({"norm_quant_fusion": True}, "applies only to NVFP4 Llama"),
    ],
)
def test_engine_rule(kw: dict, needle: str) -> None:
    problems = engine(**kw)
    assert any(needle in p for p in problems), problems


def test_fp8_context_fmha_mirrors_builder() -> None:
    assert rules.fp8_context_fmha_effective(GOOD) is True
    assert rules.fp8_context_fmha_effective(dataclasses.replace(GOOD, kv_cache_quant_algo=None)) is False
    assert rules.fp8_context_fmha_effective(dataclasses.replace(GOOD, sm=86)) is False
    assert rules.fp8_context_fmha_effective(dataclasses.replace(GOOD, quant_algo="W4A16_AWQ")) is False
    unpaged = dataclasses.replace(GOOD, paged_context_fmha=False, kv_cache_quant_algo=None)
    assert rules.fp8_context_fmha_effective(unpaged) is True


def test_engine_warnings() -> None:
    notes = rules.warn_engine_options(dataclasses.replace(GOOD, max_num_tokens=32768))
    assert any("16384" in n for n in notes)


def test_check_backend() -> None:
    assert rules.check_backend("tensorrt", "1.2.1", "LlamaForCausalLM") == []
    assert rules.check_backend("pytorch", "1.3.0rc27", "GptOssForCausalLM") == []
    problems = rules.check_backend("tensorrt", "1.3.0rc27", "Llama4ForConditionalGeneration")
    assert len(problems) == 2 and "1.2.1" in problems[0] and "PyTorch workflow only" in problems[1]
    assert rules.check_backend("pytorch", "0.21.0", "LlamaForCausalLM")


def test_quant_hardware() -> None:
    assert rules.check_quant_hardware("NVFP4", "FP8", 90) == [
        "NVFP4 weights need a GPU with SM 100+ (this target is SM 90): NVFP4 tensor cores are Blackwell-only"
    ]
    assert rules.check_quant_hardware("W4A16_MXFP4", None, 90) == []
    assert rules.check_quant_hardware("W4A8_MXFP4_MXFP8", None, 90)
    assert rules.check_quant_hardware(None, "NVFP4", 90)
    assert rules.check_quant_hardware("FP8", "FP8", None) == []


OSS_H100 = LlmApiOptions(
    version="1.2.1",
    architecture="GptOssForCausalLM",
    sm=90,
    max_batch_size=64,
    max_input_len=2303,
    max_seq_len=2304,
    max_num_tokens=16384,
    is_moe=True,
    quant_algo="W4A16_MXFP4",
    chunked_prefill=False,
    moe_backend="TRITON",
    cuda_graph_max_batch_size=64,
)


def pt(**kw) -> list[str]:
    return rules.check_llm_api_options(dataclasses.replace(OSS_H100, **kw))


def test_good_pytorch_options() -> None:
    assert pt() == []
    assert (
        pt(
            sm=100,
            quant_algo="W4A8_MXFP4_MXFP8",
            moe_backend="TRTLLM",
            kv_cache_dtype="fp8",
            kv_cache_quant_algo="FP8",
        )
        == []
    )


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"moe_backend": "TRTLLM"}, "runs on the TRITON or CUTLASS MoE backend, not TRTLLM"),
        ({"sm": 100, "quant_algo": "W4A8_MXFP4_MXFP8", "moe_backend": "TRITON"}, "CUTLASS or TRTLLM"),
        ({"tp": 2, "ep": 1}, "has no MoE tensor parallelism"),
        ({"tp": 4, "ep": 3}, "must divide"),
        ({"chunked_prefill": True}, "does not support chunked prefill"),
        ({"max_num_tokens": 1024}, "without chunked prefill"),
        ({"kv_cache_dtype": "nvfp4"}, "must come quantized in the checkpoint"),
        (
            {"kv_cache_dtype": "fp8", "sm": 80, "quant_algo": None, "moe_backend": None},
            "FP8 KV cache needs SM 89+",
        ),
        ({"free_gpu_memory_fraction": 0.0}, "(0, 1]"),
        ({"cuda_graph_max_batch_size": 128}, "exceeds max_batch_size"),
        (
            {"speculative_mode": "explicit_draft_tokens", "max_draft_len": 3},
            "runs only on the TensorRT engine backend",
        ),
        ({"speculative_mode": "eagle"}, "needs max_draft_len >= 1"),
        ({"is_moe": False}, "without MoE layers"),
        ({"version": "0.21.0"}, "needs TensorRT-LLM 1.0.0+"),
        ({"quant_algo": "NVFP4"}, "SM 100+"),
    ],
)
def test_pytorch_rule(kw: dict, needle: str) -> None:
    problems = pt(**kw)
    assert any(needle in p for p in problems), problems


def test_pytorch_warnings() -> None:
    o = LlmApiOptions(
        version="1.2.1",
        architecture="Llama4ForConditionalGeneration",
        sm=90,
        max_batch_size=64,
        max_input_len=1000,
        max_seq_len=2000,
        max_num_tokens=32,
        quant_algo="W4A16_AWQ",
    )
    notes = rules.warn_llm_api_options(o)
    assert any("quantization matrix" in n for n in notes)
    assert any("max_batch_size 64 > max_num_tokens 32" in n for n in notes)


def test_gpu_family() -> None:
    assert [rules.gpu_family(s) for s in (None, 75, 80, 89, 90, 100, 120)] == [
        None,
        "older",
        "ampere",
        "ada",
        "hopper",
        "blackwell",
        "blackwell",
    ]
