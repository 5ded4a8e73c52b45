"""Hardware: the GPU catalog (trtforge/data/gpus.yaml) and local detection through NVML."""

from __future__ import annotations

from trtforge.hardware.catalog import GPU, find_gpu, gpu_for_nvml_name, load_catalog
from trtforge.hardware.detect import LocalGPU, detect_gpus, host_memory_bytes

__all__ = [
    "GPU",
    "LocalGPU",
    "detect_gpus",
    "find_gpu",
    "gpu_for_nvml_name",
    "host_memory_bytes",
    "load_catalog",
]
