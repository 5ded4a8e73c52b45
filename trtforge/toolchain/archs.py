"""Which model architectures each TensorRT-LLM backend runs (data: trtforge/data/trtllm_model_map.json)."""

from __future__ import annotations

from typing import Any

from trtforge.toolchain.data import MODEL_MAP, has_versioned, load, versioned_name


def engine_architectures(version: str | None = None) -> frozenset[str]:
    """Keys of the engine backend's MODEL_MAP (tensorrt_llm/models/__init__.py): what trtllm-build accepts.

    With a `version` that has an extracted spec, its own MODEL_MAP; otherwise the hand-made table.
    """
    if version is not None and has_versioned("model_map", version):
        return frozenset(load(versioned_name("model_map", version))["architectures"])
    return frozenset(load(MODEL_MAP)["engine_model_map"]["architectures"])


def pytorch_architectures() -> frozenset[str]:
    """Architectures the PyTorch (LLM API) backend lists, plus GPT-OSS (feature matrix, 1.1 release notes)."""
    data = load(MODEL_MAP)["pytorch_supported"]
    autodeploy = set(data.get("autodeploy_only", []))
    native = set(data["architectures"]) - autodeploy
    return frozenset(
        native | set(data["older_source"]["architectures"]) | set(data["also_supported_not_in_table"])
    )


def engine_supports(architecture: str, version: str | None = None) -> bool:
    return architecture in engine_architectures(version)


def pytorch_supports(architecture: str) -> bool:
    return architecture in pytorch_architectures()


def why_not_engine(architecture: str) -> str:
    """One sentence on why an architecture has no engine path (specific where the data knows the reason)."""
    never = load(MODEL_MAP)["engine_model_map"]["never"]
    if architecture in never:
        return f"{architecture} is not in TensorRT-LLM's engine MODEL_MAP: {never[architecture]}"
    return f"{architecture} is not in TensorRT-LLM's engine MODEL_MAP (tensorrt_llm/models/__init__.py)"


def pytorch_feature(architecture: str, feature: str, *, newest: bool = False) -> Any:
    """A published feature-matrix cell (e.g. 'chunked_prefill') for a key model, or None when not listed.

    By default the older row is used: it is the one that matches the 1.2.x releases trtforge pins.
    """
    rows = load(MODEL_MAP)["pytorch_feature_matrix"].get(architecture)
    if not rows:
        return None
    commits = [k for k in rows if len(k) == 40]
    if not commits:
        return None
    source = load(MODEL_MAP)["pytorch_supported"]
    key = source["source"]["commit"] if newest else source["older_source"]["commit"]
    row = rows.get(key) or rows[commits[0]]
    return row.get(feature)


def pytorch_quant_support(architecture: str) -> list[str] | None:
    """Quantization formats NVIDIA's model matrix lists for an architecture (QuantAlgo names, 'kv:FP8'), if
    listed."""
    matrix = load(MODEL_MAP)["pytorch_quant_model_matrix"]
    value = matrix.get(architecture)
    return list(value) if isinstance(value, list) else None


def moe_backends_for(family: str) -> dict[str, Any]:
    """gpt-oss MoE backend table for 'hopper' or 'blackwell' (supported, recommended, activation dtype)."""
    return dict(load(MODEL_MAP)["moe_backends"]["gpt_oss"][family])


def moe_backend_parallelism(backend: str) -> dict[str, bool] | None:
    """{'tp': bool, 'ep': bool}: which MoE parallelism a backend supports (gpt_oss README), if known."""
    value = load(MODEL_MAP)["moe_backends"]["parallelism"].get(backend)
    return dict(value) if value else None
