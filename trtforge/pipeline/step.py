"""The one small interface every step kind implements (download, quantize, compile, triton_repo, plugins).

A step declares what determines its output (`params`, `tool_versions`, upstream outputs) and writes that
output into `ctx.out_dir`, a private temporary directory. The runner — not the step — fingerprints, caches,
and publishes the directory atomically, so a killed step never leaves a half-written cache entry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from trtforge.plan.model import Plan
from trtforge.recipe.loader import LoadedRecipe


@dataclass
class StepContext:
    """What a running step may use. Side effects go only into `out_dir`."""

    loaded: LoadedRecipe
    plan: Plan
    out_dir: Path  # empty temp dir; everything the step produces goes here
    inputs: dict[str, Path]  # upstream step name -> its published output directory (read-only)
    cache_root: Path
    emit: Callable[[dict[str, Any]], None] = lambda event: None  # progress/log events (runner renders them)
    options: dict[str, Any] = field(default_factory=dict)  # CLI-level switches (e.g. executor overrides)

    def progress(
        self, message: str, done: float | None = None, total: float | None = None, unit: str = ""
    ) -> None:
        self.emit({"event": "progress", "message": message, "done": done, "total": total, "unit": unit})

    def log(self, line: str) -> None:
        self.emit({"event": "log", "message": line})


class Step(ABC):
    """One unit of work in a build. Subclasses set `kind` and implement `params` and `run`."""

    kind: ClassVar[str]
    cacheable: ClassVar[bool] = True

    def __init__(self, name: str, loaded: LoadedRecipe, plan: Plan, needs: tuple[str, ...] = ()) -> None:
        self.name = name
        self.loaded = loaded
        self.plan = plan
        self.needs = needs

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """JSON-able parameters that, with upstream outputs and tool versions, fully determine the output."""

    def tool_versions(self) -> dict[str, str]:
        """Versions of the libraries/tools that change the output (modelopt, transformers,
        tensorrt_llm...)."""
        return {}

    def source_fingerprint(self) -> str | None:
        """For steps that read outside inputs (a hub revision, a local directory): a cheap identity of
        them."""
        return None

    def external_commands(self) -> list[list[str]]:
        """Exact external commands this step would run (shown by `build --dry-run`)."""
        return []

    def preflight(self) -> None:  # noqa: B027 (optional hook: most steps can always run)
        """Raise ToolMissing / Infeasible before any work starts if the step cannot run here."""

    @abstractmethod
    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Do the work into ctx.out_dir; return metadata for the lock file (no secrets)."""

    def check(self, metadata: dict[str, Any], out_dir: Path) -> None:  # noqa: B027 (optional hook)
        """A verdict on the output, new or cached (e.g. an accuracy bound): raise to fail the build. The
        output stays in the cache, so what the verdict depends on must not be part of `params`."""
