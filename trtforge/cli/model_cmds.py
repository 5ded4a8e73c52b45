"""`trtforge inspect`, `gpus`, `plan`: what a model is, what GPUs are, and whether one fits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from trtforge.cli.render import console, emit_json, warn
from trtforge.errors import EXIT_INFEASIBLE, InvalidInput


def _fmt_params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def inspect(
    source: str = typer.Argument(
        ..., help="Model directory, config.json path, or hub id org/name[@revision]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """What a model is, from config.json alone: parameters, KV per token, native quantization, backends."""
    # the model registry's YAML tables: ~20 ms of start-up
    from trtforge.models import load_model_spec
    from trtforge.models.report import inspect_report

    report = inspect_report(load_model_spec(source))
    if as_json:
        emit_json(report)
        return
    from rich.table import Table  # rich's table machinery: only for a terminal report

    table = Table(title=f"{report['architecture']} ({report['source']})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    moe = (
        (
            f"{report['num_experts']} experts, top-{report['experts_per_token']}"
            + (f" + {report['num_shared_experts']} shared" if report["num_shared_experts"] else "")
            + f", {report['num_moe_layers']} MoE layers"
        )
        if report["num_experts"]
        else "dense"
    )
    kv = report["kv_cache_bytes_per_token"]
    window = report["kv_cache_window_bytes_per_sequence"]
    nq = report["native_quantization"]
    rows = [
        (
            "parameters",
            f"{_fmt_params(report['total_params'])} total, {_fmt_params(report['active_params'])} active "
            f"({_fmt_params(report['active_params_without_embedding'])} without the embedding)",
        ),
        ("layers / hidden", f"{report['num_layers']} x {report['hidden_size']}"),
        (
            "attention",
            f"{report['attention']}: {report['num_attention_heads']} heads, "
            f"{report['num_kv_heads']} KV heads, "
            f"head_dim {report['head_dim']}",
        ),
        ("mlp", moe),
        ("context", f"{report['max_position_embeddings']:,} tokens"),
        ("KV cache / token", ", ".join(f"{d} {v:,.0f} B" for d, v in kv.items())),
    ]
    if report["attention_windows"]:
        rows.append(
            (
                "windowed layers",
                ", ".join(f"{n} x {w} tokens" for w, n in report["attention_windows"].items())
                + f" ({', '.join(f'{d} {v / 2**20:,.1f} MiB' for d, v in window.items())} per sequence)",
            )
        )
    rows.append(
        ("native quantization", f"{nq['method']} ({', '.join(nq['quantized_groups'])})" if nq else "none")
    )
    rows.append(
        ("TensorRT-LLM backends", ", ".join(b for b, ok in report["backends"].items() if ok) or "none")
    )
    for note in report["backend_notes"] + report["notes"]:
        rows.append(("note", note))
    for k, v in rows:
        table.add_row(k, v)
    console().print(table)


def gpus(
    as_json: bool = typer.Option(False, "--json", help="Print the catalog and local GPUs as JSON."),
) -> None:
    """The GPU catalog (names, aliases, SM, memory, bandwidth, precisions) and the GPUs NVML sees here."""
    from trtforge.hardware import detect_gpus, load_catalog  # the catalog's YAML: ~15 ms of start-up

    catalog = [g.to_json() for g in load_catalog()]
    local = [g.to_json() for g in detect_gpus()]
    if as_json:
        emit_json({"catalog": catalog, "local": local})
        return
    from rich.table import Table  # rich's table machinery: only for a terminal report

    table = Table(title="GPU catalog (trtforge/data/gpus.yaml)")
    for col in ("name", "SM", "memory GiB", "TB/s", "NVLink", "precisions", "aliases"):
        table.add_column(col)
    for g in catalog:
        table.add_row(
            g["name"],
            str(g["sm"] or "-"),
            f"{g['memory_gib']:.1f}",
            f"{g['bandwidth_tbs']:g}",
            "yes" if g["nvlink"] else "no",
            " ".join(g["precisions"]),
            ", ".join(g["aliases"]),
        )
    out = console()
    out.print(table)
    if local:
        for g in local:
            out.print(
                f"local GPU {g['index']}: {g['name']} ({g['memory_mib'] / 1024:.1f} GiB, SM {g['sm']}) "
                f"-> {g['catalog'] or 'not in the catalog'}"
            )
    else:
        out.print("local GPUs: none detected (no NVML or no NVIDIA driver here)")


def _adhoc_recipe(
    model: str,
    gpu: str,
    gpus: int | None,
    quant: str,
    kv_cache: str,
    max_seq_len: int | None,
    backend: str,
    trtllm_version: str | None,
    workload: dict[str, int] | None = None,
    nodes: int = 1,
):
    """A Recipe for `plan --model ... --gpu ...` (validated like a file): the same plan as a recipe file with
    these fields. `gpus` None = unset (1, or with gpu auto every local GPU of that model); `workload` None =
    no
    engine.workload section, its given keys otherwise (the rest take the recipe's Workload defaults)."""
    from pydantic import ValidationError

    from trtforge.recipe.schema import Recipe  # builds the pydantic recipe models: ~0.1 s of start-up

    path = Path(model).expanduser()
    if path.exists():
        source: dict[str, Any] = {"path": str(path.resolve())}
        base = path.resolve().parent.name if path.is_file() else path.resolve().name
    else:
        repo, _, revision = model.partition("@")
        source = {"repo": repo, **({"revision": revision} if revision else {})}
        base = repo.split("/")[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")[:64] or "model"
    data: dict[str, Any] = {
        "name": name,
        "model": source,
        "target": {
            "gpu": gpu,
            **({"gpus": gpus} if gpus is not None else {}),
            **({"nodes": nodes} if nodes > 1 else {}),
        },
        "quantization": {"format": quant, "kv_cache": kv_cache},
        "engine": {"backend": backend},
    }
    if max_seq_len:
        data["engine"]["max_seq_len"] = max_seq_len
    if workload:
        data["engine"]["workload"] = workload
    if trtllm_version:
        data["toolchain"] = {"trtllm_version": trtllm_version}
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("literal", "int")))
        raise InvalidInput(f"{where}: {err['msg']}") from None


