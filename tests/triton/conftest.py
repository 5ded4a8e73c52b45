"""Session fixtures: one tiny Llama, its ModelOpt FP8 export, and the CPU recipe's plan.

Both tests/triton and tests/serve use these; the files live under the session's base temp directory, so the
second conftest finds them made (make_tiny_model is idempotent; the FP8 export is skipped when present).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.triton.fixtures import fp8_export, loaded_and_plan, tiny_recipe


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from trtforge.testing.tiny_models import make_tiny_model

    return make_tiny_model("llama", tmp_path_factory.getbasetemp() / "shared-models" / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_fp8(tiny_llama, tmp_path_factory) -> Path:
    """quantize-step-like output: <dir>/hf/ holds the FP8 unified checkpoint."""
    out = tmp_path_factory.getbasetemp() / "shared-models" / "quantize-fp8"
    if not (out / "hf" / "model.safetensors").is_file():
        fp8_export(tiny_llama, out / "hf")
    return out


@pytest.fixture(scope="session")
def cpu_plan(tiny_llama, tmp_path_factory):
    recipe_dir = tmp_path_factory.getbasetemp() / "shared-recipe"
    recipe_dir.mkdir(exist_ok=True)
    return loaded_and_plan(tiny_recipe(recipe_dir, tiny_llama))
