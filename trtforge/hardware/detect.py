"""Local GPU detection through NVML (nvidia-ml-py). No NVML, no driver or no GPU is not an error."""

from __future__ import annotations

import os
from dataclasses import dataclass

from trtforge.hardware.catalog import GPU, gpu_for_nvml_name


@dataclass(frozen=True)
class LocalGPU:
    index: int
    name: str  # as NVML reports it
    memory_mib: int
    sm: int | None
    catalog: GPU | None  # the catalog entry it matches, if any

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "memory_mib": self.memory_mib,
            "sm": self.sm,
            "catalog": self.catalog.name if self.catalog else None,
        }


def detect_gpus() -> list[LocalGPU]:
    """GPUs NVML sees on this machine; [] when NVML or a driver is absent."""
    try:
        import pynvml  # lazily: nvidia-ml-py is optional
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...: no GPU here
        return []
    found: list[LocalGPU] = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
                sm: int | None = major * 10 + minor
            except Exception:  # noqa: BLE001 - older drivers
                sm = None
            found.append(LocalGPU(i, name, int(memory), sm, gpu_for_nvml_name(name)))
    except Exception:  # noqa: BLE001 - a flaky driver must not break `trtforge gpus`
        return found
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return found


def host_memory_bytes() -> int | None:
    """Physical RAM of this machine (for the cpu target), None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
