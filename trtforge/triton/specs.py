"""NVIDIA's Triton contract per TensorRT-LLM version, from `trtforge/data/triton/`
(scripts/extract_triton_backend.py).

Each data file holds, for one NVIDIA source commit, every template model's tensors (names, types, dims,
optional) and the parameters its code reads with and without a fallback. Which file a repository follows is
decided here, once (`spec_name`):

- an engine repository (NVIDIA's C++ `tensorrtllm` backend in the slot) follows its pinned TensorRT-LLM
version
  exactly; a version whose backend source was not extracted is refused (`SpecUnavailable`), never replaced by
  another version's facts;
- a repository where trtforge's own python models fill every slot (CPU reference runtime, trtforge's LLM-API
  model) follows the pinned version when extracted, else `CONTRACT_SOURCE`, and records which.

Config builders only name tensors; types and dims come from here, so a tensor cannot drift from NVIDIA's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import load
from trtforge.toolchain.triton_backend import (  # noqa: F401 - re-exported: the writer and tests use them here
    SpecUnavailable,
    engine_spec_name,
    extracted_file,
    unavailable_reason,
    version_entry,
    versions_index,
)
from trtforge.triton.pb import data_type_value, model_config_pb2

# The newest NVIDIA template set on hand: tensorrtllm_backend's last commit with all_models/ (2025-05-13);
# used for the public API of repositories that run no NVIDIA backend code when their pinned version is not
# extracted.
CONTRACT_SOURCE = "tensorrtllm_backend-c2e65b88"
# What the data-type placeholders of the templates are filled with (trtforge's choice; NVIDIA's fill_template
# examples use these): logits in FP32, encoder features in FP16.
DTYPE_PLACEHOLDERS = {
    "logits_datatype": "TYPE_FP32",
    "encoder_input_features_data_type": "TYPE_FP16",
    "prompt_embedding_table_data_type": "TYPE_FP16",
}
# Model kind (trtforge) -> template key (NVIDIA).
TEMPLATE = {
    "preprocessing": "inflight_batcher_llm/preprocessing",
    "tensorrt_llm": "inflight_batcher_llm/tensorrt_llm",
    "postprocessing": "inflight_batcher_llm/postprocessing",
    "ensemble": "inflight_batcher_llm/ensemble",
    "tensorrt_llm_bls": "inflight_batcher_llm/tensorrt_llm_bls",
    "llmapi": "llmapi/tensorrt_llm",
}


def _read(name: str) -> dict[str, Any]:
    return load(f"triton/{name}.json")


@cache
def release_data(name: str) -> dict[str, Any]:
    """One extracted data file by name (a version such as '0.19.0', or CONTRACT_SOURCE)."""
    return _read(name)


def spec_name(runtime: str, version: str) -> str:
    """The data file a repository follows (see the module docstring)."""
    if runtime == "tensorrtllm":
        return engine_spec_name(version)
    return extracted_file(version) or CONTRACT_SOURCE


def source(name: str = CONTRACT_SOURCE) -> dict[str, Any]:
    """Provenance of a data file: repo, tag, commit, date, trtllm_commit."""
    return {**release_data(name)["source"], "name": name}


def template(name: str, kind: str) -> dict[str, Any]:
    """NVIDIA's extracted facts of one model kind in data file `name`."""
    try:
        return release_data(name)["models"][TEMPLATE[kind]]
    except KeyError:
        raise InvalidInput(
            f"{name}: NVIDIA's templates there have no {TEMPLATE.get(kind, kind)} model"
        ) from None


def tensor_names(name: str, kind: str, direction: str) -> list[str]:
    """Tensor names of a template in NVIDIA's order, without repeats (the ensemble template lists one
    twice)."""
    return list(dict.fromkeys(t["name"] for t in template(name, kind)[direction]))


def tensor_spec(name: str, kind: str, direction: str, tensor: str) -> dict[str, Any]:
    for spec in template(name, kind)[direction]:
        if spec["name"] == tensor:
            return spec
    raise KeyError(f"{kind}: no {direction[:-1]} named {tensor!r} in {name}")


def required_parameters(name: str, kind: str) -> list[str]:
    """Parameters NVIDIA's code for this model reads without a fallback (the model fails to load without
    them)."""
    return list(template(name, kind).get("parameter_reads", {}).get("required", []))


def parameter_keys(name: str, kind: str) -> set[str]:
    """Every parameter key the template defines or NVIDIA's code reads (anything else is silently ignored)."""
    entry = template(name, kind)
    reads = entry.get("parameter_reads", {})
    return set(entry["parameters"]) | {k for status in reads.values() for k in status}


def _dtype(spec: dict[str, Any]) -> int:
    dtype = spec["data_type"]
    if dtype.startswith("${"):
        dtype = DTYPE_PLACEHOLDERS[dtype[2:-1]]
    return data_type_value(dtype)


def model_inputs(name: str, kind: str, names: list[str] | None = None) -> list:
    """ModelInput messages for the given (default: all of NVIDIA's) inputs of a model kind."""
    pb = model_config_pb2()
    out = []
    for tensor in names if names is not None else tensor_names(name, kind, "inputs"):
        spec = tensor_spec(name, kind, "inputs", tensor)
        msg = pb.ModelInput(name=tensor, data_type=_dtype(spec), dims=spec["dims"])
        if "reshape" in spec:
            msg.reshape.shape.extend(spec["reshape"])
        if spec.get("optional"):
            msg.optional = True
        if spec.get("allow_ragged_batch"):
            msg.allow_ragged_batch = True
        out.append(msg)
    return out


def model_outputs(name: str, kind: str, names: list[str] | None = None) -> list:
    """ModelOutput messages for the given (default: all of NVIDIA's) outputs of a model kind."""
    pb = model_config_pb2()
    out = []
    for tensor in names if names is not None else tensor_names(name, kind, "outputs"):
        spec = tensor_spec(name, kind, "outputs", tensor)
        msg = pb.ModelOutput(name=tensor, data_type=_dtype(spec), dims=spec["dims"])
        if "reshape" in spec:
            msg.reshape.shape.extend(spec["reshape"])
        out.append(msg)
    return out
