"""Helpers of the serve tests: `trtforge serve` as a separate process, and the processes left behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT, start_cli
from tests.reliability.conftest import processes_with

NOTE = "reference runtime (PyTorch on CPU), not TensorRT-LLM"


def serve_process(repo: Path, log: Path) -> subprocess.Popen:
    """`trtforge serve REPO --json` as a user starts it; its first stdout line is the ready event."""
    env = {**os.environ}
    env.pop("TRTFORGE_DEBUG", None)
    return start_cli(
        "serve", str(repo), "--json", "--ready-timeout", "240", "--log-file", str(log), cwd=ROOT, env=env
    )


def pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a repository path is unique to a test)."""
    return [pid for pid, _ in processes_with(text)]
