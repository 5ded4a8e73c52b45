"""The quantize/export worker: `python -m trtforge.quantize.worker JOB.json` (one job, or {"jobs": [...]}).

It runs in its own process because importing ModelOpt takes seconds and a failed ModelOpt forward can leave
torch functions patched process-wide. Protocol: one JSON object per line on stdout (the real stdout; library
prints are moved to stderr): {"event": "progress"|"log", ...}, then per job {"event": "result", "report": ...}
or {"event": "error", "error": <TrtforgeError class>, "exit_code", "message", "hint"}. Exit code: 0, or the
exit code of the first failed job.
"""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trtforge.errors import Infeasible, InvalidInput, StepFailed, ToolMissing, TrtforgeError
from trtforge.procutil import die_with_parent_named_in_env
from trtforge.quantize import accuracy as acc_mod
from trtforge.quantize import calibration as calib
from trtforge.quantize import memory, validate
from trtforge.quantize.job import QuantJob, read_jobs
from trtforge.quantize.versions import check_versions, installed_versions
from trtforge.toolchain import quant_formats as formats

Emit = Callable[[dict[str, Any]], None]
REPORT_NAME = "quant_report.json"
VOLATILE_REPORT_KEYS = ("timings_s", "peak_rss_mib", "peak_gpu_mib", "memory")  # differ run to run
WORKER_VERSION = 2  # bump when the worker's output changes for the same job (it is part of the step's params)
_DTYPES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "float32": "float32",
    "fp32": "float32",
}


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


class _Clock:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def time(self, name: str):
        clock = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.monotonic()

            def __exit__(self, *exc):
                clock.t[name] = round(clock.t.get(name, 0.0) + time.monotonic() - self.t0, 3)

        return _Ctx()


def build_quant_config(mtq, job: QuantJob) -> dict[str, Any]:
    """The ModelOpt config for the job: the format's preset, + KV-cache entries, + our exclusions."""
    base = getattr(mtq, job.modelopt_config, None)
    if not isinstance(base, dict):
        raise StepFailed(
            f"ModelOpt has no quantization config {job.modelopt_config} (needed for {job.format})"
        )
    cfg = copy.deepcopy(base)
    if job.kv_modelopt_config:
        kv = getattr(mtq, job.kv_modelopt_config, None)
        if not isinstance(kv, dict):
            raise StepFailed(f"ModelOpt has no KV-cache config {job.kv_modelopt_config}")
        # quant_cfg is a list in ModelOpt 0.47; this helper appends the KV entries (MODELOPT-NOTES 2a)
        cfg = mtq.update_quant_cfg_with_kv_cache_quant(cfg, kv["quant_cfg"])
    for pattern in job.exclude_modules:
        pat = pattern if "*" in pattern else f"*{pattern}*"
        cfg["quant_cfg"].append({"quantizer_name": pat, "enable": False})
    return cfg


def prepare_cuda_extensions(names: tuple[str, ...], progress: Callable[..., None]) -> dict[str, float]:
    """Load ModelOpt's JIT-compiled CUDA extensions up front, saying which are cached and which compile now.

    torch caches the builds in TORCH_EXTENSIONS_DIR (the step points it into the trtforge cache), so only the
    first use on a machine pays the ~1 min compile per extension.
    """
    from modelopt.torch.quantization import extensions as ext

    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR", "~/.cache/torch_extensions")).expanduser()
    loaders = {
        "modelopt_cuda_ext": ext.get_cuda_ext,
        "modelopt_cuda_ext_fp8": ext.get_cuda_ext_fp8,
        "modelopt_cuda_ext_mx": ext.get_cuda_ext_mx,
    }
    seconds = {}
    for name in names:
        cached = any(root.glob(f"**/{name}/*.so"))
        progress(
            f"ModelOpt CUDA extension {name}: "
            + (f"cached in {root}" if cached else f"compiling into {root} (first use, ~1 min)")
        )
        t0 = time.monotonic()
        loaders[name]()
        seconds[name] = round(time.monotonic() - t0, 1)
    return seconds


def _resolve_device(torch, want: str) -> str:
    has_cuda = torch.cuda.is_available()
    if want == "cuda" and not has_cuda:
        raise ToolMissing("quantize: the job asks for CUDA but torch sees no GPU here")
    return "cuda" if (want in ("auto", "cuda") and has_cuda) else "cpu"


def _source_architecture(model_dir: Path) -> tuple[str, dict[str, Any]]:
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise InvalidInput(f"quantize: {model_dir} has no config.json (not a Hugging Face checkpoint)")
    cfg = json.loads(cfg_path.read_text())
    archs = cfg.get("architectures") or ["unknown"]
    return archs[0], cfg


