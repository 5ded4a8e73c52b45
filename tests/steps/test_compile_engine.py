"""Compile step, engine backend and CPU target.

Golden files (tests/golden/compile/) hold the exact trtllm-build command for every shipped recipe that plans
to the engine backend, and the explicit no-engine record for CPU targets; regenerate with
TRTFORGE_UPDATE_GOLDEN=1. Process tests put a small `trtllm-build` script on PATH that records its argv and
exits with a chosen code: they check how trtforge invokes it and handles its exit codes. That script never
writes engine files, and trtforge must then fail the step: nothing here ever reports an engine that was not
built.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import stat
from functools import cache
from pathlib import Path

import pytest

from trtforge.errors import Infeasible, StepFailed, ToolMissing
from trtforge.pipeline.step import StepContext
from trtforge.plan import make_plans
from trtforge.plan.resolve import resolve
from trtforge.recipe.loader import LoadedRecipe, load_recipe
from trtforge.steps import compile_engine as ce
from trtforge.steps.executors import ContainerExecutor
from trtforge.steps.llmapi_config import LlmApiConfigStep
from trtforge.toolchain import rules, spec
from trtforge.toolchain.versions import release_image_for

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden" / "compile"
UPDATE = os.environ.get("TRTFORGE_UPDATE_GOLDEN") == "1"
ENGINE_RECIPE = ROOT / "recipes" / "llama3.1-8b-h100-fp8.yaml"
CPU_RECIPE = ROOT / "recipes" / "tiny-llama-cpu.yaml"


@cache
def planned(path: Path) -> tuple[LoadedRecipe, tuple]:
    loaded = load_recipe(path)
    return loaded, tuple(make_plans(loaded.recipe))


def all_targets() -> list[tuple[Path, int]]:
    return [(p, i) for p in RECIPES for i in range(len(planned(p)[1]))]


def golden_name(plan) -> str:
    return f"{plan.recipe}.{plan.target}"


def check_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}: run with TRTFORGE_UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text, (
        f"{path.name} changed: review, then TRTFORGE_UPDATE_GOLDEN=1"
    )


def engine_golden(loaded: LoadedRecipe, plan) -> dict:
    options = ce.engine_options_from(loaded.recipe, plan)
    timing = "<cache>/timing/" + ce.timing_cache_name(plan)
    argv = ce.build_argv(
        options,
        checkpoint_dir="<checkpoint>",
        output_dir="<out>/engine",
        timing_cache_in=timing,
        timing_cache_out="<out>/timing.cache",
        workers=plan.parallel.world_size,
    )
    container = ContainerExecutor(
        image=release_image_for(plan.toolchain.trtllm_version), client="docker", user="1000:1000"
    )
    ck = container.mount(Path("/cache/checkpoint"), "checkpoint", read_only=True)
    out = container.mount(Path("/build/out"), "out")
    tc = container.mount(Path("/cache/timing"), "timing", read_only=True)
    in_container = ce.build_argv(
        options,
        checkpoint_dir=ck,
        output_dir=f"{out}/engine",
        timing_cache_in=f"{tc}/{ce.timing_cache_name(plan)}",
        timing_cache_out=f"{out}/timing.cache",
        workers=plan.parallel.world_size,
    )
    return {
        "recipe": plan.recipe,
        "target": plan.target,
        "backend": "tensorrt",
        "trtllm_version": plan.toolchain.trtllm_version,
        "gpu": plan.gpu.name,
        "sm": plan.gpu.sm,
        "options": dataclasses.asdict(options),
        "command": argv,
        "shell": shlex.join(argv),
        "container_command": container.wrap(in_container),
    }


@pytest.mark.parametrize("path,index", all_targets(), ids=lambda x: x.stem if isinstance(x, Path) else str(x))
def test_golden_compile_output(path: Path, index: int) -> None:
    """Every shipped recipe target has a golden file for what its compile step produces."""
    loaded, plans = planned(path)
    plan = plans[index]
    assert not plan.errors, plan.errors
    if plan.backend == "pytorch":
        assert (
            GOLDEN / f"{golden_name(plan)}.llm_api_options.yaml"
        ).exists() or UPDATE  # written by test_llmapi_config
        return
    if plan.backend == "reference":
        record = {
            "recipe": plan.recipe,
            "target": plan.target,
            "backend": "reference",
            "engine": None,
            "command": None,
            "external_commands": ce.CompileEngineStep("compile", loaded, plan).external_commands(),
        }
        check_golden(GOLDEN / f"{golden_name(plan)}.none.json", json.dumps(record, indent=2) + "\n")
        return
    golden = engine_golden(loaded, plan)
    check_golden(GOLDEN / f"{golden_name(plan)}.trtllm-build.json", json.dumps(golden, indent=2) + "\n")


def engine_targets() -> list[tuple[Path, int]]:
    return [(p, i) for p, i in all_targets() if planned(p)[1][i].backend == "tensorrt"]


def test_shipped_recipes_cover_every_backend() -> None:
    assert {planned(p)[1][i].backend for p, i in all_targets()} == {"tensorrt", "pytorch", "reference"}


@pytest.mark.parametrize(
    "path,index", engine_targets(), ids=lambda x: x.stem if isinstance(x, Path) else str(x)
)
def test_engine_commands_satisfy_the_extracted_spec(path: Path, index: int) -> None:
    """Contract: each generated trtllm-build argv parses against the spec of its version and obeys the
    rules."""
    loaded, plans = planned(path)
    plan = plans[index]
    golden = engine_golden(loaded, plan)
    assert spec.validate_build_command(golden["command"], plan.toolchain.trtllm_version) == []
    assert (
        spec.validate_build_command(
            golden["container_command"][golden["container_command"].index("trtllm-build") :],
            plan.toolchain.trtllm_version,
        )
        == []
    )
    options = ce.engine_options_from(loaded.recipe, plan)
    assert rules.check_engine_options(options) == []
    parsed = spec.parse_build_command(golden["command"], plan.toolchain.trtllm_version).values
    # The argv says what the options say (round trip through the spec's parser).
    assert parsed["max_batch_size"] == plan.limits.max_batch_size
    assert parsed["max_seq_len"] == plan.limits.max_seq_len
    assert parsed["max_num_tokens"] == plan.limits.max_num_tokens
    assert parsed["max_input_len"] == plan.limits.max_input_len
    assert parsed["kv_cache_type"] == "paged"
    assert parsed["use_paged_context_fmha"] == "enable"
    assert parsed["multiple_profiles"] == "enable"
    assert parsed["workers"] == plan.parallel.world_size
    assert parsed["input_timing_cache"].endswith(ce.timing_cache_name(plan))


def test_every_golden_file_belongs_to_a_shipped_recipe() -> None:
    expected = set()
    for path, index in all_targets():
        plan = planned(path)[1][index]
        suffix = {
            "tensorrt": "trtllm-build.json",
            "reference": "none.json",
            "pytorch": "llm_api_options.yaml",
        }[plan.backend]
        expected.add(f"{golden_name(plan)}.{suffix}")
        if plan.backend == "pytorch":
            expected.add(f"{golden_name(plan)}.llm_api.json")
    present = {p.name for p in GOLDEN.glob("*.*") if p.is_file()}
    assert present == expected, f"stale: {sorted(present - expected)}, missing: {sorted(expected - present)}"


def test_fp8_engine_plugin_settings() -> None:
    loaded, plans = planned(ENGINE_RECIPE)
    golden = engine_golden(loaded, plans[0])
    argv = golden["command"]
    # FP8 weights + FP8 KV cache + paged context FMHA on Hopper: FP8 context FMHA, no GEMM plugin (as
    # trtllm-bench builds)
    assert argv[argv.index("--use_fp8_context_fmha") + 1] == "enable"
    assert "--gemm_plugin" not in argv
    assert argv[argv.index("--gpt_attention_plugin") + 1] == "auto"


@pytest.mark.parametrize(
    "quant,plugin",
    [
        (None, None),
        ("FP8", None),
        ("NVFP4", "nvfp4"),
        ("W4A16_AWQ", "auto"),
        ("W4A8_AWQ", "auto"),
        ("W8A8_SQ_PER_CHANNEL", "auto"),
    ],
)
def test_gemm_plugin_per_quantization(quant: str | None, plugin: str | None) -> None:
    assert ce.gemm_plugin_for(quant) == plugin


def test_tp2_llama_gets_reduce_fusion_and_workers() -> None:
    loaded, plans = planned(ENGINE_RECIPE)
    plan = plans[0].model_copy(
        update={"parallel": plans[0].parallel.model_copy(update={"tp": 2, "world_size": 2})}
    )
    options = ce.engine_options_from(loaded.recipe, plan)
    assert options.reduce_fusion and options.tp == 2
    argv = ce.build_argv(
        options, checkpoint_dir="c", output_dir="o", timing_cache_in=None, timing_cache_out=None, workers=2
    )
    assert argv[argv.index("--workers") + 1] == "2" and "--reduce_fusion" in argv
    assert spec.validate_build_command(argv, "1.2.1") == []


def test_speculative_options() -> None:
    assert ce.lookahead_max_draft_len(4, 4, 4) == (4 - 2) + (4 - 1 + 4) * 3
    loaded, plans = planned(ENGINE_RECIPE)
    recipe = loaded.recipe.model_copy(
        update={
            "engine": loaded.recipe.engine.model_copy(
                update={
                    "speculative": loaded.recipe.engine.speculative.model_copy(
                        update={"mode": "medusa", "max_draft_len": 3}
                    )
                }
            )
        }
    )
    options = ce.engine_options_from(recipe, plans[0])
    argv = ce.build_argv(
        options, checkpoint_dir="c", output_dir="o", timing_cache_in=None, timing_cache_out=None, workers=1
    )
    assert (
        argv[argv.index("--speculative_decoding_mode") + 1] == "medusa"
        and argv[argv.index("--max_draft_len") + 1] == "3"
    )
    assert spec.validate_build_command(argv, "1.2.1") == []


# --------------------------------------------------------------------------------------------- running it


@pytest.fixture
def engine_plan():
    loaded, plans = planned(ENGINE_RECIPE)
    return loaded, plans[0]


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A TensorRT-LLM checkpoint directory layout (config.json + rank0.safetensors) as the quantize step
    writes it."""
    ck = tmp_path / "quantized" / "trtllm_checkpoint"
    ck.mkdir(parents=True)
    (ck / "config.json").write_text(
        json.dumps(
            {
                "architecture": "LlamaForCausalLM",
                "dtype": "bfloat16",
                "mapping": {"world_size": 1, "tp_size": 1, "pp_size": 1},
                "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"},
            }
        )
    )
    (ck / "rank0.safetensors").write_bytes(b"")
    return ck


