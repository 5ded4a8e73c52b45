"""Step kinds: the built-in ones, and those plugins add through the `trtforge.steps` entry-point group.

A plugin is an ordinary package declaring, in its pyproject.toml,

    [project.entry-points."trtforge.steps"]
    smoke = "trtforge_smoke:register"

where `register(registry)` calls `registry.add(MyStep, after="checkpoint", options=MyOptions, summary=...)`
once per step kind. A recipe turns the step on with a section under `steps:` named by the kind. A plugin that
fails to import or register is reported by name (`trtforge plugins`) and never breaks the CLI.
Modules are imported lazily: `trtforge --help` loads none of this.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trtforge import secrets
from trtforge.errors import ToolMissing

if TYPE_CHECKING:  # pragma: no cover
    from trtforge.pipeline.step import Step

ENTRY_POINT_GROUP = "trtforge.steps"
PLUGINS_ENV = (
    "TRTFORGE_PLUGINS"  # extra "module:function" registrations, comma-separated (development, tests)
)

# Where a plugin step may attach; each falls back to the previous one when the build has no such step.
ANCHORS = ("download", "checkpoint", "compile", "triton_repo")

BUILTIN: dict[str, tuple[str, str]] = {
    "download": (
        "trtforge.steps.download:DownloadStep",
        "Fetch the checkpoint (Hugging Face hub at a pinned commit, or a local directory).",
    ),
    "gguf_convert": (
        "trtforge.steps.gguf_convert:GgufConvertStep",
        "Fetch a pinned GGUF file and convert it to a bf16 Hugging Face checkpoint.",
    ),
    "quantize": (
        "trtforge.steps.quantize:QuantizeStep",
        "Quantize with NVIDIA ModelOpt into a unified checkpoint.",
    ),
    "compile_engine": (
        "trtforge.steps.compile_engine:CompileEngineStep",
        "Build a TensorRT engine (trtllm-build).",
    ),
    "llmapi_config": (
        "trtforge.steps.llmapi_config:LlmApiConfigStep",
        "Write the LLM-API (PyTorch backend) configuration.",
    ),
    "triton_repo": ("trtforge.steps.triton_repo:TritonRepoStep", "Write the Triton model repository."),
    "deploy": (
        "trtforge.steps.deploy_files:DeployFilesStep",
        "Write trtllm-serve, Kubernetes (LeaderWorkerSet), Dynamo and Slurm hand-off files (deploy/).",
    ),
}


class KindUnavailable(ToolMissing):
    """A step kind is known but its code cannot be imported here."""


@dataclass(frozen=True)
class StepKind:
    kind: str
    target: Any  # a Step subclass, or "module:Class" imported on first use
    summary: str = ""
    after: str = "checkpoint"  # plugin kinds: an ANCHORS entry (or a built-in kind)
    options: Any = None  # optional pydantic model validating the recipe's `steps.<kind>` section
    publish: str | None = None  # output subdirectory for this step's output (plugins: plugins/<kind>)
    origin: str = "builtin"  # "builtin" or the plugin's name

    def load(self) -> type[Step]:
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise KindUnavailable(
                    f"step kind '{self.kind}' is not available: module {module_name} is not "
                    "installed in this version"
                ) from None
            raise KindUnavailable(f"step kind '{self.kind}' cannot be loaded: {exc}") from None
        try:
            return getattr(module, attr)
        except AttributeError:
            raise KindUnavailable(f"step kind '{self.kind}': {module_name} has no {attr}") from None


@dataclass
class PluginReport:
    """What loading one plugin did: the kinds it added, or the error that stopped it."""

    name: str
    value: str
    dist: str | None = None
    version: str | None = None
    kinds: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "dist": self.dist,
            "version": self.version,
            "kinds": self.kinds,
            "error": self.error,
        }


class StepRegistry:
    """kind -> StepKind. Built-ins are registered lazily by module path; plugins add classes."""

    def __init__(self) -> None:
        self._kinds: dict[str, StepKind] = {}
        self._origin = "builtin"

    def add(
        self,
        step: Any,
        *,
        kind: str | None = None,
        summary: str = "",
        after: str = "checkpoint",
        options: Any = None,
        publish: str | None = None,
    ) -> None:
        """Register a step kind. `step` is a Step subclass (or "module:Class"); `kind` defaults to
        step.kind."""
        if kind is None:
            kind = getattr(step, "kind", None)
        if not isinstance(kind, str) or not kind.replace("_", "").isalnum() or not kind[:1].isalpha():
            raise ValueError(f"step kind must be an identifier, got {kind!r}")
        if not isinstance(step, str):
            # Here, not at the top: pipeline.step loads the planner (plan/, hardware/, recipe/: ~190 ms of
            # -X importtime), and every CLI command, --help included, imports this registry.
            from trtforge.pipeline.step import Step

            if not (isinstance(step, type) and issubclass(step, Step)):
                raise ValueError(f"{step!r} is not a trtforge.pipeline.step.Step subclass")
            if getattr(step, "kind", kind) != kind:
                raise ValueError(f"{step.__name__}.kind is {step.kind!r}, registered as {kind!r}")
        if after not in ANCHORS and after not in BUILTIN:
            raise ValueError(f"after={after!r}: must be one of {', '.join(ANCHORS)}")
        if kind in self._kinds:
            raise ValueError(f"step kind '{kind}' is already registered by {self._kinds[kind].origin}")
        if publish is None and self._origin != "builtin":
            publish = f"plugins/{kind}"
        if not summary and not isinstance(step, str):
            summary = (step.__doc__ or "").strip().split("\n")[0]
        self._kinds[kind] = StepKind(kind, step, summary, after, options, publish, self._origin)

    def get(self, kind: str) -> StepKind | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[StepKind]:
        return list(self._kinds.values())

    def load(self, kind: str) -> type[Step]:
        spec = self._kinds.get(kind)
        if spec is None:
            raise KindUnavailable(f"unknown step kind '{kind}'")
        return spec.load()

    def register_plugin(
        self, report: PluginReport | str, register: Callable[[StepRegistry], None]
    ) -> PluginReport:
        """Run one plugin's `register(registry)`; its kinds are marked as coming from it. All or nothing."""
        if isinstance(report, str):
            report = PluginReport(name=report, value=report)
        before = dict(self._kinds)
        self._origin = report.name
        try:
            register(self)
        except BaseException:
            self._kinds = before  # all or nothing: a half-registered plugin is worse than none
            raise
        finally:
            self._origin = "builtin"
        report.kinds = [k for k in self._kinds if k not in before]
        return report