def run_job(job: QuantJob, emit: Emit) -> dict[str, Any]:
    """Quantize + export one job into job.out_dir; returns the report (also written as quant_report.json)."""
    clock = _Clock()
    t_start = time.monotonic()
    model_dir = Path(job.model_dir)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = formats.get_format(job.format)
    kv = formats.kv_spec(job.kv_cache)
    warnings: list[str] = []

    def progress(message: str, **kw: Any) -> None:
        emit({"event": "progress", "message": message, **kw})

    if job.check_versions:
        warnings += check_versions()
    arch, src_cfg = _source_architecture(model_dir)
    if src_cfg.get("quantization_config"):
        method = (src_cfg["quantization_config"] or {}).get("quant_method", "?")
        raise Infeasible(
            f"quantize: {model_dir.name} is already quantized ({method}); re-quantizing it to "
            f"{job.format} is not supported",
            hint="set quantization.format: native to keep it",
        )
    if not job.keep_going:
        for exp in job.exports:
            why = formats.check_support(job.format, arch, exp.kind, exp.tp, exp.pp)
            if why:
                raise Infeasible(why)

    if job.torch_extensions_dir:
        Path(job.torch_extensions_dir).mkdir(parents=True, exist_ok=True)
        os.environ["TORCH_EXTENSIONS_DIR"] = job.torch_extensions_dir

    progress("importing torch + transformers")
    with clock.time("import_torch"):
        import torch
        import transformers  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer

    device = _resolve_device(torch, job.device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()  # per job, also when several jobs share this process
    cpu_error, acc_note = formats.cpu_limits(job.format, job.kv_cache) if device == "cpu" else (None, None)
    if cpu_error:
        raise ToolMissing(f"quantize: {cpu_error}", hint="run the build on a machine with an NVIDIA GPU")

    # Refuse early, with numbers, when the machine cannot hold the model.
    weights = memory.checkpoint_bytes(model_dir)
    have_dev = None
    if device == "cuda":
        have_dev = int(torch.cuda.mem_get_info()[0])
    mem = memory.plan_memory(weights, device, have_dev, memory.host_available_bytes())
    if job.memory_budget_gib is not None:
        mem.have_device_bytes = int(job.memory_budget_gib * memory.GIB)
    memory.refuse_if_short(mem, f"{model_dir.name} ({arch})")

    progress(f"loading {model_dir.name} ({arch}, {weights / memory.GIB:.2f} GiB) on {device}")
    dtype = getattr(torch, _DTYPES.get(job.dtype, "bfloat16"))
    with clock.time("load"):
        tokenizer = None
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=job.trust_remote_code)
        except Exception as e:  # a tokenizer is only required for text calibration
            if job.calibration.dataset != calib.SYNTHETIC:
                raise InvalidInput(f"quantize: cannot load the tokenizer of {model_dir.name}: {e}") from None
        # Weights go straight to their device (no full CPU copy first: low_cpu_mem_usage + device_map).
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir),
            dtype=dtype,
            low_cpu_mem_usage=True,
            device_map=device,
            trust_remote_code=job.trust_remote_code,
        ).eval()
    vocab = int(model.config.vocab_size)

    c, a = job.calibration, job.accuracy
    measure = a.enabled and acc_note is None
    n_heldout = acc_mod.heldout_tokens_cap(vocab, c.seq_len, a.samples) if a.enabled else 0
    if a.enabled and n_heldout < a.samples:
        warnings.append(f"accuracy: {n_heldout} held-out windows (of {a.samples} asked) to bound memory")
    with clock.time("calibration_data"):
        windows = calib.make_windows(c.dataset, tokenizer, vocab, c.samples, n_heldout, c.seq_len, c.seed)
    warnings += windows.warnings
    calib_batches = calib.batches(windows.calibration, c.batch_size)
    held_batches = calib.batches(windows.heldout, c.batch_size)

    torch.manual_seed(c.seed)
    ref = None
    if measure and held_batches:
        progress(f"accuracy: baseline forward on {len(windows.heldout)} held-out windows")
        with clock.time("accuracy_baseline"):
            ref = acc_mod.baseline(model, held_batches, device)

    progress("importing ModelOpt")
    with clock.time("import_modelopt"):
        import modelopt.torch.quantization as mtq
        from modelopt.torch.export import export_hf_checkpoint, export_tensorrt_llm_checkpoint, get_model_type

    if device == "cuda":
        with clock.time("cuda_extensions"):
            prepare_cuda_extensions(formats.cuda_extensions_for(job.format, job.kv_cache), progress)
    cfg = build_quant_config(mtq, job)

    def forward_loop(m) -> None:
        for i, batch in enumerate(calib_batches):
            with torch.no_grad():
                m(input_ids=torch.tensor(batch, dtype=torch.long, device=device))
            progress("calibrating", done=i + 1, total=len(calib_batches), unit="batches")

    progress(
        f"quantizing with {job.modelopt_config}"
        + (f" + {job.kv_modelopt_config}" if job.kv_modelopt_config else "")
        + f" on {len(windows.calibration)} windows x {c.seq_len} tokens ({windows.source})"
    )
    with clock.time("quantize"):
        try:
            mtq.quantize(model, cfg, forward_loop)
        except Exception as e:
            raise StepFailed(
                f"quantize: ModelOpt {job.modelopt_config} failed on {arch} ({device}): "
                f"{type(e).__name__}: {_first_line(e)}"
            ) from e

    accuracy: dict[str, Any]
    if not a.enabled:
        accuracy = {"measured": False, "reason": "disabled in the recipe"}
    elif acc_note:
        accuracy = {"measured": False, "reason": acc_note}
    elif ref is None:
        accuracy = {"measured": False, "reason": "no held-out windows"}
    else:
        progress("accuracy: quantized forward on the held-out windows")
        with clock.time("accuracy_compare"):
            try:
                accuracy = acc_mod.compare(model, held_batches, ref, device)
            except Exception as e:
                raise StepFailed(
                    f"quantize: the {job.format} quantized forward failed on {arch} ({device}): "
                    f"{type(e).__name__}: {_first_line(e)}"
                ) from e
        del ref
    accuracy["held_out_windows"] = len(windows.heldout)
    accuracy["text"] = f"{windows.source}: {len(windows.heldout)} held-out windows, disjoint from calibration"

    exports: dict[str, Any] = {}
    state_file = None
    if len(job.exports) > 1:
        # Exporters rewrite the model in place: keep the quantized state to restore onto a fresh copy.
        import modelopt.torch.opt as mto

        state_file = Path(tempfile.mkdtemp(prefix="trtforge-mo-")) / "modelopt_state.pth"
        mto.save(model, str(state_file))
    try:
        for i, exp in enumerate(job.exports):
            if i > 0:
                import modelopt.torch.opt as mto

                del model
                model = AutoModelForCausalLM.from_pretrained(
                    str(model_dir),
                    dtype=dtype,
                    low_cpu_mem_usage=True,
                    device_map=device,
                    trust_remote_code=job.trust_remote_code,
                ).eval()
                mto.restore(model, str(state_file))
            exports[exp.dirname] = _export(
                exp,
                job,
                model,
                arch,
                spec,
                kv,
                out,
                progress,
                clock,
                export_hf_checkpoint,
                export_tensorrt_llm_checkpoint,
                get_model_type,
                torch,
            )
    finally:
        if state_file is not None:
            shutil.rmtree(state_file.parent, ignore_errors=True)

    timings = dict(clock.t)
    timings["total"] = round(time.monotonic() - t_start, 3)
    report = {
        "format": job.format,
        "modelopt_config": job.modelopt_config,
        "kv_cache": job.kv_cache,
        "kv_modelopt_config": job.kv_modelopt_config,
        "quant_algo": spec.quant_algo,
        "kv_cache_quant_algo": kv.kv_cache_quant_algo if kv else None,
        "group_size": spec.group_size,
        "architecture": arch,
        "device": device,
        "calibration": {
            "source": windows.source,
            "synthetic": windows.synthetic,
            "samples": len(windows.calibration),
            "samples_requested": c.samples,
            "seq_len": c.seq_len,
            "batch_size": c.batch_size,
            "seed": c.seed,
        },
        "accuracy": accuracy,
        "exports": exports,
        "memory": mem.as_dict(),
        "timings_s": timings,
        "peak_rss_mib": _peak_rss_mib(),  # of the process: with several jobs per process, the max so far
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device == "cuda" else None,
        "versions": installed_versions(("nvidia-modelopt", "transformers", "torch")),
        "worker_version": WORKER_VERSION,
        "warnings": warnings,
    }
    # The published file holds only what the job determines, so the step's output (and every downstream
    # fingerprint) is the same on a rebuild; timings and memory go to the lock file through the protocol.
    stable = {k: v for k, v in report.items() if k not in VOLATILE_REPORT_KEYS}
    (out / REPORT_NAME).write_text(json.dumps(stable, indent=2, sort_keys=True) + "\n")
    return report


