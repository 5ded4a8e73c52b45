"""The quantize step: an HF checkpoint in, a ModelOpt-quantized checkpoint out (unified HF and/or TRT-LLM).

Input: the download step's output (an HF checkpoint directory). Output (ctx.out_dir):
  hf/       unified HF checkpoint (config.json, hf_quant_config.json, model.safetensors, tokenizer) for the
            PyTorch / reference backends;
  trtllm/   TensorRT-LLM checkpoint (config.json + rank{i}.safetensors, i < tp*pp) when plan.backend is
  tensorrt; quant_report.json   format, quant_algo, calibration (labelled 'synthetic' if so), accuracy,
  timings, memory.
The work runs in `python -m trtforge.quantize.worker` (see trtforge/quantize/runner.py); this module imports
no torch, so planning and --dry-run stay fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trtforge.errors import InvalidInput, StepFailed, ToolMissing
from trtforge.pipeline.step import Step, StepContext
from trtforge.plan.buildspec import QuantizeSpec
from trtforge.plan.resolve import resolve
from trtforge.quantize import calibration as calib
from trtforge.quantize import memory
from trtforge.quantize.accuracy import gate_failures
from trtforge.quantize.job import AccuracySpec, CalibrationSpec, ExportSpec, QuantJob
from trtforge.quantize.runner import raise_for, run_jobs, worker_command
from trtforge.quantize.versions import check_versions, installed_versions
from trtforge.quantize.worker import REPORT_NAME, WORKER_VERSION
from trtforge.toolchain import quant_formats as formats

DEVICE_ENV = (
    "TRTFORGE_QUANT_DEVICE"  # cpu | cuda: force where the worker quantizes (default: CUDA if present)
)
_TOOLS = ("nvidia-modelopt", "transformers", "torch", "accelerate", "safetensors")
_BYTES_PER_PARAM = {"bfloat16": 2, "float16": 2, "float32": 4}
# The recipe's accuracy bounds judge the measurement; they change neither the checkpoint nor the figures, so
# they are not part of the fingerprint: a new bound re-judges the cached result (check) instead of
# re-quantizing, and a failed gate keeps the work for the next try.
GATE_KEYS = ("min_top1_agreement", "max_mean_kl", "max_perplexity_increase")


class AccuracyGateFailed(StepFailed):
    """The quantized model is further from the original than the recipe allows."""


def cuda_present() -> bool:
    """Whether this machine has an NVIDIA GPU, without importing torch (the worker confirms with torch)."""
    forced = os.environ.get(DEVICE_ENV)
    if forced:
        return forced == "cuda"
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


class QuantizeStep(Step):
    """Quantize with NVIDIA ModelOpt (real library, in a subprocess) and export for the planned backend."""

    kind = "quantize"

    def __init__(self, name: str, loaded, plan, needs: tuple[str, ...] = ("download",)) -> None:
        super().__init__(name, loaded, plan, needs)
        self._job: QuantizeSpec | None = None

    # ----------------------------------------------------------------- what determines the output
    @property
    def job(self) -> QuantizeSpec:
        """The BuildSpec's quantize section: the whole ModelOpt job, decided by the resolver."""
        if self._job is None:
            job = resolve(self.loaded.recipe, self.plan).quantize
            if job is None:
                raise InvalidInput(
                    f"quantize step planned for quantization source {self.plan.quantization.source!r}; it "
                    "only "
                    "runs ModelOpt formats (the pipeline should not add it)"
                )
            self._job = job
        return self._job

    def _exports(self) -> list[ExportSpec]:
        return [
            ExportSpec(e.kind, e.tp, e.pp) if e.kind == "trtllm" else ExportSpec(e.kind)
            for e in self.job.exports
        ]

    def _device(self) -> str:
        return "cuda" if cuda_present() else "cpu"

    def _calibration(self) -> CalibrationSpec:
        c = self.job.calibration
        return CalibrationSpec(
            dataset=self._dataset_path(c.dataset),
            samples=c.samples,
            seq_len=c.seq_len,
            batch_size=c.batch_size,
            seed=c.seed,
        )

    def _dataset_path(self, dataset: str) -> str:
        if dataset in (calib.SYNTHETIC, calib.PYDOC) or dataset.startswith("hf:"):
            return dataset
        p = Path(dataset).expanduser()
        return str(p if p.is_absolute() else (self.loaded.path.parent / p).resolve())

    def _accuracy(self) -> AccuracySpec:
        a = self.job.accuracy
        return AccuracySpec(enabled=a.enabled, samples=a.samples)

    def params(self) -> dict[str, Any]:
        job = self.job.canonical()
        for key in GATE_KEYS:
            job["accuracy"].pop(key, None)
        cal = self._calibration()
        if Path(cal.dataset).is_file():  # a local file: its content, not its path, determines the output
            job["calibration"]["dataset"] = f"file:{Path(cal.dataset).name}:{_sha256(Path(cal.dataset))}"
        elif cal.dataset == calib.PYDOC:  # its text changes between CPython versions
            job["calibration"]["dataset"] = f"pydoc:{calib.pydoc_digest()[:16]}"
        return {**job, "device": self._device(), "worker_version": WORKER_VERSION}

    def tool_versions(self) -> dict[str, str]:
        return {k: (v or "absent") for k, v in installed_versions(_TOOLS).items()}

    def external_commands(self) -> list[list[str]]:
        return [worker_command("<job.json>")]

    # ----------------------------------------------------------------- checks before any work
    def preflight(self) -> None:
        """What only this machine can tell: library versions, CUDA for the format, the dataset, memory.
        (What ModelOpt cannot export was refused by the resolver, at plan time.)"""
        job = self.job
        check_versions()
        if self._device() == "cpu":
            error, acc_note = formats.cpu_limits(job.format, job.kv_cache)
            if error:
                raise ToolMissing(f"quantize: {error}", hint="build on a machine with an NVIDIA GPU")
            a = job.accuracy
            gated = (a.min_top1_agreement, a.max_mean_kl, a.max_perplexity_increase)
            if acc_note and a.enabled and any(v is not None for v in gated):
                raise ToolMissing(
                    f"quantize: the recipe sets an accuracy threshold but {job.format} accuracy "
                    f"cannot be measured on this machine: {acc_note}",
                    hint="build on a GPU machine, or drop the accuracy thresholds",
                )
        calib.check_dataset(self._calibration().dataset)
        self._check_memory()

    def _check_memory(self) -> None:
        m = self.plan.model
        weights = int(m.total_params * _BYTES_PER_PARAM.get(m.dtype, 2))
        if weights <= 0:
            return
        device = self._device()
        have_dev = None
        if device == "cpu":
            have_dev = memory.host_available_bytes()
        # On a GPU the worker measures free memory with torch (cheap here would be a guess).
        memory.refuse_if_short(
            memory.plan_memory(weights, device, have_dev, memory.host_available_bytes()),
            f"{m.architecture} ({m.total_params / 1e9:.2f} B params)",
        )

    # ----------------------------------------------------------------- the work
    def _model_dir(self, ctx: StepContext) -> Path:
        if "download" in ctx.inputs:
            return Path(ctx.inputs["download"])
        if len(ctx.inputs) == 1:
            return Path(next(iter(ctx.inputs.values())))
        if self.loaded.recipe.model.path:
            return Path(self.loaded.recipe.model.path)
        raise StepFailed("quantize: no input checkpoint (expected the download step's output)")

    def make_job(self, model_dir: Path, out_dir: Path, cache_root: Path) -> QuantJob:
        job = self.job
        return QuantJob(
            model_dir=str(model_dir),
            out_dir=str(out_dir),
            format=job.format,
            modelopt_config=job.modelopt_config,
            quant_algo=job.quant_algo,
            kv_cache=job.kv_cache,
            kv_modelopt_config=job.kv_modelopt_config,
            kv_cache_quant_algo=job.kv_cache_quant_algo,
            exclude_modules=list(job.exclude_modules),
            calibration=self._calibration(),
            accuracy=self._accuracy(),
            exports=self._exports(),
            device=self._device(),
            dtype=job.dtype,
            trust_remote_code=job.trust_remote_code,
            torch_extensions_dir=str(cache_root / "torch_extensions"),
        )

    def run(self, ctx: StepContext) -> dict[str, Any]:
        model_dir = self._model_dir(ctx)
        job = self.make_job(model_dir, ctx.out_dir, ctx.cache_root)
        ctx.progress(
            f"quantize: {job.format} via ModelOpt {job.modelopt_config} in a worker process "
            f"(exports: {', '.join(e.dirname for e in job.exports)})"
        )

        def on_event(ev: dict[str, Any]) -> None:
            if ev.get("event") == "progress":
                ctx.progress(ev.get("message", ""), ev.get("done"), ev.get("total"), ev.get("unit") or "")
            else:
                ctx.log(str(ev.get("message", "")))

        log_path = ctx.cache_root / "logs" / f"quantize-{os.getpid()}.log"
        (outcome,) = run_jobs([job], on_event, log_path=log_path)
        report = raise_for(outcome)
        acc = report["accuracy"]
        ctx.log("quantize: accuracy " + describe_accuracy(acc) + f" [{report['calibration']['source']}]")
        try:
            log_path.unlink()
        except OSError:
            pass
        meta = lock_metadata(report)
        planned = self.job.runtime_quant_algo
        if planned and planned.upper() != str(report["quant_algo"]).upper():
            # e.g. mxfp4: the planner names the algorithm TensorRT-LLM runs (W4A16_MXFP4 on Hopper), ModelOpt
            # writes "mxfp4" into the checkpoint; say so instead of hiding it.
            meta["warnings"] = [
                *(meta.get("warnings") or []),
                f"the plan expects quant_algo {planned}; the ModelOpt checkpoint declares "
                f"{report['quant_algo']}",
            ]
        return meta

    def check(self, metadata: dict[str, Any], out_dir: Path) -> None:
        """The recipe's accuracy bounds against the measurement, for a new or a cached result alike."""
        job = self.job
        bounds = {key: getattr(job.accuracy, key) for key in GATE_KEYS}
        if all(v is None for v in bounds.values()):
            return
        acc = metadata.get("accuracy") or {}
        hint = f"report: {out_dir / REPORT_NAME} (kept in the cache; nothing was published)"
        if not acc.get("measured"):
            raise AccuracyGateFailed(
                f"quantize: the recipe bounds {job.format} accuracy, but it was not measured: "
                f"{acc.get('reason', 'no measurement recorded')}",
                hint=hint,
            )
        failures = gate_failures(
            acc, bounds["min_top1_agreement"], bounds["max_mean_kl"], bounds["max_perplexity_increase"]
        )
        if failures:
            raise AccuracyGateFailed(
                f"quantize: {job.format} accuracy gate failed: " + "; ".join(failures), hint=hint
            )


