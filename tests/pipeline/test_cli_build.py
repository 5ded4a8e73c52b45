"""`trtforge build` / `cache` / `plugins` as a user runs them: separate processes, SIGKILL, concurrent
builds."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import start_cli
from tests.pipeline.conftest import (
    PLUGIN_ENV,
    PYTHONPATH,
    events,
    fingerprints,
    leftovers,
    lock_of,
    write_recipe,
)


def test_build_then_noop_rebuild(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"bytes": 2048}})
    first = build_cli("build", "t.yaml")
    assert first.returncode == 0, first.stderr
    assert "[download] started" in first.stdout and "[sleepy] done" in first.stdout
    assert "output: out/t (published)" in first.stdout
    second = build_cli("build", "t.yaml")
    assert second.returncode == 0, second.stderr
    assert "[download] cached" in second.stdout and "[sleepy] cached" in second.stdout
    assert "started" not in second.stdout
    assert build_cli.runs() == ["sleepy " + build_cli.runs()[0].split()[1]]  # the work happened once
    assert lock_of(workdir / "out" / "t")["status"] == "complete"


def test_json_events(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"seconds": 0.3}})
    out = build_cli("build", "t.yaml", "--json")
    assert out.returncode == 0, out.stderr
    evs = events(out.stdout)  # every line is one JSON object
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "build_started" and kinds[-1] == "build_finished" and "published" in kinds
    assert evs[-1]["status"] == "complete" and evs[-1]["exit_code"] == 0
    steps = [(e["event"], e.get("step")) for e in evs if e["event"] in ("started", "finished", "skipped")]
    assert steps == [
        ("started", "download"),
        ("finished", "download"),
        ("started", "sleepy"),
        ("finished", "sleepy"),
    ]
    assert any(e["event"] == "progress" and e.get("step") == "sleepy" and e.get("total") for e in evs)
    assert all("ts" in e and "t" in e for e in evs)
    again = events(build_cli("build", "t.yaml", "--json").stdout)
    assert [(e["event"], e.get("reason")) for e in again if e.get("step")] == [("skipped", "cached")] * 2


def test_dry_run_shows_steps_cache_state_and_runs_nothing(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {}})
    dry = build_cli("build", "t.yaml", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "download" in dry.stdout and "will run" in dry.stdout and not (workdir / "out").exists()
    build_cli("build", "t.yaml")
    doc = json.loads(build_cli("build", "t.yaml", "--dry-run", "--json").stdout)
    steps = doc["targets"][0]["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [("download", "cached"), ("sleepy", "cached")]
    assert [s["fingerprint"] for s in steps] == list(fingerprints(workdir / "out" / "t").values())


def test_dry_run_prints_external_commands_of_a_compile(workdir: Path, build_cli) -> None:
    write_recipe(
        workdir,
        target={"gpu": "H100-80GB"},
        engine={"backend": "tensorrt"},
        toolchain={"trtllm_version": "1.0.0"},
        outputs={"triton_repo": False},
        quantization={"format": "fp8"},
    )
    doc = json.loads(build_cli("build", "t.yaml", "--dry-run", "--json").stdout)
    compile_row = {s["name"]: s for s in doc["targets"][0]["steps"]}["compile_engine"]
    assert any(cmd[0].endswith("trtllm-build") or "trtllm-build" in cmd for cmd in compile_row["commands"])


@pytest.mark.slow  # a real process SIGKILLed mid-step, then a rerun
def test_sigkill_mid_step_resumes_cleanly(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"seconds": 60, "bytes": 1 << 20}})
    env = {**os.environ, "TRTFORGE_CACHE": str(workdir / "cache"), "PYTHONPATH": PYTHONPATH, **PLUGIN_ENV}
    proc = start_cli("build", "t.yaml", "--json", cwd=workdir, env=env)
    try:
        for line in proc.stdout:  # wait until the slow step is running (and has written a partial file)
            ev = json.loads(line)
            if ev["event"] == "progress" and ev.get("step") == "sleepy":
                break
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    cache = workdir / "cache"
    assert not (workdir / "out").exists()  # nothing half-published
    assert [p.name for p in (cache / "tmp").iterdir()]  # the killed step's staging is there...
    assert len(list((cache / "steps").iterdir())) == 1  # ...but only the completed step has an entry
    rerun = build_cli("build", "t.yaml", "--json", env={"STEPKIT_TIME_SCALE": "0.01"})
    assert rerun.returncode == 0, rerun.stderr
    per_step = {e["step"]: e["event"] for e in events(rerun.stdout) if e["event"] in ("skipped", "finished")}
    assert per_step == {"download": "skipped", "sleepy": "finished"}  # resumed after the last completed step
    assert leftovers(cache, workdir / "out") == []
    verify = build_cli("cache", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["corrupt"] == 0
    clean = build_cli(
        "build",
        "t.yaml",
        "--output",
        "clean-out",
        env={"TRTFORGE_CACHE": str(workdir / "cache2"), "STEPKIT_TIME_SCALE": "0.01"},
    )
    assert clean.returncode == 0, clean.stderr
    assert fingerprints(workdir / "clean-out") == fingerprints(workdir / "out" / "t")
    assert filecmp.cmp(
        workdir / "clean-out/plugins/sleepy/data.bin",
        workdir / "out/t/plugins/sleepy/data.bin",
        shallow=False,
    )


def run_neutral(lock: dict) -> dict:
    """A lock document without the fields that describe one run rather than the artifact."""
    steps = [
        {k: v for k, v in step.items() if k not in ("status", "cached", "duration_s")}
        for step in lock["steps"]
    ]
    return {**lock, "steps": steps}


@pytest.mark.slow  # three real build processes racing for the same cache
def test_concurrent_builds_do_the_work_once(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"seconds": 1.5, "bytes": 1 << 16}})
    env = {
        **os.environ,
        "TRTFORGE_CACHE": str(workdir / "cache"),
        "PYTHONPATH": PYTHONPATH,
        "STEPKIT_RUNS": str(workdir / "runs.txt"),
        **PLUGIN_ENV,
    }
    # two builds publish to the same output directory, the third to its own: same cache for all three
    outputs = [[], [], ["--output", "out-3"]]
    procs = [start_cli("build", "t.yaml", "--json", *extra, cwd=workdir, env=env) for extra in outputs]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    assert [line.split()[0] for line in build_cli.runs()] == ["sleepy"]  # one process did the slow step
    started = [e["step"] for out, _err in outs for e in events(out) if e["event"] == "started"]
    assert sorted(started) == ["download", "sleepy"]  # each step started in exactly one process
    finished = [e for out, _err in outs for e in events(out) if e["event"] == "build_finished"]
    assert [e["status"] for e in finished] == ["complete"] * 3
    assert leftovers(workdir / "cache", workdir / "out") == []
    lock = lock_of(workdir / "out" / "t")
    assert lock["status"] == "complete" and len(lock["steps"]) == 2
    assert fingerprints(workdir / "out" / "t") == fingerprints(workdir / "out-3")
    same = filecmp.dircmp(workdir / "out" / "t", workdir / "out-3")
    assert not same.left_only and not same.right_only and set(same.diff_files) <= {"trtforge.lock.json"}
    # The lock files differ only in what each run did (which process built a step, which reused it, how long).
    assert run_neutral(lock_of(workdir / "out" / "t")) == run_neutral(lock_of(workdir / "out-3"))
    for sub in ("checkpoint", "plugins/sleepy", "plugins/sleepy/nested"):
        cmp = filecmp.dircmp(workdir / "out/t" / sub, workdir / "out-3" / sub)
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only, sub
    verify = build_cli("cache", "verify", "--json")
    assert json.loads(verify.stdout)["corrupt"] == 0


def test_missing_tool_exits_4_after_publishing_what_completed(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"needs_tool": {}})
    out = build_cli("build", "t.yaml")
    assert out.returncode == 4
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith("error: step 'needs_tool' could not run here: frobnicate was not found on PATH")
    assert err.endswith(
        "(the exact command is in out/t/build-instructions; what completed is published in out/t "
        "(see trtforge.lock.json))"
    )
    assert (workdir / "out/t/build-instructions/frobnicate.sh").is_file()
    assert lock_of(workdir / "out" / "t")["status"] == "blocked"


def test_step_failure_exits_1_naming_the_step(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"boom": {}})
    out = build_cli("build", "t.yaml")
    assert out.returncode == 1
    assert (
        out.stderr.strip().splitlines()[-1]
        == "error: step 'boom' failed: RuntimeError: kaboom in the test step"
    )
    assert "Traceback" not in out.stderr and not (workdir / "out").exists()


def test_infeasible_plan_exits_3_before_any_step(workdir: Path, build_cli) -> None:
    write_recipe(workdir, target={"gpu": "H100-80GB"}, quantization={"format": "nvfp4"})
    out = build_cli("build", "t.yaml", "--json")
    assert out.returncode == 3 and "plan is infeasible" in out.stderr and "nvfp4" in out.stderr
    assert out.stdout == "" and not list((workdir / "cache").iterdir())


def test_matrix_recipe_builds_each_target_sharing_the_cache(workdir: Path, build_cli) -> None:
    write_recipe(workdir, target=None, targets=[{"gpu": "cpu"}, {"gpu": "H100-80GB"}])
    out = build_cli("build", "t.yaml", "--json")
    assert out.returncode == 0, out.stderr
    evs = events(out.stdout)
    assert [(e["event"], e.get("step")) for e in evs if e["event"] in ("started", "skipped")] == [
        ("started", "download"),
        ("skipped", "download"),
        ("started", "llmapi_config"),
        ("started", "deploy"),
    ]
    assert lock_of(workdir / "out/t/cpu")["target"]["label"] == "cpu"
    assert (workdir / "out/t/h100-80gb/llmapi/llm_api_options.yaml").is_file()
    assert (workdir / "out/t/h100-80gb/deploy/slurm/launch.sbatch").is_file()  # GPU target: deploy files too
    one = build_cli("build", "t.yaml", "--target", "cpu", "--json")
    assert one.returncode == 0 and {
        e.get("target") for e in events(one.stdout) if e["event"] == "build_started"
    } == {"cpu"}


def test_lock_file_reproduces_fingerprints_on_a_fresh_cache(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"bytes": 333}})
    assert build_cli("build", "t.yaml").returncode == 0
    again = build_cli(
        "build",
        "t.yaml",
        "--lock",
        "out/t/trtforge.lock.json",
        "--output",
        "again",
        env={"TRTFORGE_CACHE": str(workdir / "other-cache")},
    )
    assert again.returncode == 0, again.stderr
    assert fingerprints(workdir / "again") == fingerprints(workdir / "out" / "t")
    write_recipe(workdir, steps={"sleepy": {"bytes": 334}})
    drift = build_cli("build", "t.yaml", "--lock", "out/t/trtforge.lock.json")
    assert drift.returncode == 2 and "params.bytes: 333 -> 334" in drift.stderr


def test_cache_ls_verify_gc(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"sleepy": {"bytes": 5000}})
    build_cli("build", "t.yaml")
    ls = json.loads(build_cli("cache", "ls", "--json").stdout)
    assert sorted(e["kind"] for e in ls["entries"]) == ["download", "sleepy"]
    assert all(e["referenced_by"] == [str(workdir / "out" / "t")] for e in ls["entries"])
    assert {e["kind"]: e["bytes"] for e in ls["entries"]}["sleepy"] > 5000
    plain = build_cli("cache", "ls")
    assert plain.returncode == 0 and "2 entries" in plain.stdout
    # corrupt the sleepy entry in place: verify finds it (exit 1), --fix removes it, a build recreates it
    entry = next(
        Path(ls["cache"]) / "steps" / e["fingerprint"] for e in ls["entries"] if e["kind"] == "sleepy"
    )
    data = entry / "out" / "data.bin"
    os.chmod(data, 0o644)
    with open(data, "r+b") as f:
        f.write(b"\0" * 10)
    bad = build_cli("cache", "verify")
    assert bad.returncode == 1 and "corrupt" in bad.stdout and "data.bin" in bad.stdout
    fixed = json.loads(build_cli("cache", "verify", "--fix", "--json").stdout)
    assert fixed["corrupt"] == 1 and fixed["removed"] == [entry.name] and not entry.exists()
    assert build_cli("build", "t.yaml").returncode == 0 and entry.exists()
    # gc: referenced entries stay; once the output is gone they are collected (after the grace period)
    gc = json.loads(build_cli("cache", "gc", "--json").stdout)
    assert gc["removed"] == []
    import shutil

    shutil.rmtree(workdir / "out")
    past = time.time() - 3600
    for e in (workdir / "cache" / "steps").iterdir():
        os.utime(e, (past, past))
    gc = json.loads(build_cli("cache", "gc", "--json").stdout)
    assert sorted(r["kind"] for r in gc["removed"]) == ["download", "sleepy"] and gc["freed_bytes"] > 5000
    assert json.loads(build_cli("cache", "ls", "--json").stdout)["entries"] == []


def test_plugins_lists_kinds_and_reports_a_broken_plugin(workdir: Path, build_cli) -> None:
    env = {
        "TRTFORGE_PLUGINS": "tests.pipeline.stepkit:register,tests.pipeline.broken_plugin:register,"
        "tests.pipeline.no_such_module:register"
    }
    out = build_cli("plugins", "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    by_name = {p["name"]: p for p in doc["plugins"]}
    assert by_name["tests.pipeline.stepkit:register"]["kinds"] == [
        "sleepy",
        "sleepy_twin",
        "boom",
        "needs_tool",
        "leaky",
    ]
    assert "broken on purpose" in by_name["tests.pipeline.broken_plugin:register"]["error"]
    assert "ModuleNotFoundError" in by_name["tests.pipeline.no_such_module:register"]["error"]
    kinds = {k["kind"]: k for k in doc["kinds"]}
    assert (
        kinds["download"]["origin"] == "builtin"
        and kinds["sleepy"]["origin"] == "tests.pipeline.stepkit:register"
    )
    text = build_cli("plugins", env=env)
    assert "BROKEN" in text.stdout and "tests.pipeline.broken_plugin:register" in text.stdout
    write_recipe(workdir, steps={"sleepy": {}})
    built = build_cli(
        "build", "t.yaml", env=env
    )  # a broken plugin does not break a build that does not use it
    assert (
        built.returncode == 0
        and "plugin 'tests.pipeline.broken_plugin:register' failed to load" in built.stderr
    )


def test_unknown_plugin_step_in_recipe_is_invalid_input(workdir: Path, build_cli) -> None:
    write_recipe(workdir, steps={"frobnicate": {"x": 1}})
    out = build_cli("build", "t.yaml")
    assert out.returncode == 2
    assert "t.yaml:" in out.stderr and "steps.frobnicate: unknown plugin step kind 'frobnicate'" in out.stderr
