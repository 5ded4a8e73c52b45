"""The real worker with real ModelOpt on CPU: one worker process runs a batch of jobs (the import is paid
once).

Covers every CPU-capable format on the tiny Llama and Mixtral, both export kinds, TP2 rank files, the accuracy
report, CUDA-only refusals, unsupported combinations, text calibration and determinism.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from trtforge.errors import Interrupted
from trtforge.quantize.job import AccuracySpec, CalibrationSpec, ExportSpec, QuantJob
from trtforge.quantize.runner import run_jobs
from trtforge.testing.tiny_models import make_tiny_model
from trtforge.toolchain import quant_formats as formats

# slow: real ModelOpt quantize + export jobs in a worker process (torch import); one xdist worker runs the
# module (with `--dist loadgroup`), so the session's batch of jobs runs once, not once per worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("quantize-worker-batch")]

CALIB_TEXT = [
    "The planner checks that the weights and the cache fit in memory and explains every decision it makes.",
    "Quantization makes big models fit: FP8, NVFP4, INT4 AWQ and MXFP4 weights with calibrated scales.",
    "Triton Inference Server serves a model repository with preprocessing, postprocessing and an ensemble.",
    "Once upon a time there was a small model that learned to count: one, two, three, four, five, six.",
] * 12


def job(
    model: Path, out: Path, fmt: str, kv: str | None = None, exports=None, dataset="synthetic"
) -> QuantJob:
    spec = formats.get_format(fmt)
    k = formats.kv_spec(kv)
    return QuantJob(
        model_dir=str(model),
        out_dir=str(out),
        format=fmt,
        modelopt_config=spec.modelopt_config,
        quant_algo=spec.quant_algo,
        kv_cache=kv,
        kv_modelopt_config=k.modelopt_config if k else None,
        kv_cache_quant_algo=k.kv_cache_quant_algo if k else None,
        calibration=CalibrationSpec(dataset, samples=8, seq_len=32, batch_size=4, seed=11),
        accuracy=AccuracySpec(True, samples=4),
        exports=exports or [ExportSpec("hf")],
        device="cpu",
    )


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("qworker")
    llama = make_tiny_model("llama", root / "llama")
    moe = make_tiny_model("moe", root / "moe")
    text = root / "calib.jsonl"
    text.write_text("".join(json.dumps({"text": t}) + "\n" for t in CALIB_TEXT))
    o = root / "out"
    jobs = {
        "fp8_kv": job(llama, o / "fp8_kv", "fp8", "fp8", [ExportSpec("hf"), ExportSpec("trtllm", 2, 1)]),
        "fp8_kv_again": job(
            llama, o / "fp8_kv_again", "fp8", "fp8", [ExportSpec("hf"), ExportSpec("trtllm", 2, 1)]
        ),
        "int4_tp2": job(llama, o / "int4", "int4_awq", None, [ExportSpec("trtllm", 2, 1)]),
        "nvfp4": job(llama, o / "nvfp4", "nvfp4", "nvfp4"),
        "nvfp4_awq": job(llama, o / "nvfp4_awq", "nvfp4_awq"),
        "w4a8_text": job(llama, o / "w4a8", "w4a8_awq", dataset=str(text)),
        "int8": job(llama, o / "int8", "int8_sq"),
        "moe_fp8_tp2": job(moe, o / "moe_fp8", "fp8", None, [ExportSpec("trtllm", 2, 1)]),
        "moe_int8_trt": job(moe, o / "moe_int8", "int8_sq", None, [ExportSpec("trtllm", 1, 1)]),
        "moe_mxfp4": job(moe, o / "moe_mxfp4", "mxfp4"),
        "requantize": job(o / "fp8_kv" / "hf", o / "requant", "int4_awq"),
    }
    events: list[dict] = []
    t0 = time.monotonic()
    outcomes = run_jobs(list(jobs.values()), events.append)
    wall = time.monotonic() - t0
    return {"jobs": jobs, "out": dict(zip(jobs, outcomes, strict=False)), "events": events, "wall": wall}


def report(batch, name):
    outcome = batch["out"][name]
    assert outcome["event"] == "result", outcome
    return outcome["report"]


def test_fp8_with_fp8_kv_exports_both_kinds(batch):
    r = report(batch, "fp8_kv")
    out = Path(batch["jobs"]["fp8_kv"].out_dir)
    assert r["quant_algo"] == "FP8" and r["kv_cache_quant_algo"] == "FP8"
    assert r["exports"]["hf"]["ok"] and r["exports"]["trtllm"]["ok"]
    hq = json.loads((out / "hf" / "hf_quant_config.json").read_text())["quantization"]
    assert hq["quant_algo"] == "FP8" and hq["kv_cache_quant_algo"] == "FP8"
    assert (out / "hf" / "tokenizer.json").is_file()
    cfg = json.loads((out / "trtllm" / "config.json").read_text())
    assert cfg["mapping"]["tp_size"] == 2 and cfg["quantization"]["quant_algo"] == "FP8"
    assert sorted(p.name for p in (out / "trtllm").glob("rank*.safetensors")) == [
        "rank0.safetensors",
        "rank1.safetensors",
    ]
    written = json.loads((out / "quant_report.json").read_text())
    assert written == {
        k: v for k, v in r.items() if k not in ("timings_s", "peak_rss_mib", "peak_gpu_mib", "memory")
    }


def test_accuracy_report_and_synthetic_label(batch):
    r = report(batch, "fp8_kv")
    acc = r["accuracy"]
    assert acc["measured"] and acc["tokens"] == 4 * 32 and acc["held_out_windows"] == 4
    assert 0.5 < acc["top1_agreement"] <= 1.0 and 0 <= acc["mean_kl"] < 0.1
    assert acc["ppl_quantized"] > 0
    cal = r["calibration"]
    assert cal["synthetic"] is True and "synthetic" in cal["source"] and "tests only" in cal["source"]
    assert cal["samples"] == 8 and cal["seq_len"] == 32 and cal["seed"] == 11
    assert r["peak_rss_mib"] > 100 and r["timings_s"]["quantize"] >= 0 and r["device"] == "cpu"
    assert r["versions"]["nvidia-modelopt"] == "0.47.0"


def test_same_job_gives_the_same_checkpoint(batch):
    a = Path(batch["jobs"]["fp8_kv"].out_dir)
    b = Path(batch["jobs"]["fp8_kv_again"].out_dir)
    assert (a / "hf" / "model.safetensors").read_bytes() == (b / "hf" / "model.safetensors").read_bytes()
    assert (a / "trtllm" / "rank1.safetensors").read_bytes() == (
        b / "trtllm" / "rank1.safetensors"
    ).read_bytes()
    assert (
        report(batch, "fp8_kv")["accuracy"]["top1_agreement"]
        == report(batch, "fp8_kv_again")["accuracy"]["top1_agreement"]
    )


def test_int4_awq_tp2_rank_files(batch):
    r = report(batch, "int4_tp2")
    assert r["exports"]["trtllm"]["ok"] and r["exports"]["trtllm"]["tp"] == 2
    q = json.loads((Path(batch["jobs"]["int4_tp2"].out_dir) / "trtllm" / "config.json").read_text())[
        "quantization"
    ]
    assert q["quant_algo"] == "W4A16_AWQ" and q["group_size"] == 128


def test_nvfp4_exports_on_cpu_but_accuracy_is_not_faked(batch):
    r = report(batch, "nvfp4")
    assert r["exports"]["hf"]["ok"] and r["kv_cache_quant_algo"] == "NVFP4"
    assert r["accuracy"]["measured"] is False
    assert r["accuracy"]["reason"] == "not measured on CPU (the nvfp4 quantized forward needs CUDA)"
    assert "top1_agreement" not in r["accuracy"]


def test_nvfp4_awq_needs_cuda(batch):
    e = batch["out"]["nvfp4_awq"]
    assert e["event"] == "error" and e["error"] == "ToolMissing" and e["exit_code"] == 4
    assert e["message"] == (
        "quantize: nvfp4_awq needs a CUDA GPU for its awq_lite calibration search; this machine has none"
    )


def test_text_calibration_is_labelled_with_its_file(batch):
    r = report(batch, "w4a8_text")
    assert r["calibration"]["synthetic"] is False and r["calibration"]["source"].startswith("local file ")
    assert r["calibration"]["samples"] == 8 and r["accuracy"]["measured"]
    assert r["exports"]["hf"]["ok"] and r["quant_algo"] == "W4A8_AWQ"


def test_the_worker_measures_and_the_step_judges(batch):
    """The recipe's bounds are not in the job: a verdict in the report would go stale in the cache when the
    bound changes (tests/steps/test_quantize.py judges)."""
    acc = report(batch, "int8")["accuracy"]
    assert acc["measured"] and 0 < acc["top1_agreement"] <= 1 and "gate_failures" not in acc
    assert not {"min_top1_agreement", "max_mean_kl", "max_perplexity_increase"} & set(
        json.loads(batch["jobs"]["int8"].to_json())["accuracy"]
    )


def test_mixtral_exports(batch):
    r = report(batch, "moe_fp8_tp2")
    assert r["architecture"] == "MixtralForCausalLM" and r["exports"]["trtllm"]["ok"]
    assert report(batch, "moe_mxfp4")["exports"]["hf"]["ok"]


def test_unsupported_combination_names_it(batch):
    e = batch["out"]["moe_int8_trt"]
    assert e["event"] == "error" and e["error"] == "Infeasible" and e["exit_code"] == 3
    assert e["message"].startswith(
        "int8_sq export of MixtralForCausalLM to a TensorRT-LLM checkpoint is not "
        "supported by ModelOpt 0.47.0"
    )


def test_already_quantized_input_is_refused(batch):
    e = batch["out"]["requantize"]
    assert e["error"] == "Infeasible" and "already quantized (modelopt)" in e["message"]
    assert "format: native" in e["hint"]


def test_progress_events_and_one_import(batch):
    msgs = [e["message"] for e in batch["events"] if e["event"] == "progress"]
    assert any(
        m.startswith("quantizing with FP8_DEFAULT_CFG + FP8_KV_CFG on 8 windows x 32 tokens") for m in msgs
    )
    assert any(m == "calibrating" for m in msgs)
    assert any("exporting TP2 PP1 TensorRT-LLM checkpoint" in m for m in msgs)
    # 11 jobs in one process: only the first pays the ModelOpt import
    later = report(batch, "moe_mxfp4")["timings_s"]
    assert later["import_modelopt"] < 0.5
    print(f"worker batch of {len(batch['jobs'])} jobs: {batch['wall']:.1f} s")


def test_interrupt_stops_the_worker(tmp_path):
    model = make_tiny_model("llama", tmp_path / "m")
    procs = []

    def on_event(ev):
        raise KeyboardInterrupt  # the user presses Ctrl-C while the worker reports progress

    with pytest.raises(Interrupted):
        run_jobs([job(model, tmp_path / "o", "fp8")], on_event, on_start=procs.append)
    (proc,) = procs
    assert proc.poll() is not None, "worker still running after the interrupt"
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing left in its process group either


def test_killing_the_build_kills_the_worker(tmp_path):
    """Even SIGKILL of the process driving the build (no cleanup code runs) takes the worker down."""
    import signal
    import subprocess
    import sys

    model = make_tiny_model("llama", tmp_path / "m")
    job_file = tmp_path / "job.json"
    job(model, tmp_path / "o", "fp8").write(job_file)
    driver = (
        "import sys, time\n"
        "from trtforge.quantize.job import read_jobs\n"
        "from trtforge.quantize.runner import run_jobs\n"
        "def on_start(p):\n"
        "    print(p.pid, flush=True)\n"
        f"run_jobs(read_jobs({str(job_file)!r}), lambda e: time.sleep(60), on_start=on_start)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    time.sleep(1.0)
    os.kill(worker_pid, 0)  # the worker is running
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {worker_pid} survived the build being killed")


def test_a_full_disk_is_not_blamed_on_the_format(tmp_path):
    import errno
    from types import SimpleNamespace

    from trtforge.errors import StepFailed
    from trtforge.quantize.worker import _Clock, _export

    def full_disk(*args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise RuntimeError("safetensors serialization failed") from e  # libraries wrap it

    j = job(tmp_path, tmp_path, "fp8")
    with pytest.raises(StepFailed) as e:
        _export(
            ExportSpec("hf"),
            j,
            None,
            "LlamaForCausalLM",
            None,
            None,
            tmp_path,
            lambda *a, **k: None,
            _Clock(),
            full_disk,
            None,
            None,
            SimpleNamespace(bfloat16="bf16"),
        )
    line = e.value.one_line()
    assert (
        "No space left on device (errno 28)" in line and "not supported" not in line and "free space" in line
    )
