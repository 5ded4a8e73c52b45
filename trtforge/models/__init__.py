"""Model introspection: config.json -> ModelSpec (parameters, KV cache, native quantization, backends)."""

from __future__ import annotations

from trtforge.models import gguf
from trtforge.models.registry import UnknownArchitecture, architectures, spec_from_config
from trtforge.models.source import ConfigSource, bundled_ids, resolve_config
from trtforge.models.spec import ModelSpec, ParamCounts


def load_model_spec(source: str, revision: str | None = None, token: str | None = None) -> ModelSpec:
    """ModelSpec for a local model directory, a config.json path, or a hub id `org/name[@revision]`."""
    found = resolve_config(source, revision=revision, token=token)
    return spec_from_config(found.config, source=found.where)


def load_recipe_model_spec(model) -> ModelSpec:  # noqa: ANN001 - a recipe's ModelSource
    """ModelSpec of a recipe's `model` section. A GGUF source is fetched (pinned, cached by sha256) and
    planned
    from its header metadata, without converting it (trtforge/models/gguf.py)."""
    if model.gguf is None:
        source, revision = (model.path, None) if model.path is not None else (model.repo, model.revision)
        return load_model_spec(source, revision=revision, token=model.token)
    fetched = gguf.fetch(model)
    return spec_from_config(
        gguf.hf_config(gguf.read_header(fetched.path)), source=f"gguf:{fetched.describe()}"
    )


__all__ = [
    "ConfigSource",
    "ModelSpec",
    "ParamCounts",
    "UnknownArchitecture",
    "architectures",
    "bundled_ids",
    "load_model_spec",
    "load_recipe_model_spec",
    "resolve_config",
    "spec_from_config",
]
