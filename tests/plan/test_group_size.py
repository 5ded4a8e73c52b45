"""Group-quantized formats against the model's widths: SmolLM2-135M's hidden 576 is 4.5 groups of 128."""

from __future__ import annotations

import yaml

from tests.conftest import RECIPES, run_cli
from trtforge.hardware import find_gpu
from trtforge.models import spec_from_config
from trtforge.plan import plan_target
from trtforge.recipe.schema import Recipe

# SmolLM2-135M's published config.json dims (model card; issue 14)
SMOLLM2 = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
    "max_position_embeddings": 8192,
    "torch_dtype": "bfloat16",
}


def _plan(fmt: str, gpu: str = "H100"):
    recipe = Recipe.model_validate(
        {"name": "s", "model": {"path": "/x"}, "target": {"gpu": gpu}, "quantization": {"format": fmt}}
    )
    spec = spec_from_config(SMOLLM2, source="test")
    return plan_target(recipe, recipe.target, spec, find_gpu(gpu))


def test_int4_awq_group_128_against_hidden_576_is_refused_at_plan_time() -> None:
    for fmt in ("int4_awq", "w4a8_awq"):
        p = _plan(fmt)
        assert not p.fits
        assert any(
            "groups of 128" in e and "hidden_size 576" in e and "576 = 4 x 128 + 64" in e for e in p.errors
        ), p.errors


def test_formats_whose_groups_divide_576_plan() -> None:
    assert _plan("fp8").fits and _plan("int8_sq").fits  # no groups
    assert _plan("mxfp4").fits  # 576 = 18 x 32, 1536 = 48 x 32
    assert _plan("nvfp4", "B200").fits  # 576 = 36 x 16


def test_cli_plan_of_the_real_recipe_with_int4_awq_exits_3(tmp_path) -> None:
    doc = yaml.safe_load((RECIPES / "smollm2-135m-cpu.yaml").read_text())
    doc["target"] = {"gpu": "H100"}
    doc["quantization"] = {"format": "int4_awq"}
    recipe = tmp_path / "int4.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    r = run_cli("plan", str(recipe))  # the GGUF header gives hidden 576 (the package is fetched once, cached)
    assert r.returncode == 3, r.stderr
    assert "hidden_size 576 is not a multiple of 128" in r.stdout + r.stderr
