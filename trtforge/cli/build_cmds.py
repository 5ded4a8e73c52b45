"""`trtforge build`, `trtforge cache ls|verify|gc`, `trtforge plugins`: run the pipeline, look after its
cache."""

from __future__ import annotations

import importlib.util
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trtforge.cli.progress import human_bytes, make_sink
from trtforge.cli.render import emit_event, emit_json, say, warn
from trtforge.steps import default_registry

if TYPE_CHECKING:
    from trtforge.pipeline.cache import CacheStore

CACHE_HELP = "Cache directory (default: $TRTFORGE_CACHE or the platform user cache dir)."


def _cache(cache_dir: Path | None) -> CacheStore:
    # the cache's hashing and file helpers (blake3, importlib.metadata): ~30 ms of start-up
    from trtforge.pipeline.cache import CacheStore, default_root

    return CacheStore(cache_dir or default_root())


def _print_dry_run(doc: dict[str, Any]) -> None:
    for t in doc["targets"]:
        say(f"{t['recipe']} [{t['target']}, backend {t['backend']}] -> {t['output']}")
        for s in t["steps"]:
            fp = (s["fingerprint"] or "")[:12] or "(after upstream)"
            status = {"will-run": "will run", "cached": "cached"}.get(s["status"], s["status"])
            say(f"  {s['name']:<16} {status:<9} {fp}" + (f"  {s['message']}" if s["message"] else ""))
            for cmd in s["commands"]:
                say("      $ " + shlex.join(cmd))


def _show_handoffs(output_dir: Path, as_json: bool) -> None:
    """The exact command a blocked compile left in output_dir's build-instructions/, shown on stderr."""
    from trtforge import api  # the recipe schema and planner: ~0.3 s of start-up (see build)

    _print_handoffs(api.handoffs(output_dir), as_json)


def _print_handoffs(handoffs: list[dict[str, Any]], as_json: bool) -> None:
    for h in handoffs:
        if as_json:
            emit_event(
                {"event": "handoff", "run_in": h["run_in"], "command": h["command"], "script": h["script"]}
            )
            continue
        warn(
            f"to finish on a machine with the GPU and TensorRT-LLM {h['trtllm_version']}, copy "
            f"{h['run_in']} there and run inside it:"
        )
        warn("  " + shlex.join(h["command"]))
        warn(f"  (or: bash {h['script']}, which falls back to NVIDIA's release container)")


def build(
    recipe: Path = typer.Argument(..., help="Recipe file.", show_default=False),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Output directory (default: outputs.dir, else ./out/<name>; a matrix: one subdirectory per "
        "target).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the steps, what is cached and the commands; run nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Rebuild even what is cached (with --only: that step)."
    ),
    only: str | None = typer.Option(
        None, "--only", help="Run this step (and what it needs) into the cache; do not publish."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON event per line (--dry-run: one JSON document)."
    ),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP),
    lock: Path | None = typer.Option(
        None,
        "--lock",
        help="Reproduce this trtforge.lock.json: pin its model commit, fail if a step fingerprint differs.",
    ),
    target: str | None = typer.Option(None, "--target", help="Matrix recipes: build only this target label."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, max=32, help="Independent steps to run at once."),
) -> None:
    """Build a recipe: download -> quantize -> compile -> Triton repository, cached and resumable.

    Exit: 0 built, 1 step failed, 2 invalid input, 3 infeasible plan, 4 tool missing (rest published), 130 stopped.
    """  # noqa: E501 (Typer keeps the docstring's line breaks in --help)
    # trtforge.api loads the recipe schema, planner and step graph (pydantic models, data tables): ~0.3 s
    # that `trtforge --help` and the other commands must not pay.
    from trtforge import api

    sink = make_sink(as_json=as_json) if not dry_run else None
    try:
        outcome = api.build(
            recipe,
            output=output,
            dry_run=dry_run,
            force=force,
            only=only,
            cache_dir=cache_dir,
            lock=lock,
            target=target,
            jobs=jobs,
            sink=sink,
            on_warning=warn,
        )
    finally:
        close = getattr(sink, "close", None)
        if close:
            close()
    if dry_run:
        doc = outcome.dry_run_document()
        emit_json(doc) if as_json else _print_dry_run(doc)
        return
    if not as_json:
        for path in outcome.only_outputs():
            say(f"{only}: {path if path else '?'} (not published: --only)")
    _print_handoffs(outcome.handoffs, as_json)
    outcome.raise_for_error()


cache_app = typer.Typer(help="Inspect and clean the build cache.", no_args_is_help=True)


