"""The pure planning core: (Recipe, Target, ModelSpec, GPU) -> Plan. No I/O, no clocks, no torch.

Order of decisions: backend -> quantization -> MoE kernels -> parallel layout (smallest that fits) ->
memory (weights, reserve, KV cache) -> limits (max_seq_len, max_batch_size, max_num_tokens). When nothing
fits, the plan says why in one line and names the nearest option that works.
"""

from __future__ import annotations

import math
from dataclasses import replace

from trtforge.errors import InvalidInput
from trtforge.hardware import GPU
from trtforge.models import ModelSpec
from trtforge.plan.backend import choose_backend
from trtforge.plan.fit import (
    Context,
    Evaluation,
    choose_layout,
    choose_moe_backend,
    decide_chunked_prefill,
    evaluate,
    explicit,
    gib,
    min_requests,
)
from trtforge.plan.model import (
    GpuInfo,
    Limits,
    Memory,
    ModelSummary,
    Parallel,
    Plan,
    QuantPlan,
    ToolchainPlan,
)
from trtforge.plan.parallel import Layout
from trtforge.plan.quantization import resolve_quantization
from trtforge.plan.resolve import resolve
from trtforge.plan.suggest import suggestions
from trtforge.plan.topology import (
    placed_layouts,
    topology,
    where_label,
)
from trtforge.recipe.schema import Recipe, Target, target_label
from trtforge.toolchain.versions import engine_backend_available, triton_image_for

_MXFP4_KERNELS = {
    "TRTLLM": "Blackwell: MXFP8 activations x MXFP4 weights",
    "TRITON": "Hopper: BF16 activations x MXFP4 weights",
}
_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


MAX_RUNTIME_INT = 2**31 - 1  # TensorRT-LLM's sizes (SizeType32) are 32-bit


def _check_runtime_ints(recipe: Recipe) -> None:
    """Explicit engine limits past 32 bits are input errors (and would overflow the memory arithmetic)."""
    for key in ("max_batch_size", "max_num_tokens", "max_seq_len", "max_input_len"):
        value = explicit(getattr(recipe.engine, key))
        if value is not None and value > MAX_RUNTIME_INT:
            shown = value if value < 10**15 else f"about 2^{value.bit_length() - 1}"
            raise InvalidInput(
                f"engine.{key}: {shown} is more than TensorRT-LLM can hold (at most {MAX_RUNTIME_INT})"
            )


