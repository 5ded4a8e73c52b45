"""The engineering gates (issue 16): ruff, ruff format, mypy on the pure core and the import-linter layer
contract, each run as CI runs it, on this checkout. Configuration: pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINTED = ["trtforge", "tests", "scripts", "plugins"]

GATES = {
    "ruff check": ["ruff", "check", *LINTED],
    "ruff format": ["ruff", "format", "--check", *LINTED],
    "mypy": ["mypy"],  # files: the pure core, listed in [tool.mypy]
    "import-linter": ["lint-imports"],
}


def _tool(name: str) -> str:
    """The tool of this interpreter's environment (the venv CI installs the test extra into), else PATH's."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize("gate", list(GATES))
def test_gate_passes(gate: str) -> None:
    tool, *args = GATES[gate]
    # This checkout first: lint-imports and mypy import trtforge, which may be installed from elsewhere.
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.run(
        [_tool(tool), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, f"{gate} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
