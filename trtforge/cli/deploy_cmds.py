"""`trtforge deploy`: hand-off files for trtllm-serve, Triton, Kubernetes LeaderWorkerSet, NVIDIA Dynamo,
Slurm."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from trtforge.cli.render import emit_json, say, warn
from trtforge.errors import InvalidInput

TARGET_NAMES = (
    "trtllm-serve",
    "triton",
    "k8s-lws",
    "dynamo",
    "slurm",
)  # trtforge.deploy.TARGETS, kept import-free


def _source(source: Path, hardware: str | None):  # type: ignore[no-untyped-def]
    """(recipe, target, pinned revision or None) from a recipe file or a build output directory."""
    # the lock's hashing helpers (~30 ms) and the pydantic recipe models (~0.2 s) of start-up
    from trtforge.pipeline.lockfile import LOCK_NAME, read_lock
    from trtforge.recipe.loader import load_recipe
    from trtforge.recipe.schema import target_label

    revision = None
    # deploy downloads nothing: a recipe's '${HF_TOKEN}' may be unset here (the manifests name a Secret
    # instead)
    env = {"HF_TOKEN": "", **os.environ}
    if source.is_dir():
        lock_path = source / LOCK_NAME
        if not lock_path.is_file():
            raise InvalidInput(
                f"{source} is neither a recipe file nor a trtforge build output (no {LOCK_NAME})"
            )
        lock = read_lock(lock_path)
        recipe_file = Path(lock["recipe"]["file"])
        if not recipe_file.is_file():
            raise InvalidInput(
                f"the build's recipe {recipe_file} (as its lock file records it) is not found from here",
                hint="run deploy where the build ran, or give the recipe file (and --hardware LABEL)",
            )
        recipe = load_recipe(recipe_file, env=env).recipe
        hardware = hardware or lock["target"]["label"]
        revision = (lock.get("model") or {}).get("revision_resolved")
    elif source.is_file():
        recipe = load_recipe(source, env=env).recipe
    else:
        raise InvalidInput(f"{source} does not exist")
    targets = recipe.all_targets
    if hardware is not None:
        chosen = [t for t in targets if target_label(t) == hardware]
        if not chosen:
            raise InvalidInput(
                f"no target '{hardware}' in {recipe.name}",
                hint="one of: " + ", ".join(target_label(t) for t in targets),
            )
        return recipe, chosen[0], revision
    if len(targets) > 1:
        raise InvalidInput(
            f"{recipe.name} has {len(targets)} targets: pick one with --hardware",
            hint="one of: " + ", ".join(target_label(t) for t in targets),
        )
    return recipe, targets[0], revision


def deploy(
    source: Path = typer.Argument(
        ..., metavar="RECIPE|OUTPUT", help="Recipe file, or a build output directory."
    ),
    target: list[str] = typer.Option(
        [],
        "--target",
        "-t",
        help="trtllm-serve | triton | k8s-lws | dynamo | slurm (repeat; default: every one "
        "that fits the plan).",
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Directory; each target is written to DIR/<target>/."
    ),
    hardware: str | None = typer.Option(None, "--hardware", help="Target label of a multi-target recipe."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Render deployment files from the recipe and its plan (no download); every manifest is validated against
    upstream schemas and every script with bash -n / shellcheck before anything is written."""
    # the planner and the deploy renderers with their schemas: ~0.3 s of start-up
    from trtforge import deploy as dp
    from trtforge.plan import make_plan

    unknown = [t for t in target if t not in TARGET_NAMES]
    if unknown:
        raise InvalidInput(f"unknown deploy target '{unknown[0]}'", hint="one of: " + ", ".join(TARGET_NAMES))
    recipe, hw, revision = _source(source, hardware)
    plan = make_plan(recipe, hw)
    ctx = dp.make_context(recipe, plan, revision=revision)
    explicit = bool(target)
    wanted = list(dict.fromkeys(target)) or list(TARGET_NAMES)
    bundles, skipped = [], {}
    for name in wanted:
        try:
            bundles.append(dp.render(ctx, name))
        except InvalidInput as exc:
            if explicit:
                raise
            skipped[name] = exc.one_line()
    for b in bundles:
        dp.check(b)
    written: dict[str, Any] = {}
    for b in bundles:
        dest = dp.write(b, output / b.target)
        written[b.target] = {"dir": str(dest), "files": sorted(b.files), "documents": len(b.documents)}
    if as_json:
        from trtforge.deploy.schemas import provenance  # part of trtforge.deploy, loaded lazily above

        emit_json(
            {
                "recipe": recipe.name,
                "target": plan.target,
                "written": written,
                "skipped": skipped,
                "schemas": provenance(),
            }
        )
        return
    for name, info in written.items():
        extra = f", {info['documents']} manifests validated" if info["documents"] else ""
        say(f"{name}: {info['dir']} ({len(info['files'])} files{extra}); see its README.md")
    for name, why in skipped.items():
        warn(f"skipped {name}: {why}")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
