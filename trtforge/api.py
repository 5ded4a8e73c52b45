"""The Python API the CLI calls: plan a recipe into (Plan, BuildSpec) pairs.

    from trtforge.api import plan
    for target in plan("recipes/gpt-oss-120b-h100.yaml"):
        target.plan.fits, target.spec.llm_api      # the exact LLM-API options the build writes

`build()` still lives in trtforge/cli/build_cmds.py (lock pinning, target matrix, signals); it plans through the
same functions, so a recipe `plan` accepts is one `build` will not refuse on a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trtforge.plan.buildspec import BuildSpec
    from trtforge.plan.model import Plan
    from trtforge.recipe.schema import Recipe


@dataclass(frozen=True)
class PlannedTarget:
    """One target of a recipe: the plan (fit, decisions, every problem) and its BuildSpec."""

    plan: Plan
    spec: BuildSpec

    def to_json(self) -> dict:
        return {**self.plan.model_dump(mode="json"), "build": self.spec.model_dump(mode="json")}


def plan(recipe: Recipe | str | Path) -> list[PlannedTarget]:
    """Plan every target of a recipe (a Recipe, or a recipe file path) and resolve its BuildSpec.

    Never raises for an infeasible target: `plan.errors` lists every problem (the CLI exits 3 on them).
    """
    from trtforge.plan import make_plans
    from trtforge.plan.resolve import resolve

    if not hasattr(recipe, "all_targets"):
        from trtforge.recipe.loader import load_recipe

        recipe = load_recipe(Path(recipe)).recipe  # type: ignore[arg-type]
    return [PlannedTarget(p, resolve(recipe, p)) for p in make_plans(recipe)]  # type: ignore[arg-type]
