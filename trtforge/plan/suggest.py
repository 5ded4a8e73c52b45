"""What would fit instead, for an infeasible plan: more of the same GPU (within one node), the smallest setups
of other catalog GPUs, a smaller weight format, an FP8 KV cache, a shorter max_seq_len. docs/planning.md
section 4.
"""

from __future__ import annotations

from dataclasses import replace

from trtforge.hardware import GPU, load_catalog
from trtforge.plan.fit import (
    MIN_KV_GIB_WARNING,
    SUGGESTED_FORMATS,
    Context,
    Evaluation,
    choose_moe_backend,
    evaluate,
    explicit,
    first_fit,
)
from trtforge.plan.limits import round_down
from trtforge.plan.memory import GIB
from trtforge.plan.parallel import candidate_layouts
from trtforge.plan.quantization import resolve_quantization, supported_formats
from trtforge.plan.topology import more_gpus_hint, placed_layouts, with_gpus
from trtforge.recipe.schema import Target

GPU_COUNTS = (1, 2, 4, 8)  # tensor/pipeline parallel sizes the planner tries within one node
MAX_OTHER_GPUS = 2  # other catalog GPUs named in one infeasible answer


def _fitting_count(ctx: Context, gpu: GPU, above: int) -> tuple[int, Evaluation] | None:
    """The fewest GPUs of this kind (more than `above`, at most one node) that fit, with that layout's
    sizing."""
    if gpu is not ctx.gpu:
        quant = resolve_quantization(
            ctx.recipe.quantization.format,
            ctx.recipe.quantization.kv_cache,
            list(ctx.recipe.quantization.exclude_modules),
            ctx.spec,
            gpu,
            ctx.backend,
        )
        if quant.errors:
            return None  # this GPU cannot run the format at all
        moe = choose_moe_backend(ctx.spec, gpu, ctx.backend, quant.weight_format)
        ctx = replace(ctx, gpu=gpu, quant=quant, moe_backend=moe)
    for n in GPU_COUNTS:
        if n <= above or n > gpu.node_gpus:
            continue
        layouts, _ = candidate_layouts(ctx.spec, n, None, None, None, ctx.moe_backend)
        ev = first_fit(ctx, layouts)
        if ev is not None:
            return n, ev
    return None


def _more_nodes(ctx: Context, target: Target) -> list[str]:
    """Whole nodes of the same size added (multi-node placement: TP inside a node, PP across nodes)."""
    node = target.model_copy(update={"nodes": 1})
    for k in range(max(2, target.nodes + 1), 65):
        grown = with_gpus(node.model_copy(update={"nodes": 2}), target.gpus * k)
        layouts, _ = placed_layouts(ctx.spec, grown, ctx.gpu, None, None, None, ctx.moe_backend)
        ev = first_fit(ctx, layouts)
        if ev is not None:
            return [more_gpus_hint(grown, ctx.gpu, ev.layout.world_size)]
    return []


def _gpu_suggestions(ctx: Context, target: Target) -> list[str]:
    """More of the same GPU (within one node), else the smallest setups of other catalog GPUs that fit, else
    more nodes. A multi-node target grows by whole nodes."""
    if target.nodes > 1:
        return [] if ctx.quant.errors else _more_nodes(ctx, target)
    same = None if ctx.quant.errors else _fitting_count(ctx, ctx.gpu, target.gpus)
    if same is not None:
        n = same[1].layout.world_size
        return [f"needs {n}×{ctx.gpu.name}: use target.gpus: {n}"]
    roomy: dict[str, tuple[int, float, str]] = {}  # architecture -> (GPUs, memory bought, GPU name)
    tight: dict[str, tuple[int, float, str]] = {}
    for gpu in load_catalog():
        if gpu.is_cpu or gpu.name == ctx.gpu.name:
            continue
        found = _fitting_count(ctx, gpu, 0)
        if found is None:
            continue
        n, ev = found[1].layout.world_size, found[1]
        # fewest GPUs first, then the least memory bought (a rough cost); one per GPU generation
        key = (n, n * gpu.memory_gib, gpu.name)
        pool = roomy if ev.kv_bytes / GIB >= MIN_KV_GIB_WARNING else tight
        if gpu.architecture not in pool or key < pool[gpu.architecture]:
            pool[gpu.architecture] = key
    # Setups left with under 10 GiB of KV cache (trtllm-bench's warning) only when nothing roomier fits.
    ranked = sorted((roomy or tight).values())
    picks = [f"{n}×{name}" for n, _mem, name in ranked[:MAX_OTHER_GPUS]]
    if not picks:
        return [] if ctx.quant.errors else _more_nodes(ctx, target)
    return [
        f"use {' or '.join(picks)} (target.gpu / target.gpus; one node holds at most "
        f"{ctx.gpu.node_gpus}×{ctx.gpu.name})"
    ]


def suggestions(ctx: Context, target: Target, best: Evaluation) -> list[str]:
    """The nearest options that fit: more GPUs or another GPU, a smaller format, an FP8 KV cache, a shorter
    max_seq_len. Within one node first (target.gpus counts one node's GPUs)."""
    spec, gpu = ctx.spec, ctx.gpu
    out: list[str] = []
    if gpu.is_cpu:
        return out
    moe = ctx.moe_backend
    out.extend(_gpu_suggestions(ctx, target))
    gpus_tp = explicit(target.tp)
    if ctx.quant.plan.source != "native":
        for fmt in SUGGESTED_FORMATS:
            if fmt not in supported_formats(gpu, ctx.backend):
                continue
            q = resolve_quantization(fmt, ctx.recipe.quantization.kv_cache, [], spec, gpu, ctx.backend)
            if q.errors or q.plan.bytes_per_weight >= ctx.quant.plan.bytes_per_weight:
                continue
            layouts, _ = placed_layouts(
                spec, target, gpu, gpus_tp, explicit(target.pp), explicit(target.ep), moe
            )
            if first_fit(replace(ctx, quant=q), layouts) is not None:
                out.append(f"quantization.format: {fmt}")
                break
    if ctx.quant.kv_dtype in ("bf16", "fp16") and gpu.sm is not None and gpu.sm >= 89:
        q = replace(ctx.quant, kv_dtype="fp8")
        if evaluate(replace(ctx, quant=q), best.layout).fits:
            out.append("quantization.kv_cache: fp8")
    if best.seq_cap and best.seq_cap >= 1024 and not any("weights need" in r for r in best.reasons):
        out.append(f"engine.max_seq_len: {round_down(best.seq_cap, 1024)}")
    return out
