"""SIGKILL at random points of every step, then a rebuild: same fingerprints, same bytes, a clean cache.

Two kinds of kill points:
- file-system points (tests/reliability/faultkit.py): the build process dies just before its K-th file-system
  mutation, for K drawn (seeded) from every mutation a clean build makes: the download's links, the Triton
  repository emission, the LLM-API config export, cache commits, the output swap;
- event points: the build is killed when it reports a chosen progress event, e.g. while the ModelOpt worker is
  calibrating or exporting (the worker is a separate process and must die with the build).
After each kill, before the rebuild: every cache entry verifies (a killed build leaves no partial entry) and
each output directory is absent or complete. After the rebuild: exit 0, lock fingerprints equal a never-killed
build's, outputs byte-identical, `cache verify` clean, no staging or `.tmp`/`.old` leftovers.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import start_cli
from tests.pipeline.conftest import leftovers
from tests.reliability.conftest import (
    base_env,
    figure,
    json_lines,
    lock_fingerprints,
    processes_with,
    quant_recipe,
    stable_lock,
    tree,
    trtforge,
    trtforge_here,
    write_yaml,
)
from trtforge.pipeline.cache import CacheStore
from trtforge.triton.validate import validate_repository

SEED = int(os.environ.get("TRTFORGE_FAULT_SEED", "20240917"))
# A matrix recipe that exercises download, triton_repo (reference layout, CPU target), llmapi_config (the
# PyTorch-backend export) and triton_repo again (llmapi layout), and two publishes.
MATRIX = {
    "name": "k",
    "model": {"path": "model"},
    "targets": [{"gpu": "cpu"}, {"gpu": "H100-80GB"}],
    "quantization": {"format": "none"},
    "engine": {"max_batch_size": 4, "max_seq_len": 256},
}
LABELS = ("cpu", "h100-80gb")
# Operations at the boundaries where atomicity is decided: always among the kill points.
CRITICAL = ("commit", "publish", "replace_dir", "exchange", "atomic_write_text", "link_tree")


def _count(workdir: Path, env: dict) -> dict:
    count_file = workdir / "count.json"
    r = trtforge(workdir, "build", "k.yaml", "--json", env=env, fault=["--count", str(count_file)])
    assert r.returncode == 0, r.stderr
    return json.loads(count_file.read_text())


def _pick(trace: list[str], n: int, rng: random.Random) -> list[int]:
    """Kill points: one operation of each critical call site and of each module that writes, then random
    others."""
    seen, chosen = set(), []
    for line in trace:
        k, _op, where = line.split(" ", 2)
        module, function = where.split(":")[0], where.split(" ")[-1]
        for key in ([function + module] if any(c in where for c in CRITICAL) else []) + [module]:
            if key not in seen:
                seen.add(key)
                chosen.append(int(k))
    if len(chosen) > n:
        return sorted(rng.sample(chosen, n))
    rest = [i for i in range(1, len(trace) + 1) if i not in chosen]
    chosen += rng.sample(rest, max(0, min(len(rest), n - len(chosen))))
    return sorted(set(chosen))


def _files(out: Path) -> dict[str, str]:
    return {k: v for k, v in tree(out).items() if k != "trtforge.lock.json"}


def _state_is_consistent(
    cache_root: Path,
    outs: dict[str, Path],
    expected: dict[str, dict[str, str]],
    previous: dict[str, dict[str, str]] | None = None,
) -> None:
    """Right after a kill: no cache entry is partial or corrupt; each output is absent, the old one, or the
    new."""
    for report in CacheStore(cache_root).verify():
        assert report["ok"], report
    for label, out in outs.items():
        if not out.exists():
            continue
        now = _files(out)
        allowed = [expected[label]] + ([previous[label]] if previous else [])
        assert any(now == want for want in allowed), (
            f"{out} is a mix: {sorted(set(now) ^ set(allowed[0]))[:5]}"
        )


def _rebuilt_equals_undisturbed(
    workdir: Path, env: dict, outs: dict[str, Path], ref_outs: dict[str, Path]
) -> None:
    r = trtforge_here(workdir, "build", "k.yaml", "--json", env=env)
    assert r.returncode == 0, r.stderr
    for label in LABELS:
        assert lock_fingerprints(outs[label]) == lock_fingerprints(ref_outs[label])
        assert stable_lock(outs[label]) == stable_lock(ref_outs[label])
        assert _files(outs[label]) == _files(ref_outs[label])
        assert validate_repository(outs[label] / "model_repository") == []
    assert leftovers(workdir / "cache", workdir / "out") == []
    verify = trtforge_here(workdir, "cache", "verify", "--json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["corrupt"] == 0


@pytest.mark.slow  # one build process SIGKILLed per file-system point, each rebuilt
def test_sigkill_at_file_system_points_of_every_step(tmp_path: Path, model_dir: Path) -> None:
    rng = random.Random(SEED)
    write_yaml(tmp_path / "k.yaml", MATRIX)
    ref_env = base_env(tmp_path, TRTFORGE_CACHE=str(tmp_path / "ref-cache"))
    counted = _count(tmp_path, ref_env)
    shutil.move(tmp_path / "out", tmp_path / "ref-out")
    ref_outs = {label: tmp_path / "ref-out" / "k" / label for label in LABELS}
    expected = {label: _files(p) for label, p in ref_outs.items()}
    env = base_env(tmp_path)
    outs = {label: tmp_path / "out" / "k" / label for label in LABELS}
    points = _pick(counted["trace"], 18, rng)
    steps_hit = set()
    for k in points:
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        killed = trtforge(tmp_path, "build", "k.yaml", "--json", env=env, fault=["--kill-at", str(k)])
        assert killed.returncode == -signal.SIGKILL, (k, killed.stderr)
        started = [e["step"] for e in json_lines(killed.stdout) if e["event"] == "started"]
        steps_hit.add(started[-1] if started else "before-steps")
        _state_is_consistent(tmp_path / "cache", outs, expected)
        _rebuilt_equals_undisturbed(tmp_path, env, outs, ref_outs)
        figure("sigkill at a file-system point, then rebuild")
    assert {"download", "triton_repo", "llmapi_config"} <= steps_hit, steps_hit


@pytest.mark.slow  # build processes SIGKILLed while publishing, each rebuilt
def test_sigkill_while_replacing_a_published_output(tmp_path: Path, model_dir: Path) -> None:
    """A recipe change rebuilds into an existing output: a kill leaves the old output or the new, whole."""
    rng = random.Random(SEED + 1)
    changed = {**MATRIX, "engine": {**MATRIX["engine"], "max_batch_size": 8}}
    write_yaml(tmp_path / "k.yaml", MATRIX)
    assert trtforge_here(tmp_path, "build", "k.yaml").returncode == 0
    outs = {label: tmp_path / "out" / "k" / label for label in LABELS}
    previous = {label: _files(p) for label, p in outs.items()}
    # the expected output of the changed recipe, built elsewhere
    ref = tmp_path / "ref"
    ref.mkdir()
    os.symlink(tmp_path / "model", ref / "model")
    write_yaml(ref / "k.yaml", changed)
    counted = _count(ref, base_env(ref))
    ref_outs = {label: ref / "out" / "k" / label for label in LABELS}
    expected = {label: _files(p) for label, p in ref_outs.items()}
    assert expected != previous
    saved = tmp_path / "saved"
    shutil.copytree(tmp_path / "cache", saved / "cache", symlinks=True)
    shutil.copytree(tmp_path / "out", saved / "out", symlinks=True)
    write_yaml(tmp_path / "k.yaml", changed)
    env = base_env(tmp_path)
    for k in _pick(counted["trace"], 8, rng):
        for name in ("cache", "out"):
            shutil.rmtree(tmp_path / name, ignore_errors=True)
            shutil.copytree(saved / name, tmp_path / name, symlinks=True)
        killed = trtforge(tmp_path, "build", "k.yaml", "--json", env=env, fault=["--kill-at", str(k)])
        if killed.returncode == 0:  # the rebuild does less than the counted build: K was past its end
            continue
        assert killed.returncode == -signal.SIGKILL, (k, killed.stderr)
        _state_is_consistent(tmp_path / "cache", outs, expected, previous)
        _rebuilt_equals_undisturbed(tmp_path, env, outs, ref_outs)
        figure("sigkill while replacing a published output, then rebuild")


QUANT = quant_recipe("q")


def _build_killed_at_event(workdir: Path, env: dict, want, *args: str) -> tuple[dict, list[dict]]:  # noqa: ANN001
    """Start a build, SIGKILL it when `want(event)` first holds; returns that event and all events seen."""
    proc = start_cli("build", "q.yaml", "--json", *args, cwd=workdir, env=env)
    seen: list[dict] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            ev = json.loads(line)
            seen.append(ev)
            if want(ev):
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(60) == -signal.SIGKILL, seen[-3:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return seen[-1], seen


@pytest.fixture(scope="module")
def quant_ref(tmp_path_factory, tiny_model: Path) -> Path:  # noqa: F811
    """A directory with model/, q.yaml and a never-killed build of it (ref-out/, ref-cache/)."""
    ref = tmp_path_factory.mktemp("quant-ref")
    shutil.copytree(tiny_model, ref / "model")
    write_yaml(ref / "q.yaml", QUANT)
    first = trtforge_here(
        ref,
        "build",
        "q.yaml",
        "--json",
        "--output",
        "ref-out",
        env=base_env(ref, TRTFORGE_CACHE=str(ref / "ref-cache")),
    )
    assert first.returncode == 0, first.stderr
    (ref / "ref-events.jsonl").write_text(first.stdout)
    return ref


@pytest.mark.slow  # real ModelOpt quantize runs killed and rebuilt
def test_sigkill_during_modelopt_quantize_and_repository_emission(tmp_path: Path, quant_ref: Path) -> None:
    """Kill while the ModelOpt worker runs (it must die too), and right after quantize is committed. The
    second build and the rebuild reproduce the reference build's lock file (`build --lock`): ModelOpt runs
    again on a cache without its entry and every fingerprint and digest matches the lock."""
    os.symlink(quant_ref / "model", tmp_path / "model")
    write_yaml(tmp_path / "q.yaml", QUANT)
    ref = json.loads((quant_ref / "ref-out" / "trtforge.lock.json").read_text())
    quant_events = [
        e["message"]
        for e in json_lines((quant_ref / "ref-events.jsonl").read_text())
        if e.get("step") == "quantize" and e["event"] == "progress"
    ]
    rng = random.Random(SEED + 2)
    mid = rng.choice([m for m in quant_events if m and not m.startswith(("quantize:", "hashing"))])
    env = base_env(tmp_path)
    # 1. mid-quantize (a random progress message of the worker)
    at, _ = _build_killed_at_event(
        tmp_path, env, lambda e: e.get("step") == "quantize" and e.get("message") == mid
    )
    time.sleep(1.0)  # PR_SET_PDEATHSIG: the kernel kills the worker once its parent is gone
    assert processes_with(str(tmp_path)) == [], "the ModelOpt worker outlived the build"
    assert [e.meta["kind"] for e in CacheStore(tmp_path / "cache").entries()] == ["download"]
    assert not (tmp_path / "out").exists()
    figure("sigkill during a step (event point), then rebuild")
    # 2. quantize done, triton_repo starting: the quantize entry must be complete and reused
    locked = ("--lock", str(quant_ref / "ref-out" / "trtforge.lock.json"))
    _build_killed_at_event(
        tmp_path, env, lambda e: e.get("step") == "triton_repo" and e["event"] == "started", *locked
    )
    assert sorted(r["kind"] for r in CacheStore(tmp_path / "cache").verify() if r["ok"]) == [
        "download",
        "quantize",
    ]
    assert not (tmp_path / "out").exists()
    figure("sigkill during a step (event point), then rebuild")
    rebuilt = trtforge_here(tmp_path, "build", "q.yaml", "--json", *locked, env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    per_step = {
        e["step"]: e["event"] for e in json_lines(rebuilt.stdout) if e["event"] in ("skipped", "finished")
    }
    assert per_step == {"download": "skipped", "quantize": "skipped", "triton_repo": "finished"}
    lock = json.loads((tmp_path / "out" / "q" / "trtforge.lock.json").read_text())
    mine = {s["name"]: s for s in lock["steps"]}
    theirs = {s["name"]: s for s in ref["steps"]}
    # every step reproduces the never-killed build exactly (quantize writes byte-identical output)
    assert {n: s["fingerprint"] for n, s in mine.items()} == {n: s["fingerprint"] for n, s in theirs.items()}
    assert {n: s["digest"] for n, s in mine.items()} == {n: s["digest"] for n, s in theirs.items()}
    assert validate_repository(tmp_path / "out" / "q" / "model_repository") == []
    assert leftovers(tmp_path / "cache", tmp_path / "out") == []
    verify = trtforge_here(tmp_path, "cache", "verify", "--json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["corrupt"] == 0
    assert at.get("step") == "quantize"
