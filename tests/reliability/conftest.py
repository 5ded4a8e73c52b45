"""Shared pieces of the reliability suite: isolated CLI runs, tree comparisons, and the figures it reports.

Every test adds what it tried to FIGURES (cases, faults injected, bytes lost); the terminal summary (in
tests/conftest.py, so the xdist controller has it too) prints them, so a CI log shows the numbers
docs/reliability.md quotes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli_inprocess import cli_in_process
from tests.pipeline.conftest import tiny_model  # noqa: F401 - the session's tiny real Llama checkpoint
from tests.reliability.figures import FIGURES, figure  # noqa: F401 - re-exported for the test modules

REPO = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
CANARY = "hf_CANARYreliabilityDoNotLeak_7f3a9c1e5b"
# Variables a developer's shell may carry that would change what a test sees.
_SCRUB = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_HUB_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TRTFORGE_DEBUG",
    "TRTFORGE_PLUGINS",
    "TRTFORGE_CACHE",
    "HF_ENDPOINT",
)


def quant_recipe(name: str) -> dict:
    """A tiny FP8 recipe on the CPU: real ModelOpt work, small enough to kill and rebuild many times."""
    return {
        "name": name,
        "model": {"path": "model"},
        "target": {"gpu": "cpu"},
        "quantization": {
            "format": "fp8",
            "calibration": {"dataset": "synthetic", "samples": 8, "seq_len": 32, "batch_size": 4},
            "accuracy": {"samples": 4},
        },
        "engine": {"max_batch_size": 4, "max_seq_len": 256},
    }


def base_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: this checkout importable, a private cache and HF home, no stray
    tokens."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    # TMPDIR under workdir: the temp files of the run (ModelOpt job files, server logs, overlays) are this
    # test's own, so scans and process checks never see another test's or another user's.
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "PYTHONPATH": PYTHONPATH,
            "TRTFORGE_CACHE": str(workdir / "cache"),
            "HF_HOME": str(workdir / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TMPDIR": str(workdir / "tmp"),
        }
    )
    env.update(extra)
    return env


def trtforge(
    workdir: Path, *args: str, env: dict | None = None, timeout: float = 300, fault: list[str] | None = None
) -> subprocess.CompletedProcess:
    """`trtforge ARGS` as a separate process in workdir; `fault` runs it under tests.reliability.faultkit."""
    prefix = (
        [sys.executable, "-m", "tests.reliability.faultkit", *fault, "--"]
        if fault is not None
        else [sys.executable, "-m", "trtforge"]
    )
    return subprocess.run(
        [*prefix, *args],
        cwd=workdir,
        env=env or base_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trtforge_here(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`trtforge ARGS` in this process (tests/cli_inprocess.py) with the environment `trtforge` would give the
    process: for the runs whose process is not under test (a rebuild after a fault, `cache verify`, an input
    refused at plan time). The injected faults and kills stay in their own processes."""
    return cli_in_process(*args, env=env or base_env(workdir), cwd=workdir, inherit_env=False)


def write_yaml(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def tree(root: Path) -> dict[str, str]:
    """{relative path: sha256 of content | 'dir' | 'link -> target'} of everything under root."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link -> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:  # a FIFO or socket: never opened (reading a FIFO would block)
            out[rel] = "special"
    return out


def stable_lock(out_dir: Path) -> dict:
    """The lock file without what legitimately varies between two runs (durations, cached flags)."""
    doc = json.loads((out_dir / "trtforge.lock.json").read_text())
    for step in doc["steps"]:
        for key in ("duration_s", "cached", "status"):
            step.pop(key, None)
    return doc


def lock_fingerprints(out_dir: Path) -> dict[str, str]:
    doc = json.loads((out_dir / "trtforge.lock.json").read_text())
    return {s["name"]: s["fingerprint"] for s in doc["steps"]}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def processes_with(text: str) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append((int(entry.name), cmdline.strip()))
    return found


@pytest.fixture
def model_dir(tmp_path: Path, tiny_model: Path) -> Path:  # noqa: F811
    """A private copy of the tiny checkpoint next to the recipes of the test (recipes say `path: model`)."""
    import shutil

    shutil.copytree(tiny_model, tmp_path / "model")
    return tmp_path / "model"
