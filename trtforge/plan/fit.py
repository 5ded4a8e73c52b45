"""Whether one parallel layout fits: the memory and limits arithmetic the planner and its suggestions share.

Pure. `planner.py` decides (backend, quantization, layout) with these; `suggest.py` re-evaluates nearby
options with them when nothing fits; `resolve.py` reads the engine's draft length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trtforge.hardware import GPU
from trtforge.models import ModelSpec
from trtforge.plan.limits import auto_batch_and_tokens, round_down, workload_seq_len
from trtforge.plan.memory import (
    GIB,
    group_bytes,
    kv_bytes_per_token_per_gpu,
    max_seq_len_in,
    reserve_bytes,
    weights_per_gpu,
)
from trtforge.plan.parallel import Layout
from trtforge.plan.quantization import QuantChoice
from trtforge.plan.tuned import TunedConfig, find_tuned
from trtforge.recipe.schema import Recipe
from trtforge.toolchain.options import lookahead_max_draft_len
from trtforge.toolchain.rules import chunked_prefill_supported

DEFAULT_FREE_GPU_MEMORY_FRACTION = 0.85  # NVIDIA's tuned gpt-oss configs; TensorRT-LLM's own default is 0.9
MIN_KV_GIB_WARNING = 10.0  # trtllm-bench warns below 10 GB of KV cache per GPU
MIN_REQUESTS = 32  # trtllm-bench warns when the KV cache holds fewer requests than this
SUGGESTED_FORMATS = ("fp8", "nvfp4", "int4_awq", "w4a8_awq")  # best accuracy first


@dataclass(frozen=True)
class Context:
    """What stays the same across the layouts the planner tries."""

    recipe: Recipe
    spec: ModelSpec
    gpu: GPU
    backend: str
    quant: QuantChoice
    moe_backend: str | None
    workload: tuple[int, int, int]  # input_len, output_len, concurrency
    workload_explicit: bool
    host_memory_bytes: int | None = None
    chunked_prefill: bool = True  # effective: asked for, and the backend / model support it
    chunked_note: str | None = None  # why chunked prefill is off when the recipe asked for it


@dataclass
class Evaluation:
    """One layout, sized: its memory split, limits, and whether (and why not) it fits."""

    layout: Layout
    weights: float
    reserve: float
    kv_bytes: float
    total: float
    fraction: float
    max_batch_size: int
    max_num_tokens: int
    max_seq_len: int
    max_input_len: int
    max_kv_tokens: int
    kv_max_requests: float
    tuned: TunedConfig | None
    reasons: list[str] = field(default_factory=list)  # why it does not fit
    warnings: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    seq_cap: int | None = None  # longest sequence the KV cache holds, when that limits max_seq_len

    @property
    def fits(self) -> bool:
        return not self.reasons


def gib(value: float) -> float:
    return round(value / GIB, 2)


def explicit(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def choose_moe_backend(spec: ModelSpec, gpu: GPU, backend: str, weight_format: str) -> str | None:
    """MoE kernels on the PyTorch backend: MXFP4 (gpt-oss) runs TRITON on Hopper, TRTLLM on Blackwell."""
    if backend != "pytorch" or not spec.is_moe or gpu.sm is None:
        return None
    if weight_format == "mxfp4":
        return "TRTLLM" if gpu.sm >= 100 else "TRITON"
    return "CUTLASS"


def engine_draft_len(recipe: Recipe) -> int:
    """Draft tokens per step an engine-path speculative mode verifies (0 without speculative decoding)."""
    spec = recipe.engine.speculative
    if spec.mode == "none":
        return 0
    if spec.mode == "lookahead" and spec.lookahead:
        return lookahead_max_draft_len(
            spec.lookahead["window_size"],
            spec.lookahead["ngram_size"],
            spec.lookahead["verification_set_size"],
        )
    return spec.max_draft_len


def decide_chunked_prefill(recipe: Recipe, architecture: str, backend: str) -> tuple[bool, str | None]:
    """(chunked prefill on?, why it is off although the recipe asked). The one reader of
    engine.chunked_prefill.

    Engine backend: needs a paged KV cache and paged context FMHA (builder.py). PyTorch backend: the model
    must have it in NVIDIA's feature matrix (toolchain.rules.chunked_prefill_supported). The CPU reference
    runtime takes the recipe's value as a Triton parameter.
    """
    engine = recipe.engine
    if not engine.chunked_prefill:
        return False, None
    if backend == "tensorrt" and not (engine.paged_kv_cache and engine.paged_context_fmha):
        return False, "chunked prefill needs engine.paged_context_fmha (trtllm-build builder.py)"
    if backend == "pytorch" and not chunked_prefill_supported(architecture):
        return False, (
            f"{architecture} has no chunked prefill on TensorRT-LLM <= 1.2 (supported-models.md @aeead21a)"
        )
    return True, None


def evaluate(ctx: Context, layout: Layout) -> Evaluation:
    """Size one layout: weights, reserve, KV cache, and the auto limits that follow from them."""
    spec, gpu, recipe, backend = ctx.spec, ctx.gpu, ctx.recipe, ctx.backend
    engine = recipe.engine
    tp, pp, ep = layout.tp, layout.pp, layout.ep
    isl, osl, conc = ctx.workload
    kv_dtype = ctx.quant.kv_dtype
    by_group = group_bytes(spec, ctx.quant.groups, ctx.quant.plan.bytes_per_weight)
    weights = weights_per_gpu(spec, by_group, tp, pp)
    total = float(gpu.memory_bytes)
    tuned = None
    if backend == "pytorch":
        tuned = find_tuned(
            spec.architecture,
            spec.total_params,
            gpu.name,
            ctx.workload if ctx.workload_explicit else None,
            tp,
            ctx.quant.plan.source,
        )
    settings = tuned.settings if tuned else {}
    asked_fraction = recipe.serving.kv_cache_free_gpu_mem_fraction
    fraction = (
        asked_fraction
        if isinstance(asked_fraction, float)
        else float(settings.get("free_gpu_memory_fraction", DEFAULT_FREE_GPU_MEMORY_FRACTION))
    )
    asked_bs = explicit(engine.max_batch_size) or settings.get("max_batch_size")
    asked_tokens = explicit(engine.max_num_tokens) or settings.get("max_num_tokens")
    reasons: list[str] = []
    warnings: list[str] = []

    # Pass 1: size activations for the whole concurrency (an upper bound), see what KV memory is left.
    bs1, tok1 = auto_batch_and_tokens(conc, isl, osl, conc, pp, backend)
    reserve1 = reserve_bytes(spec, backend, tp, pp, ep, asked_tokens or tok1, asked_bs or bs1)
    kv1 = max(0.0, fraction * (total - weights - reserve1))

    context = spec.max_position_embeddings or 4096
    if explicit(engine.max_seq_len):
        seq, seq_from = int(engine.max_seq_len), "recipe"
    elif "max_seq_len" in settings:
        seq, seq_from = int(settings["max_seq_len"]), "tuned"
    elif ctx.workload_explicit:
        seq, seq_from = workload_seq_len(isl, osl), "workload"
    else:
        seq, seq_from = context, "model"
    if seq > context:
        if seq_from == "recipe":
            reasons.append(
                f"engine.max_seq_len {seq} exceeds {spec.architecture}'s context of {context} tokens"
            )
        else:
            warnings.append(
                f"workload needs {seq} tokens per sequence, more than the model's {context}: "
                f"max_seq_len capped to {context}"
            )
            seq = context
    cap = max_seq_len_in(spec, kv_dtype, tp, pp, kv1)
    seq_cap = None
    if weights + reserve1 > total:
        reasons.append(
            f"weights need {gib(weights)} GiB per GPU plus {gib(reserve1)} GiB runtime reserve; "
            f"{gpu.name} has {gib(total)} GiB"
        )
    elif seq > cap:
        need = spec.kv_bytes_for_sequence_per_gpu(seq, kv_dtype, tp, pp)
        minimum = min(context, isl + osl)
        if seq_from == "model" and cap >= minimum:
            seq_cap = cap
            seq = max(minimum, round_down(cap, 1024))
            warnings.append(
                f"the model's {context}-token context needs {gib(need)} GiB of {kv_dtype} KV cache per "
                f"sequence per GPU; {gpu.name} has {gib(kv1)} GiB for it: max_seq_len capped to {seq}"
            )
        else:
            what = "engine.max_seq_len" if seq_from == "recipe" else "a sequence of"
            reasons.append(
                f"{what} {seq} tokens needs {gib(need)} GiB of {kv_dtype} KV cache per GPU; only "
                f"{gib(kv1)} GiB is left after weights and reserve"
            )
            seq_cap = cap

    # Pass 2: requests the KV cache holds at the workload's length -> batch and token limits.
    request_len = max(1, min(isl + osl, seq))
    per_request = spec.kv_bytes_for_sequence_per_gpu(request_len, kv_dtype, tp, pp)
    kv_max_requests = kv1 / per_request if per_request else 0.0
    auto_bs, auto_tokens = auto_batch_and_tokens(kv_max_requests, isl, osl, conc, pp, backend)
    max_bs = int(asked_bs or auto_bs)
    max_tokens = int(asked_tokens or auto_tokens)
    if not asked_tokens and max_tokens > max_bs * seq:
        # a forward pass never holds more than max_batch_size whole sequences (trtllm-build clamps to it)
        max_tokens = max(1, max_bs * seq)
    asked_input = explicit(engine.max_input_len)
    max_input = min(asked_input or max(1, seq - 1), max(1, seq - 1))
    limit_notes: list[str] = []
    draft = engine_draft_len(recipe) if backend == "tensorrt" else 0
    if draft and not asked_tokens and max_tokens < max_bs * (draft + 1) <= max_bs * seq:
        # builder.py raises max_num_tokens to max_batch_size x (max_draft_len + 1) for speculative decoding
        limit_notes.append(
            f"max_num_tokens {max_bs * (draft + 1)} (raised from {max_tokens}): speculative decoding "
            "verifies "
            f"max_draft_len {draft} + 1 tokens for each of max_batch_size {max_bs} sequences"
        )
        max_tokens = max_bs * (draft + 1)
    if not ctx.chunked_prefill and max_tokens < max_input:
        # Without chunked prefill a whole prompt is one forward pass: max_num_tokens must cover max_input_len.
        if not asked_tokens and (asked_input or backend == "tensorrt"):
            limit_notes.append(
                f"max_num_tokens {max_input} (raised from {max_tokens}): without chunked prefill a whole "
                f"prompt of max_input_len {max_input} is one forward pass"
            )
            max_tokens = max_input
        elif not asked_input:
            limit_notes.append(
                f"max_input_len capped to max_num_tokens {max_tokens}: without chunked prefill a prompt is "
                "one "
                f"forward pass ({ctx.chunked_note or 'engine.chunked_prefill is false'})"
            )
            max_input = max_tokens
    reserve = reserve_bytes(spec, backend, tp, pp, ep, max_tokens, max_bs)
    if weights + reserve1 > total:
        reserve = reserve1  # report the reserve the fit check used
    kv_bytes = max(0.0, fraction * (total - weights - reserve))
    per_token = kv_bytes_per_token_per_gpu(spec, kv_dtype, tp, pp, seq)
    max_kv_tokens = int(kv_bytes // per_token) if per_token > 0 else 0
    if not reasons and weights + reserve > total:
        reasons.append(
            f"weights need {gib(weights)} GiB per GPU plus {gib(reserve)} GiB runtime reserve; "
            f"{gpu.name} has {gib(total)} GiB"
        )
    if gpu.is_cpu and ctx.host_memory_bytes and weights + reserve > ctx.host_memory_bytes:
        reasons.append(
            f"the CPU reference needs {gib(weights + reserve)} GiB of RAM; this machine has "
            f"{gib(ctx.host_memory_bytes)} GiB"
        )
    if not reasons:
        if not gpu.is_cpu and kv_bytes / GIB < MIN_KV_GIB_WARNING:
            warnings.append(
                f"only {gib(kv_bytes)} GiB of KV cache per GPU (trtllm-bench warns below 10 GB): "
                "throughput will be limited"
            )
        if kv_max_requests < conc:
            warnings.append(
                f"the KV cache holds {int(kv_max_requests)} requests of {request_len} tokens, fewer than "
                f"the workload's concurrency {conc}: requests will queue"
            )
    return Evaluation(
        layout=layout,
        weights=weights,
        reserve=reserve,
        kv_bytes=kv_bytes,
        total=total,
        fraction=fraction,
        max_batch_size=max_bs,
        max_num_tokens=max_tokens,
        max_seq_len=seq,
        max_input_len=max_input,
        max_kv_tokens=max_kv_tokens,
        kv_max_requests=kv_max_requests,
        tuned=tuned,
        reasons=reasons,
        warnings=warnings,
        decisions=limit_notes,
        seq_cap=seq_cap,
    )


def first_fit(ctx: Context, layouts: list[Layout]) -> Evaluation | None:
    for layout in layouts:
        ev = evaluate(ctx, layout)
        if ev.fits:
            return ev
    return None


def min_requests(ctx: Context) -> int:
    """Concurrent requests a stated workload needs the KV cache to hold (trtllm-bench warns below 32)."""
    return min(ctx.workload[2], MIN_REQUESTS)


def choose_layout(ctx: Context, layouts: list[Layout]) -> Evaluation | None:
    """The smallest layout that fits; with a stated workload, the smallest that also holds enough requests."""
    fitting = None
    for layout in layouts:
        ev = evaluate(ctx, layout)
        if not ev.fits:
            continue
        if not ctx.workload_explicit or ev.kv_max_requests >= min_requests(ctx):
            return ev
        fitting = fitting or ev
    return fitting
