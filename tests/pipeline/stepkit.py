"""Test-only step kinds, loaded like a plugin: TRTFORGE_PLUGINS=tests.pipeline.stepkit:register.

Each reads its options from the recipe's `steps.<kind>` section (that is also its params). When $STEPKIT_RUNS
names a file, every run appends "<kind> <pid>" to it, so tests can count how often work really happened.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from trtforge.errors import ToolMissing
from trtforge.pipeline.step import Step, StepContext

RUNS_ENV = "STEPKIT_RUNS"
SCALE_ENV = (
    "STEPKIT_TIME_SCALE"  # multiplies sleepy's `seconds` (not a parameter: the fingerprint stays the same)
)


def record_run(kind: str) -> None:
    path = os.environ.get(RUNS_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{kind} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


def deterministic_bytes(seed: str, size: int) -> bytes:
    """`size` pseudo-random bytes that depend only on seed (sha256 in counter mode)."""
    out = bytearray()
    block = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{block}".encode()).digest() * 1024
        block += 1
    return bytes(out[:size])


class _Kit(Step):
    def options(self) -> dict[str, Any]:
        return dict(self.loaded.recipe.steps.get(self.kind) or {})

    def params(self) -> dict[str, Any]:
        return self.options()

    def upstream_listing(self, ctx: StepContext) -> str:
        lines = []
        for name in sorted(ctx.inputs):
            root = Path(ctx.inputs[name])
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    lines.append(f"{name}/{p.relative_to(root).as_posix()} {p.stat().st_size}")
        return "\n".join(lines) + "\n"


class SleepyStep(_Kit):
    """Writes a result derived from its inputs, slowly: seconds (float), bytes (int)."""

    kind = "sleepy"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        record_run(self.kind)
        opts = self.options()
        seconds = float(opts.get("seconds", 0)) * float(os.environ.get(SCALE_ENV, "1"))
        size = int(opts.get("bytes", 4096))
        data = deterministic_bytes(f"{self.kind}:{opts}", size)
        (ctx.out_dir / "data.bin").write_bytes(data[: size // 2])  # a partial file, completed at the end
        t0 = time.monotonic()
        while (left := seconds - (time.monotonic() - t0)) > 0:
            ctx.progress("sleeping", round(seconds - left, 2), seconds, "s")
            time.sleep(min(0.05, left))
        (ctx.out_dir / "data.bin").write_bytes(data)
        (ctx.out_dir / "nested" / "empty").mkdir(parents=True)
        (ctx.out_dir / "nested" / "inputs.txt").write_text(self.upstream_listing(ctx))
        return {"seconds": float(opts.get("seconds", 0)), "bytes": size}


class SleepyTwinStep(SleepyStep):
    """Same as sleepy, as a second independent kind (for concurrency tests)."""

    kind = "sleepy_twin"


class BoomStep(_Kit):
    """Fails with an ordinary exception after writing something."""

    kind = "boom"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        record_run(self.kind)
        (ctx.out_dir / "half.txt").write_text("half")
        raise RuntimeError("kaboom in the test step")


class NeedsToolStep(_Kit):
    """Cannot run here: leaves build instructions in the hand-off directory, then raises ToolMissing."""

    kind = "needs_tool"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        record_run(self.kind)
        handoff = Path(ctx.options["handoff_dir"])
        handoff.mkdir(parents=True, exist_ok=True)
        (handoff / "frobnicate.sh").write_text("#!/bin/sh\nfrobnicate --model ./checkpoint\n")
        raise ToolMissing("frobnicate was not found on PATH", hint=f"the exact command is in {handoff}")


class SecretParamStep(_Kit):
    """Puts the hub token into its params (a bug the runner must refuse to record)."""

    kind = "leaky"

    def params(self) -> dict[str, Any]:
        return {"token": os.environ.get("HF_TOKEN", "")}

    def run(self, ctx: StepContext) -> dict[str, Any]:  # pragma: no cover - refused before it runs
        return {}


KINDS = (SleepyStep, SleepyTwinStep, BoomStep, NeedsToolStep, SecretParamStep)


def register(registry) -> None:  # noqa: ANN001
    for cls in KINDS:
        registry.add(cls, after="checkpoint")
