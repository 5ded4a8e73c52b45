"""NVML detection: absent NVML or driver is not an error; present devices map to the catalog."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

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


def _nvidia_device_nodes() -> int:
    """GPUs as the kernel driver exposes them (/dev/nvidia0, /dev/nvidia1, ...): independent of NVML."""
    return len([p for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name)])


def _meminfo_total_bytes() -> int:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:"))
    return int(line.split()[1]) * 1024


def test_real_detection_agrees_with_the_driver_device_nodes(capfd: pytest.CaptureFixture[str]) -> None:
    """The real NVML path (no fake module): as many GPUs as the driver made device nodes (none on CI
    machines), and nothing printed while finding out."""
    assert len(detect_gpus()) == _nvidia_device_nodes()
    assert capfd.readouterr() == ("", "")


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only: /proc/meminfo is the oracle")
def test_host_memory_is_what_the_kernel_reports() -> None:
    assert host_memory_bytes() == _meminfo_total_bytes()