def builtin_registry() -> StepRegistry:
    reg = StepRegistry()
    for kind, (target, summary) in BUILTIN.items():
        reg.add(target, kind=kind, summary=summary)
    return reg


def _entry_points() -> list[tuple[str, str, str | None, str | None, Callable[[], Any]]]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(
            (ep.name, ep.value, getattr(dist, "name", None), getattr(dist, "version", None), ep.load)
        )
    for value in filter(None, (v.strip() for v in os.environ.get(PLUGINS_ENV, "").split(","))):
        module, _, attr = value.partition(":")

        def load(module: str = module, attr: str = attr or "register") -> Any:
            return getattr(importlib.import_module(module), attr)

        found.append((value, value, None, None, load))
    return found


def load_plugins(registry: StepRegistry) -> list[PluginReport]:
    """Load every `trtforge.steps` entry point (and $TRTFORGE_PLUGINS) into registry; never raises.

    Each plugin's `register(registry)` runs once; an import error or a failing register is recorded in the
    plugin's report (by name), and the plugin contributes nothing.
    """
    reports: list[PluginReport] = []
    for name, value, dist, version, load in _entry_points():
        report = PluginReport(name=name, value=value, dist=dist, version=version)
        reports.append(report)
        try:
            register = load()
            if not callable(register):
                raise TypeError(f"{value} is not callable")
            registry.register_plugin(report, register)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken plugin (even sys.exit) must not break the CLI
            report.error = secrets.redact(f"{type(exc).__name__}: {exc}")[:300]
    return reports


_default: tuple[StepRegistry, list[PluginReport]] | None = None


def default_registry() -> tuple[StepRegistry, list[PluginReport]]:
    """Built-ins plus installed plugins (loaded once per process), and what loading each plugin did."""
    global _default
    if _default is None:
        reg = builtin_registry()
        _default = (reg, load_plugins(reg))
    return _default
