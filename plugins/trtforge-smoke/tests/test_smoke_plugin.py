"""The plugin as trtforge sees it: found through its entry point, listed, run in a real build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def trtforge(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "TRTFORGE_CACHE": str(cwd / "cache"), **env}
    full.pop("TRTFORGE_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", "trtforge", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from trtforge.testing.tiny_models import make_tiny_model

    out = tmp_path_factory.mktemp("smoke") / "tiny-llama"
    make_tiny_model("llama", out)
    return out


def recipe(tmp_path: Path, model: Path, smoke: dict, **extra) -> Path:
    doc = {
        "name": "s",
        "model": {"path": str(model)},
        "target": {"gpu": "cpu"},
        "quantization": {"format": "none"},
        "outputs": {"triton_repo": False},
        "steps": {"smoke": smoke},
        **extra,
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_entry_point_is_installed() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="trtforge.steps")}
    assert eps.get("smoke") == "trtforge_smoke:register", (
        "install it: pip install -e ./plugins/trtforge-smoke"
    )


def test_trtforge_plugins_lists_it(tmp_path: Path) -> None:
    out = trtforge(tmp_path, "plugins", "--json")
    doc = json.loads(out.stdout)
    smoke = next(p for p in doc["plugins"] if p["name"] == "smoke")
    assert smoke["dist"] == "trtforge-smoke" and smoke["kinds"] == ["smoke"] and smoke["error"] is None
    kind = next(k for k in doc["kinds"] if k["kind"] == "smoke")
    assert kind["after"] == "checkpoint" and kind["publish"] == "plugins/smoke"


def test_build_runs_the_smoke_test_after_the_checkpoint(tmp_path: Path, model_dir: Path) -> None:
    recipe(tmp_path, model_dir, {})
    out = trtforge(tmp_path, "build", "s.yaml", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "out/s/plugins/smoke/report.json").read_text())
    assert report["problems"] == [] and report["tensors"] > 10 and report["nonfinite"] == {}
    lock = json.loads((tmp_path / "out/s/trtforge.lock.json").read_text())
    smoke = next(s for s in lock["steps"] if s["kind"] == "smoke")
    assert smoke["upstream"] == {"download": lock["steps"][0]["digest"]} and smoke["tool_versions"]["numpy"]
    assert smoke["version"] == "0.1.0"


def test_broken_checkpoint_fails_the_build(tmp_path: Path, model_dir: Path) -> None:
    import shutil

    from trtforge_smoke.checks import read_header

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    weights = broken / "model.safetensors"
    header, start = read_header(weights)
    name = next(k for k in header if k != "__metadata__" and header[k]["dtype"] == "BF16")
    data = bytearray(weights.read_bytes())
    offset = start + header[name]["data_offsets"][0]
    data[offset : offset + 2] = bytes([0xC0, 0x7F])  # bf16 NaN (0x7FC0, little-endian)
    weights.write_bytes(bytes(data))
    recipe(tmp_path, broken, {})
    out = trtforge(tmp_path, "build", "s.yaml")
    assert out.returncode == 1
    assert (
        out.stderr.strip().splitlines()[-1]
        == f"error: checkpoint smoke test failed: {name}: 1 NaN/Inf values"
    )
    assert not (tmp_path / "out").exists()


def test_options_are_validated_with_the_recipe_location(tmp_path: Path, model_dir: Path) -> None:
    recipe(tmp_path, model_dir, {"scan_valuez": True})
    out = trtforge(tmp_path, "build", "s.yaml")
    assert out.returncode == 2 and "s.yaml:" in out.stderr and "steps.smoke.scan_valuez" in out.stderr


@pytest.mark.slow
def test_smoke_runs_after_quantization_and_sees_the_quantized_checkpoint(
    tmp_path: Path, model_dir: Path
) -> None:
    recipe(
        tmp_path,
        model_dir,
        {},
        quantization={
            "format": "fp8",
            "calibration": {"dataset": "synthetic", "samples": 8, "seq_len": 32, "batch_size": 4},
            "accuracy": {"samples": 4},
        },
    )
    out = trtforge(tmp_path, "build", "s.yaml", "--json")
    assert out.returncode == 0, out.stderr
    lock = json.loads((tmp_path / "out/s/trtforge.lock.json").read_text())
    assert [s["name"] for s in lock["steps"]] == ["download", "quantize", "smoke"]
    smoke = lock["steps"][2]
    assert smoke["upstream"] == {"quantize": lock["steps"][1]["digest"]}
    assert smoke["params"]["require_quantized"] is True and smoke["metadata"]["quantization"] == "FP8"
