"""Shared fixtures: the repository root, the recipes folder, and a helper to run the CLI as a user would."""

from __future__ import annotations

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


@pytest.fixture
def cli():
    return run_cli
