"""Match a plan against NVIDIA's tuned configurations (reference_configs.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REFERENCE_FILE = Path(__file__).parent / "reference_configs.yaml"


@dataclass(frozen=True)
class ReferenceConfig:
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
def reference_configs() -> tuple[ReferenceConfig, ...]:
    with REFERENCE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return tuple(
        ReferenceConfig(
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
        for e in data["entries"]
    )


def find_reference(
    architecture: str,
    total_params: int,
    gpu: str,
    workload: tuple[int, int, int] | None,
    tp: int,
    quant_source: str,
) -> ReferenceConfig | None:
    """The tuned entry for exactly this model, GPU, workload, TP and quantization; None if there is none."""
    if workload is None:
        return None
    for ref in reference_configs():
        if (
            ref.architecture == architecture
            and ref.total_params == total_params
            and ref.gpu == gpu
            and ref.workload == workload
            and ref.tp == tp
            and ref.quantization == quant_source
        ):
            return ref
    return None
