"""The resolver: (Recipe, Plan) -> BuildSpec. Pure: no I/O beyond reading trtforge's own data tables.

Every concrete setting of every artifact is decided here, once, and every rule a step would enforce runs here,
so `trtforge plan` (and `build --dry-run`) refuse what a build would refuse:
- compile rules (trtforge.toolchain.rules.check_engine_options / check_llm_api_options),
- the pinned version's option spec (trtforge.toolchain.spec.validate_build_command / validate_llm_api_config),
- what ModelOpt can export (trtforge.toolchain.quant_formats.check_support, measured matrix),
- what the serving runtime can load (the CPU reference runtime: unquantized or FP8 checkpoints only),
- the inputs a feature needs (speculative decoding's draft / merged checkpoint).
Backend and runtime branching happens here and nowhere else; steps carry out their section.
docs/planning.md lists each rule, its upstream source and its exit code.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from trtforge.errors import InvalidInput
from trtforge.plan.buildspec import (
    CHECKPOINT_PLACEHOLDER,
    ENGINE_OUT_PLACEHOLDER,
    AccuracyJob,
    BuildSpec,
    CalibrationJob,
    DownloadSpec,
    EngineSpec,
    ExportJob,
    QuantizeSpec,
    TritonSpec,
)
from trtforge.plan.fit import engine_draft_len
from trtforge.plan.render import build_argv
from trtforge.toolchain import archs, quant_formats, rules, triton_backend
from trtforge.toolchain.options import ENGINE_SPEC_MODE, gemm_plugin_for
from trtforge.toolchain.rules import EngineBuildOptions, LlmApiOptions
from trtforge.toolchain.spec import llm_api_default, validate_build_command, validate_llm_api_config

if TYPE_CHECKING:
    from trtforge.plan.model import Plan
    from trtforge.recipe.schema import Recipe

ATTENTION_BACKEND = "TRTLLM"  # TorchLlmArgs.attn_backend default: TensorRT-LLM's fused attention kernels
GPT_OSS = "GptOssForCausalLM"
# NVIDIA's B200 tuned config for gpt-oss-120b (examples/configs/database/openai/gpt-oss-120b/B200/
# 1k1k_tp1_conc64.yaml @054f7b0b) sets these environment overrides: programmatic dependent launch on,
# NCCL graph registration off. trtforge applies them to gpt-oss on Blackwell only, as NVIDIA does.
BLACKWELL_GPT_OSS_ENV = {"TRTLLM_ENABLE_PDL": "1", "NCCL_GRAPH_REGISTER": "0"}
# Weight formats the CPU reference runtime loads (trtforge/triton/models/reference/model.py: unquantized, or
# ModelOpt FP8 with per-tensor / per-channel scales, dequantized on load).
REFERENCE_RUNTIME_FORMATS = ("none", "fp8")
# Engine-path speculative modes whose weights are not in the base checkpoint (TensorRT-LLM examples:
# convert_checkpoint.py --medusa_model_dir / --eagle_model_dir merge the heads; draft-target needs a draft
# engine).
ENGINE_SPEC_CHECKPOINT = {
    "medusa": "a Medusa checkpoint (the heads convert_checkpoint.py --medusa_model_dir merges)",
    "eagle": "an EAGLE checkpoint (the draft layers convert_checkpoint.py --eagle_model_dir merges)",
    "draft_tokens_external": "a draft model (built into its own engine)",
}
PYTORCH_SPEC_NEEDS_MODEL = ("eagle", "draft_tokens_external")


# ------------------------------------------------------------------------------------------ option sets


def is_moe(plan: Plan) -> bool:
    """MoE model: the plan picked an MoE backend, or fewer parameters are active than exist."""
    return plan.moe_backend is not None or plan.model.active_params < plan.model.total_params


def kv_cache_dtype(plan: Plan) -> str:
    """kv_cache_config.dtype for the PyTorch backend."""
    # FP8 KV at runtime is kv_cache_config.dtype: fp8; an NVFP4 KV cache only exists when the checkpoint was
    # quantized with it, and is then picked up from the checkpoint with dtype auto.
    return "fp8" if plan.quantization.kv_cache == "fp8" else "auto"


def engine_options_from(recipe: Recipe, plan: Plan) -> EngineBuildOptions:
    """The trtllm-build settings for one (recipe, plan), checked by rules.check_engine_options."""
    e, q, lim = recipe.engine, plan.quantization, plan.limits
    mode = ENGINE_SPEC_MODE.get(e.speculative.mode)
    draft = engine_draft_len(recipe)  # the planner sized max_num_tokens with the same draft length
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
        chunked_prefill=lim.chunked_prefill,
        multiple_profiles=True,
        gemm_plugin=gemm_plugin_for(q.quant_algo),
        reduce_fusion=tp > 1 and plan.model.architecture in rules.REDUCE_FUSION_ARCHS,
        speculative_mode=mode,
        max_draft_len=draft if mode else 0,
    )
    return dataclasses.replace(base, fp8_context_fmha=rules.fp8_context_fmha_effective(base))


def llm_api_options_from(recipe: Recipe, plan: Plan) -> LlmApiOptions:
    """The PyTorch-backend settings for one (recipe, plan), checked by rules.check_llm_api_options."""
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
        free_gpu_memory_fraction=plan.memory.free_gpu_memory_fraction,
        chunked_prefill=plan.limits.chunked_prefill,
        moe_backend=plan.moe_backend if is_moe(plan) else None,
        cuda_graph_max_batch_size=plan.limits.max_batch_size if recipe.engine.cuda_graphs else None,
        speculative_mode=None if spec.mode == "none" else spec.mode,
        max_draft_len=spec.max_draft_len,
    )


def kv_block_reuse(recipe: Recipe, plan: Plan) -> tuple[bool, str | None]:
    """Whether KV blocks of shared prefixes are reused (one rule for the LLM API and Triton), and why not."""
    if not recipe.serving.enable_kv_cache_reuse:
        return False, None
    arch = plan.model.architecture
    if plan.backend == "pytorch":
        if kv_cache_dtype(plan) == "fp8" and archs.pytorch_feature(arch, "kv_cache_reuse") is False:
            return False, (
                f"KV block reuse off: {arch} lists no KV cache reuse in the 1.2-era feature matrix, "
                "and NVIDIA's tuned config turns it off with an FP8 KV cache"
            )
        return True, None
    if not recipe.engine.paged_context_fmha:
        return False, "KV block reuse off: it needs paged context FMHA (engine.paged_context_fmha is false)"
    return True, None


# ------------------------------------------------------------------------------------------ sections


def _download(recipe: Recipe) -> DownloadSpec:
    m = recipe.model
    return DownloadSpec(
        repo=m.repo,
        revision=m.revision if m.repo else None,
        path=m.path,
        allow_patterns=list(m.allow_patterns) if m.allow_patterns else None,
        trust_remote_code=m.trust_remote_code,
    )


def _quantize(recipe: Recipe, plan: Plan, errors: list[str]) -> QuantizeSpec | None:
    q = plan.quantization
    if q.source != "modelopt":
        return None
    try:
        fmt = quant_formats.get_format(q.format)
        kv = quant_formats.kv_spec(q.kv_cache)
    except InvalidInput as exc:  # a hand-made plan; the planner never produces one
        errors.append(exc.one_line())
        return None
    par = plan.parallel
    exports = [
        ExportJob(kind=kind, tp=par.tp, pp=par.pp) if kind == "trtllm" else ExportJob(kind=kind)
        for kind in quant_formats.export_kinds_for(plan.backend)
    ]
    for exp in exports:
        why = quant_formats.check_support(q.format, plan.model.architecture, exp.kind, exp.tp, exp.pp)
        if why:
            errors.append(why)
    c, a = recipe.quantization.calibration, recipe.quantization.accuracy
    dtype = plan.model.dtype if plan.model.dtype in ("bfloat16", "float16") else "bfloat16"
    return QuantizeSpec(
        format=q.format,
        modelopt_config=fmt.modelopt_config,
        quant_algo=fmt.quant_algo,
        runtime_quant_algo=q.quant_algo,
        group_size=fmt.group_size,
        algorithm=fmt.algorithm,
        kv_cache=kv.name if kv else None,
        kv_modelopt_config=kv.modelopt_config if kv else None,
        kv_cache_quant_algo=kv.kv_cache_quant_algo if kv else None,
        exclude_modules=sorted(set(q.exclude_modules)),
        calibration=CalibrationJob(
            dataset=c.dataset, samples=c.samples, seq_len=c.seq_len, batch_size=c.batch_size, seed=c.seed
        ),
        accuracy=AccuracyJob(
            enabled=a.enabled,
            samples=a.samples,
            min_top1_agreement=a.min_top1_agreement,
            max_mean_kl=a.max_mean_kl,
            max_perplexity_increase=a.max_perplexity_increase,
        ),
        exports=exports,
        dtype=dtype,
        trust_remote_code=recipe.model.trust_remote_code,
        cuda_extensions=list(quant_formats.cuda_extensions_for(q.format, q.kv_cache)),
    )


def _engine(recipe: Recipe, plan: Plan, errors: list[str], warnings: list[str]) -> EngineSpec:
    o = engine_options_from(recipe, plan)
    errors.extend(rules.check_engine_options(o))
    warnings.extend(rules.warn_engine_options(o))
    if plan.quantization.source != "modelopt":
        # graph: only the quantize step exports a TensorRT-LLM checkpoint (export_tensorrt_llm_checkpoint);
        # a Hugging Face checkpoint needs NVIDIA's convert_checkpoint.py, which trtforge does not run.
        errors.append(
            "engine.backend tensorrt builds from a TensorRT-LLM checkpoint, which trtforge exports with "
            "ModelOpt: "
            "set quantization.format to a ModelOpt format (fp8, nvfp4, int4_awq, ...), or use "
            "engine.backend: pytorch"
        )
    spec = recipe.engine.speculative
    if spec.mode in ENGINE_SPEC_CHECKPOINT:
        what = ENGINE_SPEC_CHECKPOINT[spec.mode]
        if not spec.draft_model:
            errors.append(
                f"engine.speculative.mode {spec.mode} on the engine backend needs {what}: "
                "set engine.speculative.draft_model"
            )
        else:
            errors.append(
                f"engine.speculative.mode {spec.mode} on the engine backend: trtforge does not build {what} "
                f"from engine.speculative.draft_model yet; use engine.backend: pytorch"
                + (" (EAGLE3 / draft-target run there)" if spec.mode in PYTORCH_SPEC_NEEDS_MODEL else "")
            )
    version = plan.toolchain.trtllm_version
    argv = build_argv(
        o,
        checkpoint_dir=CHECKPOINT_PLACEHOLDER,
        output_dir=ENGINE_OUT_PLACEHOLDER,
        timing_cache_in=None,
        timing_cache_out=None,
        workers=plan.parallel.world_size,
    )
    if plan.toolchain.engine_backend_available:
        errors.extend(f"trtllm-build {version}: {p}" for p in validate_build_command(argv, version))
    return EngineSpec(
        trtllm_version=version,
        options=_jsonable(dataclasses.asdict(o)),
        argv=argv,
        workers=plan.parallel.world_size,
        gpu=plan.gpu.name,
        sm=plan.gpu.sm,
    )


def llm_api_config(recipe: Recipe, plan: Plan, decisions: list[str] | None = None) -> dict[str, Any]:
    """The LLM-API YAML mapping for one (recipe, plan); key order is stable for golden files."""
    notes = decisions if decisions is not None else []
    o = llm_api_options_from(recipe, plan)
    arch = plan.model.architecture
    cfg: dict[str, Any] = {"tensor_parallel_size": o.tp}
    if o.pp > 1:
        cfg["pipeline_parallel_size"] = o.pp
    if o.is_moe:
        cfg["moe_expert_parallel_size"] = o.ep
    cfg["max_batch_size"] = o.max_batch_size
    cfg["max_num_tokens"] = o.max_num_tokens
    cfg["max_seq_len"] = o.max_seq_len
    cfg["max_input_len"] = o.max_input_len
    reuse, why = kv_block_reuse(recipe, plan)
    if why:
        notes.append(why)
    cfg["kv_cache_config"] = {
        "free_gpu_memory_fraction": o.free_gpu_memory_fraction,
        "enable_block_reuse": reuse,
        "dtype": o.kv_cache_dtype,
    }
    cfg["enable_chunked_prefill"] = o.chunked_prefill
    if o.cuda_graph_max_batch_size is not None:
        cfg["cuda_graph_config"] = {"enable_padding": True, "max_batch_size": o.cuda_graph_max_batch_size}
    else:
        cfg["cuda_graph_config"] = None
        notes.append("cuda_graph_config null: CUDA graphs off (engine.cuda_graphs: false)")
    if o.moe_backend:
        cfg["moe_config"] = {"backend": o.moe_backend}
    cfg["attn_backend"] = ATTENTION_BACKEND
    policy = recipe.serving.batch_scheduler_policy.upper()
    if policy != llm_api_default("scheduler_config.capacity_scheduler_policy"):
        cfg["scheduler_config"] = {"capacity_scheduler_policy": policy}
    if recipe.model.trust_remote_code:
        cfg["trust_remote_code"] = True
    if o.speculative_mode in rules.LLM_API_DECODING_TYPES:
        cfg["speculative_config"] = _speculative_config(recipe)
    if arch == GPT_OSS and rules.gpu_family(o.sm) == "blackwell":
        cfg["env_overrides"] = dict(BLACKWELL_GPT_OSS_ENV)
        notes.append(
            "env_overrides TRTLLM_ENABLE_PDL=1, NCCL_GRAPH_REGISTER=0: as NVIDIA's B200 tuned config for "
            "gpt-oss"
        )
    return cfg


def _speculative_config(recipe: Recipe) -> dict[str, Any]:
    """speculative_config for the recipe's mode; whether the pinned version's PyTorch backend takes it is the
    per-version LLM-API spec's call (lookahead and Medusa: not on 1.2.x)."""
    spec = recipe.engine.speculative
    decoding_type = rules.LLM_API_DECODING_TYPES[spec.mode]
    if spec.mode == "lookahead" and spec.lookahead:
        return {
            "decoding_type": decoding_type,
            "max_window_size": spec.lookahead["window_size"],
            "max_ngram_size": spec.lookahead["ngram_size"],
            "max_verification_set_size": spec.lookahead["verification_set_size"],
        }
    return {
        "decoding_type": decoding_type,
        "max_draft_len": spec.max_draft_len,
        "speculative_model": spec.draft_model,
    }