def plan_target(
    recipe: Recipe, target: Target, spec: ModelSpec, gpu: GPU, host_memory_bytes: int | None = None
) -> Plan:
    """Plan one target of a recipe. Pure: the same inputs always give the same Plan."""
    _check_runtime_ints(recipe)
    version = recipe.toolchain.trtllm_version
    backend = choose_backend(recipe.engine.backend, spec, gpu, version)
    quant = resolve_quantization(
        recipe.quantization.format,
        recipe.quantization.kv_cache,
        list(recipe.quantization.exclude_modules),
        spec,
        gpu,
        backend.backend,
    )
    moe_backend = choose_moe_backend(spec, gpu, backend.backend, quant.weight_format)
    wl = recipe.engine.workload
    chunked, chunked_note = decide_chunked_prefill(recipe, spec.architecture, backend.backend)
    ctx = Context(
        recipe=recipe,
        spec=spec,
        gpu=gpu,
        backend=backend.backend,
        quant=quant,
        moe_backend=moe_backend,
        workload=(wl.input_len, wl.output_len, wl.concurrency),
        workload_explicit="workload" in recipe.engine.model_fields_set,
        host_memory_bytes=host_memory_bytes,
        chunked_prefill=chunked,
        chunked_note=chunked_note,
    )
    decisions = [*backend.decisions, *quant.decisions]
    if chunked_note:
        decisions.append(f"chunked prefill off: {chunked_note}")
    warnings = [*quant.warnings]
    errors = [*backend.errors, *quant.errors]
    if recipe.model.trust_remote_code:
        warnings.append("model.trust_remote_code is true: code shipped with the model will run at build time")
    if spec.notes:
        warnings.extend(spec.notes)

    if gpu.is_cpu:
        layouts, rejected = [Layout(1, 1, 1)], []
        if any(explicit(v) not in (None, 1) for v in (target.tp, target.pp, target.ep)):
            rejected = ["the cpu target runs one process: tp, pp and ep must be 1 (or auto)"]
    else:
        layouts, rejected = placed_layouts(
            spec, target, gpu, explicit(target.tp), explicit(target.pp), explicit(target.ep), moe_backend
        )
    if not gpu.is_cpu and target.gpus > gpu.node_gpus:
        rejected.append(
            f"target.gpus {target.gpus}: one node holds at most {gpu.node_gpus}×{gpu.name} "
            "(target.gpus counts the GPUs of one node; multi-node serving is not planned here)"
        )
    errors.extend(rejected)
    chosen = choose_layout(ctx, layouts)
    if chosen is None:
        tried = [evaluate(ctx, lay) for lay in layouts] or [evaluate(ctx, Layout(1, 1, 1))]
        best = min(tried, key=lambda ev: ev.weights + ev.reserve)  # the layout closest to fitting
        requant_refused = any("re-quantizing them is not supported" in e for e in quant.errors)
        if (not errors or best.reasons) and not requant_refused:
            where = where_label(target, gpu) if not gpu.is_cpu else "the cpu target"
            fmt = quant.weight_format if quant.weight_format != "none" else spec.dtype
            reason = best.reasons[0] if best.reasons else "no valid parallel layout"
            hints = suggestions(ctx, target, best)
            hint = (": " + ", or ".join(hints)) if hints else ""
            errors.append(f"{spec.architecture} ({fmt}) does not fit {where}: {reason}{hint}")
    else:
        best = chosen
        lay = best.layout
        if any(explicit(v) for v in (target.tp, target.pp, target.ep)):
            how = "as the recipe pins"
        elif ctx.workload_explicit and best.kv_max_requests >= min_requests(ctx):
            how = (
                f"the smallest layout within {where_label(target, gpu)} whose KV cache holds "
                f"{min_requests(ctx)}+ concurrent requests of the workload"
            )
        else:
            how = f"the smallest layout that fits {where_label(target, gpu)}"
        if not gpu.is_cpu:
            decisions.append(f"parallel tp={lay.tp} pp={lay.pp} ep={lay.ep}: {how}")
    warnings.extend(best.warnings)
    decisions.extend(best.decisions)
    tuned = best.tuned
    if tuned is not None:
        decisions.append(
            f"matches NVIDIA's tuned config {tuned.id}: limits, KV fraction and MoE backend taken from it"
        )
        if tuned.settings.get("kv_cache") and recipe.quantization.kv_cache == "auto":
            quant = replace(quant, kv_dtype=tuned.settings["kv_cache"])
        moe_backend = tuned.settings.get("moe_backend", moe_backend)
    elif not gpu.is_cpu and backend.backend == "pytorch" and spec.architecture == "GptOssForCausalLM":
        decisions.append(
            f"no NVIDIA tuned config for {gpu.name} with this workload: limits derived "
            "(trtllm-bench rounding, see docs/planning.md)"
        )
    if moe_backend:
        decisions.append(
            f"MoE backend {moe_backend}"
            + (f" ({_MXFP4_KERNELS[moe_backend]})" if quant.weight_format == "mxfp4" else "")
        )
    decisions.append(_limits_decision(ctx, best))
    lay = best.layout
    image = recipe.toolchain.triton_image
    if image == "auto":
        image = triton_image_for(version) or "unknown"
        if image == "unknown":
            warnings.append(f"no NGC Triton image ships TensorRT-LLM {version}: set toolchain.triton_image")
    quant_plan: QuantPlan = quant.plan.model_copy(
        update={
            "kv_cache": quant.kv_dtype,
            "kv_cache_quant_algo": "FP8"
            if quant.kv_dtype == "fp8"
            else ("NVFP4" if quant.kv_dtype == "nvfp4" else None),
            "weight_format": quant.weight_format,
        }
    )
    all_errors = list(dict.fromkeys(errors))
    plan = Plan(
        recipe=recipe.name,
        target=target_label(target),
        fits=not all_errors,
        backend=backend.backend,
        gpu=GpuInfo(name=gpu.name, sm=gpu.sm, memory_gib=round(gpu.memory_gib, 2), count=target.gpus),
        model=ModelSummary(
            architecture=spec.architecture,
            model_type=spec.model_type,
            total_params=spec.total_params,
            active_params=spec.active_params,
            dtype=_DTYPE_NAMES.get(spec.dtype, spec.dtype),
        ),
        parallel=Parallel(tp=lay.tp, pp=lay.pp, ep=lay.ep, world_size=lay.world_size),
        memory=Memory(
            weights_gib_per_gpu=gib(best.weights),
            kv_cache_gib_per_gpu=gib(best.kv_bytes),
            reserve_gib=gib(best.reserve),
            total_gib=gib(best.total),
            free_gpu_memory_fraction=best.fraction,
        ),
        limits=Limits(
            max_batch_size=best.max_batch_size,
            max_num_tokens=best.max_num_tokens,
            max_seq_len=best.max_seq_len,
            max_input_len=best.max_input_len,
            max_kv_tokens=best.max_kv_tokens,
            chunked_prefill=chunked,
        ),
        quantization=quant_plan,
        toolchain=ToolchainPlan(
            trtllm_version=version,
            triton_image=image,
            engine_backend_available=engine_backend_available(version),
        ),
        moe_backend=moe_backend,
        tuned_config=tuned.id if tuned else None,
        decisions=decisions,
        warnings=list(dict.fromkeys(warnings)),
        errors=all_errors,
        topology=topology(target, gpu, lay),
    )
    return with_build_rules(recipe, plan, backend_refused=bool(backend.errors))


