#!/usr/bin/env python3
"""Measure trtforge's quantize step with real ModelOpt.

  --matrix [--kinds llama,moe,...]   format x architecture x export support matrix on tiny models (CPU or
  GPU):
                                     what docs/quantization.md and trtforge/data/quant_formats.yaml record.
  --bench --kind llama --hidden 2048 --layers 16 --formats fp8,nvfp4
                                     time the worker against calling ModelOpt directly on the same model,
                                     config and calibration data (each in a fresh process, import included);
                                     peak memory.
Results go to --out (JSON + a markdown table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trtforge.quantize.job import AccuracySpec, CalibrationSpec, ExportSpec, QuantJob
from trtforge.testing.tiny_models import ARCHITECTURES, make_tiny_model
from trtforge.toolchain import quant_formats as formats

MATRIX_CELLS = [  # (label, format, kv_cache)
    ("fp8", "fp8", None),
    ("fp8+kv_fp8", "fp8", "fp8"),
    ("nvfp4", "nvfp4", None),
    ("nvfp4+kv_nvfp4", "nvfp4", "nvfp4"),
    ("nvfp4_awq", "nvfp4_awq", None),
    ("mxfp4", "mxfp4", None),
    ("int4_awq", "int4_awq", None),
    ("w4a8_awq", "w4a8_awq", None),
    ("int8_sq", "int8_sq", None),
]


def make_job(
    model_dir: Path,
    out_dir: Path,
    fmt: str,
    kv: str | None,
    exports: list[ExportSpec],
    samples: int = 8,
    seq_len: int = 32,
    batch: int = 4,
    acc_samples: int = 4,
    keep_going: bool = True,
    device: str = "auto",
    ext_dir: str | None = None,
) -> QuantJob:
    spec = formats.get_format(fmt)
    k = formats.kv_spec(kv)
    return QuantJob(
        model_dir=str(model_dir),
        out_dir=str(out_dir),
        format=fmt,
        modelopt_config=spec.modelopt_config,
        quant_algo=spec.quant_algo,
        kv_cache=kv,
        kv_modelopt_config=k.modelopt_config if k else None,
        kv_cache_quant_algo=k.kv_cache_quant_algo if k else None,
        calibration=CalibrationSpec("synthetic", samples, seq_len, batch, 1234),
        accuracy=AccuracySpec(True, acc_samples),
        exports=exports,
        keep_going=keep_going,
        device=device,
        torch_extensions_dir=ext_dir,
    )


def run_worker(job_file: Path, log: Path) -> tuple[list[dict], float]:
    """Run the jobs of job_file through trtforge's own runner (as the step does); events + wall seconds."""
    from trtforge.quantize.job import read_jobs
    from trtforge.quantize.runner import run_jobs

    events: list[dict] = []
    t0 = time.monotonic()
    outcomes = run_jobs(read_jobs(job_file), events.append, log_path=log)
    return events + outcomes, time.monotonic() - t0


