"""Shared fixtures: the repository root, the recipes folder, and two ways to run the CLI.

`run_cli` starts `python -m trtforge` as a user would: use it where process behaviour is under test (signals,
child processes, start-up imports, a process that must not outlive the test). `cli_in_process` calls the same
entry point (`trtforge.cli.app.main`) in this process with the same environment, working directory, stdin and
exit-code mapping, and returns the same CompletedProcess: no interpreter start-up, for everything else.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
SHARED = ROOT.parent / "shared"


def pytest_configure(config) -> None:
    """Make the bundled recipes' tiny models (models/tiny-llama, models/tiny-moe) before collection: several test
    modules plan every shipped recipe at import time, and a clean clone holds no weights (idempotent, seconds)."""
    from trtforge.testing.tiny_models import make_default_models

    make_default_models(ROOT)


@pytest.fixture
def root() -> Path:
    return ROOT


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m trtforge ARGS` in a subprocess, as a user would (exit code, stdout, stderr)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TRTFORGE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "trtforge", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout, input=input)


def _reset_process_state() -> None:
    """What a fresh process would not have: plugins loaded under another TRTFORGE_PLUGINS, an active cache."""
    import trtforge.pipeline.cache as cache
    import trtforge.pipeline.statindex as statindex
    import trtforge.steps as steps

    steps._default = None
    statindex.activate(None)
    cache._active_root = None


def cli_in_process(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120,
                   input: str | None = None) -> subprocess.CompletedProcess:
    """`trtforge ARGS` in this process, as `run_cli` would run it (timeout: left to pytest-timeout)."""
    from trtforge.cli.app import main

    full_env = {**os.environ, **(env or {})}
    full_env.pop("TRTFORGE_DEBUG", None)
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    code: int = 0
    try:
        os.environ.clear()
        os.environ.update(full_env)
        os.chdir(cwd or ROOT)
        sys.stdin = io.StringIO(input or "")
        _reset_process_state()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        _reset_process_state()
    return subprocess.CompletedProcess(["trtforge", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """The CLI in process (see the module doc); use `run_cli` where the process itself is under test."""
    return cli_in_process
