"""`target.gpu: auto` / `plan --gpu auto`: this machine's GPUs through NVML, matched to the catalog.

The found case injects a fake `pynvml` module; the none case is this machine (no NVIDIA driver), made certain
by a fake NVML that fails to initialise, as it does without a driver.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from tests.cli_inprocess import invoke

H100 = ("NVIDIA H100 80GB HBM3", 81559, (9, 0))
RTX = ("NVIDIA GeForce RTX 4090", 24564, (8, 9))


def fake_nvml(devices: list[tuple[str, int, tuple[int, int]]], init_error: bool = False) -> types.ModuleType:
    mod = types.ModuleType("pynvml")

    def init() -> None:
        if init_error:
            raise RuntimeError("NVML Shared Library Not Found")

    mod.nvmlInit = init
    mod.nvmlShutdown = lambda: None
    mod.nvmlDeviceGetCount = lambda: len(devices)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = lambda h: devices[h][0]
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=devices[h][1] * 1024 * 1024)
    mod.nvmlDeviceGetCudaComputeCapability = lambda h: devices[h][2]
    return mod


def recipe(tmp_path: Path, target: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"name: x\nmodel:\n  repo: meta-llama/Llama-3.1-8B-Instruct\n{target}")
    return path


def test_no_gpu_here_is_exit_4_with_one_line(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([], init_error=True))
    code, out, err = invoke(capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "auto")
    assert code == 4 and out == ""
    expected = (
        "error: gpu 'auto': NVML finds no NVIDIA GPU on this machine (name the GPU to plan for instead, "
        "e.g. H100; `trtforge gpus` lists them)"
    )
    assert err.splitlines() == [expected]


def test_no_gpu_on_this_machine_recipe_and_build(capsys, tmp_path: Path) -> None:
    """The real NVML (or its absence) here: this machine has no GPU, so plan and build both exit 4."""
    from trtforge.hardware import detect_gpus

    if detect_gpus():
        pytest.skip("this machine has a GPU")
    path = recipe(tmp_path, "target:\n  gpu: auto\n")
    assert invoke(capsys, "validate", str(path))[0] == 0
    code, _, err = invoke(capsys, "plan", str(path))
    assert code == 4 and "NVML finds no NVIDIA GPU" in err and len(err.splitlines()) == 1
    code, _, err = invoke(capsys, "build", str(path), "--dry-run", "--cache-dir", str(tmp_path / "cache"))
    assert code == 4 and "NVML finds no NVIDIA GPU" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_found_gpus_are_planned_and_recorded(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([H100, H100]))
    code, out, err = invoke(
        capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "auto", "--json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["gpu"]["name"] == "H100-SXM-80GB" and plan["gpu"]["sm"] == 90
    assert plan["gpu"]["count"] == 2  # gpus unset: every local GPU of that model
    assert plan["gpu"]["detected"] == "2 x NVIDIA H100 80GB HBM3 (H100-SXM-80GB)"
    assert (
        plan["decisions"][0]
        == "target.gpu auto: NVML found 2 x NVIDIA H100 80GB HBM3 (H100-SXM-80GB) on this machine"
    )
    # an explicit count is kept when the machine has that many
    code, out, _ = invoke(
        capsys,
        "plan",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--gpu",
        "auto",
        "--gpus",
        "1",
        "--json",
    )
    assert code == 0 and json.loads(out)["gpu"]["count"] == 1


def test_same_plan_as_naming_the_gpu(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([H100]))
    code, out, _ = invoke(capsys, "plan", str(recipe(tmp_path, "target:\n  gpu: auto\n")), "--json")
    auto = json.loads(out)
    code2, out2, _ = invoke(capsys, "plan", str(recipe(tmp_path, "target:\n  gpu: H100\n")), "--json")
    named = json.loads(out2)
    assert code == code2 == 0
    for key in ("backend", "parallel", "memory", "limits", "quantization"):
        assert auto[key] == named[key], key
    assert auto["gpu"] == {**named["gpu"], "detected": "1 x NVIDIA H100 80GB HBM3 (H100-SXM-80GB)"}


@pytest.mark.parametrize(
    "devices,args,needle",
    [
        (
            [RTX],
            (),
            (
                "NVML finds 1 x NVIDIA GeForce RTX 4090 (not in the catalog), which trtforge's GPU catalog "
                "does not know"
            ),
        ),
        ([H100, H100], ("--gpus", "4"), "gpu 'auto' with gpus 4: NVML finds 2 x H100-SXM-80GB here"),
    ],
)
def test_unknown_or_too_few_gpus_is_exit_4(
    capsys, monkeypatch: pytest.MonkeyPatch, devices, args, needle
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(devices))
    code, out, err = invoke(
        capsys, "plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "auto", *args
    )
    assert code == 4 and out == "" and needle in err and len(err.splitlines()) == 1


def test_parallel_larger_than_found_is_exit_4(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([H100, H100]))
    path = recipe(tmp_path, "target:\n  gpu: auto\n  tp: 4\n")  # valid: the count is known only at plan time
    assert invoke(capsys, "validate", str(path))[0] == 0
    code, _, err = invoke(capsys, "plan", str(path))
    assert code == 4 and "tp x pp = 4 needs more GPUs than target.gpus = 2" in err


def test_auto_in_a_matrix_is_invalid(capsys, tmp_path: Path) -> None:
    path = recipe(tmp_path, "targets:\n  - gpu: auto\n  - gpu: H200\n")
    code, _, err = invoke(capsys, "validate", str(path))
    assert code == 2 and "gpu: auto (this machine's GPUs) is for 'target', not a 'targets' matrix" in err
