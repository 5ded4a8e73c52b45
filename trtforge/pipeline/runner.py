"""Run a build: a DAG of steps, each fingerprinted, looked up in the cache, run into staging, committed.

Guarantees:
- incremental: a step whose fingerprint has a (stat-checked) cache entry is skipped;
- safe to kill: steps write into staging; only complete entries are renamed into the cache; the output
  directory is swapped in whole (see outdir), so SIGKILL at any moment leaves no partial entry or output;
- concurrent builds of the same recipe do each piece of work once (one file lock per fingerprint);
- independent steps run at the same time (up to `jobs`).
A step raising ToolMissing is "blocked": the rest of the build still runs, what completed is published with a
lock file saying so, and the build exits 4. Any other failure publishes nothing (the previous output stays).
"""

from __future__ import annotations

import errno
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtforge import fsutil, secrets
from trtforge.errors import InvalidInput, StepFailed, ToolMissing, TrtforgeError
from trtforge.pipeline import cache as cache_mod
from trtforge.pipeline import fingerprint as fpmod
from trtforge.pipeline import lockfile, outdir, statindex
from trtforge.pipeline.cache import CacheStore, Entry, scan_output
from trtforge.pipeline.events import Sink
from trtforge.pipeline.hashing import tree_digest
from trtforge.pipeline.step import Step, StepContext

INSTRUCTIONS_DIR = "build-instructions"  # a blocked step may leave this in its out_dir: published as is
SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
SPACE_HINT = (
    "free space where the cache or the output is (or use --cache-dir / --output on another disk), "
    "then build again: completed steps are kept, nothing partial is"
)


def _out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in SPACE_ERRNOS


def io_failure(exc: OSError, doing: str, where: Path) -> StepFailed:
    """One clear line for a file-system failure outside a step (a full disk, a read-only directory)."""
    reason = secrets.redact(exc.strerror or str(exc) or type(exc).__name__)
    return StepFailed(f"{doing} {where} failed: {reason}", hint=SPACE_HINT if _out_of_space(exc) else None)


@dataclass
class StepResult:
    name: str
    kind: str
    status: str  # built | cached | blocked | failed | skipped | (dry run:) will-run | cached
    fingerprint: str | None = None
    inputs: dict[str, Any] | None = None
    entry: Entry | None = None
    duration_s: float | None = None
    message: str | None = None
    error: TrtforgeError | None = None
    instructions: Path | None = None
    commands: list[list[str]] = field(default_factory=list)

    @property
    def digest(self) -> str | None:
        return self.entry.digest if self.entry is not None else None

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.entry.meta.get("metadata", {})) if self.entry is not None else {}

    def lock_record(self) -> dict[str, Any]:
        inputs = self.inputs or {}
        rec: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "cached": self.status == "cached",
            "fingerprint": self.fingerprint,
            "duration_s": self.duration_s,
            "params": inputs.get("params"),
            "tool_versions": inputs.get("tool_versions"),
            "source": inputs.get("source"),
            "upstream": inputs.get("upstream"),
            "version": inputs.get("version"),
        }
        if self.entry is not None:
            rec["outputs"] = {rel: d["digest"] for rel, d in sorted(self.entry.meta["files"].items())}
            rec["digest"] = self.entry.digest
            rec["bytes"] = self.entry.bytes
            rec["metadata"] = self.metadata
        if self.message:
            rec["message"] = self.message
        return rec

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "duration_s": self.duration_s,
            "message": self.message,
            "commands": self.commands,
            "entry": str(self.entry.path) if self.entry else None,
        }


@dataclass
class BuildRequest:
    loaded: Any  # LoadedRecipe (as written: the lock records it)
    plan: Any  # Plan
    steps: list[Step]
    layout: dict[
        str, tuple[str, str]
    ]  # output subdir -> (step name, path in its output) (graph.publish_layout)
    output_dir: Path
    cache: CacheStore
    force: bool = False
    only: str | None = None
    dry_run: bool = False
    jobs: int = 2
    locked: dict[str, Any] | None = None  # a lock file to reproduce: fingerprints must match
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    status: str  # complete | blocked | failed | partial (--only) | dry-run
    steps: list[StepResult]
    output_dir: Path | None = None
    lock: dict[str, Any] | None = None
    error: TrtforgeError | None = None
    published: str | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "output": str(self.output_dir) if self.output_dir else None,
            "published": self.published,
            "duration_s": round(self.duration_s, 3),
            "steps": [s.to_json() for s in self.steps],
            "error": self.error.to_json() if self.error else None,
        }


