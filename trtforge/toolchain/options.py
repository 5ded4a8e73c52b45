"""Recipe + Plan -> the option sets the rules check (pure; no I/O, no step machinery).

The planner calls `compile_problems(recipe, plan)` / `compile_warnings(recipe, plan)` at plan time so a
configuration TensorRT-LLM would reject (or silently change) never reaches the compile step; the compile steps
build their trtllm-build command / LLM-API YAML from the same option sets.
Plan and Recipe are only read through their attributes (no runtime import of trtforge.plan: it imports us).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from trtforge.toolchain import rules
from trtforge.toolchain.rules import EngineBuildOptions, LlmApiOptions

if TYPE_CHECKING:
    from trtforge.plan.model import Plan
    from trtforge.recipe.schema import Recipe

# Recipe speculative mode -> trtllm-build --speculative_decoding_mode
ENGINE_SPEC_MODE = {
    "eagle": "eagle",
    "medusa": "medusa",
    "lookahead": "lookahead_decoding",
    "draft_tokens_external": "draft_tokens_external",
}


def lookahead_max_draft_len(window: int, ngram: int, verification: int) -> int:
    """Draft tokens lookahead decoding needs (LookaheadDecodingConfig.calculate_speculative_resource)."""
    return (0 if ngram == 1 else ngram - 2) + (window - 1 + verification) * (ngram - 1)


def gemm_plugin_for(quant_algo: str | None) -> str | None:
    """GEMM plugin per weight format, as NVIDIA's own builds set it.

    Unquantized and FP8: none (TensorRT's own GEMMs with multiple profiles, as trtllm-bench builds them);
    NVFP4: nvfp4 (the FP4 GEMM plugin; builder.py turns it on anyway unless told 'disable');
    weight-only / AWQ / SmoothQuant: auto, so the remaining unquantized GEMMs use the plugin at the model
    dtype (TensorRT-LLM's Llama examples for these formats pass --gemm_plugin auto).
    """
    if quant_algo in (None, "FP8", "NO_QUANT"):
        return None
    if quant_algo == "NVFP4":
        return "nvfp4"
    return "auto"


def engine_options_from(recipe: Recipe, plan: Plan) -> EngineBuildOptions:
    """The trtllm-build settings for one (recipe, plan): pure, so the planner can check them at plan time."""
    e, q, lim = recipe.engine, plan.quantization, plan.limits
    spec = e.speculative
    mode = ENGINE_SPEC_MODE.get(spec.mode)
    draft = spec.max_draft_len
    if spec.mode == "lookahead" and spec.lookahead:
        draft = lookahead_max_draft_len(
            spec.lookahead["window_size"],
            spec.lookahead["ngram_size"],
            spec.lookahead["verification_set_size"],
        )
    tp = plan.parallel.tp
    base = EngineBuildOptions(
        version=plan.toolchain.trtllm_version,
        architecture=plan.model.architecture,
        sm=plan.gpu.sm,
        tp=tp,
        pp=plan.parallel.pp,
        quant_algo=q.quant_algo,
        kv_cache_quant_algo=q.kv_cache_quant_algo,
        max_batch_size=lim.max_batch_size,
        max_input_len=lim.max_input_len,
        max_seq_len=lim.max_seq_len,
        max_num_tokens=lim.max_num_tokens,
        max_beam_width=lim.max_beam_width,
        kv_cache_type="paged" if e.paged_kv_cache else "continuous",
        paged_context_fmha=e.paged_context_fmha,
        chunked_prefill=e.chunked_prefill,
        multiple_profiles=True,
        gemm_plugin=gemm_plugin_for(q.quant_algo),
        reduce_fusion=tp > 1 and plan.model.architecture in rules.REDUCE_FUSION_ARCHS,
        speculative_mode=mode,
        max_draft_len=draft if mode else 0,
    )
    return dataclasses.replace(base, fp8_context_fmha=rules.fp8_context_fmha_effective(base))


def is_moe(plan: Plan) -> bool:
    """MoE model: the plan picked an MoE backend, or fewer parameters are active than exist."""
    return plan.moe_backend is not None or plan.model.active_params < plan.model.total_params


def kv_cache_dtype(plan: Plan) -> str:
    """kv_cache_config.dtype for the PyTorch backend."""
    # FP8 KV at runtime is kv_cache_config.dtype: fp8; an NVFP4 KV cache only exists when the checkpoint was
    # quantized with it, and is then picked up from the checkpoint with dtype auto.
    return "fp8" if plan.quantization.kv_cache == "fp8" else "auto"


def free_gpu_memory_fraction(recipe: Recipe, plan: Plan) -> float:
    """The serving section's explicit fraction, else the plan's."""
    value = recipe.serving.kv_cache_free_gpu_mem_fraction
    return float(value) if value != "auto" else float(plan.memory.free_gpu_memory_fraction)


def llm_api_options_from(recipe: Recipe, plan: Plan) -> LlmApiOptions:
    """The facts and settings the PyTorch-backend rules check (trtforge.toolchain.rules.check_llm_api_options)."""
    chunked = recipe.engine.chunked_prefill and rules.chunked_prefill_supported(plan.model.architecture)
    spec = recipe.engine.speculative
    return LlmApiOptions(
        version=plan.toolchain.trtllm_version,
        architecture=plan.model.architecture,
        sm=plan.gpu.sm,
        max_batch_size=plan.limits.max_batch_size,
        max_input_len=plan.limits.max_input_len,
        max_seq_len=plan.limits.max_seq_len,
        max_num_tokens=plan.limits.max_num_tokens,
        tp=plan.parallel.tp,
        pp=plan.parallel.pp,
        ep=plan.parallel.ep,
        is_moe=is_moe(plan),
        quant_algo=plan.quantization.quant_algo,
        kv_cache_quant_algo=plan.quantization.kv_cache_quant_algo,
        kv_cache_dtype=kv_cache_dtype(plan),
        free_gpu_memory_fraction=free_gpu_memory_fraction(recipe, plan),
        chunked_prefill=chunked,
        moe_backend=plan.moe_backend if is_moe(plan) else None,
        cuda_graph_max_batch_size=plan.limits.max_batch_size if recipe.engine.cuda_graphs else None,
        speculative_mode=None if spec.mode == "none" else spec.mode,
        max_draft_len=spec.max_draft_len,
    )


def compile_problems(recipe: Recipe, plan: Plan) -> list[str]:
    """Why this plan's compile step would be rejected (engine or LLM-API rules); [] for the CPU reference backend."""
    if plan.backend == "tensorrt":
        return rules.check_engine_options(engine_options_from(recipe, plan))
    if plan.backend == "pytorch":
        return rules.check_llm_api_options(llm_api_options_from(recipe, plan))
    return []


def compile_warnings(recipe: Recipe, plan: Plan) -> list[str]:
    """Advisory notes for this plan's compile step."""
    if plan.backend == "tensorrt":
        return rules.warn_engine_options(engine_options_from(recipe, plan))
    if plan.backend == "pytorch":
        return rules.warn_llm_api_options(llm_api_options_from(recipe, plan))
    return []
