"""Match a plan against NVIDIA's tuned configurations (trtforge/data/tuned_configs.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from trtforge.toolchain.data import TUNED_CONFIGS, load


@dataclass(frozen=True)
class TunedConfig:
    id: str
    source: str
    architecture: str
    total_params: int
    gpu: str
    workload: tuple[int, int, int]  # input_len, output_len, concurrency
    tp: int
    ep: int
    quantization: str
    settings: dict[str, Any]


@functools.cache
def tuned_configs() -> tuple[TunedConfig, ...]:
    """Every tuned entry of the table, in file order."""
    return tuple(
        TunedConfig(
            id=e["id"],
            source=e["source"],
            architecture=e["architecture"],
            total_params=int(e["total_params"]),
            gpu=e["gpu"],
            workload=(e["workload"]["input_len"], e["workload"]["output_len"], e["workload"]["concurrency"]),
            tp=int(e["tp"]),
            ep=int(e.get("ep", 1)),
            quantization=e["quantization"],
            settings=dict(e["settings"]),
        )
        for e in load(TUNED_CONFIGS)["entries"]
    )


def find_tuned(
    architecture: str,
    total_params: int,
    gpu: str,
    workload: tuple[int, int, int] | None,
    tp: int,
    quant_source: str,
) -> TunedConfig | None:
    """The tuned entry for exactly this model, GPU, workload, TP and quantization; None if there is none."""
    if workload is None:
        return None
    for tuned in tuned_configs():
        if (
            tuned.architecture == architecture
            and tuned.total_params == total_params
            and tuned.gpu == gpu
            and tuned.workload == workload
            and tuned.tp == tp
            and tuned.quantization == quant_source
        ):
            return tuned
    return None