# Resolver problems that restate a planner error in the compile rules' words (GPU capability, SM 100 engines).
_RESTATED = ("need a GPU with SM", "engines are rejected on SM")


def with_build_rules(recipe: Recipe, plan: Plan, backend_refused: bool = False) -> Plan:
    """The plan with every rule of its BuildSpec applied: what a step would refuse is a plan error (exit 3).

    Where the backend itself is refused, its build rules are moot and are left out (one answer, not a
    cascade).
    """
    spec = resolve(recipe, plan)
    extra = [] if backend_refused else spec.errors
    if plan.errors:
        extra = [e for e in extra if not any(r in e for r in _RESTATED)]
    errors = list(dict.fromkeys([*plan.errors, *extra]))
    return plan.model_copy(
        update={
            "errors": errors,
            "fits": not errors,
            "warnings": list(dict.fromkeys([*plan.warnings, *spec.warnings])),
            "decisions": list(dict.fromkeys([*plan.decisions, *spec.decisions])),
        }
    )


def _limits_decision(ctx: Context, ev: Evaluation) -> str:
    engine = ctx.recipe.engine
    isl, osl, conc = ctx.workload
    if ev.tuned is not None:
        return (
            f"limits from {ev.tuned.id}: max_batch_size {ev.max_batch_size}, max_num_tokens "
            f"{ev.max_num_tokens}, max_seq_len {ev.max_seq_len}"
        )
    parts = []
    requests = min(ev.kv_max_requests, conc)
    rounding = (
        f"trtllm-bench rounding of {math.floor(requests)} requests (KV cache holds "
        f"{math.floor(ev.kv_max_requests)} of {isl}+{osl} tokens, concurrency {conc})"
    )
    bs_auto, tokens_auto = not explicit(engine.max_batch_size), not explicit(engine.max_num_tokens)
    if bs_auto:
        parts.append(f"max_batch_size {ev.max_batch_size}: {rounding}")
    if tokens_auto:
        cap = ev.max_batch_size * ev.max_seq_len
        if ev.max_num_tokens == cap:
            why = (
                f"max_batch_size x max_seq_len = {ev.max_batch_size} x {ev.max_seq_len} (the most one pass "
                "holds)"
            )
        else:
            why = "the same rounding" if bs_auto else rounding
        parts.append(f"max_num_tokens {ev.max_num_tokens}: {why}")
    if not explicit(engine.max_seq_len):
        source = "workload ISL+OSL+256" if ctx.workload_explicit else "the model's context"
        parts.append(f"max_seq_len {ev.max_seq_len} from {source}")
    return "; ".join(parts) if parts else "limits as the recipe sets them"
