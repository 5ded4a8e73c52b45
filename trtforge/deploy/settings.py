"""The one source of the runtime settings every deploy target carries: the LLM-API options YAML.

trtllm-serve (`--extra_llm_api_options`), the Triton llmapi model.yaml, Slurm and the Dynamo worker's
engine-args ConfigMap all receive exactly the bytes `llm_api_yaml` returns. They come from the resolver's
BuildSpec (`trtforge.plan.resolve.resolve(recipe, plan).llm_api`), the same mapping the compile step writes.
"""

from __future__ import annotations

from typing import Any

from trtforge.errors import InvalidInput
from trtforge.plan.model import Plan
from trtforge.plan.render import config_header, render_yaml
from trtforge.plan.resolve import resolve
from trtforge.recipe.schema import Recipe

CONFIG_FILE = "llm_api_options.yaml"


def llm_api_options(recipe: Recipe, plan: Plan) -> dict[str, Any]:
    """The LLM-API options for (recipe, plan): the mapping the PyTorch backend loads."""
    if plan.backend != "pytorch":
        raise InvalidInput(
            f"deploy renders the PyTorch (LLM-API) backend; this plan uses the {plan.backend} backend",
            hint="set engine.backend: pytorch (or auto) in the recipe",
        )
    return dict(resolve(recipe, plan).llm_api or {})


def llm_api_yaml(recipe: Recipe, plan: Plan) -> str:
    """The LLM-API options as YAML text, byte-identical in every target (and in the build's compile
    output)."""
    return render_yaml(llm_api_options(recipe, plan), config_header(plan))
