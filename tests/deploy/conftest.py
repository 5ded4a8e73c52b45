from __future__ import annotations

from typing import Any

from trtforge.hardware import find_gpu
from trtforge.models import load_model_spec
from trtforge.plan import Plan, plan_target
from trtforge.recipe.schema import Recipe


def recipe_and_plan(
    repo: str, gpu: str, gpus: int = 1, nodes: int = 1, **sections: Any
) -> tuple[Recipe, Plan]:
    """A recipe for a bundled model config and its plan, through the pure planner (no network)."""
    data: dict[str, Any] = {
        "name": "m",
        "model": {"repo": repo},
        "target": {"gpu": gpu, "gpus": gpus, "nodes": nodes},
    }
    data.update(sections)
    recipe = Recipe.model_validate(data)
    return recipe, plan_target(recipe, recipe.target, load_model_spec(repo), find_gpu(gpu))  # type: ignore[arg-type]
