"""Loader behaviour: every field validated, overlays, env interpolation, secrets, hostile files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from trtforge import secrets
from trtforge.recipe import Recipe, RecipeInvalid, load_recipe
from trtforge.recipe.loader import MAX_BYTES, dotted

ROOT = Path(__file__).resolve().parents[2]
BASE: dict[str, Any] = {"name": "ok", "model": {"repo": "org/model"}, "target": {"gpu": "H100-80GB"}}


def write(tmp_path: Path, data: Any, name: str = "r.yaml") -> Path:
    import yaml

    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def leaf_fields(model: type[BaseModel], prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every leaf field of the schema as (path, annotation); sections are walked into."""
    out = []
    for name, info in model.model_fields.items():
        sub = next(
            (
                a
                for a in (info.annotation, *get_args(info.annotation))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if sub is not None and name not in ("target",):
            out.extend(leaf_fields(sub, prefix + (name,)))
        elif name not in ("targets",):
            out.append((prefix + (name,), info.annotation))
    return out


def put(data: dict, path: tuple, value: Any) -> dict:
    import copy

    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


LEAVES = [p for p, _ in leaf_fields(Recipe)]


def test_schema_walk_finds_every_section() -> None:
    sections = {p[0] for p in LEAVES}
    assert {"name", "model", "quantization", "engine", "toolchain", "serving", "outputs", "steps"} <= sections
    assert len(LEAVES) >= 50


@pytest.mark.parametrize("path", LEAVES, ids=[".".join(p) for p in LEAVES])
def test_every_field_rejects_a_wrong_type_at_its_own_path(tmp_path: Path, path: tuple) -> None:
    # A nested mapping is the wrong type for every scalar/list field; for mapping fields a list is.
    wrong: Any = [1, 2] if path == ("steps",) or path[-1] in ("lookahead",) else {"unexpected": {"deep": 1}}
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(write(tmp_path, put(BASE, path, wrong)), env={})
    reported = {i.path for i in info.value.issues}
    assert dotted(path) in reported, reported


def test_the_minimal_recipe_gets_documented_defaults(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path, BASE), env={}).recipe
    assert (r.quantization.format, r.engine.backend, r.engine.max_batch_size) == ("none", "auto", "auto")
    assert r.engine.paged_kv_cache and r.engine.paged_context_fmha and r.engine.chunked_prefill
    assert r.toolchain.trtllm_version == "1.2.1" and r.model.trust_remote_code is False
    assert r.serving.streaming and r.serving.exclude_input_in_output and r.served_model_name == "ok"


def test_shipped_recipes_all_validate() -> None:
    files = sorted((ROOT / "recipes").glob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        assert load_recipe(f, env={}).recipe.name == f.stem


def test_matrix_recipe_lists_all_targets(tmp_path: Path) -> None:
    data = {**BASE, "targets": [{"gpu": "H100-80GB"}, {"gpu": "H100-80GB", "gpus": 2}, {"gpu": "B200"}]}
    data.pop("target")
    r = load_recipe(write(tmp_path, data), env={}).recipe
    from trtforge.recipe import target_label

    assert [target_label(t) for t in r.all_targets] == ["h100-80gb", "h100-80gbx2", "b200"]


def test_extends_overlays_the_base_deeply(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "model": {"repo": "org/model", "revision": "v1"},
            "target": {"gpu": "H100-80GB"},
            "engine": {"max_batch_size": 8, "max_seq_len": 4096},
        },
        "base.yaml",
    )
    child = write(tmp_path, "extends: base.yaml\nname: child\nengine: {max_batch_size: 16}\n", "child.yaml")
    r = load_recipe(child, env={}).recipe
    assert (r.name, r.model.revision, r.engine.max_batch_size, r.engine.max_seq_len) == (
        "child",
        "v1",
        16,
        4096,
    )


def test_relative_model_path_is_relative_to_the_recipe(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", {**BASE, "model": {"path": "../weights"}})
    assert load_recipe(path, env={}).recipe.model.path == str((tmp_path / "weights").resolve())


def test_env_interpolation_with_default_and_escape(tmp_path: Path) -> None:
    text = "name: ${NAME}\nmodel: {repo: '${ORG:-meta}/m', revision: '$${literal}'}\ntarget: {gpu: cpu}\n"
    r = load_recipe(write(tmp_path, text), env={"NAME": "from-env"}).recipe
    assert (r.name, r.model.repo, r.model.revision) == ("from-env", "meta/m", "${literal}")


def test_token_from_env_is_never_echoed_and_not_in_the_fingerprint(tmp_path: Path, monkeypatch) -> None:
    canary = "hf_CANARYtoken1234567890"
    text = "name: bad name\nmodel: {repo: org/m, token: '${HF_TOKEN}'}\ntarget: {gpu: cpu}\n"
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(write(tmp_path, text), env={"HF_TOKEN": canary})
    assert canary not in str(info.value) and all(canary not in i.one_line() for i in info.value.issues)
    ok = load_recipe(write(tmp_path, text.replace("bad name", "good")), env={"HF_TOKEN": canary})
    other = load_recipe(
        write(tmp_path, text.replace("bad name", "good")), env={"HF_TOKEN": "hf_other_token_value"}
    )
    assert ok.recipe.model.token == canary and ok.fingerprint == other.fingerprint
    assert secrets.redact(f"token={canary}") == "token=***"


def test_secret_interpolated_into_another_field_is_redacted(tmp_path: Path) -> None:
    canary = "sekret-CANARY-98765"
    text = "name: '${MY_API_TOKEN}'\nmodel: {repo: org/m}\ntarget: {gpu: cpu}\n"
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(write(tmp_path, text), env={"MY_API_TOKEN": canary})
    assert canary not in " ".join(i.one_line() for i in info.value.issues)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p.write_bytes(b"name: x\n" + b"#" * (MAX_BYTES + 10)), "recipes are limited to 1024 KiB"),
        (
            lambda p: p.write_bytes(os.urandom(4096).replace(b"\x00", b"\x01") + b"\x00"),
            "binary data (NUL bytes)",
        ),
        (lambda p: p.write_bytes(b"name: \xff\xfe\xfd\n"), "not UTF-8 text"),
        (lambda p: p.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n"), "nesting is too deep"),
        (lambda p: p.write_text("a: " + "{b: " * 60 + "1" + "}" * 60 + "\n"), "nesting is too deep"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: None, "file not found"),
    ],
)
def test_hostile_or_broken_files_give_one_clear_issue(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "r.yaml"
    make(path)
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(path, env={})
    assert message in info.value.issues[0].message


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    import time

    start = time.monotonic()
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(write(tmp_path, "\n".join(lines) + "\n"), env={})
    assert "alias bomb" in info.value.issues[0].message
    assert time.monotonic() - start < 2.0
