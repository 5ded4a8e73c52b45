"""Quantization decisions: which weight format, which parameter groups it covers, the KV-cache dtype, and
whether the GPU and backend can run them. Pure: (recipe quantization section, ModelSpec, GPU, backend)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trtforge.hardware import GPU
from trtforge.models import ModelSpec
from trtforge.models.spec import QUANTIZABLE_GROUPS
from trtforge.plan.formats import always_excluded, kv_formats, weight_formats
from trtforge.plan.model import QuantPlan
from trtforge.toolchain import quant_formats

DTYPE_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp32": 2.0}  # fp32 checkpoints are served in bf16
_FP8_FAMILY = {"fp8", "fp8_block", "nvfp4", "nvfp4_awq"}
# A requested format that a native checkpoint format already is (fp8 asked for, FP8 block-scaled shipped).
_SAME_FAMILY = {"fp8": "fp8", "fp8_block": "fp8", "nvfp4": "nvfp4", "mxfp4": "mxfp4"}


@dataclass
class QuantChoice:
    """The resolved quantization, with what planning needs beyond the Plan's QuantPlan."""

    plan: QuantPlan
    weight_format: str  # concrete format of the quantized groups: none, fp8, mxfp4, ...
    groups: tuple[
        str, ...
    ]  # parameter groups stored in weight_format (the rest stay in the checkpoint dtype)
    kv_dtype: str
    decisions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def supported_formats(gpu: GPU, backend: str) -> list[str]:
    """Weight formats the GPU (and backend) can run, in table order."""
    out = []
    for name, fmt in weight_formats().items():
        if name in ("none", "fp8_block"):
            continue
        if gpu.is_cpu:
            if fmt.cpu:
                out.append(name)
            continue
        if gpu.sm is not None and gpu.sm < fmt.min_sm:
            continue
        if backend == "tensorrt" and fmt.engine_max_sm and gpu.sm is not None and gpu.sm > fmt.engine_max_sm:
            continue
        out.append(name)
    return out


_MIN_SM_ARCH = {
    100: "Blackwell",
    90: "Hopper or Blackwell",
    89: "Ada, Hopper or Blackwell",
    80: "Ampere or newer",
}
_MIN_SM_GPUS = {100: "B200, GB200, B300", 90: "H100, H200, B200", 89: "L40S, H100, H200, B200"}


def _check_format_runs(name: str, gpu: GPU, backend: str, what: str, native: bool = False) -> str | None:
    fmt = weight_formats()[name]
    if gpu.is_cpu:
        if not fmt.cpu:
            return (
                f"{what} {name} needs a CUDA GPU to quantize (its AWQ search runs NVFP4 forwards): use a GPU"
            )
        return None
    assert gpu.sm is not None
    alternatives = [a for a in fmt.alternatives_below if a in supported_formats(gpu, backend)]
    alt = f": use quantization.format: {' or '.join(alternatives)}" if alternatives else ""
    if native:
        examples = _MIN_SM_GPUS.get(fmt.min_sm, "those in `trtforge gpus`")
        alt = f": use an SM {fmt.min_sm}+ GPU such as {examples}"
    if gpu.sm < fmt.min_sm:
        return (
            f"{what} {name} needs SM {fmt.min_sm}+ ({_MIN_SM_ARCH.get(fmt.min_sm, 'newer GPU')}); "
            f"{gpu.name} is SM {gpu.sm} ({gpu.architecture}){alt}"
        )
    if backend == "tensorrt" and fmt.engine_max_sm and gpu.sm > fmt.engine_max_sm:
        return (
            f"{what} {name} is not supported by TensorRT engines on SM {gpu.sm} ({gpu.architecture}): "
            "use engine.backend: pytorch, or quantization.format: fp8 / nvfp4"
        )
    return None


