"""The runner, in process: caching, concurrency, failure, blocked steps, --only/--force, secrets, the
graph."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.pipeline import stepkit
from tests.pipeline.conftest import leftovers, write_recipe
from trtforge.errors import InvalidInput, StepFailed, ToolMissing
from trtforge.pipeline import hashing
from trtforge.pipeline.cache import CacheStore
from trtforge.pipeline.runner import BuildRequest, run_build, topo_order
from trtforge.plan import make_plan
from trtforge.recipe.loader import load_recipe
from trtforge.steps import StepRegistry, builtin_registry
from trtforge.steps.graph import UnavailableStep, publish_layout, steps_for


@pytest.fixture
def registry() -> StepRegistry:
    reg = builtin_registry()
    reg.register_plugin("stepkit", stepkit.register)
    return reg


class Build:
    """One recipe in a work dir: build it (in process) as often as a test likes."""

    def __init__(self, workdir: Path, registry: StepRegistry, **recipe) -> None:
        self.workdir, self.registry = workdir, registry
        self.recipe_path = write_recipe(workdir, **recipe)
        self.cache = CacheStore(workdir / "cache")
        self.out = workdir / "out" / "t"

    def __call__(self, **kw):
        loaded = load_recipe(self.recipe_path)
        plan = make_plan(loaded.recipe, loaded.recipe.target)
        steps = steps_for(loaded, plan, self.registry)
        req = BuildRequest(
            loaded=loaded,
            plan=plan,
            steps=steps,
            layout=publish_layout(steps, loaded, self.registry),
            output_dir=self.out,
            cache=self.cache,
            **kw,
        )
        evs: list[dict] = []
        result = run_build(req, evs.append)
        return result, evs


def statuses(result) -> dict[str, str]:
    return {s.name: s.status for s in result.steps}


def test_second_build_is_a_noop(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"bytes": 1000}})
    r1, ev1 = b()
    assert r1.status == "complete" and statuses(r1) == {"download": "built", "sleepy": "built"}
    assert {e["event"] for e in ev1} >= {
        "build_started",
        "started",
        "finished",
        "published",
        "build_finished",
    }
    lock1 = json.loads((b.out / "trtforge.lock.json").read_text())
    inode = os.stat(b.out / "checkpoint" / "model.safetensors").st_ino
    r2, ev2 = b()
    assert statuses(r2) == {"download": "cached", "sleepy": "cached"} and r2.published == "lock-updated"
    assert not [e for e in ev2 if e["event"] == "started"]
    assert os.stat(b.out / "checkpoint" / "model.safetensors").st_ino == inode  # the output was not rebuilt
    lock2 = json.loads((b.out / "trtforge.lock.json").read_text())
    assert [s["fingerprint"] for s in lock1["steps"]] == [s["fingerprint"] for s in lock2["steps"]]
    assert [s["cached"] for s in lock2["steps"]] == [True, True]
    assert [s["duration_s"] for s in lock1["steps"]] == [s["duration_s"] for s in lock2["steps"]]
    r3, _ = b()
    assert r3.published == "unchanged"  # the lock file itself is stable once everything is cached


def test_output_layout_and_lock_contents(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"bytes": 64}})
    b()
    assert sorted(p.name for p in b.out.iterdir()) == ["checkpoint", "plugins", "trtforge.lock.json"]
    assert (b.out / "plugins" / "sleepy" / "nested" / "empty").is_dir()  # empty directories survive
    lock = json.loads((b.out / "trtforge.lock.json").read_text())
    assert lock["status"] == "complete" and lock["outputs"] == {
        "checkpoint": "download",
        "plugins/sleepy": "sleepy",
    }
    assert lock["model"]["source"] == "path" and lock["model"]["content_digest"].startswith("sha256:")
    assert lock["target"]["label"] == "cpu" and lock["plan"]["engine_built"] is False
    assert "torch" in lock["packages"] and "python" in lock["packages"]
    dl = lock["steps"][0]
    assert dl["kind"] == "download" and dl["outputs"]["model.safetensors"].startswith(hashing.ALGORITHM + ":")
    assert lock["hash_format"] == hashing.FORMAT
    assert dl["source"].startswith("path:") and dl["params"]["source"] == "path"
    sleepy = lock["steps"][1]
    assert sleepy["upstream"] == {"download": dl["digest"]} and sleepy["metadata"] == {
        "seconds": 0.0,
        "bytes": 64,
    }


def test_independent_steps_run_concurrently(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"seconds": 0.8}, "sleepy_twin": {"seconds": 0.8}})
    result, evs = b(jobs=2)
    assert result.status == "complete"
    order = [(e["event"], e.get("step")) for e in evs if e["event"] in ("started", "finished")]
    first_finish = next(i for i, (ev, _s) in enumerate(order) if ev == "finished" and _s != "download")
    started_before = {s for ev, s in order[:first_finish] if ev == "started"}
    assert {"sleepy", "sleepy_twin"} <= started_before  # both were running at once


def test_jobs_1_runs_one_at_a_time(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"seconds": 0.2}, "sleepy_twin": {"seconds": 0.2}})
    _result, evs = b(jobs=1)
    seq = [(e["event"], e["step"]) for e in evs if e["event"] in ("started", "finished")]
    assert seq == [
        ("started", "download"),
        ("finished", "download"),
        ("started", "sleepy"),
        ("finished", "sleepy"),
        ("started", "sleepy_twin"),
        ("finished", "sleepy_twin"),
    ]


def test_failure_publishes_nothing_and_keeps_completed_steps(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"boom": {}})
    result, evs = b()
    assert result.status == "failed" and isinstance(result.error, StepFailed)
    assert "step 'boom' failed: RuntimeError: kaboom" in result.error.message
    assert not b.out.exists()
    assert [e for e in evs if e["event"] == "failed"][0]["step"] == "boom"
    assert leftovers(b.cache.root, b.out.parent) == []
    again, _ = b()
    assert statuses(again)["download"] == "cached"  # the next build resumes after the completed step


def test_failure_keeps_previous_output(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}})
    b()
    before = (b.out / "trtforge.lock.json").read_text()
    b.recipe_path = write_recipe(workdir, steps={"sleepy": {}, "boom": {}})
    result, _ = b()
    assert result.status == "failed" and (b.out / "trtforge.lock.json").read_text() == before


def test_blocked_step_publishes_what_completed_with_instructions(
    workdir: Path, registry: StepRegistry
) -> None:
    b = Build(workdir, registry, steps={"needs_tool": {}, "sleepy": {}})
    result, evs = b()
    assert (
        result.status == "blocked" and isinstance(result.error, ToolMissing) and result.error.exit_code == 4
    )
    assert statuses(result) == {"download": "built", "needs_tool": "blocked", "sleepy": "built"}
    assert (b.out / "build-instructions" / "frobnicate.sh").read_text().startswith("#!/bin/sh")
    assert (b.out / "checkpoint" / "config.json").is_file()
    lock = json.loads((b.out / "trtforge.lock.json").read_text())
    assert lock["status"] == "blocked" and lock["blocked"]["step"] == "needs_tool"
    assert str(b.out / "build-instructions") in lock["blocked"]["message"]  # not the staging path
    assert [e for e in evs if e["event"] == "blocked"][0]["step"] == "needs_tool"
    assert leftovers(b.cache.root) == []


def test_unavailable_kind_is_explained_in_dry_run_and_blocks_a_build(workdir: Path) -> None:
    reg = StepRegistry()
    reg.add("trtforge.steps.download:DownloadStep", kind="download")
    reg.add("trtforge.steps.not_written_yet:TritonRepoStep", kind="triton_repo")
    b = Build(workdir, reg, outputs={"triton_repo": True})
    dry, _ = b(dry_run=True)
    row = {s.name: s for s in dry.steps}["triton_repo"]
    assert row.status == "blocked" and "module trtforge.steps.not_written_yet is not installed" in row.message
    assert not b.out.exists()
    result, _ = b()
    assert result.status == "blocked" and statuses(result) == {"download": "built", "triton_repo": "blocked"}


def test_dry_run_reports_cached_fingerprints_and_runs_nothing(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}})
    dry, _ = b(dry_run=True)
    assert [(s.name, s.status) for s in dry.steps] == [("download", "will-run"), ("sleepy", "will-run")]
    assert (
        dry.steps[0].fingerprint and dry.steps[1].fingerprint is None
    )  # sleepy's depends on download's output
    assert not b.out.exists() and b.cache.entries() == []
    built, _ = b()
    dry2, _ = b(dry_run=True)
    assert [(s.status, s.fingerprint) for s in dry2.steps] == [("cached", s.fingerprint) for s in built.steps]


def test_only_runs_a_step_and_its_inputs_without_publishing(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}, "sleepy_twin": {}})
    result, _ = b(only="sleepy")
    assert result.status == "partial" and statuses(result) == {"download": "built", "sleepy": "built"}
    assert not b.out.exists()
    with pytest.raises(InvalidInput, match="no such step"):
        b(only="nope")


def test_force_reruns_but_reproduces_fingerprints(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}})
    first, _ = b()
    forced, _ = b(force=True)
    assert statuses(forced) == {"download": "built", "sleepy": "built"}
    assert [s.fingerprint for s in first.steps] == [s.fingerprint for s in forced.steps]
    only, _ = b(force=True, only="sleepy")
    assert statuses(only) == {"download": "cached", "sleepy": "built"}


def test_content_not_mtime_decides_what_reruns(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}})
    first, _ = b()
    cfg = workdir / "model" / "generation_config.json"
    os.utime(cfg, (time.time() + 3, time.time() + 3))  # touched, same bytes
    touched, _ = b()
    assert statuses(touched) == {"download": "cached", "sleepy": "cached"}
    cfg.write_text(cfg.read_text().replace("}", ', "note": 1}', 1))
    changed, _ = b()
    assert statuses(changed) == {"download": "built", "sleepy": "built"}
    assert changed.steps[0].fingerprint != first.steps[0].fingerprint


def test_unchanged_upstream_output_keeps_downstream_cached(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {}})
    b()
    # Different download parameters (explicit patterns) selecting the very same files: early cut-off.
    files = sorted(p.name for p in (workdir / "model").iterdir())
    b.recipe_path = write_recipe(
        workdir, steps={"sleepy": {}}, model={"path": "model", "allow_patterns": files}
    )
    result, _ = b()
    assert statuses(result) == {"download": "built", "sleepy": "cached"}


def test_damaged_cache_entry_is_rebuilt(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"bytes": 100}})
    first, _ = b()
    entry = first.steps[1].entry
    data = entry.out / "data.bin"
    os.chmod(data, 0o644)
    data.write_bytes(b"x" * 100)
    again, evs = b()
    assert statuses(again)["sleepy"] == "built"
    assert any("damaged" in (e.get("message") or "") for e in evs)
    assert b.cache.verify() and all(r["ok"] for r in b.cache.verify())


def test_secret_in_params_is_refused(workdir: Path, registry: StepRegistry, monkeypatch) -> None:
    canary = "hf_CANARYcanaryCANARY1234567890"
    monkeypatch.setenv("HF_TOKEN", canary)
    b = Build(workdir, registry, steps={"leaky": {}})
    result, evs = b()
    assert result.status == "failed" and "contain a secret" in result.error.message
    for p in b.cache.root.rglob("*"):
        if p.is_file() and p.suffix != ".sqlite":
            assert canary.encode() not in p.read_bytes(), p
    assert canary not in json.dumps(evs)


def test_stale_staging_from_a_killed_build_is_swept(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry)
    b.cache.ensure()
    stale = b.cache.tmp / f"{'9' * 64}.12345.0"
    (stale / "out").mkdir(parents=True)
    b()
    assert not stale.exists() and leftovers(b.cache.root, b.out.parent) == []


def test_output_dir_that_trtforge_did_not_make_is_refused(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry)
    b.out.mkdir(parents=True)
    (b.out / "precious.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="not made by trtforge"):
        b()
    assert (b.out / "precious.txt").read_text() == "mine"


def test_lock_reproduction_checks_fingerprints(workdir: Path, registry: StepRegistry) -> None:
    b = Build(workdir, registry, steps={"sleepy": {"bytes": 10}})
    b()
    lock = json.loads((b.out / "trtforge.lock.json").read_text())
    b.cache = CacheStore(workdir / "fresh-cache")
    again, _ = b(locked=lock)
    assert again.status == "complete" and [s.fingerprint for s in again.steps] == [
        s["fingerprint"] for s in lock["steps"]
    ]
    b.recipe_path = write_recipe(workdir, steps={"sleepy": {"bytes": 11}})
    diff, _ = b(locked=lock)
    assert diff.status == "failed" and isinstance(diff.error, InvalidInput)
    assert "step 'sleepy' would not reproduce the lock file: params.bytes: 10 -> 11" in diff.error.message


def test_graph_validation() -> None:
    class S:
        kind = "k"

        def __init__(self, name, needs=()):
            self.name, self.needs = name, needs

    assert [s.name for s in topo_order([S("b", ("a",)), S("a")])] == ["a", "b"]
    with pytest.raises(InvalidInput, match="cycle"):
        topo_order([S("a", ("b",)), S("b", ("a",))])
    with pytest.raises(InvalidInput, match="needs 'zz'"):
        topo_order([S("a", ("zz",))])
    with pytest.raises(InvalidInput, match="two steps"):
        topo_order([S("a"), S("a")])


@pytest.mark.parametrize(
    "backend,source,triton,expected",
    [
        ("reference", "none", False, [("download", ())]),
        (
            "reference",
            "modelopt",
            True,
            [("download", ()), ("quantize", ("download",)), ("triton_repo", ("quantize",))],
        ),
        (
            "pytorch",
            "none",
            True,
            [
                ("download", ()),
                ("llmapi_config", ("download",)),
                ("triton_repo", ("download", "llmapi_config")),
            ],
        ),
        (
            "tensorrt",
            "modelopt",
            True,
            [
                ("download", ()),
                ("quantize", ("download",)),
                ("compile_engine", ("quantize",)),
                ("triton_repo", ("quantize", "compile_engine")),
            ],
        ),
    ],
)
def test_steps_for_follows_the_plan(
    workdir: Path, registry: StepRegistry, backend, source, triton, expected
) -> None:
    loaded = load_recipe(write_recipe(workdir, outputs={"triton_repo": triton}))
    plan = make_plan(loaded.recipe, loaded.recipe.target)
    quant = {
        "source": source,
        "format": "fp8" if source == "modelopt" else "none",
    }  # as the planner pairs them
    plan = plan.model_copy(
        update={"backend": backend, "quantization": plan.quantization.model_copy(update=quant)}
    )
    steps = steps_for(loaded, plan, registry)
    assert [(s.name, s.needs) for s in steps] == expected
    assert not [s for s in steps if isinstance(s, UnavailableStep)]
    layout = publish_layout(steps, loaded, registry)
    assert layout["checkpoint"] == ("quantize" if source == "modelopt" else "download", "")
    if backend == "tensorrt":
        assert layout["engine"] == ("compile_engine", "engine")
    if triton:
        assert layout["model_repository"] == ("triton_repo", "model_repository")


def test_plugin_step_attaches_after_its_anchor_and_unknown_kinds_are_errors(workdir: Path, registry) -> None:
    loaded = load_recipe(write_recipe(workdir, steps={"sleepy": {}}))
    plan = make_plan(loaded.recipe, loaded.recipe.target)
    plan = plan.model_copy(
        update={"quantization": plan.quantization.model_copy(update={"source": "modelopt", "format": "fp8"})}
    )
    assert [(s.name, s.needs) for s in steps_for(loaded, plan, registry)][-1] == ("sleepy", ("quantize",))
    bad = load_recipe(write_recipe(workdir, steps={"nonesuch": {}}))
    with pytest.raises(InvalidInput, match=r"t.yaml:\d+:\d+: steps.nonesuch: unknown plugin step kind"):
        steps_for(bad, plan, registry)


def test_only_a_step_that_could_not_run_is_an_error(workdir: Path, registry: StepRegistry) -> None:
    """`build --only STEP` used to end 'partial' with no error (exit 0) when STEP was blocked (issue 12)."""
    b = Build(workdir, registry, steps={"needs_tool": {}})
    result, _ = b(only="needs_tool", options={"handoff_dir": str(workdir / "handoff")})
    assert result.status == "blocked" and result.error is not None and result.error.exit_code == 4
    assert "frobnicate was not found" in result.error.message and not b.out.exists()
