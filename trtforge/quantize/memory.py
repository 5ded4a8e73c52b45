"""How much memory quantizing a model takes, what the machine has, and a refusal with the numbers.

The worker loads weights straight to their device (device_map + low_cpu_mem_usage: no full CPU copy first), so
the need is about the weights once on the device, plus calibration activations, plus what the exporter packs
next to them. The factors below are deliberately rough and only used to refuse hopeless runs early.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trtforge.errors import Infeasible

GIB = 1 << 30
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# device need = weights * DEVICE_FACTOR + DEVICE_FIXED (calibration activations, exporter copies, CUDA
# context)
DEVICE_FACTOR, DEVICE_FIXED = 1.3, 1 * GIB
# host need when the weights live on the GPU: the exporter gathers each shard on the host before writing
HOST_FACTOR_GPU, HOST_FIXED = 0.6, 2 * GIB


@dataclass
class MemoryCheck:
    device: str
    weights_bytes: int
    need_device_bytes: int
    have_device_bytes: int | None
    need_host_bytes: int
    have_host_bytes: int | None

    def as_dict(self) -> dict:
        def g(b):
            return None if b is None else round(b / GIB, 2)

        return {
            "device": self.device,
            "weights_gib": g(self.weights_bytes),
            "need_device_gib": g(self.need_device_bytes),
            "have_device_gib": g(self.have_device_bytes),
            "need_host_gib": g(self.need_host_bytes),
            "have_host_gib": g(self.have_host_bytes),
        }


def checkpoint_bytes(model_dir: Path) -> int:
    """Bytes of weight files in an HF checkpoint directory."""
    return sum(
        p.stat().st_size for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    )


def host_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (unknown: do not refuse)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def plan_memory(
    weights_bytes: int, device: str, have_device: int | None, have_host: int | None
) -> MemoryCheck:
    if device == "cpu":
        need_dev = int(weights_bytes * DEVICE_FACTOR + DEVICE_FIXED)
        return MemoryCheck(device, weights_bytes, need_dev, have_host, need_dev, have_host)
    need_dev = int(weights_bytes * DEVICE_FACTOR + DEVICE_FIXED)
    need_host = int(weights_bytes * HOST_FACTOR_GPU + HOST_FIXED)
    return MemoryCheck(device, weights_bytes, need_dev, have_device, need_host, have_host)


def refuse_if_short(check: MemoryCheck, what: str) -> None:
    """Raise Infeasible with the numbers when the machine clearly cannot hold the model."""
    d = check.as_dict()
    if check.have_device_bytes is not None and check.need_device_bytes > check.have_device_bytes:
        where = "host RAM" if check.device == "cpu" else f"{check.device} memory"
        raise Infeasible(
            f"quantize: {what} needs ~{d['need_device_gib']} GiB of {where} (weights {d['weights_gib']} "
            "GiB), "
            f"this machine has {d['have_device_gib']} GiB available",
            hint="use a machine with more memory, or a smaller model",
        )
    if (
        check.device != "cpu"
        and check.have_host_bytes is not None
        and check.need_host_bytes > check.have_host_bytes
    ):
        raise Infeasible(
            f"quantize: {what} needs ~{d['need_host_gib']} GiB of host RAM for export (weights "
            f"{d['weights_gib']} GiB), this machine has {d['have_host_gib']} GiB available",
        )
