"""The CLI shell: start-up stays light, exit codes and one-line errors, validate/schema contracts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RECIPES, ROOT

HEAVY = ("torch", "transformers", "modelopt", "tritonclient", "huggingface_hub", "safetensors", "numpy")


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["schema"]])
def test_startup_does_not_import_heavy_libraries(argv: list[str]) -> None:
    code = (
        "import sys\nfrom trtforge.cli.app import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stderr.strip().splitlines()[-1] == "HEAVY="


def test_version(cli) -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip().startswith("trtforge 0.")


def test_validate_all_shipped_recipes_ok(cli) -> None:
    out = cli("validate", *sorted(str(p) for p in RECIPES.glob("*.yaml")), "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["valid"] is True and doc["errors"] == []
    assert len(doc["recipes"]) == len(list(RECIPES.glob("*.yaml")))


def test_validate_reports_every_file_with_locations_and_exit_2(cli, tmp_path: Path) -> None:
    bad1 = tmp_path / "a.yaml"
    bad1.write_text("name: x\nmodel: {repo: org/m}\ntarget: {gpu: H100}\nengine: {max_batch: 3}\n")
    bad2 = tmp_path / "b.yaml"
    bad2.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    out = cli("validate", str(bad1), str(bad2), str(RECIPES / "tiny-llama-cpu.yaml"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [
        f"{bad1}:4:10: engine.max_batch: unknown key 'max_batch' in engine (did you mean 'max_batch_size'?)",
        f"{bad2}:1:1: binary data (NUL bytes): a recipe is a YAML text file",
    ]
    assert "Traceback" not in out.stderr
    js = json.loads(cli("validate", str(bad1), "--json").stdout)
    assert js["valid"] is False
    assert js["errors"][0] == {
        "file": str(bad1),
        "line": 4,
        "column": 10,
        "path": "engine.max_batch",
        "message": "unknown key 'max_batch' in engine (did you mean 'max_batch_size'?)",
    }


def test_schema_is_a_json_schema_of_the_recipe(cli) -> None:
    out = cli("schema")
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["title"] == "trtforge recipe"
    assert {"name", "model", "target", "targets", "quantization", "engine", "serving", "extends"} <= set(
        doc["properties"]
    )
    assert doc["required"] == ["name", "model"]
    assert doc["$defs"]["Engine"]["additionalProperties"] is False


def test_unknown_command_is_a_usage_error(cli) -> None:
    out = cli("frobnicate")
    assert out.returncode == 2 and "No such command" in out.stderr and "Traceback" not in out.stderr


def test_internal_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    code = (
        "from trtforge.cli import app as a\n"
        "@a.app.command('boom')\n"
        "def boom():\n    raise RuntimeError('kaput')\n"
        "a.main(['boom'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1
    assert (
        out.stderr.strip()
        == "error: internal error: RuntimeError: kaput (set TRTFORGE_DEBUG=1 for a traceback)"
    )
