"""`trtforge gpus` as a user runs it."""

from __future__ import annotations

import json

from tests.cli_inprocess import cli_in_process as run_cli  # in process: no process behaviour under test here


def test_gpus_json() -> None:
    out = run_cli("gpus", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = {g["name"] for g in data["catalog"]}
    assert {"H100-SXM-80GB", "B200-180GB", "cpu"} <= names
    assert isinstance(data["local"], list)


def test_gpus_table() -> None:
    out = run_cli("gpus")
    assert out.returncode == 0 and "H200-141GB" in out.stdout and "local GPUs" in out.stdout
