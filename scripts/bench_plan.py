#!/usr/bin/env python3
"""Time planning every shipped recipe: in-process (load recipe + config.json + plan) and the CLI end to end.

python scripts/bench_plan.py            # print the table
python scripts/bench_plan.py --write    # also replace the "Planning" section of docs/performance.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END = "<!-- bench_plan:start -->", "<!-- bench_plan:end -->"


def time_in_process(path: Path, repeat: int) -> tuple[float, float, float]:
    """(first call, median, max) seconds of load_recipe + make_plans, caches cleared before each call."""
    from trtforge.hardware.catalog import _index, load_catalog
    from trtforge.models.registry import architectures
    from trtforge.plan import make_plans
    from trtforge.plan.formats import clear_caches
    from trtforge.plan.tuned import tuned_configs
    from trtforge.recipe import load_recipe

    times = []
    for _ in range(repeat):
        for cached in (load_catalog, _index, architectures, tuned_configs):
            cached.cache_clear()
        clear_caches()
        t0 = time.perf_counter()
        make_plans(load_recipe(path, env={"HF_TOKEN": ""}).recipe)
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times), max(times)


def time_cli(path: Path, repeat: int) -> float:
    """Median wall seconds of `python -m trtforge plan RECIPE --json` (start-up and imports included)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "trtforge", "plan", str(path), "--json"],
            cwd=ROOT,
            capture_output=True,
            check=False,
            env={"HF_TOKEN": "", "PATH": "/usr/bin:/bin"},
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="in-process repetitions per recipe")
    parser.add_argument("--cli-repeat", type=int, default=3, help="CLI runs per recipe")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    rows = []
    for path in recipes:
        first, median, worst = time_in_process(path, args.repeat)
        cli = time_cli(path, args.cli_repeat)
        rows.append((path.name, first, median, worst, cli))
    lines = [
        "| recipe | first plan (ms) | median (ms) | max (ms) | `trtforge plan --json` wall (ms) |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {n} | {f * 1e3:.1f} | {m * 1e3:.1f} | {w * 1e3:.1f} | {c * 1e3:.0f} |"
            for n, f, m, w, c in rows
        ],
    ]
    total = sum(r[2] for r in rows)
    machine = f"{platform.machine()}, Python {platform.python_version()}, {platform.system()}"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())  # other jobs on the machine skew the figures
    when = datetime.date.today().isoformat()
    body = "\n".join(
        [
            START,
            "## Planning",
            "",
            f"`scripts/bench_plan.py` (repeat {args.repeat}, CLI repeat {args.cli_repeat}) on {machine}, "
            f"{os.cpu_count()} CPUs, no GPU, {when}, load average {load} (1/5/15 min) at the end of the run. "
            "In-process = `load_recipe` + config.json lookup + `make_plans` "
            "(catalog/table caches cleared before "
            "each call); the CLI column includes interpreter start-up and imports.",
            "",
            *lines,
            "",
            f"All {len(rows)} shipped recipes plan in {total * 1e3:.1f} ms together (medians, in-process).",
            END,
        ]
    )
    print(body)
    if args.write:
        doc = ROOT / "docs" / "performance.md"
        text = (
            doc.read_text() if doc.exists() else "# Performance\n\nMeasured numbers, one section per area.\n"
        )
        if START in text and END in text:
            text = text[: text.index(START)] + body + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + body + "\n"
        doc.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
