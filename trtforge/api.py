"""The Python API under the CLI: plan(), build(), serve(). `trtforge`'s commands parse, call these, render.

    from trtforge import api
    for target in api.plan("recipes/gpt-oss-120b-h100.yaml"):
        target.plan.fits, target.spec.llm_api      # the exact LLM-API options the build writes

    outcome = api.build("recipes/tiny-llama-cpu.yaml", output=Path("out"), sink=print)
    outcome.raise_for_error()                       # the same error (and exit code) the CLI reports
    outcome.targets[0].result.steps                 # per step: status, fingerprint, cache entry

    with api.serve("out/tiny-llama-cpu", api.ServeOptions(runtime="reference")) as served:
        served.info()["endpoints"]

Errors are TrtforgeError subclasses carrying the CLI's exit code (2 invalid input, 3 infeasible plan, ...).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtforge.errors import Infeasible, InvalidInput, StepFailed, TrtforgeError
from trtforge.pipeline.cache import CacheStore, default_root
from trtforge.pipeline.events import Sink
from trtforge.pipeline.hashing import FORMAT as HASH_FORMAT
from trtforge.pipeline.lockfile import read_lock
from trtforge.pipeline.runner import INSTRUCTIONS_DIR, BuildRequest, BuildResult, StepResult, run_build
from trtforge.plan import make_plan, make_plans
from trtforge.plan.buildspec import BuildSpec
from trtforge.plan.model import Plan
from trtforge.plan.resolve import resolve
from trtforge.recipe.loader import LoadedRecipe, load_recipe
from trtforge.recipe.schema import Recipe, target_label
from trtforge.serve import launch
from trtforge.serve.check import Answer, run_check
from trtforge.serve.launch import Served, ServeOptions
from trtforge.serve.process import Endpoints, error_line
from trtforge.serve.tritonserver import find_tritonserver
from trtforge.steps import default_registry
from trtforge.steps.graph import publish_layout, steps_for
from trtforge.toolchain.versions import check_image_matches
from trtforge.triton.launch_command import ContainerLaunch, container_argv

__all__ = [
    "BuildOutcome",
    "BuiltTarget",
    "PlannedTarget",
    "ServeOptions",
    "Served",
    "SmokeCheck",
    "build",
    "launch_command",
    "plan",
    "serve",
    "smoke_check",
    "wait_until_stopped",
]


# -- plan ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedTarget:
    """One target of a recipe: the plan (fit, decisions, every problem) and its BuildSpec."""

    plan: Plan
    spec: BuildSpec

    def to_json(self) -> dict:
        return {**self.plan.model_dump(mode="json"), "build": self.spec.model_dump(mode="json")}


def plan(recipe: Recipe | str | Path) -> list[PlannedTarget]:
    """Plan every target of a recipe (a Recipe, or a recipe file path) and resolve its BuildSpec.

    Never raises for an infeasible target: `plan.errors` lists every problem (the CLI exits 3 on them).
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(Path(recipe)).recipe
    return [PlannedTarget(p, resolve(recipe, p)) for p in make_plans(recipe)]


# -- build ---------------------------------------------------------------------------------------------------


@dataclass
class BuiltTarget:
    """One target of a build: its plan, where it publishes, and what each step did (`result.steps`)."""

    label: str
    plan: Plan
    output_dir: Path
    result: BuildResult

    @property
    def status(self) -> str:
        """complete | blocked | failed | partial (--only) | dry-run"""
        return self.result.status

    @property
    def steps(self) -> list[StepResult]:
        return self.result.steps


@dataclass
class BuildOutcome:
    """What `build` did, target by target (a failed target stops a matrix build: later ones are absent).

    `error` is the one error the build ends with, worded as the CLI reports it (None when it succeeded);
    `handoffs` are the commands a blocked compile left in build-instructions/ to finish on a GPU machine.
    """

    recipe: str
    cache: Path
    dry_run: bool
    only: str | None
    targets: list[BuiltTarget]
    error: TrtforgeError | None = None
    handoffs: list[dict[str, Any]] = field(default_factory=list)

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error

    def dry_run_document(self) -> dict[str, Any]:
        """`build --dry-run --json`: per target, the steps, what is cached and the external commands."""
        return {
            "dry_run": True,
            "cache": str(self.cache),
            "targets": [
                {
                    "recipe": self.recipe,
                    "target": t.plan.target,
                    "backend": t.plan.backend,
                    "output": str(t.output_dir),
                    "steps": [s.to_json() for s in t.steps],
                }
                for t in self.targets
            ],
        }

    def only_outputs(self) -> list[Path | None]:
        """--only: the cache entry output of that step, per target built partially (None: not produced)."""
        found = []
        for t in self.targets:
            if t.status == "partial":
                entry = next((s.entry for s in t.steps if s.name == self.only), None)
                found.append(entry.path / "out" if entry else None)
        return found


