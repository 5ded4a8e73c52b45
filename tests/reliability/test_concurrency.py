"""N builds of the same recipe at once, sharing one cache: each step's work happens once, the others wait and
reuse it; when the build doing the work is SIGKILLed, a waiting one takes over (the kernel frees its lock);
the survivors all succeed with identical outputs and nothing in the cache is corrupt.

tests/pipeline/test_cli_build.py proves "work once" with three builds of a test-only step; this uses the real
steps (download, ModelOpt quantize in its worker process, triton_repo), four builds, and a killed worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.pipeline.conftest import leftovers
from tests.reliability.conftest import (
    base_env,
    figure,
    processes_with,
    quant_recipe,
    stable_lock,
    tree,
    trtforge,
    write_yaml,
)

QUANT = quant_recipe("c")
N = 4


class Build:
    """One `trtforge build --json` process whose events are collected as they arrive."""

    def __init__(self, workdir: Path, env: dict, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trtforge", "build", "c.yaml", "--json", *extra],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict] = []
        self.stderr_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:  # a line cut short by SIGKILL
                pass

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr_lines.extend(self.proc.stderr)

    def did(self, event: str, step: str) -> bool:
        return any(e["event"] == event and e.get("step") == step for e in list(self.events))

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def wait(self, timeout: float = 300) -> int:
        self.proc.wait(timeout=timeout)
        for t in self._readers:  # both pipes read to their end: every event is in self.events
            t.join(30)
        return self.proc.returncode


@pytest.mark.slow  # concurrent build processes, one killed
def test_concurrent_builds_share_work_and_survive_a_killed_worker(tmp_path: Path, model_dir: Path) -> None:
    write_yaml(tmp_path / "c.yaml", QUANT)
    env = base_env(tmp_path)
    # two builds publish to the same output, the others each to their own
    builds = [Build(tmp_path, env), Build(tmp_path, env)] + [
        Build(tmp_path, env, "--output", f"own-{i}") for i in range(2, N)
    ]
    try:
        deadline = time.monotonic() + 120
        worker = None
        while worker is None and time.monotonic() < deadline:
            worker = next((b for b in builds if b.did("started", "quantize")), None)
            time.sleep(0.05)
        assert worker is not None, "no build started quantize"
        while not any(
            e.get("step") == "quantize" and (e.get("message") or "").startswith("calibrating")
            for e in list(worker.events)
        ):  # the ModelOpt worker process is at work
            assert time.monotonic() < deadline and worker.proc.poll() is None
            time.sleep(0.05)
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.wait()
        survivors = [b for b in builds if b is not worker]
        codes = [b.wait() for b in survivors]
    finally:
        for b in builds:
            if b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait()
    assert codes == [0] * (N - 1), [b.stderr[-400:] for b in survivors]
    time.sleep(0.5)
    assert processes_with(str(tmp_path)) == [], "a ModelOpt worker outlived its build"
    # across all N builds: each step's work started once, quantize twice (the killed run and the takeover)
    for step, times in (("download", 1), ("quantize", 2), ("triton_repo", 1)):
        assert sum(b.did("started", step) for b in builds) == times, step
        for b in survivors:  # every survivor either did the step or reused it, never both
            assert b.did("started", step) != b.did("skipped", step), step
    assert sum(b.did("waiting", "quantize") for b in survivors) >= 1  # someone waited on the lock
    out_of = {id(b): tmp_path / "out" / "c" if i < 2 else tmp_path / f"own-{i}" for i, b in enumerate(builds)}
    outputs = sorted({out_of[id(b)] for b in survivors})
    assert len(outputs) >= N - 2
    first = {k: v for k, v in tree(outputs[0]).items() if k != "trtforge.lock.json"}
    for out in outputs[1:]:
        assert {k: v for k, v in tree(out).items() if k != "trtforge.lock.json"} == first
        assert stable_lock(out)["steps"] == stable_lock(outputs[0])["steps"]
    assert leftovers(tmp_path / "cache", tmp_path / "out") == []
    verify = trtforge(tmp_path, "cache", "verify", "--json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["corrupt"] == 0
    figure("concurrent builds of one recipe (one SIGKILLed mid-quantize)", N)
