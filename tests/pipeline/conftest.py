"""Fixtures for pipeline tests: a tiny real model, recipes written on the fly, a local fake hub, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.cli_inprocess import cli_in_process
from tests.pipeline import stepkit
from tests.pipeline.hubserver import FakeHub

PLUGIN_ENV = {"TRTFORGE_PLUGINS": "tests.pipeline.stepkit:register"}
REPO = Path(__file__).resolve().parents[2]
# Subprocesses import the test step kinds from this checkout (and keep any PYTHONPATH the run was given).
PYTHONPATH = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real tiny Llama checkpoint (safetensors + config + tokenizer), made once per session."""
    from trtforge.testing.tiny_models import make_tiny_model

    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    make_tiny_model("llama", out)
    return out


def write_recipe(
    directory: Path, *, name: str = "t", model: dict | None = None, steps: dict | None = None, **sections
) -> Path:
    """A minimal CPU recipe (no quantization, no Triton repo unless asked) at directory/<name>.yaml."""
    doc = {
        "name": name,
        "model": model or {"path": "model"},
        "target": {"gpu": "cpu"},
        "quantization": {"format": "none"},
        "outputs": {"triton_repo": False},
    }
    for key, value in sections.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    if steps:
        doc["steps"] = steps
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def workdir(tmp_path: Path, tiny_model: Path) -> Path:
    """tmp_path with `model/` (a copy of the tiny model) and a private cache; the CLI runs from here."""
    import shutil

    shutil.copytree(tiny_model, tmp_path / "model")
    (tmp_path / "cache").mkdir()
    return tmp_path


@pytest.fixture
def build_cli(workdir: Path):
    """`trtforge ARGS` in workdir (in process): its own cache, the test step kinds loaded, a run counter."""
    runs = workdir / "runs.txt"

    def run(*args: str, env: dict | None = None, timeout: float = 120):
        full = {
            "TRTFORGE_CACHE": str(workdir / "cache"),
            stepkit.RUNS_ENV: str(runs),
            **PLUGIN_ENV,
            "PYTHONPATH": PYTHONPATH,
            "HF_HOME": str(workdir / "hf-home"),
            **(env or {}),
        }
        return cli_in_process(*args, env=full, cwd=workdir, timeout=timeout)

    run.runs = lambda: runs.read_text().split("\n")[:-1] if runs.exists() else []  # type: ignore[attr-defined]
    return run


def events(stdout: str) -> list[dict]:
    """The JSON events of a `build --json` run."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def lock_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "trtforge.lock.json").read_text())


def fingerprints(out_dir: Path) -> dict[str, str]:
    return {s["name"]: s["fingerprint"] for s in lock_of(out_dir)["steps"]}


def leftovers(*roots: Path) -> list[str]:
    """Partial state a build must never leave: staging, `*.tmp*` / `*.old-*` siblings, torn meta files."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        for p in root.rglob("*"):
            if ".tmp" in p.name or ".old-" in p.name or ".evicted." in p.name:
                found.append(str(p))
        tmp = root / "tmp"
        if tmp.is_dir() and (root / "steps").is_dir():
            found.extend(str(p) for p in tmp.iterdir())
    return found


@pytest.fixture
def fake_hub():
    hub = FakeHub().start()
    yield hub
    hub.stop()


@pytest.fixture
def clean_hf_env(monkeypatch):
    """No token or offline switch from the developer's environment leaks into a test."""
    for var in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "TRTFORGE_PLUGINS",
    ):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
