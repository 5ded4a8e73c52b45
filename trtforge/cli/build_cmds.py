"""`trtforge build`, `trtforge cache ls|verify|gc`, `trtforge plugins`: run the pipeline, look after its cache."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Optional

import typer

from trtforge.cli.render import emit_event, emit_json, say, warn
from trtforge.errors import Infeasible, InvalidInput

CACHE_HELP = "Cache directory (default: $TRTFORGE_CACHE or the platform user cache dir)."


def _cache(cache_dir: Optional[Path]):
    from trtforge.pipeline.cache import CacheStore, default_root

    return CacheStore(cache_dir or default_root())


def _warn_broken_plugins(reports: list) -> None:
    for r in reports:
        if r.error:
            warn(f"warning: plugin '{r.name}' failed to load and is ignored: {r.error}")


def _pin_to_lock(loaded, lock: dict[str, Any]):
    """The recipe with its hub revision replaced by the commit the lock file recorded."""
    from trtforge.recipe.loader import LoadedRecipe

    model = lock.get("model") or {}
    sha = model.get("revision_resolved")
    if not (loaded.recipe.model.repo and sha):
        return loaded
    if model.get("repo") != loaded.recipe.model.repo:
        raise InvalidInput(f"the lock file is for {model.get('repo')}, the recipe for {loaded.recipe.model.repo}")
    recipe = loaded.recipe.model_copy(update={"model": loaded.recipe.model.model_copy(update={"revision": sha})})
    return LoadedRecipe(recipe=recipe, path=loaded.path, fingerprint=loaded.fingerprint,
                        locations=loaded.locations)


def _out_dir(loaded, output: Optional[Path], label: str) -> Path:
    outputs_dir = loaded.recipe.outputs.dir
    base = output or (Path(outputs_dir) if outputs_dir else Path("out") / loaded.recipe.name)
    return (base / label) if loaded.recipe.is_matrix else base


def _print_dry_run(doc: dict[str, Any]) -> None:
    for t in doc["targets"]:
        say(f"{t['recipe']} [{t['target']}, backend {t['backend']}] -> {t['output']}")
        for s in t["steps"]:
            fp = (s["fingerprint"] or "")[:12] or "(after upstream)"
            status = {"will-run": "will run", "cached": "cached"}.get(s["status"], s["status"])
            say(f"  {s['name']:<16} {status:<9} {fp}" + (f"  {s['message']}" if s["message"] else ""))
            for cmd in s["commands"]:
                say("      $ " + " ".join(_quote(c) for c in cmd))


def _show_handoffs(output_dir: Path, as_json: bool) -> None:
    """The exact command a blocked compile left in build-instructions/, shown on the terminal (stderr)."""
    import json
    import shlex

    from trtforge.pipeline.runner import INSTRUCTIONS_DIR

    for inputs in sorted((output_dir / INSTRUCTIONS_DIR).rglob("compile-inputs.json")):
        try:
            doc = json.loads(inputs.read_text(encoding="utf-8"))
            argv, script = list(doc["argv"]), inputs.parent / doc.get("script", "")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if as_json:
            emit_event({"event": "handoff", "run_in": str(output_dir), "command": argv,
                        "script": str(script.relative_to(output_dir))})
            continue
        warn(f"to finish on a machine with the GPU and TensorRT-LLM {doc.get('trtllm_version', '')}, copy "
             f"{output_dir} there and run inside it:")
        warn("  " + shlex.join(argv))
        warn(f"  (or: bash {script.relative_to(output_dir)}, which falls back to NVIDIA's release container)")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _raise_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # staging is left to be swept; nothing half-written is published


def build(
    recipe: Path = typer.Argument(..., help="Recipe file.", show_default=False),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o",
        help="Output directory (default: outputs.dir, else ./out/<name>; a matrix: one subdirectory per target)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the steps, what is cached and the commands; run nothing."),
    force: bool = typer.Option(False, "--force", help="Rebuild even what is cached (with --only: that step)."),
    only: Optional[str] = typer.Option(
        None, "--only", help="Run this step (and what it needs) into the cache; do not publish."),
    as_json: bool = typer.Option(False, "--json", help="One JSON event per line (--dry-run: one JSON document)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    lock: Optional[Path] = typer.Option(
        None, "--lock",
        help="Reproduce this trtforge.lock.json: pin its model commit, fail if a step fingerprint differs."),
    target: Optional[str] = typer.Option(None, "--target", help="Matrix recipes: build only this target label."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, max=32, help="Independent steps to run at once."),
) -> None:
    """Build a recipe: download -> quantize -> compile -> Triton repository, cached and resumable.

    Exit: 0 built, 1 step failed, 2 invalid input, 3 infeasible plan, 4 tool missing (rest published), 130 stopped.
    """
    from trtforge.cli.progress import make_sink
    from trtforge.steps.graph import publish_layout, steps_for
    from trtforge.pipeline.lockfile import read_lock
    from trtforge.pipeline.runner import BuildRequest, run_build
    from trtforge.plan import make_plan
    from trtforge.recipe.loader import load_recipe
    from trtforge.recipe.schema import target_label
    from trtforge.steps import default_registry

    loaded = load_recipe(recipe)
    registry, reports = default_registry()
    _warn_broken_plugins(reports)
    targets = loaded.recipe.all_targets
    if target is not None:
        targets = [t for t in targets if target_label(t) == target]
        if not targets:
            labels = ", ".join(target_label(t) for t in loaded.recipe.all_targets)
            raise InvalidInput(f"--target {target}: the recipe has no such target (targets: {labels})")
    locked = read_lock(lock) if lock is not None else None
    if locked is not None:
        from trtforge.pipeline.hashing import FORMAT

        if locked.get("hash_format") != FORMAT:
            raise InvalidInput(f"{lock} was made with {locked.get('hash_format')} content hashes, this install "
                               f"makes {FORMAT}", hint="install the same trtforge dependencies (blake3)")
    if locked is not None and len(targets) > 1:
        raise InvalidInput("--lock reproduces one target: add --target LABEL")
    pinned = _pin_to_lock(loaded, locked) if locked is not None else loaded
    # Every plan first: an infeasible target stops the build before any step runs.
    plans = [make_plan(pinned.recipe, t) for t in targets]
    errors = [f"{p.target}: {e}" if len(plans) > 1 else e for p in plans for e in p.errors]
    if errors:
        raise Infeasible("plan is infeasible: " + "; ".join(errors), hint=f"see `trtforge plan {recipe}`")
    cache = _cache(cache_dir)
    sink = make_sink(as_json=as_json) if not dry_run else (lambda ev: None)
    previous = signal.signal(signal.SIGTERM, _raise_sigterm)
    results = []
    try:
        for plan, t in zip(plans, targets, strict=True):
            steps = steps_for(pinned, plan, registry)
            req = BuildRequest(loaded=loaded, plan=plan, steps=steps,
                               layout=publish_layout(steps, pinned, registry),
                               output_dir=_out_dir(loaded, output, target_label(t)), cache=cache, force=force,
                               only=only, dry_run=dry_run, jobs=jobs, locked=locked)
            results.append((plan, req, run_build(req, sink)))
            if results[-1][2].status == "failed":
                break  # a failed target stops a matrix build (its error is the exit status)
    finally:
        signal.signal(signal.SIGTERM, previous)
        close = getattr(sink, "close", None)
        if close:
            close()
    if dry_run:
        doc = {"dry_run": True, "cache": str(cache.root), "targets": [
            {"recipe": loaded.recipe.name, "target": plan.target, "backend": plan.backend,
             "output": str(req.output_dir), "steps": [s.to_json() for s in res.steps]}
            for plan, req, res in results]}
        emit_json(doc) if as_json else _print_dry_run(doc)
        return
    for _plan, _req, res in results:
        if res.status == "partial" and not as_json:
            entry = next((s.entry for s in res.steps if s.name == only), None)
            say(f"{only}: {entry.path / 'out' if entry else '?'} (not published: --only)")
    failed = [(req, res) for _p, req, res in results if res.error is not None]
    if failed:
        req, res = failed[0]
        err = res.error
        step = next((s for s in res.steps if s.error is err), None)
        if only is not None and step is not None:
            why = f"step '{step.name}' could not run here" if step.name != only else "it could not run here"
            raise type(err)(f"--only {only}: {why}: {err.message}", hint=err.hint)
        if res.status == "blocked" and step is not None:
            _show_handoffs(req.output_dir, as_json)
            hints = [err.hint] if err.hint else []
            instructions = req.output_dir / "build-instructions"
            if step.instructions is not None and str(instructions) not in (err.hint or ""):
                hints.append(f"build instructions are in {instructions}")
            hints.append(f"what completed is published in {req.output_dir} (see trtforge.lock.json)")
            raise type(err)(f"step '{step.name}' could not run here: {err.message}", hint="; ".join(hints))
        raise err


cache_app = typer.Typer(help="Inspect and clean the build cache.", no_args_is_help=True)


@cache_app.command("ls")
def cache_ls(
    as_json: bool = typer.Option(False, "--json", help="Print entries as JSON."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """List cached step outputs with their sizes, and the hub download cache."""
    from trtforge.cli.progress import human_bytes

    cache = _cache(cache_dir)
    refs = cache.referenced()
    rows = []
    for e in cache.entries():
        used = e.path.stat().st_mtime
        rows.append({"fingerprint": e.fingerprint, "kind": e.meta.get("kind"), "name": e.meta.get("name"),
                     "recipe": e.meta.get("recipe"), "bytes": e.bytes, "files": len(e.meta.get("files", {})),
                     "created": e.meta.get("created"), "duration_s": e.meta.get("duration_s"),
                     "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(used)),
                     "referenced_by": refs.get(e.fingerprint, [])})
    hub_bytes, hub_files = cache.hub_size()
    doc = {"cache": str(cache.root), "entries": rows, "total_bytes": sum(r["bytes"] for r in rows),
           "hub": {"path": str(cache.hub), "bytes": hub_bytes, "files": hub_files}}
    if as_json:
        emit_json(doc)
        return
    say(f"cache: {cache.root}")
    for r in rows:
        ref = "in use" if r["referenced_by"] else "unreferenced"
        say(f"  {r['fingerprint'][:12]}  {r['kind']:<14} {r['recipe'] or '':<20} {human_bytes(r['bytes']):>10} "
            f"{r['files']:>5} files  used {r['last_used']}  {ref}")
    say(f"{len(rows)} entries, {human_bytes(doc['total_bytes'])}; hub downloads {human_bytes(hub_bytes)}")


@cache_app.command("verify")
def cache_verify(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fix: bool = typer.Option(False, "--fix", help="Remove corrupt entries (the next build recreates them)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """Re-hash every cache entry and report the corrupt ones (exit 1 if any remain)."""
    from trtforge.cli.progress import human_bytes

    cache = _cache(cache_dir)
    t0 = time.monotonic()
    reports = cache.verify()
    seconds = time.monotonic() - t0
    hashed = sum(r["bytes"] for r in reports)
    bad = [r for r in reports if not r["ok"]]
    removed = []
    if fix:
        for r in bad:
            lock = cache.lock(r["fingerprint"])
            with lock:
                cache.evict(r["fingerprint"])
            removed.append(r["fingerprint"])
    doc = {"cache": str(cache.root), "entries": reports, "corrupt": len(bad), "removed": removed,
           "bytes": hashed, "seconds": round(seconds, 3),
           "throughput_mb_s": round(hashed / seconds / 1e6, 1) if seconds > 0 else None}
    if as_json:
        emit_json(doc)
    else:
        for r in bad:
            say(f"corrupt {r['fingerprint'][:12]} {r['kind']}: " + "; ".join(r["problems"][:5])
                + (" (removed)" if r["fingerprint"] in removed else ""))
        say(f"verified {len(reports)} entries, {human_bytes(hashed)} in {seconds:.1f}s: "
            + ("all intact" if not bad else f"{len(bad)} corrupt"))
    if bad and not fix:
        raise typer.Exit(1)


@cache_app.command("gc")
def cache_gc(
    older_than: Optional[float] = typer.Option(
        None, "--older-than", help="Also remove entries unused for this many days (even if an output uses them)."),
    all_: bool = typer.Option(
        False, "--all", help="Ignore references: remove every entry not used in the last 10 minutes."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """Remove entries no output directory references (and old ones), and leftovers of killed builds."""
    from trtforge.cli.progress import human_bytes

    cache = _cache(cache_dir)
    report = cache.gc(older_than_s=older_than * 86400 if older_than is not None else None,
                      keep_referenced=not all_, dry_run=dry_run)
    if as_json:
        emit_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    for r in report["removed"]:
        say(f"{verb} {r['fingerprint'][:12]} {r['kind']} ({r['reason']}, {human_bytes(r['bytes'])})")
    say(f"{verb} {len(report['removed'])} entries ({human_bytes(report['freed_bytes'])}), kept {report['kept']}")


def plugins(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List step kinds: built-in ones and those plugins add (a broken plugin is listed with its error)."""
    import importlib.util

    from trtforge.steps import default_registry

    registry, reports = default_registry()
    kinds = []
    for k in registry.kinds():
        available = True
        if isinstance(k.target, str):
            try:
                available = importlib.util.find_spec(k.target.partition(":")[0]) is not None
            except (ImportError, ValueError):
                available = False
        kinds.append({"kind": k.kind, "origin": k.origin, "available": available, "after": k.after,
                      "publish": k.publish, "summary": k.summary})
    doc = {"kinds": kinds, "plugins": [r.to_json() for r in reports]}
    if as_json:
        emit_json(doc)
        return
    say("step kinds:")
    for k in kinds:
        where = "built-in" if k["origin"] == "builtin" else f"plugin {k['origin']}"
        state = "" if k["available"] else " (not installed)"
        say(f"  {k['kind']:<16} {where}{state}: {k['summary']}")
    say("plugins:" if reports else "plugins: none installed")
    for r in reports:
        label = f"{r.name} ({r.dist} {r.version})" if r.dist else r.name
        say(f"  {label}: " + (f"BROKEN: {r.error}" if r.error else "kinds " + ", ".join(r.kinds)))


def register(app: typer.Typer) -> None:
    app.command()(build)
    app.add_typer(cache_app, name="cache")
    app.command()(plugins)
