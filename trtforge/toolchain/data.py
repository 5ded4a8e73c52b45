"""The one loader of the data tables shipped in trtforge/data (cached; tests may clear the cache).

Every table trtforge reads lives under trtforge/data: NVIDIA specs extracted by scripts/ (JSON), the GPU
catalog, the architecture table, the quantization-format table, NVIDIA's tuned configurations (YAML) and the
bundled model configs (data/model_configs/). Modules ask for a table by its name here, never by a path.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

BUILD_OPTIONS = "trtllm_build_options.json"
LLM_API_ARGS = "llm_api_args.json"
VERSIONS = "trtllm_versions.json"
MODEL_MAP = "trtllm_model_map.json"
QUANT_ALGOS = "quant_algos.json"
SPEC_INDEX = "trtllm/specs.json"  # per-version spec manifest (tags, commits, what was extracted)
SPEC_KINDS = ("llm_api_args", "trtllm_build_options", "quant_algos", "model_map")


GPUS = "gpus.yaml"
ARCHITECTURES = "architectures.yaml"
QUANT_FORMAT_TABLE = "quant_formats.yaml"
TUNED_CONFIGS = "tuned_configs.yaml"
MODEL_CONFIGS = "model_configs"  # a folder: one published config.json per well-known model


def path(name: str) -> Path:
    """Where one data file or folder lies (for the few callers that list a folder)."""
    return DATA_DIR / name


@cache
def load(name: str) -> Any:
    """Parsed content of one data file (JSON or YAML by suffix); a missing or broken file is a packaging bug
    (internal error)."""
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    if name.endswith((".yaml", ".yml")):
        import yaml  # here: ~10 ms, and `trtforge --help` imports this module but reads no table

        return yaml.safe_load(text)
    return json.loads(text)


def provenance(name: str) -> dict[str, Any]:
    """The provenance block of a data file (repo, paths, commits, date extracted)."""
    return dict(load(name).get("provenance", {}))


def versioned_name(kind: str, version: str) -> str:
    """Data-file name of one extracted spec (e.g. 'trtllm/1.2.1/llm_api_args.json')."""
    return f"trtllm/{version}/{kind}.json"


def has_versioned(kind: str, version: str) -> bool:
    """True when scripts/extract_trtllm_spec.py wrote `kind` for `version`."""
    return (DATA_DIR / versioned_name(kind, version)).is_file()


def extracted_versions(kind: str = "llm_api_args") -> list[str]:
    """Versions with an extracted `kind` spec (folders under trtforge/data/trtllm), unsorted."""
    root = DATA_DIR / "trtllm"
    if not root.is_dir():
        return []
    return [d.name for d in root.iterdir() if (d / f"{kind}.json").is_file()]
