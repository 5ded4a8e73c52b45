"""The quantization formats table (trtforge/data/quant_formats.yaml) and the questions asked of it.

Pure functions over data: which ModelOpt config a recipe format means, which TensorRT-LLM quant_algo the
export writes, what needs CUDA, and which (format, architecture, export) combinations are known not to work.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import QUANT_FORMAT_TABLE, load

EXPORT_KINDS = (
    "hf",
    "trtllm",
)  # unified HF checkpoint (PyTorch backend) | TRT-LLM checkpoint (engine backend)


def load_table() -> dict[str, Any]:
    """The parsed data file (cached by the one data loader)."""
    return load(QUANT_FORMAT_TABLE)


@dataclass(frozen=True)
class FormatSpec:
    name: str
    modelopt_config: str  # attribute of modelopt.torch.quantization, e.g. "FP8_DEFAULT_CFG"
    quant_algo: str  # what ModelOpt 0.47 writes into the checkpoint's quantization block
    group_size: int | None
    algorithm: str  # calibration algorithm of the ModelOpt config (max, awq_lite, smoothquant)
    cpu_calibrate: bool  # mtq.quantize works without CUDA
    cpu_forward: bool  # the fake-quantized forward (accuracy check) works without CUDA
    min_sm: int | None  # GPU tensor-core support needed to *run* it (TensorRT-LLM)
    description: str
    trtllm_note: str | None = None
    cuda_extensions: tuple[str, ...] = ()  # ModelOpt JIT CUDA extensions its quantized forward uses


@dataclass(frozen=True)
class KvSpec:
    name: str
    modelopt_config: str
    kv_cache_quant_algo: str
    cpu_forward: bool
    cuda_extensions: tuple[str, ...] = ()


def format_names() -> tuple[str, ...]:
    return tuple(load_table()["formats"])


def format_for_quant_algo(quant_algo: str) -> str | None:
    """The format whose checkpoints declare `quant_algo`, among those trtforge produces and those it only
    plans
    for (case-insensitive: ModelOpt writes 'mxfp4' lower case); None for an algorithm the table lacks."""
    table = load_table()
    for name, row in (*table["formats"].items(), *table["checkpoint_formats"].items()):
        if row.get("quant_algo") and str(row["quant_algo"]).upper() == quant_algo.upper():
            return str(name)
    return None


def get_format(name: str) -> FormatSpec:
    """The table row for a recipe format (fp8, nvfp4, ...); InvalidInput for anything else."""
    rows = load_table()["formats"]
    if name not in rows:
        raise InvalidInput(
            f"quantization format {name!r} is not a ModelOpt format", hint=f"choose one of {', '.join(rows)}"
        )
    row = rows[name]
    return FormatSpec(
        name=name,
        modelopt_config=row["modelopt_config"],
        quant_algo=row["quant_algo"],
        group_size=row.get("group_size"),
        algorithm=row["algorithm"],
        cpu_calibrate=bool(row["cpu"]["calibrate"]),
        cpu_forward=bool(row["cpu"]["forward"]),
        min_sm=row.get("min_sm"),
        description=row["description"],
        trtllm_note=row.get("trtllm_note"),
        cuda_extensions=tuple(row.get("cuda_extensions", ())),
    )


def kv_dtype_bytes(kv_dtype: str) -> float:
    """Bytes per KV-cache element of a dtype (bf16, fp16, fp8, nvfp4), from the table's kv_cache rows."""
    return float(load_table()["kv_cache"][kv_dtype]["bytes"])


