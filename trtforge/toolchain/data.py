"""Read the JSON specs shipped in trtforge/data (cached; tests may clear the cache)."""

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


@cache
def load(name: str) -> Any:
    """Parsed content of one data file; a missing or broken file is a packaging bug (internal error)."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


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