def matrix(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for kind in args.kinds.split(","):
        model = make_tiny_model(kind, out / "models" / kind, hidden=256)
        exports = [
            ExportSpec("hf"),
            ExportSpec("trtllm", 1, 1, "trtllm_tp1"),
            ExportSpec("trtllm", 2, 1, "trtllm_tp2"),
        ]
        jobs = [
            make_job(
                model, out / "runs" / kind / label, fmt, kv, exports, device=args.device, ext_dir=args.ext_dir
            )
            for label, fmt, kv in MATRIX_CELLS
        ]
        job_file = out / f"jobs-{kind}.json"
        job_file.write_text(json.dumps({"jobs": [json.loads(j.to_json()) for j in jobs]}))
        events, wall = run_worker(job_file, out / f"worker-{kind}.log")
        print(f"{kind}: {wall:.1f} s", file=sys.stderr)
        row = {}
        for i, (label, _fmt, _kv) in enumerate(MATRIX_CELLS):
            res = [e for e in events if e.get("job") == i and e["event"] in ("result", "error")]
            if not res:
                row[label] = {"error": "no result (worker died?)"}
            elif res[-1]["event"] == "error":
                row[label] = {"error": res[-1]["message"], "exit_code": res[-1]["exit_code"]}
            else:
                r = res[-1]["report"]
                row[label] = {
                    "quantize_s": r["timings_s"].get("quantize"),
                    "accuracy": r["accuracy"],
                    "exports": {
                        f"{k}": {"ok": v["ok"], "error": v.get("error"), "problems": v.get("problems")}
                        for k, v in r["exports"].items()
                    },
                }
        results[ARCHITECTURES[kind]] = row
        (out / "matrix.json").write_text(json.dumps(results, indent=2))
    (out / "matrix.md").write_text(render_matrix(results))
    print(render_matrix(results))


def render_matrix(results: dict) -> str:
    archs = list(results)
    lines = ["| format | " + " | ".join(archs) + " |", "|---|" + "---|" * len(archs)]
    for label, _f, _k in MATRIX_CELLS:
        cells = []
        for a in archs:
            c = results[a].get(label, {})
            if "error" in c:
                cells.append("FAIL: " + c["error"][:80])
                continue
            acc = c["accuracy"]
            fwd = f"top1 {acc['top1_agreement']:.2f}" if acc.get("measured") else "acc n/a"
            ex = c["exports"]

            def mark(k: str, ex: dict = ex) -> str:
                return "✓" if ex.get(k, {}).get("ok") else "✗"

            cells.append(
                f"q{c['quantize_s']}s {fwd} hf{mark('hf')} trt{mark('trtllm_tp1')}/tp2{mark('trtllm_tp2')}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bench(args) -> None:
    """Worker vs direct ModelOpt on the same model/config/data; both in fresh processes, import included.

    With --no-direct, all formats run as jobs of one worker process (import paid once), without the
    comparison.
    """
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    models = Path(args.models_dir) if args.models_dir else out / "models"
    model = make_tiny_model(
        args.kind,
        models / f"{args.kind}-{args.hidden}x{args.layers}",
        hidden=args.hidden,
        layers=args.layers,
        intermediate=args.intermediate,
    )
    make_s = round(time.monotonic() - t0, 1)
    print(f"model {model.name}: made in {make_s} s", file=sys.stderr)
    jobs = []
    for fmt in args.formats.split(","):
        kv = args.kv or None
        job = make_job(
            model,
            out / "runs" / fmt,
            fmt,
            kv,
            [ExportSpec(args.export, args.tp, 1)],
            samples=args.samples,
            seq_len=args.seq_len,
            batch=args.batch,
            acc_samples=args.acc_samples,
            keep_going=False,
            device=args.device,
            ext_dir=args.ext_dir,
        )
        job.accuracy.enabled = args.acc_samples > 0
        jobs.append(job)
    rows = []
    if args.no_direct:
        jf = out / "jobs.json"
        jf.write_text(json.dumps({"jobs": [json.loads(j.to_json()) for j in jobs]}))
        events, wall = run_worker(jf, out / "worker.log")
        for i, job in enumerate(jobs):
            res = [e for e in events if e.get("job") == i and e["event"] in ("result", "error")]
            rows.append(
                {
                    "format": job.format,
                    "model": model.name,
                    "worker_report": res[-1].get("report"),
                    "worker_error": res[-1] if res[-1]["event"] == "error" else None,
                }
            )
            print(json.dumps(_summary(rows[-1])), file=sys.stderr)
        rows.append({"all_jobs_wall_s": round(wall, 2)})
        (out / "bench.json").write_text(json.dumps(rows, indent=2))
        return
    # Warm the page cache (torch/transformers/modelopt files) so neither side pays a cold first import.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch, transformers, modelopt.torch.quantization, modelopt.torch.export",
        ],
        capture_output=True,
        cwd=ROOT,
    )
    for job in jobs:
        fmt = job.format
        jf = out / f"job-{fmt}.json"
        job.write(jf)
        direct_walls, worker_walls, direct, report, error = [], [], None, None, None
        for rep in range(args.repeat):
            # alternate the order so page cache / GPU clock drift favours neither side
            for side in ("direct", "worker") if rep % 2 == 0 else ("worker", "direct"):
                t0 = time.monotonic()
                if side == "direct":
                    d = subprocess.run(
                        [sys.executable, str(ROOT / "scripts" / "bench_quantize.py"), "--direct", str(jf)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                    )
                    direct_walls.append(round(time.monotonic() - t0, 2))
                    direct = (
                        json.loads(d.stdout.strip().splitlines()[-1])
                        if d.returncode == 0
                        else {"error": d.stderr[-3000:]}
                    )
                else:
                    events, wall = run_worker(jf, out / f"worker-{fmt}.log")
                    worker_walls.append(round(wall, 2))
                    res = [e for e in events if e["event"] in ("result", "error")]
                    report = res[-1].get("report") if res and res[-1]["event"] == "result" else None
                    error = None if report else (res[-1] if res else "none")
        dm, wm = statistics.median(direct_walls), statistics.median(worker_walls)
        rows.append(
            {
                "format": fmt,
                "model": model.name,
                "repeats": args.repeat,
                "direct_walls_s": direct_walls,
                "worker_walls_s": worker_walls,
                "direct_wall_s": dm,
                "worker_wall_s": wm,
                "overhead_pct": round(100 * (wm - dm) / dm, 2),
                "direct": direct,
                "worker_report": report,
                "worker_error": error,
            }
        )
        print(json.dumps(_summary(rows[-1])), file=sys.stderr)
        (out / "bench.json").write_text(json.dumps(rows, indent=2))


def _summary(row: dict) -> dict:
    r = row.get("worker_report") or {}
    out = {k: v for k, v in row.items() if k not in ("worker_report",)}
    if r:
        out.update(
            timings=r.get("timings_s"),
            peak_gpu_mib=r.get("peak_gpu_mib"),
            peak_rss_mib=r.get("peak_rss_mib"),
            accuracy=r.get("accuracy"),
        )
    return out


def direct(job_file: str) -> None:
    """What a user would write by hand with ModelOpt: load, calibrate on the same windows, quantize,
    export."""
    t0 = time.monotonic()
    import modelopt.torch.quantization as mtq
    import torch
    from modelopt.torch.export import export_hf_checkpoint, export_tensorrt_llm_checkpoint, get_model_type
    from transformers import AutoModelForCausalLM

    from trtforge.quantize import calibration as calib
    from trtforge.quantize.job import read_jobs
    from trtforge.quantize.worker import build_quant_config

    job = read_jobs(Path(job_file))[0]
    t_import = time.monotonic() - t0
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(
        job.model_dir, dtype=torch.bfloat16, low_cpu_mem_usage=True, device_map=dev
    ).eval()
    c = job.calibration
    w = calib.synthetic_windows(model.config.vocab_size, c.samples, 0, c.seq_len, c.seed)
    batches = calib.batches(w.calibration, c.batch_size)

    def loop(m):
        for b in batches:
            with torch.no_grad():
                m(input_ids=torch.tensor(b, device=dev))

    t1 = time.monotonic()
    mtq.quantize(model, build_quant_config(mtq, job), loop)
    t_q = time.monotonic() - t1
    d = Path(job.out_dir + "-direct")
    d.mkdir(parents=True, exist_ok=True)
    t2 = time.monotonic()
    exp = job.exports[0]
    if exp.kind == "trtllm":
        export_tensorrt_llm_checkpoint(
            model, get_model_type(model), torch.bfloat16, str(d), inference_tensor_parallel=exp.tp
        )
    else:
        export_hf_checkpoint(model, dtype=torch.bfloat16, export_dir=str(d))
    t_e = time.monotonic() - t2
    print(
        json.dumps(
            {
                "import_s": round(t_import, 2),
                "quantize_s": round(t_q, 2),
                "export_s": round(t_e, 2),
                "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)
                if dev == "cuda"
                else None,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrix", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--direct", metavar="JOB")
    ap.add_argument("--kinds", default="llama,moe,gptoss,qwen3moe,llama4")
    ap.add_argument("--kind", default="llama")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=None)
    ap.add_argument("--formats", default="fp8,int4_awq")
    ap.add_argument("--export", default="hf", choices=formats.EXPORT_KINDS)
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--acc-samples", type=int, default=0)
    ap.add_argument("--kv", default="", help="KV-cache quantization for --bench (fp8 | nvfp4)")
    ap.add_argument("--repeat", type=int, default=1, help="direct/worker pairs per format (order alternates)")
    ap.add_argument("--no-direct", action="store_true", help="--bench without the direct-ModelOpt comparison")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ext-dir", default=None, help="TORCH_EXTENSIONS_DIR for ModelOpt's CUDA extensions")
    ap.add_argument("--out", default="/tmp/trtforge-bench-quantize")
    ap.add_argument(
        "--models-dir", default=None, help="where generated models are kept (reused between runs)"
    )
    args = ap.parse_args()
    if args.direct:
        direct(args.direct)
    elif args.matrix:
        matrix(args)
    elif args.bench:
        bench(args)
    else:
        ap.error("give --matrix, --bench or --direct JOB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