def resolve_quantization(
    fmt_requested: str, kv_requested: str, extra_excludes: list[str], spec: ModelSpec, gpu: GPU, backend: str
) -> QuantChoice:
    """Decide weight format, quantized groups and KV dtype; errors name the alternatives that work."""
    native = spec.native_quantization
    decisions: list[str] = []
    warnings: list[str] = []
    errors: list[str] = []
    source = "none"
    weight_format = "none"
    groups: tuple[str, ...] = ()
    excludes: list[str] = []
    asked_same = (
        native is not None
        and native.format is not None
        and (
            fmt_requested == native.format
            or _SAME_FAMILY.get(fmt_requested) == _SAME_FAMILY.get(native.format, "-")
        )
    )
    if asked_same and fmt_requested not in ("none", "native"):
        decisions.append(
            f"quantization.format {fmt_requested}: the checkpoint already ships {native.format} weights "  # type: ignore[union-attr]
            "(native): they are used as shipped, not re-quantized"
        )
    if native is not None and (fmt_requested in ("none", "native") or asked_same):
        if native.format is None:
            errors.append(
                f"the checkpoint is pre-quantized with '{native.method}', which trtforge cannot plan for: "
                "use an unquantized checkpoint"
            )
        else:
            source, weight_format = "native", native.format
            groups = tuple(g for g in native.groups if spec.params.total.get(g))
            kept = ", ".join(native.modules_not_converted) or "embeddings and lm_head"
            decisions.append(
                f"weights as shipped ({native.method}): {', '.join(groups)} in {native.format}; "
                f"{kept} stay {spec.dtype}"
            )
            excludes = list(native.modules_not_converted)
    elif native is not None:
        errors.append(
            f"quantization.format {fmt_requested}: {spec.architecture} ships {native.method} weights; "
            "re-quantizing them is not supported: use quantization.format: native"
        )
    elif fmt_requested == "native":
        warnings.append(
            f"quantization.format native: the checkpoint carries no quantization; weights stay {spec.dtype}"
        )
    elif fmt_requested != "none":
        source, weight_format, groups = "modelopt", fmt_requested, QUANTIZABLE_GROUPS
        decisions.append(
            f"ModelOpt quantizes the linear layers to {fmt_requested}; embeddings, lm_head, routers "
            "and any vision tower stay in the checkpoint dtype"
        )
    if weight_format != "none":
        problem = _check_format_runs(
            weight_format,
            gpu,
            backend,
            "quantization" if source == "modelopt" else f"{spec.architecture}'s native",
            native=source == "native",
        )
        if problem:
            errors.append(problem)
        excludes = list(dict.fromkeys([*always_excluded(), *excludes, *extra_excludes]))
    fmt = weight_formats()[weight_format]
    kv_dtype, kv_note, kv_error = _resolve_kv(kv_requested, weight_format, spec, gpu, backend)
    if kv_note:
        decisions.append(kv_note)
    if kv_error:
        errors.append(kv_error)
    kv = kv_formats().get(kv_dtype)
    quant_algo = fmt.algo_for(gpu.sm) if weight_format != "none" else None
    group_size, modelopt_config = fmt.group_size, None
    if source == "modelopt":
        produced = _modelopt_format(weight_format, spec.architecture, gpu, backend, kv_dtype)
        quant_algo, group_size, modelopt_config = (
            produced.quant_algo,
            produced.group_size,
            produced.modelopt_config,
        )
        errors.extend(produced.errors)
        warnings.extend(produced.warnings)
        if (why := group_size_problem(weight_format, group_size, spec)) is not None:
            errors.append(why)
    plan = QuantPlan(
        format="native" if source == "native" else weight_format,
        kv_cache=kv_dtype,
        source=source,
        quant_algo=quant_algo,
        kv_cache_quant_algo=kv.quant_algo if kv else None,
        group_size=group_size,
        bytes_per_weight=fmt.bytes_per_weight
        if weight_format != "none"
        else DTYPE_BYTES.get(spec.dtype, 2.0),
        exclude_modules=excludes,
        modelopt_config=modelopt_config,
    )
    return QuantChoice(
        plan=plan,
        weight_format=weight_format,
        groups=groups,
        kv_dtype=kv_dtype,
        decisions=decisions,
        warnings=warnings,
        errors=errors,
    )