@cache_app.command("ls")
def cache_ls(
    as_json: bool = typer.Option(False, "--json", help="Print entries as JSON."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """List cached step outputs with their sizes, and the hub download cache."""
    cache = _cache(cache_dir)
    refs = cache.referenced()
    rows: list[dict[str, Any]] = []
    for e in cache.entries():
        used = e.path.stat().st_mtime
        rows.append(
            {
                "fingerprint": e.fingerprint,
                "kind": e.meta.get("kind"),
                "name": e.meta.get("name"),
                "recipe": e.meta.get("recipe"),
                "bytes": e.bytes,
                "files": len(e.meta.get("files", {})),
                "created": e.meta.get("created"),
                "duration_s": e.meta.get("duration_s"),
                "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(used)),
                "referenced_by": refs.get(e.fingerprint, []),
            }
        )
    hub_bytes, hub_files = cache.hub_size()
    total_bytes = sum(r["bytes"] for r in rows)
    doc = {
        "cache": str(cache.root),
        "entries": rows,
        "total_bytes": total_bytes,
        "hub": {"path": str(cache.hub), "bytes": hub_bytes, "files": hub_files},
    }
    if as_json:
        emit_json(doc)
        return
    say(f"cache: {cache.root}")
    for r in rows:
        ref = "in use" if r["referenced_by"] else "unreferenced"
        say(
            f"  {r['fingerprint'][:12]}  {r['kind']:<14} {r['recipe'] or '':<20} "
            f"{human_bytes(r['bytes']):>10} "
            f"{r['files']:>5} files  used {r['last_used']}  {ref}"
        )
    say(f"{len(rows)} entries, {human_bytes(total_bytes)}; hub downloads {human_bytes(hub_bytes)}")


@cache_app.command("verify")
def cache_verify(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fix: bool = typer.Option(False, "--fix", help="Remove corrupt entries (the next build recreates them)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """Re-hash every cache entry and report the corrupt ones (exit 1 if any remain)."""
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
    doc = {
        "cache": str(cache.root),
        "entries": reports,
        "corrupt": len(bad),
        "removed": removed,
        "bytes": hashed,
        "seconds": round(seconds, 3),
        "throughput_mb_s": round(hashed / seconds / 1e6, 1) if seconds > 0 else None,
    }
    if as_json:
        emit_json(doc)
    else:
        for r in bad:
            say(
                f"corrupt {r['fingerprint'][:12]} {r['kind']}: "
                + "; ".join(r["problems"][:5])
                + (" (removed)" if r["fingerprint"] in removed else "")
            )
        say(
            f"verified {len(reports)} entries, {human_bytes(hashed)} in {seconds:.1f}s: "
            + ("all intact" if not bad else f"{len(bad)} corrupt")
        )
    if bad and not fix:
        raise typer.Exit(1)


@cache_app.command("gc")
def cache_gc(
    older_than: float | None = typer.Option(
        None,
        "--older-than",
        help="Also remove entries unused for this many days (even if an output uses them).",
    ),
    all_: bool = typer.Option(
        False, "--all", help="Ignore references: remove every entry not used in the last 10 minutes."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP),
) -> None:
    """Remove entries no output directory references (and old ones), and leftovers of killed builds."""
    cache = _cache(cache_dir)
    report = cache.gc(
        older_than_s=older_than * 86400 if older_than is not None else None,
        keep_referenced=not all_,
        dry_run=dry_run,
    )
    if as_json:
        emit_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    for r in report["removed"]:
        say(f"{verb} {r['fingerprint'][:12]} {r['kind']} ({r['reason']}, {human_bytes(r['bytes'])})")
    say(
        f"{verb} {len(report['removed'])} entries ({human_bytes(report['freed_bytes'])}), kept "
        f"{report['kept']}"
    )


def plugins(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List step kinds: built-in ones and those plugins add (a broken plugin is listed with its error)."""
    registry, reports = default_registry()
    kinds = []
    for k in registry.kinds():
        available = True
        if isinstance(k.target, str):
            try:
                available = importlib.util.find_spec(k.target.partition(":")[0]) is not None
            except (ImportError, ValueError):
                available = False
        kinds.append(
            {
                "kind": k.kind,
                "origin": k.origin,
                "available": available,
                "after": k.after,
                "publish": k.publish,
                "summary": k.summary,
            }
        )
    doc = {"kinds": kinds, "plugins": [r.to_json() for r in reports]}
    if as_json:
        emit_json(doc)
        return
    say("step kinds:")
    for row in kinds:
        where = "built-in" if row["origin"] == "builtin" else f"plugin {row['origin']}"
        state = "" if row["available"] else " (not installed)"
        say(f"  {row['kind']:<16} {where}{state}: {row['summary']}")
    say("plugins:" if reports else "plugins: none installed")
    for r in reports:
        label = f"{r.name} ({r.dist} {r.version})" if r.dist else r.name
        say(f"  {label}: " + (f"BROKEN: {r.error}" if r.error else "kinds " + ", ".join(r.kinds)))


def register(app: typer.Typer) -> None:
    app.command()(build)
    app.add_typer(cache_app, name="cache")
    app.command()(plugins)