def _export(
    exp, job, model, arch, spec, kv, out, progress, clock, export_hf, export_trt, get_model_type, torch
):
    d = out / exp.dirname
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    label = (
        f"TP{exp.tp} PP{exp.pp} TensorRT-LLM checkpoint" if exp.kind == "trtllm" else "unified HF checkpoint"
    )
    progress(f"exporting {label} to {d.name}/")
    dtype = getattr(torch, _DTYPES.get(job.dtype, "bfloat16"))
    try:
        with clock.time(f"export_{exp.kind}"):
            if exp.kind == "trtllm":
                export_trt(
                    model,
                    decoder_type=get_model_type(model),
                    dtype=dtype,
                    export_dir=str(d),
                    inference_tensor_parallel=exp.tp,
                    inference_pipeline_parallel=exp.pp,
                )
            else:
                export_hf(model, dtype=dtype, export_dir=str(d))
    except Exception as e:
        os_error = _os_error(e)
        if os_error is not None:  # a full disk or a permission problem is not a format limitation
            raise StepFailed(
                f"quantize: writing the {label} to {d} failed: {os_error.strerror or os_error} "
                f"(errno {os_error.errno})",
                hint="free space or fix permissions there (it is under the trtforge cache), then build again",
            ) from e
        msg = (
            f"quantize: {job.format} export of {arch} to a {label} failed in ModelOpt: "
            f"{type(e).__name__}: {_first_line(e)}"
        )
        if job.keep_going:
            shutil.rmtree(d, ignore_errors=True)
            return {"kind": exp.kind, "ok": False, "error": msg}
        raise StepFailed(
            msg, hint="this combination is not supported with the pinned versions; see docs/quantization.md"
        ) from e
    validate.copy_tokenizer(Path(job.model_dir), d)
    kv_algo = kv.kv_cache_quant_algo if kv else None
    if exp.kind == "trtllm":
        result = validate.validate_trtllm(d, exp.tp, exp.pp, spec.quant_algo, kv_algo)
    else:
        result = validate.validate_hf(d, spec.quant_algo, kv_algo)
    if not result["ok"] and not job.keep_going:
        raise StepFailed(
            f"quantize: the {label} written for {job.format} ({arch}) is not valid: "
            f"{result['problems'][0]}"
            + (f" (+{len(result['problems']) - 1} more)" if len(result["problems"]) > 1 else "")
        )
    return result


