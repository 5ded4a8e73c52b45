"""The resolver: every shipped recipe resolves with no problem; broken plans are caught with a reason."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from trtforge.plan import make_plans
from trtforge.recipe.loader import load_recipe
from trtforge.plan import resolve as options

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@cache
def planned(path: Path):
    loaded = load_recipe(path)
    return loaded.recipe, tuple(make_plans(loaded.recipe))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_have_no_compile_problems(path: Path) -> None:
    recipe, plans = planned(path)
    for plan in plans:
        assert options.compile_problems(recipe, plan) == []


def test_problems_for_each_backend() -> None:
    recipe, plans = planned(ROOT / "recipes" / "gpt-oss-120b-h100.yaml")
    wrong_moe = plans[0].model_copy(update={"moe_backend": "TRTLLM"})
    assert any("TRITON or CUTLASS" in p for p in options.compile_problems(recipe, wrong_moe))
    recipe, plans = planned(ROOT / "recipes" / "llama3.1-8b-h100-fp8.yaml")
    tight = plans[0].model_copy(update={"limits": plans[0].limits.model_copy(update={"max_input_len": 9000})})
    assert any("exceeds max_seq_len" in p for p in options.compile_problems(recipe, tight))
    recipe, plans = planned(ROOT / "recipes" / "tiny-llama-cpu.yaml")
    assert options.compile_problems(recipe, plans[0]) == [] == options.compile_warnings(recipe, plans[0])


def test_warnings() -> None:
    recipe, plans = planned(ROOT / "recipes" / "llama4-scout-h100-int4.yaml")
    assert any("quantization matrix" in w for w in options.compile_warnings(recipe, plans[0]))


def test_option_helpers() -> None:
    recipe, plans = planned(ROOT / "recipes" / "gpt-oss-120b-b200.yaml")
    plan = plans[0]
    assert options.is_moe(plan) and options.kv_cache_dtype(plan) == "fp8"
    o = options.llm_api_options_from(recipe, plan)
    assert o.moe_backend == "TRTLLM" and o.chunked_prefill is False and o.quant_algo == "W4A8_MXFP4_MXFP8"