def topo_order(steps: list[Step]) -> list[Step]:
    """Steps in dependency order (stable: declaration order among independent steps)."""
    by_name: dict[str, Step] = {}
    for s in steps:
        if s.name in by_name:
            raise InvalidInput(f"two steps are named '{s.name}'")
        by_name[s.name] = s
    for s in steps:
        for n in s.needs:
            if n not in by_name:
                raise InvalidInput(f"step '{s.name}' needs '{n}', which is not part of this build")
    order: list[Step] = []
    state: dict[str, int] = {}

    def visit(s: Step, path: tuple[str, ...]) -> None:
        if state.get(s.name) == 2:
            return
        if state.get(s.name) == 1:
            raise InvalidInput(f"steps depend on each other in a cycle: {' -> '.join(path + (s.name,))}")
        state[s.name] = 1
        for n in s.needs:
            visit(by_name[n], path + (s.name,))
        state[s.name] = 2
        order.append(s)

    for s in steps:
        visit(s, ())
    return order


def _ancestors(name: str, by_name: dict[str, Step]) -> set[str]:
    out, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out.add(n)
        todo.extend(by_name[n].needs)
    return out


class Runner:
    def __init__(self, req: BuildRequest, sink: Sink) -> None:
        self.req = req
        self.sink = sink
        self.cache = req.cache
        self.t0 = time.monotonic()
        self._locked_steps = {s.get("name"): s for s in (req.locked or {}).get("steps", [])}

    # ------------------------------------------------------------------ events

    def emit(self, ev: dict[str, Any]) -> None:
        self.sink({**ev, "t": round(time.monotonic() - self.t0, 3)})

    def _step_emit(self, step: Step):
        def emit(ev: dict[str, Any]) -> None:
            self.emit({**ev, "step": step.name, "kind": step.kind})

        return emit

    # ------------------------------------------------------------------ one step

    def _fingerprint(self, step: Step, upstream: dict[str, Entry]) -> tuple[str, dict[str, Any]]:
        inputs = fpmod.fingerprint_inputs(step, {n: e.digest for n, e in upstream.items()})
        fp = fpmod.fingerprint_of(inputs, step_name=step.name)
        want = self._locked_steps.get(step.name)
        if self.req.locked is not None and want is not None and want.get("fingerprint") not in (None, fp):
            old = {k: want.get(k) for k in ("version", "params", "tool_versions", "source", "upstream")}
            new = {k: inputs.get(k) for k in old}
            diffs = fpmod.explain_difference(old, new) or ["(fingerprint scheme changed)"]
            raise InvalidInput(
                f"step '{step.name}' would not reproduce the lock file: " + "; ".join(diffs[:4]),
                hint="same recipe, tools and inputs are needed; build without --lock to accept",
            )
        return fp, inputs

    def _lookup(self, step: Step, fp: str, emit) -> Entry | None:
        if not step.cacheable or self._forced(step):
            return None
        entry = self.cache.entry(fp)
        if entry is None:
            return None
        problems = self.cache.quick_check(entry)
        if problems:
            emit({"event": "log", "message": f"cache entry {fp[:12]} is damaged ({problems[0]}); rebuilding"})
            return None
        self.cache.touch(entry)
        return entry

    def _forced(self, step: Step) -> bool:
        return self.req.force and (self.req.only is None or self.req.only == step.name)

    def execute(self, step: Step, upstream: dict[str, Entry]) -> StepResult:
        """Fingerprint, look up, or run one step (in a worker thread). Never raises: the result says."""
        emit = self._step_emit(step)
        res = StepResult(step.name, step.kind, "failed")
        staging: Path | None = None
        lock = None
        try:
            fp, inputs = self._fingerprint(step, upstream)
            res.fingerprint, res.inputs = fp, inputs
            entry = self._lookup(step, fp, emit)
            if entry is None:
                lock = self.cache.lock(fp)
                try:
                    lock.acquire(timeout=0)
                except Exception:  # noqa: BLE001 - filelock.Timeout: another build is on it
                    emit({"event": "waiting", "message": f"another build is running this step ({fp[:12]})"})
                    lock.acquire()
                entry = self._lookup(step, fp, emit)  # it may have finished it meanwhile
            if entry is not None:
                step.check(entry.meta.get("metadata", {}), entry.out)
                res.status, res.entry, res.duration_s = "cached", entry, entry.meta.get("duration_s")
                emit({"event": "skipped", "reason": "cached", "fingerprint": fp})
                return res
            self.cache.sweep_staging(fp)  # we hold fp's lock: staging left for it is from a killed build
            staging = self.cache.new_staging(fp)
            res.entry = self._run_and_commit(step, fp, inputs, upstream, staging, emit)
            staging = None  # renamed into the cache
            step.check(res.entry.meta.get("metadata", {}), res.entry.out)
            res.status, res.duration_s = "built", res.entry.meta["duration_s"]
            return res
        except ToolMissing as exc:
            exc = self._keep_instructions(res, exc, staging)
            res.status, res.error, res.message = "blocked", exc, secrets.redact(exc.one_line())
            emit({"event": "blocked", "message": res.message, "exit_code": exc.exit_code})
            return res
        except TrtforgeError as exc:
            res.status, res.error, res.message = "failed", exc, secrets.redact(exc.one_line())
        except Exception as exc:  # noqa: BLE001 - a step's surprise becomes one line naming the step
            text = secrets.redact(f"{type(exc).__name__}: {exc}")[:500]
            res.error = StepFailed(
                f"step '{step.name}' failed: {text}", hint=SPACE_HINT if _out_of_space(exc) else None
            )
            res.message = res.error.one_line()
        finally:
            if staging is not None:
                fsutil.remove_tree(staging)
            if lock is not None and lock.is_locked:
                lock.release()
        emit(
            {"event": "failed", "message": res.message, "exit_code": res.error.exit_code if res.error else 1}
        )
        return res

    def _run_and_commit(
        self, step: Step, fp: str, inputs: dict[str, Any], upstream: dict[str, Entry], staging: Path, emit
    ) -> Entry:  # noqa: ANN001
        emit({"event": "started", "fingerprint": fp})
        t = time.monotonic()
        # A step that cannot run here (ToolMissing) may leave hand-off instructions in handoff_dir:
        # they are published as <output>/build-instructions/.
        # published_as: which upstream step is published as which output subdirectory (a hand-off names the
        # published copy, so it runs where only the output directory was copied).
        published_as = {name: sub for sub, (name, inner) in self.req.layout.items() if not inner}
        options = {
            "handoff_dir": str(staging / "out" / INSTRUCTIONS_DIR),
            "published_as": published_as,
            **self.req.options,
        }
        ctx = StepContext(
            loaded=step.loaded,
            plan=step.plan,
            out_dir=staging / "out",
            inputs={n: e.out for n, e in upstream.items()},
            cache_root=self.cache.root,
            emit=emit,
            options=options,
        )
        step.preflight()
        metadata = step.run(ctx) or {}
        if not isinstance(metadata, dict):
            raise StepFailed(f"step '{step.name}' returned {type(metadata).__name__}, not a dict of metadata")
        meta_text = fpmod.canonical_json(metadata)
        if secrets.redact(meta_text) != meta_text:
            raise StepFailed(f"step '{step.name}' returned metadata containing a secret; not recording it")
        emit({"event": "progress", "message": "hashing outputs"})
        files, dirs = scan_output(staging / "out")
        meta = {
            "kind": step.kind,
            "name": step.name,
            "recipe": step.loaded.recipe.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "duration_s": round(time.monotonic() - t, 3),
            "inputs": inputs,
            "files": {rel: info.to_json() for rel, info in files.items()},
            "dirs": dirs,
            "digest": tree_digest(files, dirs),
            "bytes": sum(i.size for i in files.values()),
            "metadata": metadata,
        }
        entry = self.cache.commit(fp, staging, meta)
        emit(
            {
                "event": "finished",
                "fingerprint": fp,
                "duration_s": meta["duration_s"],
                "files": len(files),
                "bytes": meta["bytes"],
            }
        )
        return entry

    def _keep_instructions(self, res: StepResult, exc: ToolMissing, staging: Path | None) -> ToolMissing:
        """Save a blocked step's build-instructions for publishing; point its message at where they will
        be."""
        if staging is None or not (staging / "out" / INSTRUCTIONS_DIR).is_dir():
            return exc
        keep = Path(tempfile.mkdtemp(prefix="trtforge-instructions-"))
        shutil.copytree(staging / "out" / INSTRUCTIONS_DIR, keep / INSTRUCTIONS_DIR)
        here, there = str(staging / "out" / INSTRUCTIONS_DIR), str(self.req.output_dir / INSTRUCTIONS_DIR)
        if self.req.only is not None:  # --only publishes nothing: the instructions stay where they were kept
            there = str(keep / INSTRUCTIONS_DIR)
        else:
            res.instructions = keep / INSTRUCTIONS_DIR
        return type(exc)(
            exc.message.replace(here, there), hint=exc.hint.replace(here, there) if exc.hint else None
        )

    # ------------------------------------------------------------------ the DAG

    def selected(self) -> list[Step]:
        order = topo_order(self.req.steps)
        if self.req.only is None:
            return order
        by_name = {s.name: s for s in order}
        if self.req.only not in by_name:
            raise InvalidInput(f"--only {self.req.only}: no such step (steps: {', '.join(by_name)})")
        keep = _ancestors(self.req.only, by_name)
        return [s for s in order if s.name in keep]

    def run(self) -> BuildResult:
        order = self.selected()
        try:
            self.cache.ensure()
            statindex.activate(self.cache.index())
            cache_mod.activate(self.cache.root)
            self.cache.sweep_staging()
        except OSError as exc:  # a full or read-only disk before any step: one clear line, not "internal"
            raise io_failure(exc, "preparing the build cache", self.cache.root) from None
        self.emit(
            {
                "event": "build_started",
                "recipe": self.req.loaded.recipe.name,
                "target": self.req.plan.target,
                "output": str(self.req.output_dir),
                "steps": [s.name for s in order],
            }
        )
        if self.req.dry_run:
            return self.dry_run(order)
        results: dict[str, StepResult] = {}
        done: queue.Queue[StepResult] = queue.Queue()
        pending = list(order)
        running: set[str] = set()
        failed = False
        while pending or running:
            for step in list(pending):
                if len(running) >= max(1, self.req.jobs):
                    break
                bad = [n for n in step.needs if n in results and results[n].status not in ("built", "cached")]
                if failed or bad:
                    why = (
                        "the build failed"
                        if failed
                        else f"needs '{bad[0]}', which is {results[bad[0]].status}"
                    )
                    results[step.name] = StepResult(step.name, step.kind, "skipped", message=why)
                    self._step_emit(step)({"event": "skipped", "reason": why})
                    pending.remove(step)
                    continue
                if all(n in results for n in step.needs):
                    pending.remove(step)
                    running.add(step.name)
                    upstream = {n: results[n].entry for n in step.needs}
                    threading.Thread(
                        target=lambda s=step, u=upstream: done.put(self.execute(s, u)),
                        name=f"step-{step.name}",
                        daemon=True,
                    ).start()
            if not running:
                continue
            try:
                r = done.get(timeout=0.2)
            except queue.Empty:
                continue
            running.discard(r.name)
            results[r.name] = r
            failed = failed or r.status == "failed"
        ordered = [results[s.name] for s in order]
        return self.finish(ordered)

    def finish(self, results: list[StepResult]) -> BuildResult:
        req = self.req
        failure = next((r for r in results if r.status == "failed"), None)
        blocked = next((r for r in results if r.status == "blocked"), None)
        res = BuildResult(status="failed", steps=results)
        if failure is not None:
            res.error = failure.error
        elif req.only is not None:
            res.status = "partial"
            target = next((r for r in results if r.name == req.only), None)
            if target is not None and target.status not in ("built", "cached"):
                # --only STEP did not run: say why with the blocking step's error (exit 4), never exit 0
                res.status = "blocked" if blocked is not None else "failed"
                res.error = (
                    target.error
                    or (blocked.error if blocked is not None else None)
                    or StepFailed(
                        f"--only {req.only}: the step did not run ({target.message or target.status})"
                    )
                )
        else:
            res.status = "blocked" if blocked else "complete"
            by_name = {r.name: r for r in results}
            parts, layout = {}, {}
            for sub, (name, inner) in req.layout.items():
                entry = by_name[name].entry if name in by_name else None
                if entry is None:
                    continue
                if inner and not (entry.out / inner).is_dir():
                    self.emit(
                        {
                            "event": "warning",
                            "step": name,
                            "message": f"its output has no {inner}/ to publish as {sub}/",
                        }
                    )
                    continue
                parts[sub] = (entry, inner)
                layout[sub] = name + (f"/{inner}" if inner else "")
            handoffs = [r for r in results if r.instructions is not None]
            extras: dict[str, Path] = (
                {INSTRUCTIONS_DIR: handoffs[0].instructions}
                if len(handoffs) == 1 and handoffs[0].instructions
                else {f"{INSTRUCTIONS_DIR}/{r.name}": r.instructions for r in handoffs if r.instructions}
            )
            res.lock = lockfile.make_lock(req.loaded, req.plan, results, layout, status=res.status)
            try:
                res.published = outdir.publish(
                    req.output_dir, self.cache, parts, lockfile.lock_text(res.lock), extras=extras
                )
            except OSError as exc:  # publish removed its partial tree: the previous output is intact
                res.status, res.error = "failed", io_failure(exc, "publishing the output to", req.output_dir)
                self.emit(
                    {"event": "failed", "message": res.error.one_line(), "exit_code": res.error.exit_code}
                )
            finally:
                for r in results:
                    if r.instructions is not None:
                        shutil.rmtree(r.instructions.parent, ignore_errors=True)
            if res.status != "failed":
                res.output_dir = req.output_dir
                self.emit({"event": "published", "output": str(req.output_dir), "how": res.published})
                if blocked is not None:
                    res.error = blocked.error
        res.duration_s = time.monotonic() - self.t0
        self.emit(
            {
                "event": "build_finished",
                "status": res.status,
                "duration_s": round(res.duration_s, 3),
                "output": str(res.output_dir) if res.output_dir else None,
                "exit_code": res.error.exit_code if res.error else 0,
            }
        )
        return res

    # ------------------------------------------------------------------ dry run

    def dry_run(self, order: list[Step]) -> BuildResult:
        """What a build would do: per step, cached or not, its fingerprint when known, its commands."""
        results: dict[str, StepResult] = {}
        for step in order:
            res = StepResult(step.name, step.kind, "will-run")
            try:
                res.commands = [list(map(secrets.redact, c)) for c in step.external_commands()]
            except TrtforgeError as exc:
                res.message = exc.one_line()
            ups = {n: results[n].entry for n in step.needs}
            if all(e is not None for e in ups.values()):
                try:
                    res.fingerprint, res.inputs = self._fingerprint(step, ups)  # type: ignore[arg-type]
                    if step.cacheable and not self._forced(step):
                        entry = self.cache.entry(res.fingerprint)
                        if entry is not None and not self.cache.quick_check(entry):
                            res.status, res.entry = "cached", entry
                except TrtforgeError as exc:
                    res.message = f"cannot fingerprint yet: {exc.one_line()}"
            if res.status == "cached" and res.entry is not None:
                try:
                    step.check(res.entry.meta.get("metadata", {}), res.entry.out)
                except TrtforgeError as exc:  # cached, but the verdict on it fails: so would the build
                    res.status, res.message = "failed", exc.one_line()
            if res.status != "cached":
                try:
                    step.preflight()
                except ToolMissing as exc:
                    res.status, res.message = "blocked", exc.one_line()
                except TrtforgeError as exc:
                    res.status, res.message = "failed", exc.one_line()
            results[step.name] = res
        out = [results[s.name] for s in order]
        return BuildResult(
            status="dry-run", steps=out, output_dir=self.req.output_dir, duration_s=time.monotonic() - self.t0
        )


def run_build(req: BuildRequest, sink: Sink) -> BuildResult:
    """Run (or, with req.dry_run, describe) one target's build. Errors are returned in the result, not raised,
    except for invalid requests (unknown --only step, cycles) which raise InvalidInput.
    """
    return Runner(req, sink).run()
