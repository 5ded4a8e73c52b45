"""trtforge.api gives what the CLI gives: `plan --json`, `build --dry-run --json`, `build --json` (events,
lock, errors and their exit codes) and `serve --print-command --json`, each compared with the CLI run in this
process on the same recipe. The builds are real (a tiny Llama checkpoint, built-in steps, a private cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_inprocess import invoke
from tests.pipeline.conftest import lock_of, tiny_model, workdir, write_recipe  # noqa: F401 - fixtures below
from trtforge import api
from trtforge.errors import Infeasible, InvalidInput

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def here(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811 - the imported fixture
    """workdir (a copy of the tiny model in model/) as the current directory, with its own cache."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TRTFORGE_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("HF_HOME", str(workdir / "hf-home"))
    return workdir


def cli_json(capsys: pytest.CaptureFixture, *args: str) -> object:
    code, out, err = invoke(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def cli_events(capsys: pytest.CaptureFixture, *args: str) -> list[dict]:
    code, out, err = invoke(capsys, *args, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_plan_is_the_cli_plan_json(capsys: pytest.CaptureFixture) -> None:
    recipe = REPO / "recipes" / "gpt-oss-120b-h100.yaml"
    planned = api.plan(recipe)
    assert len(planned) == 1 and planned[0].plan.fits
    assert planned[0].to_json() == cli_json(capsys, "plan", str(recipe))


def test_dry_run_is_the_cli_document_and_writes_nothing(here: Path, capsys: pytest.CaptureFixture) -> None:
    write_recipe(here, target=None, targets=[{"gpu": "cpu"}, {"gpu": "H100-80GB"}])
    outcome = api.build("t.yaml", dry_run=True)
    doc = outcome.dry_run_document()
    assert [(t["target"], t["output"]) for t in doc["targets"]] == [
        ("cpu", "out/t/cpu"),
        ("h100-80gb", "out/t/h100-80gb"),
    ]
    assert {s["status"] for t in doc["targets"] for s in t["steps"]} == {"will-run"}
    assert doc == cli_json(capsys, "build", "t.yaml", "--dry-run")
    assert outcome.error is None and not (here / "out").exists()


def test_build_gives_the_cli_events_lock_and_fingerprints(here: Path, capsys: pytest.CaptureFixture) -> None:
    write_recipe(here, target=None, targets=[{"gpu": "cpu"}, {"gpu": "H100-80GB"}])
    seen: list[dict] = []
    outcome = api.build("t.yaml", sink=seen.append)
    outcome.raise_for_error()
    assert [(t.label, t.status, t.output_dir) for t in outcome.targets] == [
        ("cpu", "complete", Path("out/t/cpu")),
        ("h100-80gb", "complete", Path("out/t/h100-80gb")),
    ]
    for t in outcome.targets:  # what the lock file (the CLI's record) says each step did
        lock = json.loads((t.output_dir / "trtforge.lock.json").read_text())
        assert [(s["name"], s["status"], s["fingerprint"]) for s in lock["steps"]] == [
            (s.name, s.status, s.fingerprint) for s in t.steps
        ]
    # The CLI on a fresh cache and another output directory: the same events, step by step, and fingerprints.
    cli = cli_events(capsys, "build", "t.yaml", "--cache-dir", "cache2", "--output", "out2")

    def shape(evs: list[dict]) -> list[tuple]:
        return [
            (e["event"], e.get("step"), e.get("target"), e.get("fingerprint"), e.get("status"))
            for e in evs
            if e["event"] != "progress"
        ]

    assert shape(seen) == shape(cli)
    # Built once: the CLI's next build finds every step cached under the fingerprints the API reported.
    again = cli_events(capsys, "build", "t.yaml")
    assert [(e["event"], e.get("reason"), e.get("fingerprint")) for e in again if e.get("step")] == [
        ("skipped", "cached", s.fingerprint) for t in outcome.targets for s in t.steps
    ]


def test_errors_are_the_cli_errors_with_its_exit_codes(here: Path, capsys: pytest.CaptureFixture) -> None:
    write_recipe(here, target={"gpu": "H100-80GB"}, quantization={"format": "nvfp4"})
    with pytest.raises(Infeasible) as infeasible:
        api.build("t.yaml")
    assert infeasible.value.exit_code == 3 and not list((here / "cache").iterdir())
    code, out, err = invoke(capsys, "build", "t.yaml", "--json")
    assert (code, out) == (3, "") and err == f"error: {infeasible.value.one_line()}\n"
    write_recipe(here)
    with pytest.raises(InvalidInput) as unknown:
        api.build("t.yaml", target="h200")
    assert unknown.value.exit_code == 2
    code, _, err = invoke(capsys, "build", "t.yaml", "--target", "h200")
    assert (code, err) == (2, f"error: {unknown.value.one_line()}\n")


@pytest.mark.slow
def test_tiny_llama_cpu_recipe_builds_and_launches_as_the_cli_does(
    here: Path, capsys: pytest.CaptureFixture
) -> None:
    """recipes/tiny-llama-cpu.yaml as shipped (FP8 with ModelOpt, reference runtime, Triton repository), built
    through every real step by the API; the CLI rebuilds it from the cache; the command `serve` would run for
    it is the CLI's `serve --print-command`, and the API serves it."""
    import yaml

    doc = yaml.safe_load((REPO / "recipes" / "tiny-llama-cpu.yaml").read_text())
    doc["model"]["path"] = "model"
    (here / "tiny.yaml").write_text(yaml.safe_dump(doc))
    outcome = api.build("tiny.yaml", output=Path("built"))
    outcome.raise_for_error()
    (target,) = outcome.targets
    assert [(s.name, s.status) for s in target.steps] == [
        ("download", "built"),
        ("quantize", "built"),
        ("triton_repo", "built"),
    ]
    assert (here / "built" / "model_repository" / "ensemble" / "config.pbtxt").is_file()
    lock = lock_of(here / "built")
    assert [(s["name"], s["status"]) for s in lock["steps"]] == [(s.name, "built") for s in target.steps]
    assert lock["outputs"] == {"checkpoint": "quantize", "model_repository": "triton_repo/model_repository"}
    assert lock["plan"]["engine_built"] is False and lock["target"]["backend"] == "reference"
    assert (here / "built" / "checkpoint" / "hf" / "hf_quant_config.json").is_file()
    again = cli_events(capsys, "build", "tiny.yaml", "--output", "built")
    assert [(e["event"], e.get("fingerprint")) for e in again if e.get("step")] == [
        ("skipped", s.fingerprint) for s in target.steps
    ]
    runtime, argv = api.launch_command(here / "built", api.ServeOptions())
    assert {"runtime": runtime, "argv": argv} == cli_json(capsys, "serve", "built", "--print-command")
    assert runtime == "reference"
    # Served through the API: ready, answers on every route, and the server gone on leaving the block.
    with api.serve(here / "built", api.ServeOptions(runtime="reference")) as served:
        info = served.info()
        check = api.smoke_check(served, "Hello, world")
    assert check.error is None and {(a.model, a.route) for a in check.answers} >= {
        ("ensemble", "generate"),
        ("tensorrt_llm_bls", "generate"),
    }
    assert info["runtime"] == "reference" and not served.server.running()
