"""Tensor specs of the Triton models trtforge emits, from `trtforge/data/triton_tensors.json`.

The data file holds the upstream templates' tensors (names, types, dims, reshape, optional) with provenance and,
under "emit", which of them each trtforge model declares. Config builders only name tensors; their types come
from here, so a tensor can never drift from the upstream definition.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from trtforge.triton.pb import data_type_value, model_config_pb2


@lru_cache(maxsize=1)
def tensor_data() -> dict[str, Any]:
    """The parsed data file (cached)."""
    text = resources.files("trtforge").joinpath("data/triton_tensors.json").read_text()
    return json.loads(text)


def source() -> dict[str, Any]:
    return tensor_data()["source"]


def upstream_model(key: str) -> dict[str, Any]:
    """One upstream template's extracted facts, e.g. key 'inflight_batcher_llm/tensorrt_llm'."""
    return tensor_data()["upstream"][key]


def emitted(kind: str) -> dict[str, Any]:
    """What trtforge declares for a model kind (preprocessing, postprocessing, tensorrt_llm, ensemble, ...)."""
    return tensor_data()["emit"][kind]


def tensor_spec(kind: str, direction: str, name: str) -> dict[str, Any]:
    """The upstream spec of one tensor of a model kind; direction is 'inputs' or 'outputs'."""
    for spec in upstream_model(emitted(kind)["upstream"])[direction]:
        if spec["name"] == name:
            return spec
    raise KeyError(f"{kind}: no upstream {direction[:-1]} named {name!r}")


def _dtype(spec: dict[str, Any]) -> int:
    name = spec["data_type"]
    if name.startswith("${"):
        name = tensor_data()["dtype_placeholders"][name[2:-1]]
    return data_type_value(name)


def model_inputs(kind: str, names: list[str] | None = None) -> list:
    """ModelInput messages for the emitted (or the given) inputs of a model kind, in data-file order."""
    pb = model_config_pb2()
    out = []
    for name in names if names is not None else emitted(kind)["inputs"]:
        spec = tensor_spec(kind, "inputs", name)
        msg = pb.ModelInput(name=name, data_type=_dtype(spec), dims=spec["dims"])
        if "reshape" in spec:
            msg.reshape.shape.extend(spec["reshape"])
        if spec.get("optional"):
            msg.optional = True
        if spec.get("allow_ragged_batch"):
            msg.allow_ragged_batch = True
        out.append(msg)
    return out


def model_outputs(kind: str, names: list[str] | None = None) -> list:
    """ModelOutput messages for the emitted (or the given) outputs of a model kind."""
    pb = model_config_pb2()
    out = []
    for name in names if names is not None else emitted(kind)["outputs"]:
        spec = tensor_spec(kind, "outputs", name)
        msg = pb.ModelOutput(name=name, data_type=_dtype(spec), dims=spec["dims"])
        if "reshape" in spec:
            msg.reshape.shape.extend(spec["reshape"])
        out.append(msg)
    return out


def parameter_keys(upstream_key: str) -> set[str]:
    """Parameter keys an upstream template defines (the only keys its runtime reads)."""
    return set(upstream_model(upstream_key)["parameters"])