def build(
    recipe: str | Path,
    *,
    output: Path | None = None,
    dry_run: bool = False,
    force: bool = False,
    only: str | None = None,
    cache_dir: Path | None = None,
    lock: Path | None = None,
    target: str | None = None,
    jobs: int = 2,
    sink: Sink | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> BuildOutcome:
    """Build a recipe file: download -> quantize -> compile -> Triton repository, cached and resumable.

    Raises before any step runs for invalid input (InvalidInput) and an infeasible plan of any target
    (Infeasible). Otherwise returns what happened; a step's failure is `outcome.error` (see raise_for_error).
    Events go to `sink` (none: dropped; a dry run sends none). In the main thread SIGTERM is turned into
    KeyboardInterrupt for the build's length: staging is left to be swept, nothing half-written is published.
    """
    loaded = load_recipe(Path(recipe))
    registry, reports = default_registry()
    for r in reports:
        if r.error and on_warning is not None:
            on_warning(f"warning: plugin '{r.name}' failed to load and is ignored: {r.error}")
    targets = loaded.recipe.all_targets
    if target is not None:
        targets = [t for t in targets if target_label(t) == target]
        if not targets:
            labels = ", ".join(target_label(t) for t in loaded.recipe.all_targets)
            raise InvalidInput(f"--target {target}: the recipe has no such target (targets: {labels})")
    locked = read_lock(lock) if lock is not None else None
    if locked is not None and locked.get("hash_format") != HASH_FORMAT:
        raise InvalidInput(
            f"{lock} was made with {locked.get('hash_format')} content hashes, this install "
            f"makes {HASH_FORMAT}",
            hint="install the same trtforge dependencies (blake3)",
        )
    if locked is not None and len(targets) > 1:
        raise InvalidInput("--lock reproduces one target: add --target LABEL")
    pinned = _pin_to_lock(loaded, locked) if locked is not None else loaded
    # Every plan first: an infeasible target stops the build before any step runs.
    plans = [make_plan(pinned.recipe, t) for t in targets]
    errors = [f"{p.target}: {e}" if len(plans) > 1 else e for p in plans for e in p.errors]
    if errors:
        raise Infeasible("plan is infeasible: " + "; ".join(errors), hint=f"see `trtforge plan {recipe}`")
    cache = CacheStore(cache_dir or default_root())
    send: Sink = sink if sink is not None and not dry_run else (lambda ev: None)
    built: list[BuiltTarget] = []
    with _sigterm_as_interrupt():
        for p, t in zip(plans, targets, strict=True):
            label = target_label(t)
            steps = steps_for(pinned, p, registry)
            req = BuildRequest(
                loaded=loaded,
                plan=p,
                steps=steps,
                layout=publish_layout(steps, pinned, registry),
                output_dir=_out_dir(loaded, output, label),
                cache=cache,
                force=force,
                only=only,
                dry_run=dry_run,
                jobs=jobs,
                locked=locked,
            )
            result = run_build(req, send)
            built.append(BuiltTarget(label=label, plan=p, output_dir=req.output_dir, result=result))
            if built[-1].status == "failed":
                break  # a failed target stops a matrix build (its error is the exit status)
    outcome = BuildOutcome(
        recipe=loaded.recipe.name, cache=cache.root, dry_run=dry_run, only=only, targets=built
    )
    if not dry_run:
        _shape_error(outcome)
    return outcome


def _pin_to_lock(loaded: LoadedRecipe, lock: dict[str, Any]) -> LoadedRecipe:
    """The recipe with its hub revision replaced by the commit the lock file recorded."""
    model = lock.get("model") or {}
    sha = model.get("revision_resolved")
    if not (loaded.recipe.model.repo and sha):
        return loaded
    if model.get("repo") != loaded.recipe.model.repo:
        raise InvalidInput(
            f"the lock file is for {model.get('repo')}, the recipe for {loaded.recipe.model.repo}"
        )
    pinned_model = loaded.recipe.model.model_copy(update={"revision": sha})
    recipe = loaded.recipe.model_copy(update={"model": pinned_model})
    return LoadedRecipe(
        recipe=recipe, path=loaded.path, fingerprint=loaded.fingerprint, locations=loaded.locations
    )


def _out_dir(loaded: LoadedRecipe, output: Path | None, label: str) -> Path:
    outputs_dir = loaded.recipe.outputs.dir
    base = output or (Path(outputs_dir) if outputs_dir else Path("out") / loaded.recipe.name)
    return (base / label) if loaded.recipe.is_matrix else base


def _raise_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # staging is left to be swept; nothing half-written is published


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while inside (only the main thread may install a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _shape_error(outcome: BuildOutcome) -> None:
    """The first failed target's error, worded for the user: --only, or a blocked step with its hand-off."""
    failed = [t for t in outcome.targets if t.result.error is not None]
    if not failed:
        return
    t = failed[0]
    err = t.result.error
    assert err is not None
    step = next((s for s in t.steps if s.error is err), None)
    only = outcome.only
    if only is not None and step is not None:
        why = f"step '{step.name}' could not run here" if step.name != only else "it could not run here"
        outcome.error = type(err)(f"--only {only}: {why}: {err.message}", hint=err.hint)
        return
    if t.status == "blocked" and step is not None:
        outcome.handoffs = handoffs(t.output_dir)
        hints = [err.hint] if err.hint else []
        instructions = t.output_dir / INSTRUCTIONS_DIR
        if step.instructions is not None and str(instructions) not in (err.hint or ""):
            hints.append(f"build instructions are in {instructions}")
        hints.append(f"what completed is published in {t.output_dir} (see trtforge.lock.json)")
        outcome.error = type(err)(
            f"step '{step.name}' could not run here: {err.message}", hint="; ".join(hints)
        )
        return
    outcome.error = err


def handoffs(output_dir: Path) -> list[dict[str, Any]]:
    """The exact commands blocked compiles left in output_dir's build-instructions/, to run inside output_dir:
    [{run_in, command (argv), script (its fallback, relative to run_in), trtllm_version}]."""
    found = []
    for inputs in sorted((output_dir / INSTRUCTIONS_DIR).rglob("compile-inputs.json")):
        try:
            doc = json.loads(inputs.read_text(encoding="utf-8"))
            argv, script = list(doc["argv"]), inputs.parent / doc.get("script", "")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(
            {
                "run_in": str(output_dir),
                "command": argv,
                "script": str(script.relative_to(output_dir)),
                "trtllm_version": doc.get("trtllm_version", ""),
            }
        )
    return found


# -- serve ---------------------------------------------------------------------------------------------------


@contextmanager
def serve(target: str | Path, options: ServeOptions | None = None) -> Iterator[Served]:
    """Start Triton for a model repository (or a recipe whose build output has one) and yield it once ready.

    The repository is checked first (validate-repo's rules); the server and its process group are always
    stopped on leaving the block.
    """
    with launch.running_server(Path(target), options or ServeOptions()) as served:
        yield served


def wait_until_stopped(served: Served, poll_s: float = 0.5) -> None:
    """Block while the server runs (Ctrl-C / KeyboardInterrupt ends it); StepFailed if it stops on its own."""
    while served.server.running():
        time.sleep(poll_s)
    proc = served.server.proc
    why = error_line(served.server.log_text()) or f"exit code {proc.returncode if proc else None}"
    raise StepFailed(f"Triton stopped on its own: {why}", hint=f"log: {served.server.log_path}")


@dataclass
class SmokeCheck:
    """A smoke test's answers; `error` when a stream disagreed with generate beyond per-token decoding."""

    answers: list[Answer]
    error: StepFailed | None = None


def smoke_check(served: Served, prompt: str) -> SmokeCheck:
    """Send `prompt` to every generate model the server offers, streaming too where it is decoupled."""
    info = served.info()
    models = [u.rsplit("/", 2)[-2] for u in info["generate"]]
    answers = run_check(info["endpoints"]["http"], models, prompt, served.settings.layout != "llmapi")
    bad = [a for a in answers if a.verdict == "mismatch"]
    error = (
        StepFailed(
            bad[0].message or "a stream disagreed with generate",
            hint="stream and generate must produce the same tokens",
        )
        if bad
        else None
    )
    return SmokeCheck(answers=answers, error=error)


def launch_command(target: str | Path, options: ServeOptions | None = None) -> tuple[str, list[str]]:
    """(runtime, argv): the command `serve` would run for TARGET, without starting it (ports 0: 8000-8002)."""
    opts = options or ServeOptions()
    repo = launch.resolve_repository(Path(target))
    settings = launch.check_repository(repo)
    runtime = launch.choose_runtime(settings, opts.runtime)
    if runtime == "container":
        image = opts.image or settings.triton_image
        check_image_matches(image, settings.trtllm_version)
        argv = container_argv(
            ContainerLaunch(
                image=image,
                repo_host_path=str(repo),
                container_model_root=settings.container_model_root,
                world_size=settings.world_size,
                llmapi_launch=settings.runtime == "llmapi",
                host=opts.host,
                http_port=opts.http_port or 8000,
                grpc_port=opts.grpc_port or 8001,
                metrics_port=opts.metrics_port or 8002,
            )
        )
        return runtime, argv
    install = find_tritonserver(launch.cache_root(), prefer_bundled=(runtime == "reference"))
    ep = Endpoints(opts.host, opts.http_port or 8000, opts.grpc_port or 8001, opts.metrics_port or 8002)
    return runtime, launch.tritonserver_argv(
        install.binary, repo, install.backend_dir, install.cache_dir, ep, "trtforge_"
    )
