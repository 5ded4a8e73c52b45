"""Planning: (Recipe, Target) -> Plan. `plan_target` is the pure core; `make_plan` adds the two look-ups
(the model's config.json and the GPU catalog) in front of it."""

from __future__ import annotations

from trtforge.plan.model import Plan
from trtforge.plan.planner import plan_target
from trtforge.recipe.schema import Recipe, Target


def model_source(recipe: Recipe) -> tuple[str, str | None]:
    """(source, revision) of a recipe's model for `load_model_spec`."""
    if recipe.model.path is not None or recipe.model.gguf is not None:
        return recipe.model.path or recipe.model.gguf.file, None
    return str(recipe.model.repo), recipe.model.revision


def make_plan(recipe: Recipe, target: Target) -> Plan:
    """Introspect the recipe's model (config.json only), look the GPU up, and plan this target."""
    from trtforge.hardware import find_gpu, host_memory_bytes
    from trtforge.models import load_recipe_model_spec

    spec = load_recipe_model_spec(recipe.model)
    gpu = find_gpu(target.gpu)
    return plan_target(
        recipe, target, spec, gpu, host_memory_bytes=host_memory_bytes() if gpu.is_cpu else None
    )


def make_plans(recipe: Recipe) -> list[Plan]:
    """One plan per target of the recipe (the model is introspected once)."""
    from trtforge.hardware import find_gpu, host_memory_bytes
    from trtforge.models import load_recipe_model_spec

    spec = load_recipe_model_spec(recipe.model)
    plans = []
    for target in recipe.all_targets:
        gpu = find_gpu(target.gpu)
        plans.append(
            plan_target(
                recipe, target, spec, gpu, host_memory_bytes=host_memory_bytes() if gpu.is_cpu else None
            )
        )
    return plans


__all__ = ["Plan", "make_plan", "make_plans", "model_source", "plan_target"]