def describe_accuracy(acc: dict[str, Any]) -> str:
    if not acc.get("measured"):
        return str(acc.get("reason", "not measured"))
    return (
        f"top-1 agreement {acc['top1_agreement']:.4f}, mean KL {acc['mean_kl']:.6f}, "
        f"perplexity {acc['ppl_original']:.3f} -> {acc['ppl_quantized']:.3f} on {acc['tokens']} held-out "
        "tokens"
    )


def lock_metadata(report: dict[str, Any]) -> dict[str, Any]:
    """What the lock file records for this step (everything user-relevant from quant_report.json)."""
    keep = (
        "format",
        "modelopt_config",
        "quant_algo",
        "kv_cache",
        "kv_cache_quant_algo",
        "group_size",
        "architecture",
        "device",
        "calibration",
        "accuracy",
        "timings_s",
        "peak_rss_mib",
        "peak_gpu_mib",
        "versions",
        "warnings",
    )
    meta = {k: report.get(k) for k in keep}
    meta["exports"] = {
        name: {
            "dir": name,
            "files": e.get("files"),
            "bytes": e.get("bytes"),
            "tp": e.get("tp"),
            "pp": e.get("pp"),
            "tensors": e.get("tensors"),
        }
        for name, e in report.get("exports", {}).items()
    }
    meta["report_file"] = REPORT_NAME
    return json.loads(json.dumps(meta, default=str))


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