def make_ctx(
    loaded: LoadedRecipe, plan, tmp_path: Path, checkpoint: Path | None, **options
) -> tuple[StepContext, list]:
    events: list = []
    out = tmp_path / "out"
    out.mkdir()
    inputs = {"quantize": checkpoint.parent} if checkpoint else {}
    ctx = StepContext(
        loaded=loaded,
        plan=plan,
        out_dir=out,
        inputs=inputs,
        cache_root=tmp_path / "cache",
        emit=events.append,
        options={"handoff_dir": str(tmp_path / "handoff"), **options},
    )
    return ctx, events


@pytest.fixture
def stub_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put a `trtllm-build` script on PATH that records its argv and exits with TRTFORGE_TEST_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    script = bin_dir / "trtllm-build"
    script.write_text(
        "#!/bin/sh\n"
        f'python3 -c \'import json,sys; json.dump(sys.argv[1:], open("{record}","w"))\' "$@"\n'
        '[ -n "$TRTFORGE_TEST_OUTPUT" ] && printf \'%s\\n\' "$TRTFORGE_TEST_OUTPUT"\n'
        '[ -n "$TRTFORGE_TEST_SIGNAL" ] && kill -"$TRTFORGE_TEST_SIGNAL" $$\n'
        'exit "${TRTFORGE_TEST_EXIT:-0}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_exit_zero_without_engine_files_fails_the_step(
    engine_plan, checkpoint: Path, tmp_path: Path, stub_tool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, plan = engine_plan
    step = ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",))
    ctx, events = make_ctx(loaded, plan, tmp_path, checkpoint, executor="local")
    monkeypatch.setenv("TRTFORGE_TEST_EXIT", "0")
    monkeypatch.setenv("TRTFORGE_TEST_OUTPUT", "[TRT-LLM] [I] Total time of building all engines: 00:00:00")
    with pytest.raises(StepFailed) as exc:
        step.run(ctx)
    assert "exited 0 but wrote no usable engine" in exc.value.one_line()
    assert "config.json" in exc.value.one_line() and "rank0.engine" in exc.value.one_line()
    assert not (ctx.out_dir / ce.RECORD).exists()  # nothing recorded as built
    # trtforge invoked it exactly as generated, with this run's real paths
    argv = json.loads(stub_tool.read_text())
    expected = ce.build_argv(
        step.options,
        checkpoint_dir=str(checkpoint),
        output_dir=str(ctx.out_dir / "engine"),
        timing_cache_in=None,
        timing_cache_out=str(ctx.out_dir / "timing.cache"),
        workers=1,
    )
    assert ["trtllm-build", *argv] == expected
    assert spec.validate_build_command(["trtllm-build", *argv], "1.2.1") == []
    logs = [e["message"] for e in events if e["event"] == "log"]
    assert logs[0].startswith("$ trtllm-build ") and "Total time of building all engines" in logs[-1]


def test_existing_timing_cache_is_reused(
    engine_plan, checkpoint: Path, tmp_path: Path, stub_tool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, plan = engine_plan
    shared = tmp_path / "cache" / "timing" / ce.timing_cache_name(plan)
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"tactics")
    ctx, _ = make_ctx(loaded, plan, tmp_path, checkpoint, executor="local")
    with pytest.raises(StepFailed):
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    argv = json.loads(stub_tool.read_text())
    assert argv[argv.index("--input_timing_cache") + 1] == str(shared)


@pytest.mark.parametrize(
    "code,output,error,needle",
    [
        (
            "2",
            "RuntimeError: Unsupported model architecture: Foo",
            StepFailed,
            "trtllm-build exited 2: RuntimeError: Unsupported",
        ),
        (
            "1",
            "RuntimeError: Found no NVIDIA driver on your system.",
            ToolMissing,
            "found no usable NVIDIA GPU",
        ),
        ("137", "", StepFailed, "exit 137"),
    ],
)
def test_nonzero_exit_codes(
    engine_plan,
    checkpoint: Path,
    tmp_path: Path,
    stub_tool: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    output: str,
    error: type,
    needle: str,
) -> None:
    loaded, plan = engine_plan
    monkeypatch.setenv("TRTFORGE_TEST_EXIT", code)
    monkeypatch.setenv("TRTFORGE_TEST_OUTPUT", output)
    ctx, _ = make_ctx(loaded, plan, tmp_path, checkpoint, executor="local")
    with pytest.raises(error) as exc:
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    assert needle in exc.value.one_line()
    assert "\n" not in exc.value.one_line()
    assert not (ctx.out_dir / ce.RECORD).exists()
    assert (tmp_path / "handoff" / "trtllm-build.sh").exists() is (error is ToolMissing)


def test_killed_by_signal(
    engine_plan, checkpoint: Path, tmp_path: Path, stub_tool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, plan = engine_plan
    monkeypatch.setenv("TRTFORGE_TEST_SIGNAL", "9")
    ctx, _ = make_ctx(loaded, plan, tmp_path, checkpoint, executor="local")
    with pytest.raises(StepFailed) as exc:
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    assert "killed by signal 9" in exc.value.one_line()


def test_tool_absent_writes_handoff_and_exits_4(
    engine_plan, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, plan = engine_plan
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    ctx, _ = make_ctx(loaded, plan, tmp_path, checkpoint, executor="local")
    with pytest.raises(ToolMissing) as exc:
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    assert exc.value.exit_code == 4
    line = exc.value.one_line()
    assert "trtllm-build is not installed here" in line and str(tmp_path / "handoff") in line
    script = (tmp_path / "handoff" / "trtllm-build.sh").read_text()
    inputs = json.loads((tmp_path / "handoff" / "compile-inputs.json").read_text())
    assert inputs["argv"][0] == "trtllm-build" and inputs["checkpoint_dir"] == str(checkpoint)
    assert inputs["release_image"] == "nvcr.io/nvidia/tensorrt-llm/release:1.2.1"
    assert inputs["expected_outputs"] == ["engine/config.json", "engine/rank0.engine"]
    assert shlex.join(inputs["argv"]) in script
    assert "docker run --rm --gpus all" in script and '"$PWD":/trtforge/out' in script
    assert spec.validate_build_command(inputs["argv"], "1.2.1") == []
    assert list(ctx.out_dir.iterdir()) == []  # no engine, no record


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client here")
def test_container_executor_without_engine_exits_4(engine_plan, checkpoint: Path, tmp_path: Path) -> None:
    from trtforge.steps.executors import detect_container_engine

    if detect_container_engine("docker").running:
        pytest.skip("a docker engine runs here; this test covers the client-without-engine case")
    loaded, plan = engine_plan
    ctx, _ = make_ctx(loaded, plan, tmp_path, checkpoint, executor="container", container_client="docker")
    with pytest.raises(ToolMissing) as exc:
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    assert exc.value.exit_code == 4
    assert "the docker client is installed but no engine runs" in exc.value.one_line()
    inputs = json.loads((tmp_path / "handoff" / "compile-inputs.json").read_text())
    assert inputs["as_run_here"][:2] == ["docker", "run"]
    assert (
        inputs["as_run_here"][inputs["as_run_here"].index("nvcr.io/nvidia/tensorrt-llm/release:1.2.1") + 1]
        == "trtllm-build"
    )


def test_checkpoint_problems(engine_plan, checkpoint: Path, tmp_path: Path) -> None:
    loaded, plan = engine_plan
    step = ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",))
    ctx, _ = make_ctx(loaded, plan, tmp_path, None, executor="local")
    with pytest.raises(StepFailed, match="no TensorRT-LLM checkpoint"):
        step.run(ctx)
    cfg = json.loads((checkpoint / "config.json").read_text())
    cfg["mapping"]["world_size"] = 2
    (checkpoint / "config.json").write_text(json.dumps(cfg))
    ctx2 = dataclasses.replace(ctx, inputs={"quantize": checkpoint.parent})
    with pytest.raises(StepFailed, match="sharded for world size 2"):
        step.run(ctx2)


def test_preflight_rejects_rule_violations(engine_plan) -> None:
    loaded, plan = engine_plan
    ampere = plan.model_copy(update={"gpu": plan.gpu.model_copy(update={"sm": 80, "name": "A100-SXM-80GB"})})
    with pytest.raises(Infeasible) as exc:
        ce.CompileEngineStep("compile", loaded, ampere).preflight()
    assert exc.value.exit_code == 3 and "SM 89+" in exc.value.one_line()


def test_params_and_versions_identify_the_build(engine_plan) -> None:
    loaded, plan = engine_plan
    step = ce.CompileEngineStep("compile", loaded, plan)
    params = step.params()
    assert params["backend"] == "tensorrt" and params["engine"]["argv"][0] == "trtllm-build"
    assert params["engine"] == resolve(loaded.recipe, plan).engine.canonical()  # the section, nothing else
    assert json.loads(json.dumps(params)) == params
    assert step.tool_versions() == {"tensorrt_llm": "1.2.1"}
    cmd = step.external_commands()[0]
    assert "trtllm-build" in cmd and "--checkpoint_dir" in cmd


def test_cpu_target_builds_no_engine(tmp_path: Path) -> None:
    loaded, plans = planned(CPU_RECIPE)
    plan = plans[0]
    assert plan.backend == "reference"
    step = ce.compile_step_for("compile", loaded, plan)
    assert isinstance(step, ce.CompileEngineStep)
    assert step.params() == {"backend": "reference", "engine": None} and step.tool_versions() == {}
    assert step.external_commands() == []
    ctx, events = make_ctx(loaded, plan, tmp_path, None)
    meta = step.run(ctx)
    assert (
        meta["backend"] == "reference"
        and meta["engine"] is None
        and "builds no TensorRT engine" in meta["reason"]
    )
    assert [p.name for p in ctx.out_dir.iterdir()] == [ce.RECORD]
    assert json.loads((ctx.out_dir / ce.RECORD).read_text()) == meta
    assert any("no engine built" in e["message"] for e in events)


def test_pytorch_plans_get_the_llm_api_step() -> None:
    loaded, plans = planned(ROOT / "recipes" / "gpt-oss-120b-h100.yaml")
    assert isinstance(ce.compile_step_for("compile", loaded, plans[0]), LlmApiConfigStep)
    with pytest.raises(ValueError):
        ce.CompileEngineStep("compile", loaded, plans[0])


def test_engine_dir_checks_and_summary(tmp_path: Path) -> None:
    assert ce.check_engine_dir(tmp_path, 2) == ["config.json", "rank0.engine", "rank1.engine"]
    summary = ce.summarize_engine_config(
        {
            "version": "1.2.1",
            "pretrained_config": {"architecture": "LlamaForCausalLM", "mapping": {"world_size": 1}},
            "build_config": {"max_batch_size": 8, "other": 1},
        }
    )
    assert summary["version"] == "1.2.1" and summary["build_config"] == {"max_batch_size": 8}


def test_local_version_probe(tmp_path: Path) -> None:
    assert ce.local_trtllm_version(None) is None
    sh = tmp_path / "trtllm-build"
    sh.write_text("#!/bin/sh\nexit 0\n")
    assert ce.local_trtllm_version(str(sh)) is None
    py = tmp_path / "py-entry"
    py.write_text(f"#!{shutil.which('python3')}\n")
    assert ce.local_trtllm_version(str(py)) is None  # tensorrt_llm is not installed here


def test_timing_cache_publish_is_atomic(engine_plan, tmp_path: Path) -> None:
    loaded, plan = engine_plan
    produced, shared = tmp_path / "out" / "timing.cache", tmp_path / "cache" / "timing" / "x.cache"
    produced.parent.mkdir()
    produced.write_bytes(b"new tactics")
    ce.CompileEngineStep("compile", loaded, plan)._publish_timing_cache(produced, shared)
    assert shared.read_bytes() == b"new tactics" and not produced.exists()
    assert list(shared.parent.iterdir()) == [shared]


def test_handoff_names_the_published_checkpoint_relative_to_the_output(
    engine_plan, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the runner's `published_as` (quantize -> checkpoint/), the script and its inputs use paths inside
    the
    output directory, never this machine's cache (tests/pipeline/test_handoff.py runs such a script)."""
    loaded, plan = engine_plan
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    ctx, _ = make_ctx(
        loaded, plan, tmp_path, checkpoint, executor="local", published_as={"quantize": "checkpoint"}
    )
    with pytest.raises(ToolMissing):
        ce.CompileEngineStep("compile", loaded, plan, needs=("quantize",)).run(ctx)
    inputs = json.loads((tmp_path / "handoff" / "compile-inputs.json").read_text())
    assert (
        inputs["checkpoint_dir"] == "checkpoint/trtllm_checkpoint" and inputs["checkpoint_published"] is True
    )
    argv = inputs["argv"]
    assert argv[argv.index("--checkpoint_dir") + 1] == "checkpoint/trtllm_checkpoint"
    assert argv[argv.index("--output_dir") + 1] == "engine"
    script = (tmp_path / "handoff" / "trtllm-build.sh").read_text()
    assert str(tmp_path) not in script and "  " + shlex.join(argv) in script.splitlines()
    assert '-v "$PWD"/checkpoint/trtllm_checkpoint:/trtforge/checkpoint:ro' in script
    assert spec.validate_build_command(argv, "1.2.1") == []
