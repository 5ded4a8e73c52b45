"""The engineering gates (issue 16): ruff, ruff format, mypy on the pure core and the import-linter layer
contract, each run as CI runs it, on this checkout. Configuration: pyproject.toml."""

from __future__ import annotations

import ast
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


def _late_trtforge_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, has a why-comment) for each `trtforge` import inside a function of `path`."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            if module == "trtforge" or module.startswith("trtforge."):
                found.append((node.lineno, _says_why(lines, node.lineno, node.end_lineno or node.lineno)))
    return found


def _says_why(lines: list[str], first: int, last: int) -> bool:
    """A comment on the import's own lines, or in the run of comment and import lines right above it."""
    own = [line.split("#", 1)[1].strip() for line in lines[first - 1 : last] if "#" in line]
    if any(c and not c.startswith(("noqa", "type:")) for c in own):
        return True
    i = first - 2
    while i >= 0 and lines[i].strip().startswith(("#", "from ", "import ")):
        if lines[i].strip().startswith("#"):
            return True
        i -= 1
    return False


def test_late_trtforge_imports_say_why(tmp_path: Path) -> None:
    """ARCHITECTURE.md: trtforge modules are imported at module top, unless a comment says which start-up
    cost (or which circle) a late import avoids. A planted file shows the check tells the two apart."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def f():\n    from trtforge import errors\n\n\n"
        "def g():\n    # why\n    from trtforge import errors\n"
    )
    assert _late_trtforge_imports(planted) == [(2, False), (7, True)]
    bare = [
        f"{path.relative_to(REPO)}:{line}"
        for path in sorted((REPO / "trtforge").rglob("*.py"))
        for line, commented in _late_trtforge_imports(path)
        if not commented
    ]
    assert bare == [], "import at module top, or say why not in a comment: " + ", ".join(bare)