def _llm_api(
    recipe: Recipe, plan: Plan, errors: list[str], warnings: list[str], decisions: list[str]
) -> dict[str, Any]:
    o = llm_api_options_from(recipe, plan)
    errors.extend(rules.check_llm_api_options(o))
    warnings.extend(rules.warn_llm_api_options(o))
    spec = recipe.engine.speculative
    if spec.mode in PYTORCH_SPEC_NEEDS_MODEL and not spec.draft_model:
        errors.append(
            f"engine.speculative.mode {spec.mode} needs its draft model "
            "(speculative_config.speculative_model): "
            "set engine.speculative.draft_model"
        )
    cfg = llm_api_config(recipe, plan, decisions)
    version = plan.toolchain.trtllm_version
    errors.extend(
        f"LLM API of TensorRT-LLM {version}: {p}"
        for p in validate_llm_api_config(cfg, "pytorch", version=version)
    )
    return cfg


def _triton(
    recipe: Recipe, plan: Plan, llm_api: dict[str, Any] | None, errors: list[str], decisions: list[str]
) -> TritonSpec:
    runtime = {"tensorrt": "tensorrtllm", "pytorch": "llmapi", "reference": "reference"}[plan.backend]
    frontend = recipe.serving.frontend
    if frontend == "auto":
        layout = "llmapi" if plan.backend == "pytorch" else "inflight_batcher_llm"
    elif frontend == "llmapi":
        layout = "llmapi"
        if plan.backend == "tensorrt":
            errors.append(
                "serving.frontend llmapi serves the PyTorch backend, but this plan builds a TensorRT engine: "
                "set engine.backend: pytorch, or serving.frontend: ensemble"
            )
    else:  # ensemble / bls: the classic API; over the PyTorch backend the tensorrt_llm slot runs the LLM API
        layout = "inflight_batcher_llm"
    version = plan.toolchain.trtllm_version
    if runtime == "tensorrtllm" and triton_backend.extracted_file(version) is None:
        errors.append(
            f"an engine Triton repository for TensorRT-LLM {version} cannot be written: "
            f"{triton_backend.unavailable_reason(version)} (to build the engine alone set "
            "outputs.triton_repo: "
            "false, or serve it with engine.backend: pytorch)"
        )
    weights = plan.quantization.weight_format or plan.quantization.format
    if plan.backend == "reference" and weights not in REFERENCE_RUNTIME_FORMATS:
        errors.append(
            f"the CPU reference runtime serves unquantized or FP8 checkpoints only; {weights} weights cannot "
            "be "
            "served on the cpu target: use quantization.format: fp8 or none (or outputs.triton_repo: false)"
        )
    reuse, _why = kv_block_reuse(recipe, plan)
    if _why and plan.backend != "pytorch":
        decisions.append(_why)
    serving, limits, counts = recipe.serving, plan.limits, recipe.serving.instance_counts
    gpu = plan.gpu.name if plan.gpu.count == 1 else f"{plan.gpu.count}x {plan.gpu.name}"
    return TritonSpec(
        layout=layout,
        runtime=runtime,
        served_model_name=recipe.served_model_name,
        max_batch_size=limits.max_batch_size,
        streaming=serving.streaming,
        exclude_input_in_output=serving.exclude_input_in_output,
        max_queue_delay_microseconds=serving.max_queue_delay_microseconds,
        preprocessing_instances=counts.preprocessing,
        postprocessing_instances=counts.postprocessing,
        bls_instances=counts.bls,
        trust_remote_code=recipe.model.trust_remote_code,
        kv_cache_free_gpu_mem_fraction=float(plan.memory.free_gpu_memory_fraction),
        max_tokens_in_paged_kv_cache=limits.max_kv_tokens if runtime == "tensorrtllm" else None,
        enable_chunked_context=limits.chunked_prefill,
        enable_kv_cache_reuse=reuse,
        batch_scheduler_policy=serving.batch_scheduler_policy,
        max_beam_width=limits.max_beam_width,
        max_seq_len=limits.max_seq_len,
        max_input_len=limits.max_input_len,
        container_model_root=serving.container_model_root,
        world_size=plan.parallel.world_size,
        tp=plan.parallel.tp,
        pp=plan.parallel.pp,
        gpu=gpu,
        trtllm_version=plan.toolchain.trtllm_version,
        triton_image=plan.toolchain.triton_image,
        checkpoint_format=plan.quantization.format,
        llm_api_args=dict(llm_api or {}),
    )


