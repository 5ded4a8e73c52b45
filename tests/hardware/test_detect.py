"""NVML detection: absent NVML or driver is not an error; present devices map to the catalog."""

from __future__ import annotations

import sys
import types

import pytest

from trtforge.hardware import detect_gpus, host_memory_bytes


def _fake_pynvml(**overrides) -> types.ModuleType:
    mod = types.ModuleType("pynvml")
    mod.nvmlInit = lambda: None
    mod.nvmlShutdown = lambda: None
    mod.nvmlDeviceGetCount = lambda: 2
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetName = lambda h: [b"NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090"][h]
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=[81559, 24564][h] * 1024 * 1024)
    mod.nvmlDeviceGetCudaComputeCapability = lambda h: [(9, 0), (8, 9)][h]
    for k, v in overrides.items():
        setattr(mod, k, v)
    return mod


def test_detects_and_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml())
    found = detect_gpus()
    assert [(g.name, g.memory_mib, g.sm) for g in found] == [
        ("NVIDIA H100 80GB HBM3", 81559, 90),
        ("NVIDIA GeForce RTX 4090", 24564, 89),
    ]
    assert found[0].catalog is not None and found[0].catalog.name == "H100-SXM-80GB"
    assert found[1].catalog is None


def test_no_driver_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(nvmlInit=fail))
    assert detect_gpus() == []


def test_no_pynvml_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert detect_gpus() == []


def test_this_machine_has_no_gpu_and_says_so_quietly() -> None:
    assert isinstance(detect_gpus(), list)
    assert (host_memory_bytes() or 1) > 0
