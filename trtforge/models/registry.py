"""config.json -> ModelSpec: pick the family module by architecture and add backend support + native quant."""

from __future__ import annotations

import functools
import importlib
from dataclasses import replace
from typing import Any

from trtforge.errors import Infeasible, InvalidInput
from trtforge.models.native_quant import parse_native_quant
from trtforge.models.spec import ModelSpec
from trtforge.toolchain import archs
from trtforge.toolchain.data import ARCHITECTURES, load

MAX_PARAMS = 10**15
MAX_CONTEXT = 1 << 31
MAX_LAYERS = 10_000
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "bf16": "bf16", "fp16": "fp16"}


class UnknownArchitecture(Infeasible):
    """An architecture trtforge cannot count: exit 3, never a guess."""


@functools.cache
def architectures() -> dict[str, dict[str, Any]]:
    """The architecture table (trtforge/data/architectures.yaml): family module and support, by name."""
    return load(ARCHITECTURES)


def architecture_of(cfg: dict[str, Any]) -> str:
    archs = cfg.get("architectures") or cfg.get("architecture")
    if isinstance(archs, str):
        archs = [archs]
    if not archs or not isinstance(archs, list) or not isinstance(archs[0], str):
        model_type = cfg.get("model_type")
        hint = f" (model_type '{_short(model_type, 60)}')" if model_type else ""
        raise InvalidInput(f"config.json has no 'architectures' list{hint}: cannot tell which model this is")
    return archs[0]


def _short(text: object, limit: int = 120) -> str:
    """A config value or error text cut to fit one readable line (configs can hold megabytes of garbage)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def spec_from_config(cfg: dict[str, Any], source: str = "") -> ModelSpec:
    """The ModelSpec of a parsed config.json; an unknown architecture raises UnknownArchitecture (exit 3).

    Any field of the wrong type or out of range (a string, a list, NaN, Infinity, a 5000-digit number) is one
    InvalidInput line, never an internal error: config.json files come from anywhere.
    """
    arch = architecture_of(cfg)
    entry = architectures().get(arch)
    if entry is None:
        known = ", ".join(sorted(architectures()))
        raise UnknownArchitecture(
            f"architecture {_short(arch, 80)} is not one trtforge can introspect; known: {known}"
        )
    family = importlib.import_module(f"trtforge.models.families.{entry['family']}")
    try:
        return _spec(cfg, arch, entry, family, source)
    except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError, RecursionError) as exc:
        raise InvalidInput(
            f"config.json of {_short(arch, 80)} has a malformed field: {_short(exc)}"
        ) from None


def _spec(cfg: dict[str, Any], arch: str, entry: dict[str, Any], family: Any, source: str) -> ModelSpec:
    text = cfg.get("text_config") or {}
    model_type = str(cfg.get("model_type") or text.get("model_type") or entry["family"])
    for section in (cfg, text, cfg.get("vision_config")):  # families build per-layer lists: bound them first
        layers = section.get("num_hidden_layers") if isinstance(section, dict) else None
        if layers is not None and int(layers) > MAX_LAYERS:
            raise InvalidInput(f"config.json of {arch}: num_hidden_layers must be at most {MAX_LAYERS}")
    fields = family.build(cfg, model_type)
    ctx = cfg.get("max_position_embeddings") or text.get("max_position_embeddings") or 0
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or text.get("torch_dtype") or "bfloat16"
    vocab = cfg.get("vocab_size") or text.get("vocab_size") or 0
    backends, backend_notes = _backends(arch)
    spec = ModelSpec(
        architecture=arch,
        model_type=model_type,
        family=entry["family"],
        vocab_size=int(vocab),
        max_position_embeddings=int(ctx),
        dtype=_DTYPES.get(str(dtype), "bf16"),
        native_quantization=parse_native_quant(cfg),
        backends=backends,
        backend_notes=backend_notes,
        pytorch_min_version=entry.get("pytorch_since"),
        source=source,
        **fields,
    )
    _check_sane(spec)
    if spec.native_quantization is not None:  # keep only the groups this model actually has
        nq = spec.native_quantization
        spec = replace(
            spec,
            native_quantization=replace(nq, groups=tuple(g for g in nq.groups if spec.params.total.get(g))),
        )
    return spec


def _backends(arch: str) -> tuple[dict[str, bool], tuple[str, ...]]:
    """Backend support from trtforge.toolchain (TensorRT-LLM's MODEL_MAP and PyTorch model list)."""
    backends = {"tensorrt": archs.engine_supports(arch), "pytorch": archs.pytorch_supports(arch)}
    return backends, (() if backends["tensorrt"] else (archs.why_not_engine(arch),))


def _check_sane(spec: ModelSpec) -> None:
    for name in (
        "num_layers",
        "hidden_size",
        "num_attention_heads",
        "num_kv_heads",
        "head_dim",
        "vocab_size",
    ):
        if getattr(spec, name) <= 0:
            raise InvalidInput(f"config.json of {spec.architecture}: {name} must be positive")
    # Past these a config.json is garbage, not a model (the largest published have ~2e12 parameters and 1e7
    # tokens of context), and the memory arithmetic would overflow floats.
    if any(n < 0 for n in (*spec.params.total.values(), *spec.params.active.values())):
        raise InvalidInput(
            f"config.json of {spec.architecture}: a size field is negative (parameter count < 0)"
        )
    if spec.total_params > MAX_PARAMS:
        raise InvalidInput(
            f"config.json of {spec.architecture}: about 2^{spec.total_params.bit_length()} parameters is "
            "not a plausible model (check hidden_size, intermediate_size, vocab_size, num_hidden_layers)"
        )
    if spec.active_params > spec.total_params:
        raise InvalidInput(
            f"config.json of {spec.architecture}: more parameters active per token than the model has "
            f"(experts per token {_short(spec.experts_per_token, 24)} > experts "
            f"{_short(spec.num_experts, 24)}?)"
        )
    if not 0 <= spec.max_position_embeddings <= MAX_CONTEXT:
        raise InvalidInput(
            f"config.json of {spec.architecture}: max_position_embeddings must be between 0 and {MAX_CONTEXT}"
        )
    if spec.num_attention_heads % spec.num_kv_heads and not spec.mla:
        raise InvalidInput(
            f"config.json of {spec.architecture}: num_attention_heads ({spec.num_attention_heads}) "
            f"is not a multiple of num_key_value_heads ({spec.num_kv_heads})"
        )
