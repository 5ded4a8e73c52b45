from __future__ import annotations

from typing import Any

import pytest

from trtforge.hardware import find_gpu
from trtforge.models import load_model_spec
from trtforge.plan import Plan, plan_target
from trtforge.recipe.schema import Recipe


def plan_for(repo: str, gpu: str, gpus: int = 1, **sections: dict[str, Any]) -> Plan:
    """Plan a bundled model on a catalog GPU through the pure core (no recipe file, no network)."""
    data: dict[str, Any] = {"name": "t", "model": {"repo": repo}, "target": {"gpu": gpu, "gpus": gpus}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    recipe = Recipe.model_validate(data)
    return plan_target(recipe, recipe.target, load_model_spec(repo), find_gpu(gpu))  # type: ignore[arg-type]


@pytest.fixture
def planner():
    return plan_for
