"""Property-based fuzzing of the recipe loader: any input ends as a valid Recipe or a located RecipeInvalid.

No other exception, no hang: each case is bounded in time. Inputs: random bytes, random unicode text, random
YAML-shaped structures (wrong types, huge numbers, deep nesting, unicode keys), and mutations of real recipes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trtforge.recipe import RecipeInvalid, load_recipe

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [p.read_text() for p in sorted((ROOT / "recipes").glob("*.yaml"))]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
CASE_SECONDS = 2.0
STATS = {"cases": 0}
WORK = Path(tempfile.mkdtemp(prefix="trtforge-fuzz-"))


def check(_unused: object, data: bytes) -> None:
    path = WORK / "fuzz.yaml"
    path.write_bytes(data)
    start = time.monotonic()
    try:
        load_recipe(path, env={"HF_TOKEN": "hf_fuzzcanary_0000"})
    except RecipeInvalid as exc:
        assert exc.issues, "an invalid recipe must say why"
        for issue in exc.issues:
            assert issue.line >= 1 and issue.column >= 1 and issue.message
            assert (
                "\n" not in issue.one_line() or "\n" in issue.message
            )  # one line unless the user put one there
            assert "hf_fuzzcanary_0000" not in issue.one_line()
    assert time.monotonic() - start < CASE_SECONDS
    STATS["cases"] += 1


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["auto", "fp8", "H100-80GB", "cpu", "org/model", "${HF_TOKEN}", "${NOPE}", "../../etc", "∞"]
    ),
)
KEYS = [
    "name",
    "model",
    "repo",
    "path",
    "revision",
    "target",
    "targets",
    "gpu",
    "gpus",
    "tp",
    "quantization",
    "format",
    "kv_cache",
    "engine",
    "max_batch_size",
    "serving",
    "toolchain",
    "extends",
    "steps",
    "ünïcødé",
    "<<",
]
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), kids, max_size=5),
    ),
    max_leaves=30,
)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check(None, data)


@FUZZ
@given(text=st.text(max_size=1024))
def test_random_text(text: str) -> None:
    check(None, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(tree=trees)
def test_random_structures(tree) -> None:
    try:
        text = yaml.safe_dump(tree, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    check(None, text.encode())


@FUZZ
@given(index=st.integers(0, len(SHIPPED) - 1), cut=st.integers(0, 4000), insert=st.text(max_size=30))
def test_mutated_real_recipes(index: int, cut: int, insert: str) -> None:
    text = SHIPPED[index]
    cut %= max(len(text), 1)
    check(None, (text[:cut] + insert + text[cut:]).encode("utf-8", "surrogatepass"))


@pytest.mark.slow  # hundreds of documents nested up to 3,000 deep through the YAML loader
@FUZZ
@given(depth=st.integers(1, 3000), kind=st.sampled_from(["[", "{a: ", "- "]))
def test_deep_nesting(depth: int, kind: str) -> None:
    if kind == "- ":
        text = "".join("  " * i + "- \n" for i in range(min(depth, 300))) + "  " * min(depth, 300) + "x\n"
    else:
        close = "]" if kind == "[" else "}"
        text = "a: " + kind * depth + "1" + close * depth + "\n"
    check(None, text.encode())