def _os_error(e: BaseException) -> OSError | None:
    """The OSError (ENOSPC, EACCES, ...) behind an exception, if any: libraries often wrap it."""
    seen = set()
    first = e
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e
        e = e.__cause__ or e.__context__
    # Rust libraries (safetensors) raise their own error type; the OS error is only in the text:
    # "Error while serializing: I/O error: No space left on device (os error 28)"
    m = re.search(r"\(os error (\d+)\)", str(first))
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code))
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def _protocol_stream():
    """Keep the real stdout for the protocol and send everything else printed (libraries) to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m trtforge.quantize.worker JOB.json", file=sys.stderr)
        return 2
    die_with_parent_named_in_env()
    proto = _protocol_stream()

    def emit(event: dict[str, Any]) -> None:
        proto.write(json.dumps(event, default=str) + "\n")

    try:
        jobs = read_jobs(Path(argv[0]))
    except (OSError, ValueError, TypeError, KeyError) as e:
        emit(
            {
                "event": "error",
                "job": None,
                "error": "InvalidInput",
                "exit_code": 2,
                "message": f"cannot read job file {argv[0]}: {e}",
                "hint": None,
            }
        )
        return 2
    first_failure = 0
    import torch.nn.functional as F  # every job needs torch; keep the real F.linear to undo ModelOpt leaks

    original_linear = F.linear
    for index, job in enumerate(jobs):
        try:
            report = run_job(job, lambda ev, i=index: emit({**ev, "job": i}))
            emit({"event": "result", "job": index, "report": report})
        except TrtforgeError as e:
            emit(
                {
                    "event": "error",
                    "job": index,
                    "error": type(e).__name__,
                    "exit_code": e.exit_code,
                    "message": e.message,
                    "hint": e.hint,
                }
            )
            if e.__cause__ is not None:
                traceback.print_exception(e.__cause__, file=sys.stderr)
            first_failure = first_failure or e.exit_code
        except Exception as e:  # a bug or an unexpected library error: still one line for the user
            traceback.print_exc(file=sys.stderr)
            emit(
                {
                    "event": "error",
                    "job": index,
                    "error": "StepFailed",
                    "exit_code": 1,
                    "message": f"quantize: {job.format} failed: {type(e).__name__}: {_first_line(e)}",
                    "hint": None,
                }
            )
            first_failure = first_failure or 1
        # A failed ModelOpt forward can leave torch.nn.functional.linear patched (MODELOPT-NOTES 2-4, item 4):
        # restore it before the next job in this process.
        if F.linear is not original_linear:
            F.linear = original_linear
            emit(
                {
                    "event": "log",
                    "job": index,
                    "message": "restored torch.nn.functional.linear patched by a failed ModelOpt forward",
                }
            )
    proto.flush()
    return first_failure


if __name__ == "__main__":
    sys.exit(main())