def plan(
    recipe_path: Path | None = typer.Argument(
        None, metavar="[RECIPE]", help="Recipe file to plan (every target)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model directory, config.json or hub id (instead of a recipe)."
    ),
    gpu: str | None = typer.Option(
        None,
        "--gpu",
        help="GPU name or alias (see `trtforge gpus`), cpu, or auto (the GPUs NVML finds here).",
    ),
    n_gpus: int | None = typer.Option(
        None,
        "--gpus",
        min=1,
        max=64,
        show_default=False,
        help="GPUs available on the node (default 1; with --gpu auto, every local GPU of that model).",
    ),
    n_nodes: int = typer.Option(
        1, "--nodes", min=1, max=64, help="Nodes of --gpus GPUs each (multi-node plan)."
    ),
    quant: str = typer.Option(
        "none",
        "--quant",
        help="none | native | fp8 | nvfp4 | nvfp4_awq | mxfp4 | int4_awq | w4a8_awq | int8_sq",
    ),
    kv_cache: str = typer.Option("auto", "--kv-cache", help="auto | bf16 | fp16 | fp8 | nvfp4"),
    max_seq_len: int | None = typer.Option(
        None, "--max-seq-len", min=1, help="Longest sequence to serve (default: auto)."
    ),
    backend: str = typer.Option("auto", "--backend", help="auto | pytorch | tensorrt"),
    isl: int | None = typer.Option(
        None,
        "--isl",
        min=1,
        show_default=False,
        help="Typical prompt length to size limits for, engine.workload.input_len (default 1024 once any of "
        "--isl/--osl/--concurrency is given; none given: limits from the model's context, as a recipe "
        "without "
        "engine.workload).",
    ),
    osl: int | None = typer.Option(
        None,
        "--osl",
        min=1,
        show_default=False,
        help="Typical output length, engine.workload.output_len (default 1024, as for --isl).",
    ),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=1,
        show_default=False,
        help="Concurrent requests, engine.workload.concurrency (default 64, as for --isl).",
    ),
    trtllm_version: str | None = typer.Option(
        None, "--trtllm-version", help="TensorRT-LLM release (default: the recipe default)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the plan as JSON (a list for a multi-target recipe)."
    ),
) -> None:
    """Will it fit, and how should it be built? TP/PP/EP, memory, limits; exit 3 if not."""
    from trtforge import api  # the recipe schema, planner and data tables: ~0.3 s of start-up

    if (recipe_path is None) == (model is None):
        raise InvalidInput("give a RECIPE file, or --model SOURCE --gpu NAME")
    quick = (n_gpus, isl, osl, concurrency, max_seq_len, trtllm_version)
    if recipe_path is not None and (gpu or n_nodes > 1 or any(v is not None for v in quick)):
        raise InvalidInput(
            "--gpu/--gpus/--nodes/--isl/--osl/--concurrency/--max-seq-len/--trtllm-version go with --model; "
            "a recipe sets them in its file"
        )
    if recipe_path is not None:
        from trtforge.recipe.loader import load_recipe  # the pydantic recipe models (api has loaded them)

        recipe = load_recipe(recipe_path).recipe
    else:
        if not gpu:
            raise InvalidInput("--model needs --gpu NAME (see `trtforge gpus`)")
        workload = {
            k: v
            for k, v in (("input_len", isl), ("output_len", osl), ("concurrency", concurrency))
            if v is not None
        }
        recipe = _adhoc_recipe(
            model,
            gpu,
            n_gpus,
            quant,
            kv_cache,
            max_seq_len,
            backend,  # type: ignore[arg-type]
            trtllm_version,
            workload or None,
            n_nodes,
        )
    planned = api.plan(recipe)
    plans = [t.plan for t in planned]
    if as_json:  # each plan with its BuildSpec: every setting of every artifact the build would write
        docs = [t.to_json() for t in planned]
        emit_json(docs[0] if not recipe.is_matrix else docs)
    else:
        for p in plans:
            _show_plan(p)
    failed = [p for p in plans if not p.fits]
    for p in failed:
        for line in p.errors:
            prefix = f"{p.target}: " if recipe.is_matrix else ""
            warn(f"error: {prefix}{line}")
    if failed:
        raise typer.Exit(EXIT_INFEASIBLE)


