"""The GPU catalog (trtforge/data/gpus.yaml) as typed records, and name lookup with a "did you mean" hint."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import GPUS, load

MIB = 1024 * 1024
GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    """One accelerator model (or the `cpu` pseudo target)."""

    name: str
    sm: int | None
    memory_mib: int
    bandwidth_tbs: float
    precisions: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    nvml_names: tuple[str, ...] = ()
    nvlink: bool = False
    memory_from_spec: bool = False
    node_gpus: int = 8  # most GPUs of this kind one node (server / compute tray) holds
    nvlink_domain: int | None = None  # GPUs in one NVLink domain when it spans nodes (GB200 NVL72: 72)

    @property
    def is_cpu(self) -> bool:
        return self.sm is None

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    @property
    def architecture(self) -> str:
        """Hopper, Blackwell, ... (by SM), as NVIDIA's docs name them."""
        if self.sm is None:
            return "CPU"
        if self.sm >= 100:
            return "Blackwell"
        if self.sm >= 90:
            return "Hopper"
        if self.sm == 89:
            return "Ada"
        return "Ampere"

    def supports(self, precision: str) -> bool:
        return precision in self.precisions

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "sm": self.sm,
            "architecture": self.architecture,
            "memory_gib": round(self.memory_gib, 2),
            "memory_mib": self.memory_mib,
            "bandwidth_tbs": self.bandwidth_tbs,
            "nvlink": self.nvlink,
            "nvlink_domain": self.nvlink_domain,
            "precisions": list(self.precisions),
            "node_gpus": self.node_gpus,
        }


DEFAULT_NODE_GPUS = 8  # HGX/DGX baseboards and 8-GPU PCIe servers (see gpus.yaml)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


@functools.cache
def load_catalog() -> tuple[GPU, ...]:
    """Every GPU of gpus.yaml, in file order."""
    data = load(GPUS)
    return tuple(
        GPU(
            name=e["name"],
            sm=e.get("sm"),
            memory_mib=int(e["memory_mib"]),
            bandwidth_tbs=float(e["bandwidth_tbs"]),
            precisions=tuple(e.get("precisions") or ()),
            aliases=tuple(e.get("aliases") or ()),
            nvml_names=tuple(e.get("nvml_names") or ()),
            nvlink=bool(e.get("nvlink")),
            memory_from_spec=bool(e.get("memory_from_spec")),
            node_gpus=int(e.get("node_gpus", DEFAULT_NODE_GPUS)),
            nvlink_domain=int(e["nvlink_domain"]) if e.get("nvlink_domain") else None,
        )
        for e in data["gpus"]
    )


@functools.cache
def _index() -> dict[str, GPU]:
    index: dict[str, GPU] = {}
    for gpu in load_catalog():
        for name in (gpu.name, *gpu.aliases):
            index.setdefault(_key(name), gpu)
    return index


def find_gpu(name: str) -> GPU:
    """The catalog GPU a user's name or alias denotes; InvalidInput with a "did you mean" hint otherwise."""
    gpu = _index().get(_key(name))
    if gpu is not None:
        return gpu
    names = [g.name for g in load_catalog()]
    spellings = {_key(n): g.name for g in load_catalog() for n in (g.name, *g.aliases)}
    close = difflib.get_close_matches(_key(name), list(spellings), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(spellings[c] for c in close))
    hint = f"did you mean {' or '.join(suggestions)}?" if suggestions else f"known: {', '.join(names)}"
    raise InvalidInput(
        f"unknown GPU '{name}'",
        hint=f"{hint} see `trtforge gpus`" if suggestions else f"{hint}; see `trtforge gpus`",
    )


def gpu_for_nvml_name(device_name: str) -> GPU | None:
    """The catalog entry an NVML device name (e.g. 'NVIDIA H100 80GB HBM3') belongs to, if any."""
    best: tuple[int, GPU] | None = None
    for gpu in load_catalog():
        for pattern in gpu.nvml_names:
            if pattern.lower() in device_name.lower() and (best is None or len(pattern) > best[0]):
                best = (len(pattern), gpu)
    return best[1] if best else None
