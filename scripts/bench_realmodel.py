#!/usr/bin/env python3
"""Quantize a real checkpoint (SmolLM2-135M, converted from its GGUF) in every format and measure accuracy on
held-out real text: the table in docs/quantization.md ("A real model").

  python scripts/bench_realmodel.py --model DIR --formats fp8,fp8+kv_fp8,int8_sq --out OUT
  python scripts/bench_realmodel.py --gguf FILE.gguf --model DIR ...   (converts the GGUF into DIR first)

All jobs run in one trtforge worker process (trtforge/quantize/worker.py: the same code the build's quantize
step runs), with the same calibration and held-out windows (`--dataset`, default Python's pydoc text). An
export that ModelOpt refuses is recorded, not fatal (keep_going), so the accuracy of the quantized forward is
still reported. Writes OUT/realmodel.json and OUT/realmodel.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trtforge.quantize.job import AccuracySpec, CalibrationSpec, ExportSpec, QuantJob  # noqa: E402
from trtforge.quantize.runner import run_jobs  # noqa: E402
from trtforge.toolchain import quant_formats as formats  # noqa: E402

CELLS = {  # label -> (format, kv_cache)
    "fp8": ("fp8", None),
    "fp8+kv_fp8": ("fp8", "fp8"),
    "int8_sq": ("int8_sq", None),
    "int4_awq": ("int4_awq", None),
    "w4a8_awq": ("w4a8_awq", None),
    "mxfp4": ("mxfp4", None),
    "nvfp4": ("nvfp4", None),
    "nvfp4+kv_nvfp4": ("nvfp4", "nvfp4"),
    "nvfp4_awq": ("nvfp4_awq", None),
}


def job_for(label: str, args: argparse.Namespace, out: Path) -> QuantJob:
    fmt, kv = CELLS[label]
    spec, k = formats.get_format(fmt), formats.kv_spec(kv)
    return QuantJob(
        model_dir=str(args.model),
        out_dir=str(out / label),
        format=fmt,
        modelopt_config=spec.modelopt_config,
        quant_algo=spec.quant_algo,
        kv_cache=k.name if k else None,
        kv_modelopt_config=k.modelopt_config if k else None,
        kv_cache_quant_algo=k.kv_cache_quant_algo if k else None,
        calibration=CalibrationSpec(
            dataset=args.dataset,
            samples=args.samples,
            seq_len=args.seq_len,
            batch_size=args.batch,
            seed=args.seed,
        ),
        accuracy=AccuracySpec(enabled=True, samples=args.acc_samples),
        exports=[ExportSpec(e) for e in args.exports.split(",") if e],
        device=args.device,
        keep_going=True,
        torch_extensions_dir=args.ext_dir,
    )


def row(label: str, outcome: dict) -> dict:
    if outcome.get("event") != "result":
        return {"label": label, "ok": False, "error": outcome.get("message")}
    rep = outcome["report"]
    acc = rep["accuracy"]
    return {
        "label": label,
        "ok": True,
        "device": rep["device"],
        "quant_algo": rep["quant_algo"],
        "accuracy": acc,
        "timings_s": rep["timings_s"],
        "peak_gpu_mib": rep.get("peak_gpu_mib"),
        "peak_rss_mib": rep.get("peak_rss_mib"),
        "calibration": rep["calibration"],
        "exports": {
            k: {"ok": v.get("ok"), "error": v.get("error"), "bytes": v.get("bytes")}
            for k, v in rep["exports"].items()
        },
    }


def render(rows: list[dict], meta: dict) -> str:
    lines = [
        f"model {meta['model']}, {meta['device']}; calibration {meta['calibration']}; held-out: "
        f"{meta['heldout']}",
        "",
        "| format | ppl original | ppl quantized | increase | top-1 agreement | mean KL | quantize s | "
        "HF export |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["ok"]:
            lines.append(f"| {r['label']} | - | - | - | - | - | - | failed: {str(r['error'])[:120]} |")
            continue
        a, t = r["accuracy"], r["timings_s"]
        exp = r["exports"].get("hf", {})
        exp_s = "ok" if exp.get("ok") else f"no: {str(exp.get('error'))[-110:]}"
        if a.get("measured"):
            lines.append(
                f"| {r['label']} | {a['ppl_original']:.3f} | {a['ppl_quantized']:.3f} | "
                f"{a['ppl_increase']:+.2%} | {a['top1_agreement']:.4f} | {a['mean_kl']:.5f} | "
                f"{t.get('quantize', 0):.1f} | {exp_s} |"
            )
        else:
            lines.append(
                f"| {r['label']} | - | - | - | not measured: {a.get('reason')} | - | "
                f"{t.get('quantize', 0):.1f} | {exp_s} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="HF checkpoint directory (written with --gguf)")
    ap.add_argument("--gguf", type=Path, default=None, help="convert this GGUF file into --model first")
    ap.add_argument("--formats", default="fp8,fp8+kv_fp8,int8_sq")
    ap.add_argument("--dataset", default="pydoc")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--acc-samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--exports", default="hf")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--ext-dir", default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/trtforge-bench-realmodel"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    meta: dict = {"model": str(args.model), "python": platform.python_version()}
    if args.gguf is not None and not (args.model / "config.json").is_file():
        from trtforge.steps.gguf_convert import run_converter

        t0 = time.monotonic()
        args.model.mkdir(parents=True, exist_ok=True)
        meta["convert"] = run_converter(args.gguf, args.model, args.out / "convert.log")
        meta["convert"]["wall_s"] = round(time.monotonic() - t0, 1)
        print("converted", json.dumps(meta["convert"]), flush=True)
    labels = [x for x in args.formats.split(",") if x]
    jobs = [job_for(label, args, args.out / "ckpt") for label in labels]

    def on_event(ev: dict) -> None:
        if ev.get("event") == "progress" and ev.get("done") is None:
            print(f"[{labels[ev.get('job') or 0]}] {ev.get('message')}", flush=True)

    t0 = time.monotonic()
    outcomes = run_jobs(jobs, on_event, log_path=args.out / "worker.log")
    meta["wall_s"] = round(time.monotonic() - t0, 1)
    rows = [row(label, o) for label, o in zip(labels, outcomes, strict=False)]
    ok = next((r for r in rows if r["ok"]), None)
    meta["device"] = ok["device"] if ok else "?"
    if ok:
        c = ok["calibration"]
        meta["calibration"] = f"{c['source']}, {c['samples']} x {c['seq_len']} tokens"
        meta["heldout"] = ok["accuracy"].get("text", "")
    else:
        meta["calibration"] = meta["heldout"] = "?"
    try:
        import torch

        meta["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - informational only
        meta["gpu"] = None
    (args.out / "realmodel.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    (args.out / "realmodel.md").write_text(render(rows, meta))
    print(render(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
