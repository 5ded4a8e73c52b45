"""Compile step, PyTorch backend: the LLM-API configuration.

Golden files hold the exact YAML for every shipped recipe that plans to the PyTorch backend (regenerate with
TRTFORGE_UPDATE_GOLDEN=1); contract tests validate each against the LLM-API spec extracted from TensorRT-LLM;
gpt-oss-120b is compared key by key with NVIDIA's tuned configs for H200 and B200.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest
import yaml

from trtforge.errors import Infeasible
from trtforge.pipeline.step import StepContext
from trtforge.plan import make_plans
from trtforge.plan.resolve import resolve
from trtforge.recipe.loader import LoadedRecipe, load_recipe
from trtforge.recipe.schema import Recipe
from trtforge.steps import llmapi_config as lc
from trtforge.toolchain import rules, spec

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden" / "compile"
TUNED = GOLDEN / "nvidia-tuned"
UPDATE = os.environ.get("TRTFORGE_UPDATE_GOLDEN") == "1"


@cache
def planned(path: Path) -> tuple[LoadedRecipe, tuple]:
    loaded = load_recipe(path)
    return loaded, tuple(make_plans(loaded.recipe))


def pytorch_targets() -> list[tuple[Path, int]]:
    return [(p, i) for p in RECIPES for i, plan in enumerate(planned(p)[1]) if plan.backend == "pytorch"]


def check_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with TRTFORGE_UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text, (
        f"{path.name} changed: review, then TRTFORGE_UPDATE_GOLDEN=1"
    )


def nvidia_tuned(name: str) -> dict:
    return yaml.safe_load((TUNED / name).read_text())


def IDS(x):
    return x.stem if isinstance(x, Path) else str(x)


@pytest.mark.parametrize("path,index", pytorch_targets(), ids=IDS)
def test_golden_llm_api_config(path: Path, index: int) -> None:
    loaded, plans = planned(path)
    plan = plans[index]
    generated = lc.generate_llm_api_config(loaded.recipe, plan)
    stem = f"{plan.recipe}.{plan.target}"
    check_golden(
        GOLDEN / f"{stem}.llm_api_options.yaml", lc.render_yaml(generated.config, lc.config_header(plan))
    )
    summary = {
        "recipe": plan.recipe,
        "target": plan.target,
        "backend": "pytorch",
        "gpu": plan.gpu.name,
        "trtllm_version": plan.toolchain.trtllm_version,
        "quantization": {
            "format": plan.quantization.format,
            "quant_algo": plan.quantization.quant_algo,
            "kv_cache": plan.quantization.kv_cache,
        },
        "config": generated.config,
        "notes": generated.notes,
    }
    check_golden(GOLDEN / f"{stem}.llm_api.json", json.dumps(summary, indent=2) + "\n")


@pytest.mark.parametrize("path,index", pytorch_targets(), ids=IDS)
def test_llm_api_configs_satisfy_the_extracted_spec(path: Path, index: int) -> None:
    loaded, plans = planned(path)
    plan = plans[index]
    generated = lc.generate_llm_api_config(loaded.recipe, plan)
    assert spec.validate_llm_api_config(generated.config, "pytorch") == []
    assert rules.check_llm_api_options(lc.llm_api_options_from(loaded.recipe, plan)) == []
    # what the YAML file says is what the config says
    text = lc.render_yaml(generated.config, lc.config_header(plan))
    assert yaml.safe_load(text) == generated.config
    # the Triton llmapi model.yaml form (model + the same keys) validates too
    assert (
        spec.validate_llm_api_config({"model": "/models/checkpoint", **generated.config}, require_model=True)
        == []
    )


def test_gpt_oss_h100_mxfp4_with_triton_moe() -> None:
    loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-h100.yaml")
    plan = plans[0]
    assert plan.backend == "pytorch" and plan.gpu.sm == 90
    assert plan.quantization.quant_algo == "W4A16_MXFP4"  # MXFP4 experts, BF16 activations on Hopper
    cfg = lc.generate_llm_api_config(loaded.recipe, plan).config
    assert cfg["moe_config"] == {"backend": "TRITON"}
    assert cfg["kv_cache_config"]["dtype"] == "auto"
    assert (
        cfg["moe_expert_parallel_size"] == plan.parallel.ep
        and cfg["tensor_parallel_size"] == plan.parallel.tp
    )
    assert cfg["enable_chunked_prefill"] is False and cfg["max_num_tokens"] >= cfg["max_input_len"]
    assert "env_overrides" not in cfg


def test_gpt_oss_b200_mxfp4_with_trtllm_moe() -> None:
    loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-b200.yaml")
    plan = plans[0]
    assert (
        plan.gpu.sm == 100 and plan.quantization.quant_algo == "W4A8_MXFP4_MXFP8"
    )  # MXFP8 activations on Blackwell
    cfg = lc.generate_llm_api_config(loaded.recipe, plan).config
    assert cfg["moe_config"] == {"backend": "TRTLLM"}
    assert cfg["kv_cache_config"] == {
        "free_gpu_memory_fraction": 0.85,
        "enable_block_reuse": False,
        "dtype": "fp8",
    }


def _h200_recipe() -> Recipe:
    data = yaml.safe_load((ROOT / "recipes" / "gpt-oss-120b-b200.yaml").read_text())
    data.update(
        name="gpt-oss-120b-h200",
        target={"gpu": "H200"},
        quantization={"format": "native", "kv_cache": "auto"},
    )
    data["model"] = {"repo": "openai/gpt-oss-120b", "revision": "main"}
    return Recipe.model_validate(data)


# Keys whose values must be exactly NVIDIA's (after resolving LLM-API defaults).
MUST_AGREE = (
    "tensor_parallel_size",
    "moe_expert_parallel_size",
    "max_num_tokens",
    "moe_config.backend",
    "kv_cache_config.dtype",
    "kv_cache_config.free_gpu_memory_fraction",
    "kv_cache_config.enable_block_reuse",
    "cuda_graph_config.enable_padding",
    "cuda_graph_config.max_batch_size",
    "enable_chunked_prefill",
    "enable_attention_dp",
    "env_overrides",
    "attn_backend",
)


@pytest.mark.parametrize(
    "gpu,ref",
    [("H200", "gpt-oss-120b_H200_1k1k_tp1_conc64.yaml"), ("B200", "gpt-oss-120b_B200_1k1k_tp1_conc64.yaml")],
)
def test_gpt_oss_agrees_with_nvidia_tuned_configs(gpu: str, ref: str) -> None:
    if gpu == "H200":
        recipe = _h200_recipe()
        plan = make_plans(recipe)[0]
    else:
        loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-b200.yaml")
        recipe, plan = loaded.recipe, plans[0]
    theirs = nvidia_tuned(ref)
    ours = lc.generate_llm_api_config(recipe, plan).config
    diffs = lc.compare_with_tuned(ours, theirs)
    unexplained = [d for d in diffs if d.why is None]
    assert unexplained == [], unexplained
    assert not {d.key for d in diffs} & set(MUST_AGREE), [d for d in diffs if d.key in MUST_AGREE]
    assert {d.key for d in diffs} <= set(lc.EXPLAINED)
    assert spec.validate_llm_api_config(theirs, "pytorch") == []  # NVIDIA's own file passes our validator


def test_explained_differences_are_documented() -> None:
    doc = (ROOT / "docs" / "compile.md").read_text()
    for key in lc.EXPLAINED:
        assert f"`{key}`" in doc, key


def test_step_writes_the_config_and_no_engine(tmp_path: Path) -> None:
    loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-h100.yaml")
    step = lc.LlmApiConfigStep("compile", loaded, plans[0])
    assert step.params()["config"] == lc.generate_llm_api_config(loaded.recipe, plans[0]).config
    assert step.tool_versions() == {} and step.external_commands() == []
    events: list = []
    ctx = StepContext(
        loaded=loaded,
        plan=plans[0],
        out_dir=tmp_path,
        inputs={},
        cache_root=tmp_path / "cache",
        emit=events.append,
    )
    meta = step.run(ctx)
    assert sorted(p.name for p in tmp_path.iterdir()) == [lc.RECORD, lc.CONFIG_FILE]
    written = yaml.safe_load((tmp_path / lc.CONFIG_FILE).read_text())
    assert written == meta["config"] and meta["engine"] is None
    assert meta["quantization"]["quant_algo"] == "W4A16_MXFP4" and meta["moe_backend"] == "TRITON"
    assert (tmp_path / lc.CONFIG_FILE).read_text().startswith("# LLM-API options for gpt-oss-120b-h100")
    assert json.loads((tmp_path / lc.RECORD).read_text()) == meta


def test_step_refuses_an_infeasible_plan() -> None:
    loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-h100.yaml")
    wrong = plans[0].model_copy(update={"moe_backend": "TRTLLM"})
    with pytest.raises(Infeasible) as exc:
        lc.LlmApiConfigStep("compile", loaded, wrong).preflight()
    assert exc.value.exit_code == 3 and "TRITON or CUTLASS" in exc.value.one_line()


def test_engine_plans_are_not_for_this_step() -> None:
    loaded, plans = planned(ROOT / "recipes" / "llama3.1-8b-h100-fp8.yaml")
    with pytest.raises(ValueError):
        lc.LlmApiConfigStep("compile", loaded, plans[0])


def _variant(path: str, **engine) -> tuple[Recipe, object]:
    loaded, plans = planned(ROOT / "recipes" / path)
    recipe = loaded.recipe
    if engine:
        recipe = recipe.model_copy(update={"engine": recipe.engine.model_copy(update=engine)})
    return recipe, plans[0]


def test_dense_model_options() -> None:
    recipe, plan = _variant("llama3.1-70b-b200-nvfp4.yaml")
    cfg = lc.generate_llm_api_config(recipe, plan).config
    assert "moe_config" not in cfg and "moe_expert_parallel_size" not in cfg
    assert cfg["enable_chunked_prefill"] is True and cfg["kv_cache_config"]["enable_block_reuse"] is True
    recipe2, _ = _variant("llama3.1-70b-b200-nvfp4.yaml", cuda_graphs=False)
    out = lc.generate_llm_api_config(recipe2, plan)
    assert out.config["cuda_graph_config"] is None and any("CUDA graphs off" in n for n in out.notes)
    assert spec.validate_llm_api_config(out.config) == []


def test_serving_overrides_and_scheduler() -> None:
    loaded, plans = planned(ROOT / "recipes" / "llama3.1-70b-b200-nvfp4.yaml")
    recipe = loaded.recipe.model_copy(
        update={
            "serving": loaded.recipe.serving.model_copy(
                update={
                    "kv_cache_free_gpu_mem_fraction": 0.7,
                    "batch_scheduler_policy": "max_utilization",
                    "enable_kv_cache_reuse": False,
                }
            )
        }
    )
    # The KV fraction is decided once, by the planner: re-plan the changed recipe (the plan says 0.7 too).
    (plan,) = make_plans(recipe)
    assert plan.memory.free_gpu_memory_fraction == 0.7
    cfg = lc.generate_llm_api_config(recipe, plan).config
    assert cfg["kv_cache_config"]["free_gpu_memory_fraction"] == 0.7
    assert cfg["kv_cache_config"]["enable_block_reuse"] is False
    assert cfg["scheduler_config"] == {"capacity_scheduler_policy": "MAX_UTILIZATION"}
    assert spec.validate_llm_api_config(cfg) == []


def test_speculative_eagle_on_pytorch_is_eagle3() -> None:
    loaded, plans = planned(ROOT / "recipes" / "llama3.1-70b-b200-nvfp4.yaml")
    sp = loaded.recipe.engine.speculative.model_copy(
        update={"mode": "eagle", "max_draft_len": 3, "draft_model": "/drafts/eagle3"}
    )
    recipe, _ = _variant("llama3.1-70b-b200-nvfp4.yaml", speculative=sp)
    cfg = lc.generate_llm_api_config(recipe, plans[0]).config
    assert cfg["speculative_config"] == {
        "decoding_type": "Eagle3",
        "max_draft_len": 3,
        "speculative_model": "/drafts/eagle3",
    }
    assert spec.validate_llm_api_config(cfg) == []
    medusa = sp.model_copy(update={"mode": "medusa"})
    recipe_m, _ = _variant("llama3.1-70b-b200-nvfp4.yaml", speculative=medusa)
    problems = resolve(recipe_m, plans[0]).errors  # the version's LLM-API spec refuses Medusa on pytorch
    assert any("decoding_type 'Medusa' is not supported by the pytorch backend" in p for p in problems)


def test_compare_resolves_defaults() -> None:
    assert lc.compare_with_tuned({"stream_interval": 1}, {}) == []
    assert lc.compare_with_tuned({"env_overrides": {"A": "1"}}, {"env_overrides": {"A": 1}}) == []
    diff = lc.compare_with_tuned(
        {"kv_cache_config": {"dtype": "fp8"}}, {"kv_cache_config": {"dtype": "auto"}}
    )
    assert diff == [lc.Difference("kv_cache_config.dtype", "fp8", "auto", None)]
