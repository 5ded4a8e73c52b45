"""The quantization-format table (quant_formats.yaml) as typed records."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

FORMATS_FILE = Path(__file__).parent / "quant_formats.yaml"


@dataclass(frozen=True)
class WeightFormat:
    name: str
    bytes_per_weight: float
    min_sm: int
    quant_algo: str | None
    quant_algo_sm100: str | None = None
    group_size: int | None = None
    engine_max_sm: int | None = None
    cpu: bool = True
    alternatives_below: tuple[str, ...] = ()

    def algo_for(self, sm: int | None) -> str | None:
        if sm is not None and sm >= 100 and self.quant_algo_sm100:
            return self.quant_algo_sm100
        return self.quant_algo


@dataclass(frozen=True)
class KvFormat:
    name: str
    bytes: float
    min_sm: int
    quant_algo: str | None
    pytorch_only: bool = False


@functools.cache
def _table() -> dict:
    with FORMATS_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.cache
def weight_formats() -> dict[str, WeightFormat]:
    out = {}
    for name, e in _table()["formats"].items():
        out[name] = WeightFormat(
            name=name,
            bytes_per_weight=float(e["bytes_per_weight"]),
            min_sm=int(e["min_sm"]),
            quant_algo=e.get("quant_algo"),
            quant_algo_sm100=e.get("quant_algo_sm100"),
            group_size=e.get("group_size"),
            engine_max_sm=e.get("engine_max_sm"),
            cpu=bool(e.get("cpu", True)),
            alternatives_below=tuple(e.get("alternatives_below") or ()),
        )
    return out


@functools.cache
def kv_formats() -> dict[str, KvFormat]:
    return {
        name: KvFormat(
            name=name,
            bytes=float(e["bytes"]),
            min_sm=int(e["min_sm"]),
            quant_algo=e.get("quant_algo"),
            pytorch_only=bool(e.get("pytorch_only")),
        )
        for name, e in _table()["kv_cache"].items()
    }


@functools.cache
def always_excluded() -> tuple[str, ...]:
    return tuple(_table()["always_excluded"])
