"""From (recipe, plan) to the steps of a build and where their outputs land in the output directory.

One step per section of the plan's BuildSpec (trtforge.plan.resolve decides which sections exist):
    download | gguf_convert (model.gguf) -> quantize (spec.quantize: a ModelOpt job)
             -> compile_engine (spec.engine) | llmapi_config (spec.llm_api) | nothing (reference, CPU)
             -> triton_repo (spec.triton: outputs.triton_repo)
             -> deploy (PyTorch backend on a GPU: trtforge deploy's files, published as deploy/)
    plugin steps (recipe `steps:` sections) attach after their anchor (default: the checkpoint).

Step names equal their kinds. Inputs a step receives (ctx.inputs, keyed by step name; `needs` in this order):
    quantize: (download,)   compile_engine / llmapi_config: (checkpoint,)
    triton_repo: (checkpoint,) or (checkpoint, compile step)   where checkpoint = quantize if present else
    download
A kind whose module is not installed becomes an UnavailableStep: the dry run shows why, a build marks it
blocked.
"""

from __future__ import annotations

from typing import Any

from trtforge.errors import InvalidInput, ToolMissing
from trtforge.pipeline.step import Step
from trtforge.plan.resolve import resolve
from trtforge.steps import KindUnavailable, StepRegistry, default_registry

# output subdirectory -> (step, part of its output): compile_engine and triton_repo nest their product
# already.
COMPILE_LAYOUT = {"compile_engine": ("engine", "engine"), "llmapi_config": ("llmapi", "")}


class UnavailableStep(Step):
    """Stands in for a step kind whose code is missing here: never cached, always blocked with the reason."""

    cacheable = False

    def __init__(
        self, kind: str, reason: str, name: str, loaded: Any, plan: Any, needs: tuple[str, ...] = ()
    ) -> None:
        super().__init__(name, loaded, plan, needs)
        self.kind = kind  # type: ignore[misc]  # per instance: stands in for that kind
        self.reason = reason

    def params(self) -> dict[str, Any]:
        return {"unavailable": self.reason}

    def preflight(self) -> None:
        raise ToolMissing(self.reason)

    def run(self, ctx) -> dict[str, Any]:  # pragma: no cover - preflight always raises
        raise ToolMissing(self.reason)


def _make(registry: StepRegistry, kind: str, loaded: Any, plan: Any, needs: tuple[str, ...]) -> Step:
    try:
        cls = registry.load(kind)
    except KindUnavailable as exc:
        return UnavailableStep(kind, exc.message, kind, loaded, plan, needs)
    return cls(kind, loaded, plan, needs)


def _location(loaded: Any, path: tuple) -> str:
    locs = getattr(loaded, "locations", {}) or {}
    probe = path
    while probe and probe not in locs:
        probe = probe[:-1]
    if probe in locs:
        file, line, col = locs[probe]
        return f"{file}:{line}:{col}: "
    return f"{loaded.path}: "


def _check_options(loaded: Any, spec: Any) -> None:
    """Validate a plugin's recipe section with its options model, with the recipe location in the message."""
    if spec.options is None:
        return
    from pydantic import ValidationError

    data = loaded.recipe.steps.get(spec.kind) or {}
    try:
        spec.options.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        path = ("steps", spec.kind, *[p for p in err["loc"] if isinstance(p, (str, int))])
        dotted = ".".join(str(p) for p in path)
        raise InvalidInput(f"{_location(loaded, path)}{dotted}: {err['msg']}") from None


def steps_for(loaded: Any, plan: Any, registry: StepRegistry | None = None) -> list[Step]:
    """The steps building `plan` for `loaded.recipe`, in dependency order."""
    if registry is None:
        registry, _reports = default_registry()
    recipe = loaded.recipe
    spec = resolve(recipe, plan)  # one step per BuildSpec section: the resolver did the branching
    source = (
        "gguf_convert" if recipe.model.gguf is not None else "download"
    )  # a GGUF file stands for download
    steps: list[Step] = [_make(registry, source, loaded, plan, ())]
    anchors = {"download": source, "checkpoint": source}
    if spec.quantize is not None:
        steps.append(_make(registry, "quantize", loaded, plan, (source,)))
        anchors["checkpoint"] = "quantize"
    ckpt = anchors["checkpoint"]
    anchors["compile"] = ckpt
    compile_kind = (
        "compile_engine" if spec.engine is not None else "llmapi_config" if spec.llm_api is not None else None
    )
    if compile_kind is not None:
        steps.append(_make(registry, compile_kind, loaded, plan, (ckpt,)))
        anchors["compile"] = compile_kind
    anchors["triton_repo"] = anchors["compile"]
    if spec.triton is not None:
        needs = (ckpt,) if compile_kind is None else (ckpt, compile_kind)
        steps.append(_make(registry, "triton_repo", loaded, plan, needs))
        anchors["triton_repo"] = "triton_repo"
    if compile_kind == "llmapi_config" and registry.get("deploy") is not None and plan.gpu.sm is not None:
        steps.append(_make(registry, "deploy", loaded, plan, (compile_kind,)))  # trtforge deploy's files
    for kind in recipe.steps:
        spec = registry.get(kind)
        if spec is None or spec.origin == "builtin":
            known = sorted(k.kind for k in registry.kinds() if k.origin != "builtin")
            raise InvalidInput(
                f"{_location(loaded, ('steps', kind))}steps.{kind}: unknown plugin step kind '{kind}'",
                hint=f"loaded plugin kinds: {', '.join(known) or 'none'}; see `trtforge plugins`",
            )
        _check_options(loaded, spec)
        anchor = anchors.get(spec.after, spec.after)
        if anchor not in {s.name for s in steps}:
            anchor = ckpt
        steps.append(_make(registry, kind, loaded, plan, (anchor,)))
    return steps


def publish_layout(
    steps: list[Step], loaded: Any, registry: StepRegistry | None = None
) -> dict[str, tuple[str, str]]:
    """{output subdirectory: (step name, path inside its output, "" for all of it)} of what is published."""
    if registry is None:
        registry, _reports = default_registry()
    names = {s.name: s for s in steps}
    layout: dict[str, tuple[str, str]] = {}
    if loaded.recipe.outputs.keep_checkpoint:
        ckpt = next((k for k in ("quantize", "download", "gguf_convert") if k in names), None)
        if ckpt:
            layout["checkpoint"] = (ckpt, "")
    for kind, (sub, inner) in COMPILE_LAYOUT.items():
        if kind in names:
            layout[sub] = (kind, inner)
    if "triton_repo" in names:
        layout["model_repository"] = ("triton_repo", "model_repository")
    if "deploy" in names:
        layout["deploy"] = ("deploy", "")
    for s in steps:
        spec = registry.get(s.kind)
        if spec is not None and spec.origin != "builtin" and spec.publish:
            layout[spec.publish] = (s.name, "")
    return layout