def _memory_bar(plan: Any, width: int = 48) -> str:
    """One GPU's memory as a bar: weights | reserve | KV cache | free (rich markup)."""
    m = plan.memory
    total = max(m.total_gib, 1e-9)
    parts = [
        (m.weights_gib_per_gpu, "magenta", "weights"),
        (m.reserve_gib, "yellow", "reserve"),
        (m.kv_cache_gib_per_gpu, "green", "KV"),
    ]
    used, bar = 0, ""
    for gib, color, _ in parts:
        cells = min(width - used, round(width * min(gib, total) / total))
        bar += f"[{color}]{'█' * cells}[/{color}]"
        used += cells
    bar += "[dim]" + "░" * max(0, width - used) + "[/dim]"
    legend = " ".join(f"[{c}]■[/{c}] {label} {gib:.1f}" for gib, c, label in parts)
    over = "  [red bold]OVER[/red bold]" if m.weights_gib_per_gpu + m.reserve_gib > total else ""
    return f"{bar} {m.total_gib:.1f} GiB{over}\n{legend} GiB"


def _show_plan(plan: Any) -> None:
    """A readable table of one plan and a per-GPU memory bar."""
    from rich.table import Table  # rich's table machinery: only for a terminal report

    out = console()
    # a plan can fit in memory and still be refused by a build rule (exit 3 either way)
    misfit = any("does not fit" in e for e in plan.errors)
    status = "[green]fits[/green]" if plan.fits else f"[red]{'does not fit' if misfit else 'refused'}[/red]"
    table = Table(title=f"plan {plan.recipe} / {plan.target}: {status}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    q, lim, par = plan.quantization, plan.limits, plan.parallel
    weights = q.format if q.format != "native" else f"native {q.weight_format}"
    rows = [
        (
            "model",
            f"{plan.model.architecture}: {_fmt_params(plan.model.total_params)} params "
            f"({_fmt_params(plan.model.active_params)} active), {plan.model.dtype}",
        ),
        (
            "gpu",
            f"{plan.gpu.count}x {plan.gpu.name} (SM {plan.gpu.sm}, {plan.gpu.memory_gib:.1f} GiB)"
            if plan.gpu.sm
            else "cpu (reference backend)",
        ),
        ("backend", plan.backend + (f", MoE {plan.moe_backend}" if plan.moe_backend else "")),
        ("quantization", f"weights {weights} ({q.bytes_per_weight:g} B/weight), KV cache {q.kv_cache}"),
        ("parallel", f"tp {par.tp} x pp {par.pp}, ep {par.ep} (world size {par.world_size})"),
        (
            "limits",
            f"max_batch_size {lim.max_batch_size}, max_num_tokens {lim.max_num_tokens}, "
            f"max_seq_len {lim.max_seq_len}, max_kv_tokens {lim.max_kv_tokens:,}",
        ),
        ("KV fraction", f"free_gpu_memory_fraction {plan.memory.free_gpu_memory_fraction}"),
        ("toolchain", f"TensorRT-LLM {plan.toolchain.trtllm_version}, {plan.toolchain.triton_image}"),
    ]
    if plan.tuned_config:
        rows.append(("tuned config", plan.tuned_config))
    if plan.topology is not None:
        t = plan.topology
        rows.insert(
            5,
            (
                "nodes",
                f"{t.nodes} of {t.nodes_available} x {t.gpus_per_node} GPUs, {t.ranks_per_node} "
                f"ranks per node: {t.placement}",
            ),
        )
    for k, v in rows:
        table.add_row(k, v)
    for d in plan.decisions:
        table.add_row("[dim]why[/dim]", f"[dim]{d}[/dim]")
    for w in plan.warnings:
        table.add_row("[yellow]warning[/yellow]", w)
    out.print(table)
    out.print(f"per GPU: {_memory_bar(plan)}")


def register(app: typer.Typer) -> None:
    app.command()(inspect)
    app.command()(gpus)
    app.command()(plan)
