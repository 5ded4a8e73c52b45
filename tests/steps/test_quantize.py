"""QuantizeStep: preflight refusals (one clear line each), params/versions, and real runs through the
worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from trtforge.errors import EXIT_MISSING, Infeasible, InvalidInput, ToolMissing
from trtforge.pipeline.step import StepContext
from trtforge.plan.model import (
    GpuInfo,
    Limits,
    Memory,
    ModelSummary,
    Parallel,
    Plan,
    QuantPlan,
    ToolchainPlan,
)
from trtforge.plan.resolve import resolve
from trtforge.quantize import versions
from trtforge.recipe.loader import load_recipe
from trtforge.steps.quantize import DEVICE_ENV, AccuracyGateFailed, QuantizeStep
from trtforge.toolchain import quant_formats as formats

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")  # what CI has; the GPU path ran on the device machine


def recipe(tmp_path: Path, model_path: Path, fmt="fp8", kv="auto", **quant) -> Path:
    data = {
        "name": "tiny-test",
        "model": {"path": str(model_path)},
        "target": {"gpu": "cpu"},
        "quantization": {
            "format": fmt,
            "kv_cache": kv,
            "calibration": {"dataset": "synthetic", "samples": 8, "seq_len": 32, "batch_size": 4},
            "accuracy": {"samples": 4},
            **quant,
        },
    }
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def plan(fmt="fp8", kv="bf16", arch="LlamaForCausalLM", backend="reference", tp=1, params=1_443_072) -> Plan:
    spec = formats.get_format(fmt)
    k = formats.kv_spec(kv)
    return Plan(
        recipe="tiny-test",
        target="cpu",
        fits=True,
        backend=backend,
        gpu=GpuInfo(name="cpu", sm=None, memory_gib=16.0),
        model=ModelSummary(
            architecture=arch, model_type="llama", total_params=params, active_params=params, dtype="bfloat16"
        ),
        parallel=Parallel(tp=tp, pp=1, world_size=tp),
        memory=Memory(weights_gib_per_gpu=0.0, kv_cache_gib_per_gpu=1.0, reserve_gib=0.5, total_gib=16.0),
        limits=Limits(
            max_batch_size=4, max_num_tokens=2048, max_seq_len=256, max_input_len=255, max_kv_tokens=1000
        ),
        quantization=QuantPlan(
            format=fmt,
            kv_cache=kv,
            source="modelopt",
            quant_algo=spec.quant_algo,
            kv_cache_quant_algo=k.kv_cache_quant_algo if k else None,
            group_size=spec.group_size,
            modelopt_config=spec.modelopt_config,
            exclude_modules=["*lm_head*", "*router*"],
        ),
        toolchain=ToolchainPlan(trtllm_version="1.2.1", triton_image="x", engine_backend_available=True),
    )


def step(tmp_path, model, p: Plan, **quant) -> QuantizeStep:
    loaded = load_recipe(recipe(tmp_path, model, p.quantization.format, **quant))
    return QuantizeStep("quantize", loaded, p)


MODEL = Path("/nonexistent/model")  # preflight tests never read the checkpoint


def test_params_versions_and_command(tmp_path):
    s = step(tmp_path, MODEL, plan("int4_awq", backend="tensorrt", tp=2))
    p = s.params()
    assert (
        p["format"] == "int4_awq"
        and p["modelopt_config"] == "INT4_AWQ_CFG"
        and p["quant_algo"] == "W4A16_AWQ"
    )
    assert p["exports"] == [{"kind": "trtllm", "tp": 2, "pp": 1}]  # the BuildSpec's quantize section
    assert p["calibration"] == {
        "dataset": "synthetic",
        "samples": 8,
        "seq_len": 32,
        "batch_size": 4,
        "seed": 1234,
    }
    assert p["device"] == "cpu" and p["exclude_modules"] == ["*lm_head*", "*router*"]
    assert json.dumps(p, sort_keys=True) == json.dumps(s.params(), sort_keys=True)
    assert s.tool_versions()["nvidia-modelopt"] == "0.47.0"
    assert s.tool_versions()["transformers"] == "4.57.6"
    assert s.external_commands()[0][1:] == ["-m", "trtforge.quantize.worker", "<job.json>"]
    assert step(tmp_path, MODEL, plan("fp8")).params()["exports"][0]["kind"] == "hf"


def test_local_calibration_file_is_fingerprinted_by_content(tmp_path):
    data = tmp_path / "calib.txt"
    data.write_text("one\ntwo\n")
    s = step(tmp_path, MODEL, plan("fp8"), calibration={"dataset": "calib.txt", "samples": 8, "seq_len": 32})
    first = s.params()["calibration"]["dataset"]
    assert first.startswith("file:calib.txt:")
    data.write_text("one\nthree\n")
    assert s.params()["calibration"]["dataset"] != first


@pytest.mark.parametrize("fmt,kv", [("fp8", "fp8"), ("int4_awq", "bf16"), ("nvfp4", "bf16")])
def test_preflight_passes_for_a_cpu_format(tmp_path, fmt, kv):
    """Combinations the real worker quantizes and exports on CPU (tests/quantize/test_worker.py: fp8 + fp8 KV,
    int4_awq, nvfp4 without its accuracy check) pass preflight, and the job it prepares runs them on the
    CPU."""
    s = step(tmp_path, MODEL, plan(fmt, kv=kv))
    assert s.preflight() is None
    p = s.params()
    assert (p["device"], p["format"], p["modelopt_config"]) == (
        "cpu",
        fmt,
        formats.get_format(fmt).modelopt_config,
    )
    assert p["kv_cache"] == (None if kv == "bf16" else kv)


def test_nvfp4_awq_on_cpu_says_it_needs_a_gpu(tmp_path):
    with pytest.raises(ToolMissing) as e:
        step(tmp_path, MODEL, plan("nvfp4_awq")).preflight()
    assert e.value.exit_code == EXIT_MISSING
    assert e.value.message == (
        "quantize: nvfp4_awq needs a CUDA GPU for its awq_lite calibration search; this machine has none"
    )


def test_accuracy_threshold_that_cannot_be_measured_on_cpu(tmp_path):
    s = step(tmp_path, MODEL, plan("nvfp4"), accuracy={"samples": 4, "min_top1_agreement": 0.9})
    with pytest.raises(ToolMissing, match="nvfp4 accuracy cannot be measured on this machine"):
        s.preflight()
    step(tmp_path, MODEL, plan("nvfp4")).preflight()  # without a threshold: fine, reported as not measured


@pytest.mark.parametrize(
    "fmt,arch,backend,tp,expected",
    [
        (
            "int4_awq",
            "GptOssForCausalLM",
            "pytorch",
            1,
            "int4_awq export of GptOssForCausalLM to a unified Hugging Face",
        ),
        (
            "fp8",
            "Qwen3MoeForCausalLM",
            "tensorrt",
            1,
            "fp8 export of Qwen3MoeForCausalLM to a TensorRT-LLM checkpoint",
        ),
        (
            "mxfp4",
            "LlamaForCausalLM",
            "tensorrt",
            2,
            "mxfp4 export of LlamaForCausalLM to a TensorRT-LLM checkpoint at TP2",
        ),
        ("int8_sq", "MixtralForCausalLM", "tensorrt", 1, "int8_sq export of MixtralForCausalLM"),
    ],
)
def test_unsupported_combinations_are_infeasible_and_named(tmp_path, fmt, arch, backend, tp, expected):
    # The resolver refuses them (plan exits 3 before anything runs); the step does not re-check.
    s = step(tmp_path, MODEL, plan(fmt, arch=arch, backend=backend, tp=tp))
    problems = resolve(s.loaded.recipe, s.plan).errors
    assert any(p.startswith(expected) for p in problems), problems


def test_wrong_library_versions_fail_with_exit_4(tmp_path, monkeypatch):
    monkeypatch.delenv(versions.ALLOW_ENV, raising=False)
    real = versions.installed_versions
    monkeypatch.setattr(
        versions,
        "installed_versions",
        lambda names=tuple(versions.SUPPORTED): {**real(names), "transformers": "5.17.0"},
    )
    with pytest.raises(ToolMissing) as e:
        step(tmp_path, MODEL, plan("fp8")).preflight()
    assert e.value.exit_code == 4 and "transformers 5.17.0 is not supported" in e.value.message


def test_model_too_big_for_this_machine_is_refused_with_numbers(tmp_path):
    with pytest.raises(Infeasible) as e:
        step(tmp_path, MODEL, plan("fp8", params=400_000_000_000)).preflight()
    msg = e.value.message
    assert "needs ~" in msg and "GiB of host RAM" in msg and "available" in msg


def test_missing_calibration_file(tmp_path):
    s = step(tmp_path, MODEL, plan("fp8"), calibration={"dataset": "nope.jsonl"})
    with pytest.raises(InvalidInput, match="nope.jsonl does not exist"):
        s.preflight()


# ------------------------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from trtforge.testing.tiny_models import make_tiny_model

    return make_tiny_model("llama", tmp_path_factory.mktemp("m") / "tiny-llama")


def run_step(tmp_path, s: QuantizeStep, model: Path):
    events: list[dict] = []
    out = tmp_path / "out"
    out.mkdir()
    ctx = StepContext(
        loaded=s.loaded,
        plan=s.plan,
        out_dir=out,
        inputs={"download": model},
        cache_root=tmp_path / "cache",
        emit=events.append,
    )
    s.preflight()
    return s.run(ctx), out, events


@pytest.fixture(scope="module")
def fp8_run(tmp_path_factory, tiny_llama):
    """One real FP8 + FP8-KV run of the step (reference backend): (work dir, metadata, output, events)."""
    tmp = tmp_path_factory.mktemp("fp8-run")
    meta, out, events = run_step(tmp, step(tmp, tiny_llama, plan("fp8", kv="fp8")), tiny_llama)
    return tmp, meta, out, events


@pytest.mark.slow  # a real ModelOpt job in a worker process
@pytest.mark.xdist_group("quantize-step-fp8")  # one worker makes the run both tests read
def test_run_reference_backend_writes_hf_checkpoint_and_report(fp8_run):
    tmp_path, meta, out, events = fp8_run
    assert sorted(p.name for p in out.iterdir()) == ["hf", "quant_report.json"]
    assert (out / "hf" / "hf_quant_config.json").is_file() and (out / "hf" / "tokenizer.json").is_file()
    assert meta["quant_algo"] == "FP8" and meta["kv_cache_quant_algo"] == "FP8"
    assert meta["accuracy"]["measured"] and 0 < meta["accuracy"]["top1_agreement"] <= 1
    assert meta["calibration"]["synthetic"] is True
    assert meta["exports"]["hf"]["files"] and meta["report_file"] == "quant_report.json"
    json.dumps(meta)  # lock-file ready
    messages = [e["message"] for e in events]
    assert any(m.startswith("quantize: fp8 via ModelOpt FP8_DEFAULT_CFG") for m in messages)
    assert any(m.startswith("quantize: accuracy top-1 agreement") and "synthetic" in m for m in messages)
    assert not list((tmp_path / "cache" / "logs").glob("*.log"))  # worker log removed on success


@pytest.mark.slow  # reads the real ModelOpt run of the test above
@pytest.mark.xdist_group("quantize-step-fp8")
def test_accuracy_gate_judges_the_measurement_and_is_not_in_the_fingerprint(tmp_path, tiny_llama, fp8_run):
    _, meta, out, _ = fp8_run  # the work succeeded: it would be cached, whatever the bound
    fp8 = plan("fp8", kv="fp8")
    strict = step(tmp_path, tiny_llama, fp8, accuracy={"samples": 4, "min_top1_agreement": 0.9999})
    top1 = meta["accuracy"]["top1_agreement"]
    assert meta["accuracy"]["measured"] and top1 < 0.9999 and "gate_failures" not in meta["accuracy"]
    with pytest.raises(AccuracyGateFailed) as e:
        strict.check(meta, out)
    assert e.value.exit_code == 1
    assert e.value.message.startswith("quantize: fp8 accuracy gate failed: top-1 agreement")
    assert "< min_top1_agreement 0.9999" in e.value.message and "kept in the cache" in (e.value.hint or "")
    # a bound at the measurement passes the same result; no bound at all is the same fingerprint
    (tmp_path / "b").mkdir()
    loose = step(tmp_path / "b", tiny_llama, fp8, accuracy={"samples": 4, "min_top1_agreement": top1})
    loose.check(meta, out)
    (tmp_path / "c").mkdir()
    unbound = step(tmp_path / "c", tiny_llama, fp8, accuracy={"samples": 4})
    assert strict.params() == loose.params() == unbound.params()
    unbound.check({"accuracy": {"measured": False, "reason": "x"}}, out)  # nothing bounded: nothing judged


def test_a_bound_on_an_unmeasured_result_fails(tmp_path):
    s = step(tmp_path, MODEL, plan("fp8"), accuracy={"samples": 4, "max_mean_kl": 0.1})
    with pytest.raises(AccuracyGateFailed, match="bounds fp8 accuracy, but it was not measured: disabled"):
        s.check({"accuracy": {"measured": False, "reason": "disabled in the recipe"}}, tmp_path)


@pytest.mark.slow  # a real ModelOpt job in a worker process
def test_the_planner_plans_the_tiny_recipe_for_this_step(tmp_path, tiny_llama):
    """Integration with the real planner: its plan passes preflight and names the same ModelOpt config."""
    from trtforge.plan import make_plan

    loaded = load_recipe(recipe(tmp_path, tiny_llama, "fp8"))
    p = make_plan(loaded.recipe, loaded.recipe.target)
    assert p.quantization.source == "modelopt"
    assert p.quantization.modelopt_config == formats.get_format("fp8").modelopt_config
    QuantizeStep("quantize", loaded, p).preflight()