# ------------------------------------------------------------------------------------------ the resolver


def resolve(recipe: Recipe, plan: Plan) -> BuildSpec:
    """Decide every setting of every artifact for one (recipe, plan) and check every rule (pure).

    `errors` lists each reason a step would refuse (the planner merges them into the plan: exit 3);
    `resolve(recipe, plan).llm_api` is exactly the mapping the PyTorch backend's YAML holds.
    """
    decisions: list[str] = []
    warnings: list[str] = []
    errors: list[str] = []
    quantize = _quantize(recipe, plan, errors)
    engine = _engine(recipe, plan, errors, warnings) if plan.backend == "tensorrt" else None
    llm_api = _llm_api(recipe, plan, errors, warnings, decisions) if plan.backend == "pytorch" else None
    triton = _triton(recipe, plan, llm_api, errors, decisions) if recipe.outputs.triton_repo else None
    return BuildSpec(
        recipe=plan.recipe,
        target=plan.target,
        backend=plan.backend,
        download=_download(recipe),
        quantize=quantize,
        engine=engine,
        llm_api=llm_api,
        triton=triton,
        decisions=list(dict.fromkeys(decisions)),
        warnings=list(dict.fromkeys(warnings)),
        errors=list(dict.fromkeys(errors)),
    )


def compile_problems(recipe: Recipe, plan: Plan) -> list[str]:
    """Why this plan's build would be refused ([] when every rule passes)."""
    return resolve(recipe, plan).errors


def compile_warnings(recipe: Recipe, plan: Plan) -> list[str]:
    """Advisory notes for this plan's build."""
    return resolve(recipe, plan).warnings


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