def kv_spec(kv_cache: str | None) -> KvSpec | None:
    """KV-cache quantization for a recipe/plan kv_cache value; None for an unquantized cache
    (auto/bf16/fp16)."""
    if kv_cache in (None, "auto", "bf16", "fp16", "float16", "bfloat16", "none"):
        return None
    rows = load_table()["kv_cache"]
    if kv_cache not in rows:
        raise InvalidInput(
            f"KV-cache quantization {kv_cache!r} is not supported by ModelOpt export",
            hint=f"choose one of {', '.join(rows)} (or auto)",
        )
    row = rows[kv_cache]
    return KvSpec(
        name=kv_cache,
        modelopt_config=row["modelopt_config"],
        kv_cache_quant_algo=row["kv_cache_quant_algo"],
        cpu_forward=bool(row["cpu"]["forward"]),
        cuda_extensions=tuple(row.get("cuda_extensions", ())),
    )


def cuda_extensions_for(fmt: str, kv_cache: str | None) -> tuple[str, ...]:
    """The ModelOpt CUDA extensions a (format, KV cache) job loads on a GPU, in a stable order."""
    kv = kv_spec(kv_cache)
    names = set(get_format(fmt).cuda_extensions) | set(kv.cuda_extensions if kv else ())
    return tuple(sorted(names))


def export_kinds_for(backend: str) -> tuple[str, ...]:
    """What to export for a plan backend: the engine backend reads TRT-LLM checkpoints, the rest HF ones."""
    return ("trtllm",) if backend == "tensorrt" else ("hf",)


def check_support(fmt: str, architecture: str, export_kind: str, tp: int = 1, pp: int = 1) -> str | None:
    """None when (format, architecture, export) is expected to work, else one line saying why not.

    Based on the matrix measured with the pinned versions (docs/quantization.md). Architectures that were not
    measured are not refused here: the worker validates what it wrote and names the combination if it fails.
    """
    if export_kind not in EXPORT_KINDS:
        raise InvalidInput(f"unknown export kind {export_kind!r}", hint=f"one of {', '.join(EXPORT_KINDS)}")
    get_format(fmt)  # unknown format -> InvalidInput
    label = "TensorRT-LLM checkpoint" if export_kind == "trtllm" else "unified Hugging Face checkpoint"
    for rule in load_table().get("unsupported", []):
        if rule["export"] not in (export_kind, "*"):
            continue
        if not fnmatch.fnmatchcase(fmt, rule["format"]):
            continue
        if not fnmatch.fnmatchcase(architecture, rule["architecture"]):
            continue
        if tp < rule.get("min_tp", 1) or pp < rule.get("min_pp", 1):
            continue
        where = f" at TP{tp}" if rule.get("min_tp", 1) > 1 else ""
        return (
            f"{fmt} export of {architecture} to a {label}{where} is not supported by "
            f"ModelOpt {load_table()['measured_with']['modelopt']}: {rule['reason']}"
        )
    return None


def cpu_limits(fmt: str, kv_cache: str | None) -> tuple[str | None, str | None]:
    """(error, accuracy_note) for running on a machine without CUDA.

    error: the format cannot even calibrate here (e.g. nvfp4_awq's AWQ search runs quantized forwards).
    accuracy_note: quantize+export work but the accuracy check cannot run (no CPU fake-quant forward).
    """
    spec = get_format(fmt)
    if not spec.cpu_calibrate:
        return (
            f"{fmt} needs a CUDA GPU for its {spec.algorithm} calibration search; this machine has none",
            None,
        )
    kv = kv_spec(kv_cache)
    if not spec.cpu_forward:
        return None, f"not measured on CPU (the {fmt} quantized forward needs CUDA)"
    if kv is not None and not kv.cpu_forward:
        return None, f"not measured on CPU (the {kv.name} KV-cache quantized forward needs CUDA)"
    return None, None


def cpu_capabilities() -> dict[str, str]:
    """format -> 'cpu' | 'cpu (accuracy check needs CUDA)' | 'needs CUDA': what `trtforge` can say on a CPU
    box."""
    out = {}
    for name in format_names():
        spec = get_format(name)
        if not spec.cpu_calibrate:
            out[name] = "needs CUDA"
        elif not spec.cpu_forward:
            out[name] = "cpu (accuracy check needs CUDA)"
        else:
            out[name] = "cpu"
    return out
