"""trtforge.api gives what the CLI gives: `plan --json`, `build --dry-run --json`, `build --json` (events,
lock, errors and their exit codes), each compared with the CLI run in this process on the same recipe. The
builds are real (a tiny Llama checkpoint, built-in steps, a private cache). The shipped tiny recipe quantized
by the API, `serve --print-command` and `api.serve` are in tests/serve/test_e2e.py (its module build)."""

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
