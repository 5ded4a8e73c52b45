"""The planner's typed view of the one quantization table (trtforge/data/quant_formats.yaml, loaded by
trtforge.toolchain.quant_formats.load_table): storage cost, where each format runs, what a shipped checkpoint
runs as."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from trtforge.toolchain.data import load
from trtforge.toolchain.quant_formats import load_table


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


def _table() -> dict:
    """The one quantization table (trtforge/data/quant_formats.yaml), loaded once by its one loader."""
    return load_table()


def clear_caches() -> None:
    """Forget the loaded table and the records made from it (benchmarks time a cold start)."""
    load.cache_clear()
    weight_formats.cache_clear()
    kv_formats.cache_clear()
    always_excluded.cache_clear()


def _weight_format(name: str, e: dict) -> WeightFormat:
    plan = e.get("plan") or {}
    return WeightFormat(
        name=name,
        bytes_per_weight=float(plan["bytes_per_weight"]),
        min_sm=int(e["min_sm"]),
        quant_algo=plan.get("native_quant_algo", e.get("quant_algo")),
        quant_algo_sm100=plan.get("native_quant_algo_sm100"),
        group_size=e.get("group_size"),
        engine_max_sm=plan.get("engine_max_sm"),
        cpu=bool((e.get("cpu") or {}).get("calibrate", True)),
        alternatives_below=tuple(plan.get("alternatives_below") or ()),
    )


@functools.cache
def weight_formats() -> dict[str, WeightFormat]:
    """Every weight format planning knows: checkpoint-only ones (none, fp8_block) first, then ModelOpt's."""
    table = _table()
    rows = {**table["checkpoint_formats"], **table["formats"]}
    return {name: _weight_format(name, e) for name, e in rows.items()}


@functools.cache
def kv_formats() -> dict[str, KvFormat]:
    return {
        name: KvFormat(
            name=name,
            bytes=float(e["bytes"]),
            min_sm=int(e["min_sm"]),
            quant_algo=e.get("kv_cache_quant_algo"),
            pytorch_only=bool(e.get("pytorch_only")),
        )
        for name, e in _table()["kv_cache"].items()
    }


@functools.cache
def always_excluded() -> tuple[str, ...]:
    return tuple(_table()["always_excluded"])
