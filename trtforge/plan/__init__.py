"""Planning: (Recipe, Target) -> Plan. `plan_target` is the pure core; `make_plan` adds the look-ups in front
of
it: `target.gpu: auto` (NVML, hardware/auto.py), the model's config.json and the GPU catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trtforge.hardware import find_gpu, host_memory_bytes
from trtforge.hardware.auto import describe_found, resolve_auto_target
from trtforge.models import load_recipe_model_spec
from trtforge.plan.model import Plan
from trtforge.plan.planner import plan_target
from trtforge.recipe.schema import Recipe, Target

if TYPE_CHECKING:
    from trtforge.hardware.detect import LocalGPU
    from trtforge.models.spec import ModelSpec


def model_source(recipe: Recipe) -> tuple[str, str | None]:
    """(source, revision) of a recipe's model for `load_model_spec`."""
    if recipe.model.path:
        return recipe.model.path, None
    if recipe.model.gguf is not None:
        return recipe.model.gguf.file, None
    return str(recipe.model.repo), recipe.model.revision


def _plan_with_lookups(recipe: Recipe, target: Target, found: list[LocalGPU], spec: ModelSpec) -> Plan:
    """Look the GPU up in the catalog and plan; a target resolved from `auto` records what NVML found."""
    gpu = find_gpu(target.gpu)
    plan = plan_target(
        recipe, target, spec, gpu, host_memory_bytes=host_memory_bytes() if gpu.is_cpu else None
    )
    if not found:
        return plan
    seen = describe_found(found)
    return plan.model_copy(
        update={
            "gpu": plan.gpu.model_copy(update={"detected": seen}),
            "decisions": [f"target.gpu auto: NVML found {seen} on this machine", *plan.decisions],
        }
    )


def make_plan(recipe: Recipe, target: Target) -> Plan:
    """Introspect the recipe's model (config.json only), look the GPU up, and plan this target."""
    target, found = resolve_auto_target(target)  # before anything is fetched: no GPU here is exit 4 at once
    spec = load_recipe_model_spec(recipe.model)  # a GGUF source: planned from its header (models/gguf.py)
    return _plan_with_lookups(recipe, target, found, spec)


def make_plans(recipe: Recipe) -> list[Plan]:
    """One plan per target of the recipe (the model is introspected once)."""
    resolved = [resolve_auto_target(t) for t in recipe.all_targets]
    spec = load_recipe_model_spec(recipe.model)
    return [_plan_with_lookups(recipe, target, found, spec) for target, found in resolved]


__all__ = ["Plan", "make_plan", "make_plans", "model_source", "plan_target"]
