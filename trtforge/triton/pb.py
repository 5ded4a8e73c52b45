"""Triton's ModelConfig protobuf: load the generated message class and convert to/from text format.

`tritonclient.grpc.model_config_pb2` is the message class Triton itself parses config.pbtxt with. With only
`tritonclient[http]` installed, `import tritonclient.grpc` refuses to import (it wants grpcio), so we fall
back to loading the generated module file directly: it needs nothing but protobuf.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from trtforge.errors import ToolMissing


@lru_cache(maxsize=1)
def model_config_pb2() -> ModuleType:
    """The `model_config_pb2` module (ModelConfig, ModelInput, DataType, ...)."""
    try:
        from tritonclient.grpc import model_config_pb2 as module  # type: ignore[import-untyped]

        return module
    except Exception:  # noqa: BLE001 - RuntimeError without grpcio, ImportError without tritonclient
        pass
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("tritonclient is not installed", hint="pip install 'trtforge[serve]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    if not path.is_file():
        raise ToolMissing(
            f"{path} not found in the tritonclient package", hint="pip install 'tritonclient[grpc]'"
        )
    file_spec = importlib.util.spec_from_file_location("trtforge_model_config_pb2", path)
    assert file_spec and file_spec.loader
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


def new_config(**fields: Any):
    """An empty ModelConfig message, with scalar fields set."""
    return model_config_pb2().ModelConfig(**fields)


def to_pbtxt(config) -> str:
    """Text format exactly as Triton reads it (field order = proto order, stable across runs)."""
    from google.protobuf import text_format

    return text_format.MessageToString(config, as_utf8=True)


def parse_pbtxt(text: str):
    """Parse config.pbtxt text into a ModelConfig; raises google.protobuf.text_format.ParseError."""
    from google.protobuf import text_format

    return text_format.Parse(text, model_config_pb2().ModelConfig())


def data_type_name(value: int) -> str:
    return model_config_pb2().DataType.Name(value)


def data_type_value(name: str) -> int:
    return model_config_pb2().DataType.Value(name)
