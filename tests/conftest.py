"""Shared fixtures: the repository root, the recipes folder, and two ways to run the CLI.

`run_cli` starts `python -m trtforge` as a user would: use it where process behaviour is under test (signals,
child processes, start-up imports, a process that must not outlive the test). `cli_in_process`
(tests/cli_inprocess.py) calls the same entry point in this process with the same environment, working
directory, stdin and exit-code mapping, and returns the same CompletedProcess; the `cli` fixture uses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import cli_in_process
from tests.reliability.figures import FIGURES

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
SHARED = ROOT.parent / "shared"


def pytest_configure(config) -> None:
    """Make the bundled recipes' tiny models (models/tiny-llama, models/tiny-moe) before collection: several
    test modules plan every shipped recipe at import time, and a clean clone holds no weights (idempotent,
    seconds). Share the cores between the xdist workers (see _share_cores)."""
    from trtforge.testing.tiny_models import make_default_models

    make_default_models(ROOT)
    _share_cores(config)
    _compile_checkout(config)


def _share_cores(config) -> None:  # noqa: ANN001
    """Each xdist worker's torch processes (ModelOpt workers, Triton stubs, the GGUF conversion) get an equal
    share of the cores. torch would start a thread per core in each of them, and on a 2-core machine running
    two workers their idle threads spin for cores that are busy: the suite measured 662 CPU s in 6.5 min
    with that, 580 in 5.8 min with one thread each (docs/performance.md). Set by the controller before the
    workers start, so they and every process they start inherit it; an explicit OMP_NUM_THREADS wins."""
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1 and not hasattr(config, "workerinput"):
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def _compile_checkout(config) -> None:  # noqa: ANN001
    """Byte-compile this checkout's own sources once, before the workers start.

    The suite starts many Python processes (CLI runs, ModelOpt workers, the GGUF converter) that import
    trtforge from this checkout. Where PYTHONDONTWRITEBYTECODE is set none of them writes bytecode, so each
    one compiled the modules it imports again: 0.1-0.2 CPU s per CLI process (docs/performance.md).
    compileall writes __pycache__ (git-ignored) whatever that variable says; the installed packages already
    have theirs. The python models' own copies in built repositories stay without
    bytecode: only model.py files are copied there."""
    if hasattr(config, "workerinput"):
        return  # the controller did it
    import compileall

    for tree in (ROOT / "trtforge", ROOT / "plugins"):
        compileall.compile_dir(tree, quiet=1, workers=1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Under `--dist loadgroup`: the xdist groups first, and a note where grouping did not happen.

    The groups are the long units (the SmolLM2 build, a module's Triton server): the scheduler hands units out
    in collection order, so starting them first lets the short tests fill the workers' ends instead of a long
    unit starting last. Grouping itself broke silently with pytest 9.2 under xdist 3.8: every xdist_group test
    would then make its module's server, model or worker batch once per worker; the worker notes it and the
    controller fails the run with that line (pytest_testnodedown), as an error raised here would be lost."""
    if not getattr(config.option, "loadgroup", False):
        return  # the controller, or a serial run
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)  # stable: groups first
    lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if lost:
        config.workeroutput["loadgroup_lost"] = (
            f"pytest-xdist's loadgroup did not group {lost[0]} (and {len(lost) - 1} more) under pytest "
            f"{pytest.__version__}: install the versions pyproject.toml pins"
        )


@pytest.fixture
def root() -> Path:
    return ROOT


def run_cli(
    *args: str,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run `python -m trtforge ARGS` in a subprocess, as a user would (exit code, stdout, stderr)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TRTFORGE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "trtforge", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=timeout,
        input=input,
    )


def start_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """`python -m trtforge ARGS` started as a user would, stdout and stderr piped as text: for a test that
    reads, signals or kills the process while it runs (`env` is the whole environment)."""
    return subprocess.Popen(
        [sys.executable, "-m", "trtforge", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli():
    """The CLI in process (see the module doc); use `run_cli` where the process itself is under test."""
    return cli_in_process


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its reliability figures to the controller (see pytest_testnodedown); the
    controller fails a run in which loadgroup did not group."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["reliability_figures"] = dict(FIGURES)
    elif LOADGROUP_LOST:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001 - xdist's hook: a worker finished
    output = getattr(node, "workeroutput", {})
    FIGURES.update(output.get("reliability_figures", {}))
    if output.get("loadgroup_lost"):
        LOADGROUP_LOST.append(output["loadgroup_lost"])


LOADGROUP_LOST: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """The reliability figures (cases tried, faults injected) that docs/reliability.md quotes."""
    for line in sorted(set(LOADGROUP_LOST)):
        terminalreporter.write_line("error: " + line, red=True)
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, n in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {n}")
