"""Run the trtforge CLI in this process (no interpreter start-up), through the same entry point and error
mapping as the console script.

`cli_in_process` is a drop-in for tests/conftest.py's `run_cli` (same arguments, same CompletedProcess: exit
code, stdout, stderr), with the environment, working directory and stdin it is given and the per-process state
a fresh process would not have reset. Use `run_cli` where the process itself is under test (signals, child
processes, start-up imports). `invoke` is the short form for tests that already use capsys.
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


def _reset_process_state() -> None:
    """What a fresh process would not have: plugins loaded under another TRTFORGE_PLUGINS, an active cache."""
    import tempfile

    import trtforge.cachedir as cachedir
    import trtforge.pipeline.statindex as statindex
    import trtforge.steps as steps

    steps._default = None
    statindex.activate(None)
    cachedir.activate(None)
    tempfile.tempdir = None  # read TMPDIR again, as a fresh process would


def cli_in_process(
    *args: str,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input: str | None = None,
    inherit_env: bool = True,
) -> subprocess.CompletedProcess:
    """`trtforge ARGS` in this process, as `run_cli` would run it (timeout: left to pytest-timeout).
    inherit_env=False: `env` is the whole environment, as `subprocess.run(env=...)` takes it."""
    from trtforge.cli.app import main

    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
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


def invoke(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `trtforge ARGS` run in process, in the current directory."""
    capsys.readouterr()  # drop what earlier code printed
    done = cli_in_process(*args, cwd=Path.cwd())
    return done.returncode, done.stdout, done.stderr
