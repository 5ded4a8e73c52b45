#!/usr/bin/env python3
"""Benchmark the build cache: no-op rebuild time vs artifact size, `cache verify` throughput vs raw reads,
RSS.

For each artifact size (default 100 MB and 5 GB) it writes a checkpoint directory (the tiny model's config and
tokenizer plus safetensors-named shards of that size), builds a CPU recipe from it once, then times no-op
rebuilds of `trtforge build` as separate processes (what a user or CI sees: interpreter start-up included).
For the largest size it then measures, on the same files in the same run, the raw sequential read speed
(cold: each file is evicted from the page cache first) and `trtforge cache verify` (cold too), and the peak
RSS of the verify process.

    python scripts/bench_cache.py                      # 100M and 5G, markdown table on stdout
    python scripts/bench_cache.py --sizes 100M,1G --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARD = 4 << 30  # at most this many bytes per file: a 5 GB checkpoint is 2 shards, like the hub's 5 GB limit
BLOCK = 64 << 20


def parse_size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6, "G": 10**9}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache (no root needed for clean pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def write_checkpoint(directory: Path, size: int) -> list[Path]:
    from trtforge.testing.tiny_models import make_tiny_model

    make_tiny_model("llama", directory)
    (directory / "model.safetensors").unlink()  # replaced by the shards below
    n = max(1, -(-size // SHARD))
    block = memoryview(os.urandom(BLOCK))
    shards = []
    left = size
    counter = 0
    for i in range(n):
        path = directory / f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        want = min(left, -(-size // n))
        with open(path, "wb") as f:
            written = 0
            while written < want:
                take = min(BLOCK, want - written)
                f.write(counter.to_bytes(8, "little")[:take])  # keep blocks distinct
                f.write(block[8:take])
                written += take
                counter += 1
        left -= want
        shards.append(path)
    return shards


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "trtforge", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"trtforge {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return wall, out


def pipeline_seconds(stdout: str) -> float:
    for line in reversed(stdout.splitlines()):
        ev = json.loads(line)
        if ev.get("event") == "build_finished":
            return float(ev["duration_s"])
    raise ValueError("no build_finished event")


def raw_read(paths: list[Path]) -> tuple[int, float]:
    """Sequential single-threaded read of every file, cold: (bytes, seconds)."""
    for p in paths:
        evict(p)
    buf = bytearray(4 << 20)
    total = 0
    t0 = time.perf_counter()
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while n := os.readv(fd, [buf]):
                total += n
        finally:
            os.close(fd)
    return total, time.perf_counter() - t0


def verify_with_rss(env: dict[str, str], cwd: Path) -> tuple[dict, int]:
    """Run `trtforge cache verify --json` in a child that reports its own peak RSS (bytes).

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its
    parent's.
    """
    code = (
        "import sys\nfrom trtforge.cli.app import main\n"
        "try:\n    main(['cache', 'verify', '--json'])\nexcept SystemExit:\n    pass\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "sys.stderr.write('MAXRSS_KB=' + hwm + '\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    rss_kb = int(
        next(line for line in out.stderr.splitlines() if line.startswith("MAXRSS_KB=")).split("=")[1]
    )
    return json.loads(out.stdout), rss_kb * 1024


def bench_size(base: Path, size: int, repeat: int) -> dict:
    work = base / f"size-{size}"
    model = work / "model"
    shards = write_checkpoint(model, size)
    (work / "cache").mkdir(parents=True, exist_ok=True)
    (work / "r.yaml").write_text(
        "name: bench\nmodel: {path: model}\ntarget: {gpu: cpu}\n"
        "quantization: {format: none}\noutputs: {triton_repo: false}\n"
    )
    env = {
        **os.environ,
        "TRTFORGE_CACHE": str(work / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("TRTFORGE_PLUGINS", None)
    first_wall, first = run_cli(["build", "r.yaml", "--json"], env, work)
    walls, inner = [], []
    for _ in range(repeat):
        wall, out = run_cli(["build", "r.yaml", "--json"], env, work)
        evs = [json.loads(line) for line in out.stdout.splitlines()]
        assert not [e for e in evs if e["event"] == "started"], "a no-op rebuild ran a step"
        walls.append(wall)
        inner.append(pipeline_seconds(out.stdout))
    help_wall = min(run_cli(["--help"], env, work)[0] for _ in range(3))
    return {
        "size": size,
        "files": len(shards),
        "first_build_s": round(first_wall, 3),
        "noop_wall_s": round(statistics.median(walls), 3),
        "noop_wall_all": [round(w, 3) for w in walls],
        "noop_pipeline_s": round(statistics.median(inner), 4),
        "cli_startup_s": round(help_wall, 3),
        "work": str(work),
        "shards": [str(s) for s in shards],
        "env": env,
    }


def bench_verify(result: dict, repeat: int) -> dict:
    work, env = Path(result["work"]), result["env"]
    shards = [Path(s) for s in result["shards"]]
    entry_files = [p for p in (work / "cache" / "steps").rglob("*.safetensors")]
    rows = []
    for _ in range(repeat):
        nbytes, raw_s = raw_read(shards)
        for p in entry_files:
            evict(p)
        doc, rss = verify_with_rss(env, work)
        assert doc["corrupt"] == 0, doc
        rows.append(
            {
                "raw_mb_s": nbytes / raw_s / 1e6,
                "verify_mb_s": doc["bytes"] / doc["seconds"] / 1e6,
                "verify_s": doc["seconds"],
                "bytes": doc["bytes"],
                "rss": rss,
            }
        )
    ratios = [r["verify_mb_s"] / r["raw_mb_s"] for r in rows]
    return {
        "runs": [{k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
        "median_ratio": round(statistics.median(ratios), 3),  # the mean of the two middle runs if even
        "best_ratio": round(max(ratios), 3),
        "peak_rss_mb": round(max(r["rss"] for r in rows) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default="100M,5G", help="artifact sizes, comma-separated (K/M/G = 10^3/6/9 bytes)"
    )
    ap.add_argument("--repeat", type=int, default=5, help="no-op rebuilds per size (median reported)")
    ap.add_argument("--verify-repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="scratch directory (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    args = ap.parse_args(argv)
    base = args.dir or Path(tempfile.mkdtemp(prefix="trtforge-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        results = [bench_size(base, parse_size(s), args.repeat) for s in args.sizes.split(",")]
        verify = bench_verify(results[-1], args.verify_repeat)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    for r in results:
        r.pop("env"), r.pop("shards"), r.pop("work")
    ratio = results[-1]["noop_wall_s"] / results[0]["noop_wall_s"]
    doc = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "sizes": results,
        "noop_ratio_largest_vs_smallest": round(ratio, 3),
        "verify": verify,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(
        "| artifact | files | first build (s) | no-op rebuild, wall (s) | of which pipeline (s) | `--help` "
        "(s) |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['size'] / 1e9:g} GB | {r['files']} | {r['first_build_s']} | {r['noop_wall_s']} "
            f"(all: {', '.join(map(str, r['noop_wall_all']))}) | {r['noop_pipeline_s']} | "
            f"{r['cli_startup_s']} |"
        )
    print(f"\nno-op ratio {results[-1]['size'] / 1e9:g} GB / {results[0]['size'] / 1e9:g} GB: {ratio:.3f}")
    print("\n| run | raw sequential read (MB/s) | cache verify (MB/s) | ratio | verify peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for i, r in enumerate(verify["runs"], 1):
        print(
            f"| {i} | {r['raw_mb_s']:.0f} | {r['verify_mb_s']:.0f} | {r['verify_mb_s'] / r['raw_mb_s']:.2f} "
            f"| {r['rss'] / 2**20:.0f} |"
        )
    print(f"\nverify/raw median {verify['median_ratio']}, peak RSS {verify['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
