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


@cache
def load(name: str) -> Any:
    """Parsed content of one data file; a missing or broken file is a packaging bug (internal error)."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def provenance(name: str) -> dict[str, Any]:
    """The provenance block of a data file (repo, paths, commits, date extracted)."""
    return dict(load(name).get("provenance", {}))
