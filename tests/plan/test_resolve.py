"""The resolver: every shipped recipe resolves with no problem; broken plans are caught with a reason."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from trtforge.plan import make_plans
from trtforge.plan import resolve as options
from trtforge.recipe.loader import load_recipe

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


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_build_spec_is_pure_serialisable_data(path: Path) -> None:
    from trtforge.plan.buildspec import BuildSpec

    recipe, plans = planned(path)
    for plan in plans:
        spec = options.resolve(recipe, plan)
        assert spec == options.resolve(recipe, plan)  # pure: same inputs, same spec
        assert BuildSpec.model_validate_json(spec.model_dump_json()) == spec
        assert spec.errors == [] and (spec.engine is None) == (plan.backend != "tensorrt")
        assert (spec.llm_api is None) == (plan.backend != "pytorch")
        assert (spec.quantize is None) == (plan.quantization.source != "modelopt")


@pytest.mark.parametrize(
    "path", [p for p in RECIPES if "gpt-oss" in p.name or "llama3.1-70b" in p.name], ids=lambda p: p.stem
)
def test_one_decision_reaches_every_consumer(path: Path) -> None:
    """KV fraction, block reuse and chunked prefill: the LLM-API options and the Triton settings say the
    same."""
    recipe, plans = planned(path)
    spec = options.resolve(recipe, plans[0])
    kv = spec.llm_api["kv_cache_config"]
    assert kv["free_gpu_memory_fraction"] == spec.triton.kv_cache_free_gpu_mem_fraction
    assert kv["free_gpu_memory_fraction"] == plans[0].memory.free_gpu_memory_fraction
    assert kv["enable_block_reuse"] == spec.triton.enable_kv_cache_reuse
    assert spec.llm_api["enable_chunked_prefill"] == spec.triton.enable_chunked_context
    assert spec.llm_api["enable_chunked_prefill"] == plans[0].limits.chunked_prefill
    assert (
        spec.triton.llm_api_args == spec.llm_api
    )  # the Triton model.yaml gets the same mapping, not a re-read


def test_llm_api_section_is_exactly_the_yaml_written(tmp_path: Path) -> None:
    import yaml

    from trtforge.pipeline.step import StepContext
    from trtforge.steps.llmapi_config import CONFIG_FILE, LlmApiConfigStep

    loaded = load_recipe(ROOT / "recipes" / "gpt-oss-120b-b200.yaml")
    (plan,) = make_plans(loaded.recipe)
    LlmApiConfigStep("llmapi_config", loaded, plan).run(
        StepContext(loaded=loaded, plan=plan, out_dir=tmp_path, inputs={}, cache_root=tmp_path / "cache")
    )
    written = yaml.safe_load((tmp_path / CONFIG_FILE).read_text())
    assert written == options.resolve(loaded.recipe, plan).llm_api
