"""`trtforge deploy` as a user runs it: files per target, exit codes, --json, a build output's pinned
revision,
no token value anywhere (canary), and a start-up that does not import jsonschema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import RECIPES, ROOT, run_cli

CANARY = "hf_CANARYdeployDoNotLeak_3c9e7a51f2"
MULTI_NODE = {
    "name": "llama-405b",
    "model": {"repo": "meta-llama/Llama-3.1-405B-Instruct", "revision": "main", "token": "${HF_TOKEN}"},
    "target": {"gpu": "H100", "gpus": 8, "nodes": 2},
    "deploy": {"namespace": "llm", "storage": {"hf_token_secret": "hf-secret"}},
}


def _write(tmp_path: Path, doc: dict, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_multi_node_recipe_renders_three_targets_and_skips_one_node_ones(tmp_path: Path) -> None:
    recipe = _write(tmp_path, MULTI_NODE)
    r = run_cli("deploy", str(recipe), "--output", str(tmp_path / "out"), "--json", env={"HF_TOKEN": CANARY})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["written"]) == {"k8s-lws", "dynamo", "slurm"}
    assert set(doc["skipped"]) == {"trtllm-serve", "triton"}
    for target in doc["written"]:
        readme = (tmp_path / "out" / target / "README.md").read_text()
        assert "## Steps" in readme and "## Ready when" in readme
    # the token is referenced by Secret name only, never by value
    every_byte = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert CANARY.encode() not in every_byte and CANARY not in r.stdout + r.stderr
    assert b"hf-secret" in every_byte


def test_explicit_target_that_cannot_run_is_exit_2(tmp_path: Path) -> None:
    recipe = _write(tmp_path, MULTI_NODE)
    r = run_cli("deploy", str(recipe), "--target", "trtllm-serve", "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "runs one node" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
    r = run_cli("deploy", str(recipe), "--target", "kubernetes", "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "unknown deploy target" in r.stderr


def test_infeasible_plan_is_exit_3(tmp_path: Path) -> None:
    recipe = _write(tmp_path, {**MULTI_NODE, "target": {"gpu": "H100", "gpus": 8}})
    r = run_cli("deploy", str(recipe), "--output", str(tmp_path / "out"))
    assert r.returncode == 3 and "does not fit" in r.stderr
    assert not (tmp_path / "out").exists()


def test_single_node_shipped_recipe_renders_every_target(tmp_path: Path) -> None:
    r = run_cli(
        "deploy",
        str(RECIPES / "gpt-oss-120b-h100.yaml"),
        "--output",
        str(tmp_path / "out"),
        "--json",
        env={"HF_TOKEN": ""},
    )
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["written"]) == {"trtllm-serve", "triton", "k8s-lws", "dynamo", "slurm"}
    texts = {
        t: (tmp_path / "out" / t / "llm_api_options.yaml").read_bytes()
        for t in json.loads(r.stdout)["written"]
    }
    assert len(set(texts.values())) == 1


def test_build_output_pins_the_resolved_revision(tmp_path: Path) -> None:
    recipe = _write(tmp_path, MULTI_NODE)
    out = tmp_path / "build"
    out.mkdir()
    commit = "0123456789abcdef0123456789abcdef01234567"
    lock = {
        "lock_version": 1,
        "steps": [],
        "recipe": {"name": "llama-405b", "file": str(recipe)},
        "target": {"label": "h100-2x8"},
        "model": {"revision_resolved": commit},
    }
    from trtforge.pipeline.lockfile import LOCK_NAME, LOCK_VERSION

    lock["lock_version"] = LOCK_VERSION
    (out / LOCK_NAME).write_text(json.dumps(lock))
    r = run_cli("deploy", str(out), "--target", "k8s-lws", "--output", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    assert f'revision="{commit}"' in (tmp_path / "d" / "k8s-lws" / "manifests.yaml").read_text()


def test_start_up_does_not_import_jsonschema() -> None:
    code = (
        "import sys, trtforge.cli.app; print('jsonschema' in sys.modules, 'trtforge.deploy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_deploy_section_rejects_what_is_not_a_kubernetes_name(tmp_path: Path) -> None:
    # a token pasted where the Secret's name belongs is refused (and not echoed back)
    bad = {**MULTI_NODE, "deploy": {"storage": {"hf_token_secret": CANARY}}}
    r = run_cli("deploy", str(_write(tmp_path, bad)), "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "deploy.storage.hf_token_secret" in r.stderr and CANARY not in r.stderr
    bad = {**MULTI_NODE, "deploy": {"namespace": "Prod_NS"}}
    r = run_cli("deploy", str(_write(tmp_path, bad)), "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "deploy.namespace" in r.stderr
    assert not (tmp_path / "out").exists()


def test_matrix_recipe_needs_hardware(tmp_path: Path) -> None:
    matrix = {
        **MULTI_NODE,
        "target": None,
        "targets": [{"gpu": "H100", "gpus": 8, "nodes": 2}, {"gpu": "B200", "gpus": 8}],
    }
    del matrix["target"]
    recipe = _write(tmp_path, matrix)
    r = run_cli("deploy", str(recipe), "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "--hardware" in r.stderr and "h100-2x8" in r.stderr
    r = run_cli(
        "deploy",
        str(recipe),
        "--hardware",
        "b200x8",
        "--target",
        "trtllm-serve",
        "--output",
        str(tmp_path / "out"),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "trtllm-serve" / "serve.sh").is_file()
