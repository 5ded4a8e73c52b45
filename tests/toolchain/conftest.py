from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TUNED_DIR = Path(__file__).resolve().parents[1] / "golden" / "compile" / "nvidia-tuned"


@pytest.fixture(scope="session")
def tuned_configs() -> dict[str, dict]:
    """NVIDIA's tuned LLM-API configs (copies with their source lines, from
    shared/trtllm/reference-configs)."""
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(TUNED_DIR.glob("*.yaml"))}
