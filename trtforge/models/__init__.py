"""Model introspection: config.json -> ModelSpec (parameters, KV cache, native quantization, backends)."""

from __future__ import annotations

from trtforge.models.registry import UnknownArchitecture, architectures, spec_from_config
from trtforge.models.source import ConfigSource, bundled_ids, resolve_config
from trtforge.models.spec import ModelSpec, ParamCounts


def load_model_spec(source: str, revision: str | None = None, token: str | None = None) -> ModelSpec:
    """ModelSpec for a local model directory, a config.json path, or a hub id `org/name[@revision]`."""
    found = resolve_config(source, revision=revision, token=token)
    return spec_from_config(found.config, source=found.where)


__all__ = [
    "ConfigSource",
    "ModelSpec",
    "ParamCounts",
    "UnknownArchitecture",
    "architectures",
    "bundled_ids",
    "load_model_spec",
    "resolve_config",
    "spec_from_config",
]