def group_size_problem(name: str, group_size: int | None, spec: ModelSpec) -> str | None:
    """A group-quantized format needs every quantized linear layer's input width to be a whole number of
    groups: ModelOpt 0.47's exporters refuse partial groups ("Cannot pack weight with input dimension 576 and
    block size 128"). Refused at plan time rather than silently changing the group size, which the format's
    ModelOpt preset, its quant_algo and TensorRT-LLM's kernels all fix (SmolLM2-135M, hidden 576:
    int4_awq/w4a8_awq no, fp8
    yes)."""
    if not group_size:
        return None
    widths = {
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "moe_intermediate_size": spec.moe_intermediate_size,
    }
    bad = {k: v for k, v in widths.items() if v and v % group_size}
    if not bad:
        return None
    key, width = next(iter(bad.items()))
    return (
        f"quantization.format {name} quantizes in groups of {group_size} input channels; "
        f"{spec.architecture}'s {key} {width} is not a multiple of {group_size} "
        f"({width} = {width // group_size} x {group_size} + {width % group_size}): "
        "use fp8 or int8_sq (no groups) for this model"
    )


@dataclass
class _Produced:
    quant_algo: str | None
    group_size: int | None
    modelopt_config: str | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _modelopt_format(name: str, architecture: str, gpu: GPU, backend: str, kv_dtype: str) -> _Produced:
    """What the quantize step will do for this format (trtforge/data/quant_formats.yaml is its table)."""
    spec = quant_formats.get_format(name)
    out = _Produced(spec.quant_algo, spec.group_size, spec.modelopt_config)
    export = quant_formats.export_kinds_for(backend)[0]
    problem = quant_formats.check_support(name, architecture, export)
    if problem:
        out.errors.append(problem)
    if gpu.is_cpu:
        error, note = quant_formats.cpu_limits(name, kv_dtype)
        if error:
            out.errors.append(error)
        if note:
            out.warnings.append(f"accuracy check {note}")
    return out


def _resolve_kv(
    requested: str, weight_format: str, spec: ModelSpec, gpu: GPU, backend: str
) -> tuple[str, str | None, str | None]:
    model_dtype = "fp16" if spec.dtype == "fp16" else "bf16"
    if requested == "auto":
        if gpu.is_cpu or gpu.sm is None:
            return model_dtype, None, None
        if backend == "pytorch" and gpu.sm >= 100:
            return (
                "fp8",
                "KV cache fp8 (auto: NVIDIA's tuned Blackwell configs store the KV cache in FP8)",
                None,
            )
        if weight_format in _FP8_FAMILY and gpu.sm >= 89:
            return (
                "fp8",
                f"KV cache fp8 (auto: {weight_format} weights pair with an FP8 KV cache, as in trtllm-bench)",
                None,
            )
        return model_dtype, f"KV cache {model_dtype} (auto: the model dtype)", None
    kv = kv_formats()[requested]
    if gpu.is_cpu:
        if kv.quant_algo:
            return (
                requested,
                None,
                (
                    f"quantization.kv_cache {requested}: the CPU reference backend keeps the KV cache "
                    f"in {model_dtype}; use kv_cache: auto"
                ),
            )
        return requested, None, None
    assert gpu.sm is not None
    if gpu.sm < kv.min_sm:
        return (
            requested,
            None,
            (
                f"quantization.kv_cache {requested} needs SM {kv.min_sm}+; {gpu.name} is SM {gpu.sm}: "
                f"use kv_cache: {'fp8' if gpu.sm >= 89 else model_dtype}"
            ),
        )
    if kv.pytorch_only and backend != "pytorch":
        return (
            requested,
            None,
            f"quantization.kv_cache {requested} needs the PyTorch backend: use kv_cache: fp8",
        )
    return requested, f"KV cache {requested} (asked for)", None
