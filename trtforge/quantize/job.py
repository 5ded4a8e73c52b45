"""One quantize/export job: everything the worker subprocess needs, as JSON (pure data, no torch)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JOB_VERSION = 1


@dataclass
class ExportSpec:
    kind: str  # "hf" | "trtllm"
    tp: int = 1
    pp: int = 1
    name: str | None = None  # output sub-directory and report key; default: the kind (hf/, trtllm/)

    @property
    def dirname(self) -> str:
        return self.name or self.kind


@dataclass
class CalibrationSpec:
    dataset: str = "synthetic"  # local .txt/.jsonl path, "pydoc", "hf:<name>[:<split>]", or "synthetic"
    samples: int = 512
    seq_len: int = 512
    batch_size: int = 1
    seed: int = 1234


@dataclass
class AccuracySpec:
    """What to measure. The recipe's bounds are not the worker's business: the quantize step judges the
    measurement (QuantizeStep.check), so a new bound re-judges a cached result instead of re-quantizing."""

    enabled: bool = True
    samples: int = 16


@dataclass
class QuantJob:
    model_dir: str
    out_dir: str  # hf/, trtllm/ and quant_report.json are written here
    format: str
    modelopt_config: str
    quant_algo: str  # what the export must declare (validated)
    kv_cache: str | None = None  # "fp8" | "nvfp4" | None
    kv_modelopt_config: str | None = None
    kv_cache_quant_algo: str | None = None
    exclude_modules: list[str] = field(default_factory=list)
    calibration: CalibrationSpec = field(default_factory=CalibrationSpec)
    accuracy: AccuracySpec = field(default_factory=AccuracySpec)
    exports: list[ExportSpec] = field(default_factory=lambda: [ExportSpec("hf")])
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "bfloat16"  # load/export dtype of the unquantized parts
    trust_remote_code: bool = False
    torch_extensions_dir: str | None = None  # where ModelOpt's JIT CUDA extensions are cached
    memory_budget_gib: float | None = None  # refuse early above this (None: what the machine has)
    keep_going: bool = False  # measurement mode: record a failed export and continue with the next
    check_versions: bool = True
    version: int = JOB_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantJob:
        data = dict(data)
        if data.get("version", JOB_VERSION) != JOB_VERSION:
            raise ValueError(f"job version {data.get('version')} is not {JOB_VERSION}")
        data["calibration"] = CalibrationSpec(**data.get("calibration", {}))
        data["accuracy"] = AccuracySpec(**data.get("accuracy", {}))
        data["exports"] = [ExportSpec(**e) for e in data.get("exports", [])]
        return cls(**data)


def read_jobs(path: Path) -> list[QuantJob]:
    """A job file holds one job object, or {"jobs": [...]} to run several in one process (tests,
    benchmarks)."""
    data = json.loads(Path(path).read_text())
    items = data["jobs"] if isinstance(data, dict) and "jobs" in data else [data]
    return [QuantJob.from_dict(item) for item in items]
