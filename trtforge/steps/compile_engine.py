"""Compile step, engine backend: a TensorRT-LLM checkpoint -> TensorRT engines with `trtllm-build` (<= 1.2.x).

It carries out the BuildSpec's `engine` section (trtforge.plan.resolve decided the options, checked them with
`trtforge.toolchain.rules.check_engine_options` and the argv with
`trtforge.toolchain.spec.validate_build_command`; `trtforge.plan.render.build_argv` renders it with this
machine's paths). The step runs it through an executor (local tool or NVIDIA's container), streams its log,
and accepts the result only if rank<N>.engine for every rank and config.json exist. Where trtllm-build cannot
run here it writes the command and its inputs to a hand-off directory and stops with exit 4. For the CPU
target (backend 'reference') it builds nothing and records that.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from trtforge.errors import Infeasible, Interrupted, StepFailed, ToolMissing
from trtforge.pipeline.step import Step, StepContext
from trtforge.plan.model import Plan
from trtforge.plan.render import TOOL, build_argv  # noqa: F401  (build_argv re-exported)
from trtforge.plan.resolve import engine_options_from, resolve  # noqa: F401  (re-exported)
from trtforge.recipe.schema import Recipe
from trtforge.steps.executors import ContainerExecutor, LocalExecutor, make_executor
from trtforge.steps.llmapi_config import LlmApiConfigStep
from trtforge.toolchain.options import (  # noqa: F401  (re-exported for callers of this module)
    ENGINE_SPEC_MODE,
    gemm_plugin_for,
    lookahead_max_draft_len,
)
from trtforge.toolchain.rules import EngineBuildOptions
from trtforge.toolchain.versions import release_image_for

ENGINE_DIR = "engine"
RECORD = "compile.json"
LOG_TAIL = 40

# Failures in trtllm-build's log that mean "this machine cannot run it" (exit 4), not "the build is wrong".
_NO_GPU_PATTERNS = re.compile(
    r"(no CUDA-capable device|Found no NVIDIA driver|CUDA driver version is insufficient|"
    r"could not select device driver .* with capabilities: \[\[gpu\]\]|NVIDIA driver on your system is too "
    r"old)",
    re.IGNORECASE,
)


def timing_cache_name(plan: Plan) -> str:
    """One TensorRT timing cache per (GPU, SM, TensorRT-LLM version): tactics carry over between builds."""
    gpu = re.sub(r"[^A-Za-z0-9.-]+", "-", plan.gpu.name).strip("-").lower()
    return f"{gpu}-sm{plan.gpu.sm}-trtllm{plan.toolchain.trtllm_version}.cache"


def find_trtllm_checkpoint(root: Path) -> Path | None:
    """The directory holding a TensorRT-LLM checkpoint (config.json with 'architecture' and 'dtype') in or
    under root."""
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())) if root.is_dir() else ():
        cfg = candidate / "config.json"
        if cfg.is_file():
            try:
                data = json.loads(cfg.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and "architecture" in data and "dtype" in data:
                return candidate
    return None


def check_engine_dir(engine_dir: Path, world_size: int) -> list[str]:
    """What is missing from a trtllm-build output directory (config.json + rank<N>.engine for each rank)."""
    missing = [] if (engine_dir / "config.json").is_file() else ["config.json"]
    missing += [
        f"rank{r}.engine" for r in range(world_size) if not (engine_dir / f"rank{r}.engine").is_file()
    ]
    return missing


def summarize_engine_config(config: dict[str, Any]) -> dict[str, Any]:
    """The lock-file view of an engine's config.json (version, mapping, quantization, build limits,
    plugins)."""
    pre = config.get("pretrained_config", {}) or {}
    build = config.get("build_config", {}) or {}
    keys = (
        "max_batch_size",
        "max_input_len",
        "max_seq_len",
        "max_num_tokens",
        "max_beam_width",
        "kv_cache_type",
        "max_draft_len",
        "speculative_decoding_mode",
    )
    return {
        "version": config.get("version"),
        "architecture": pre.get("architecture"),
        "dtype": pre.get("dtype"),
        "mapping": pre.get("mapping"),
        "quantization": pre.get("quantization"),
        "build_config": {k: build[k] for k in keys if k in build},
        "plugin_config": build.get("plugin_config"),
    }


class CompileEngineStep(Step):
    """trtllm-build for backend 'tensorrt'; an explicit no-engine record for backend 'reference' (CPU)."""

    kind: ClassVar[str] = "compile_engine"

    def __init__(self, name: str, loaded, plan: Plan, needs: tuple[str, ...] = ()) -> None:
        super().__init__(name, loaded, plan, needs)
        if plan.backend not in ("tensorrt", "reference"):
            raise ValueError(f"CompileEngineStep is for the tensorrt/reference backends, not {plan.backend}")
        self.recipe: Recipe = loaded.recipe
        self.spec = resolve(self.recipe, plan)
        self.engine = self.spec.engine  # the BuildSpec section this step carries out
        self.options = _options_of(self.engine.options) if self.engine is not None else None

    # ------------------------------------------------------------------ declared identity

    def params(self) -> dict[str, Any]:
        if self.options is None:
            return {"backend": "reference", "engine": None}
        assert self.engine is not None
        return {"backend": "tensorrt", "engine": self.engine.canonical()}

    def tool_versions(self) -> dict[str, str]:
        if self.options is None:
            return {}
        return {"tensorrt_llm": self.plan.toolchain.trtllm_version}

    def _argv(self, checkpoint: str, output: str, tc_in: str | None, tc_out: str | None) -> list[str]:
        assert self.options is not None
        return build_argv(
            self.options,
            checkpoint_dir=checkpoint,
            output_dir=output,
            timing_cache_in=tc_in,
            timing_cache_out=tc_out,
            workers=self.plan.parallel.world_size,
        )

    def _executor(self, ctx_options: dict[str, Any] | None = None) -> LocalExecutor | ContainerExecutor:
        opts = ctx_options or {}
        kind = opts.get("executor") or self.recipe.toolchain.executor
        image = opts.get("build_image") or release_image_for(self.plan.toolchain.trtllm_version)
        return make_executor(kind, image=image, client=opts.get("container_client"))

    def external_commands(self) -> list[list[str]]:
        if self.options is None:
            return []
        executor = self._executor()
        argv = self._argv(
            "<checkpoint>",
            f"<out>/{ENGINE_DIR}",
            "<cache>/timing/" + timing_cache_name(self.plan),
            "<out>/timing.cache",
        )
        return [executor.wrap(argv)]

    def preflight(self) -> None:
        """Refuse settings trtllm-build would reject or silently change (the plan refused them already; a
        plugin-made plan may not have)."""
        if self.options is None:
            return
        problems = self.spec.errors
        if problems:
            raise Infeasible(
                f"cannot build the engine: {problems[0]}",
                hint=f"+{len(problems) - 1} more" if len(problems) > 1 else None,
            )

    # ------------------------------------------------------------------ run

    def run(self, ctx: StepContext) -> dict[str, Any]:
        if self.options is None:
            return self._record_no_engine(ctx)
        self.preflight()
        checkpoint = self._checkpoint(ctx)
        executor = self._executor(ctx.options)
        timing_dir = ctx.cache_root / "timing"
        shared_cache = timing_dir / timing_cache_name(self.plan)
        engine_dir = ctx.out_dir / ENGINE_DIR
        if isinstance(executor, ContainerExecutor):
            ck = executor.mount(checkpoint, "checkpoint", read_only=True)
            out = executor.mount(ctx.out_dir, "out")
            timing_dir.mkdir(parents=True, exist_ok=True)
            tcd = executor.mount(timing_dir, "timing", read_only=True)
            argv = self._argv(
                ck,
                f"{out}/{ENGINE_DIR}",
                f"{tcd}/{shared_cache.name}" if shared_cache.exists() else None,
                f"{out}/timing.cache",
            )
        else:
            argv = self._argv(
                str(checkpoint),
                str(engine_dir),
                str(shared_cache) if shared_cache.exists() else None,
                str(ctx.out_dir / "timing.cache"),
            )
        command = executor.wrap(argv)
        try:
            self._check_tool(executor)
        except ToolMissing as exc:
            handoff = self._write_handoff(ctx, checkpoint, command, argv, executor)
            raise ToolMissing(
                exc.message, hint=f"{exc.hint}; the exact command and its inputs are in {handoff}"
            ) from None
        ctx.progress(
            f"trtllm-build ({executor.name}) for {self.plan.gpu.name}, world size "
            f"{self.plan.parallel.world_size}"
        )
        ctx.log("$ " + shlex.join(command))
        code, tail = self._stream(command, ctx)
        try:
            self._check_exit(code, tail)
        except ToolMissing as exc:  # ran, but this machine has no usable GPU: hand the build off too
            handoff = self._write_handoff(ctx, checkpoint, command, argv, executor)
            raise ToolMissing(
                exc.message, hint=f"{exc.hint}; the exact command and its inputs are in {handoff}"
            ) from None
        missing = check_engine_dir(engine_dir, self.plan.parallel.world_size)
        if missing:
            raise StepFailed(
                f"trtllm-build exited 0 but wrote no usable engine: {', '.join(missing)} missing in "
                f"{engine_dir}",
                hint="no engine was recorded; see the build log above",
            )
        config = json.loads((engine_dir / "config.json").read_text(encoding="utf-8"))
        built_with = config.get("version")
        if built_with and built_with != self.plan.toolchain.trtllm_version:
            raise StepFailed(
                f"trtllm-build is TensorRT-LLM {built_with} but the recipe pins "
                f"{self.plan.toolchain.trtllm_version}: "
                "engines only run on the version that built them"
            )
        self._publish_timing_cache(ctx.out_dir / "timing.cache", shared_cache)
        record = {
            "backend": "tensorrt",
            "engine_dir": ENGINE_DIR,
            "command": argv,
            "executor": executor.describe(),
            "tensorrt_llm_version": built_with,
            "engine_config": summarize_engine_config(config),
            "engine_files": {p.name: p.stat().st_size for p in sorted(engine_dir.glob("rank*.engine"))},
            "timing_cache": str(shared_cache),
        }
        (ctx.out_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return record

    def _record_no_engine(self, ctx: StepContext) -> dict[str, Any]:
        record = {
            "backend": "reference",
            "engine": None,
            "reason": "CPU target: the compile step builds no TensorRT engine; the Triton repository serves "
            "the "
            "checkpoint with the CPU reference runtime model in place of tensorrt_llm",
        }
        (ctx.out_dir / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        ctx.progress("compile: CPU target, no engine built (reference runtime)")
        return record

    def _checkpoint(self, ctx: StepContext) -> Path:
        names = [n for n in self.needs if n in ctx.inputs] or list(ctx.inputs)
        for name in names:
            found = find_trtllm_checkpoint(Path(ctx.inputs[name]))
            if found is not None:
                self._check_checkpoint(found)
                return found
        where = ", ".join(str(ctx.inputs[n]) for n in names) or "no upstream output"
        raise StepFailed(
            f"no TensorRT-LLM checkpoint (config.json with 'architecture' and 'dtype') in {where}",
            hint="the engine backend builds from a TensorRT-LLM checkpoint (ModelOpt "
            "export_tensorrt_llm_checkpoint)",
        )

    def _check_checkpoint(self, path: Path) -> None:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        mapping = cfg.get("mapping") or {}
        world = int(mapping.get("world_size", 1))
        if world != self.plan.parallel.world_size:
            raise StepFailed(
                f"checkpoint {path} is sharded for world size {world}, the plan needs "
                f"{self.plan.parallel.world_size} (tp {self.plan.parallel.tp} x pp {self.plan.parallel.pp})"
            )
        missing = [
            f"rank{r}.safetensors" for r in range(world) if not (path / f"rank{r}.safetensors").is_file()
        ]
        if missing:
            raise StepFailed(f"checkpoint {path} lacks {', '.join(missing)}")
        if cfg.get("architecture") != self.plan.model.architecture:
            raise StepFailed(
                f"checkpoint architecture {cfg.get('architecture')} differs from the plan's "
                f"{self.plan.model.architecture}"
            )

    def _check_tool(self, executor: LocalExecutor | ContainerExecutor) -> None:
        executor.check(TOOL)
        if isinstance(executor, LocalExecutor):
            found = local_trtllm_version(shutil.which(TOOL))
            pinned = self.plan.toolchain.trtllm_version
            if found is not None and found != pinned:
                raise ToolMissing(
                    f"trtllm-build on PATH is TensorRT-LLM {found}, the recipe pins {pinned}",
                    hint="install the pinned version or set toolchain.executor: container",
                )

    def _stream(self, command: list[str], ctx: StepContext) -> tuple[int, list[str]]:
        tail: deque[str] = deque(maxlen=LOG_TAIL)
        try:
            proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolMissing(f"could not start {command[0]}: {exc.strerror or exc}") from None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                ctx.log(line)
            return proc.wait(), list(tail)
        except KeyboardInterrupt:
            _terminate(proc)
            raise Interrupted("interrupted: trtllm-build was stopped; nothing was recorded") from None

    def _check_exit(self, code: int, tail: list[str]) -> None:
        if code == 0:
            return
        text = "\n".join(tail)
        if _NO_GPU_PATTERNS.search(text):
            raise ToolMissing(
                "trtllm-build found no usable NVIDIA GPU here: " + _last_error(tail),
                hint="run the build on a machine with the target GPU",
            )
        if code < 0:
            raise StepFailed(
                f"trtllm-build was killed by signal {-code}"
                + (" (out of host memory?)" if -code == 9 else "")
            )
        if code == 137:
            raise StepFailed("trtllm-build was killed (exit 137: out of memory?)", hint=_last_error(tail))
        raise StepFailed(f"trtllm-build exited {code}: {_last_error(tail)}")

    def _publish_timing_cache(self, produced: Path, shared: Path) -> None:
        if not produced.is_file():
            return
        shared.parent.mkdir(parents=True, exist_ok=True)
        tmp = shared.with_name(shared.name + f".{os.getpid()}.tmp")
        shutil.copyfile(produced, tmp)
        os.replace(tmp, shared)
        produced.unlink()

    def _published_checkpoint(self, ctx: StepContext, checkpoint: Path) -> Path | None:
        """Where the checkpoint lands relative to the output directory (the runner says which upstream step is
        published as which subdirectory, `published_as`); None where it is not published there."""
        published = ctx.options.get("published_as") or {}
        for name, root in ctx.inputs.items():
            sub = published.get(name)
            if sub is None:
                continue
            try:
                return Path(sub) / checkpoint.resolve().relative_to(Path(root).resolve())
            except ValueError:
                continue
        return None

    def _write_handoff(
        self,
        ctx: StepContext,
        checkpoint: Path,
        command: list[str],
        argv: list[str],
        executor: LocalExecutor | ContainerExecutor,
    ) -> Path:
        """Write what a GPU machine needs to run the same build; returns the directory.

        The script runs from a copy of the output directory alone: it finds that directory (the one holding
        trtforge.lock.json) above itself, builds from the published checkpoint there into `engine/`, with
        trtllm-build where it is installed, else in NVIDIA's release container. `compile-inputs.json` holds
        the
        same command (`argv`, run in the output directory) for `trtforge build` to print."""
        where = Path(
            ctx.options.get("handoff_dir")
            or ctx.cache_root / "handoff" / f"{self.plan.recipe}-{self.plan.target}"
        )
        where.mkdir(parents=True, exist_ok=True)
        published = self._published_checkpoint(ctx, checkpoint)
        ck_path = published.as_posix() if published is not None else str(checkpoint)
        local_argv = self._argv(ck_path, ENGINE_DIR, None, "timing.cache")
        image = release_image_for(self.plan.toolchain.trtllm_version)
        container = ContainerExecutor(image=image, user="__UID__")
        ck_host = Path("/__PWD__") / published if published is not None else checkpoint
        ck = container.mount(ck_host, "checkpoint", read_only=True)
        out = container.mount(Path("/__PWD__"), "out")
        container_line = (
            shlex.join(container.wrap(self._argv(ck, f"{out}/{ENGINE_DIR}", None, f"{out}/timing.cache")))
            .replace("/__PWD__", '"$PWD"')
            .replace("__UID__", '"$(id -u):$(id -g)"')
        )
        missing_hint = (
            "copy the whole output directory"
            if published is not None
            else "it is not in the output directory: build with outputs.keep_checkpoint: true"
        )
        script = [
            "#!/usr/bin/env bash",
            f"# trtforge hand-off: build the {self.plan.target} engine for recipe {self.plan.recipe} on a "
            "GPU machine.",
            (
                f"# TensorRT-LLM {self.plan.toolchain.trtllm_version}; GPU {self.plan.gpu.name} (SM "
                f"{self.plan.gpu.sm}); "
                f"world size {self.plan.parallel.world_size}."
            ),
            "# Copy the output directory (the folder holding trtforge.lock.json) to that machine and run "
            "this",
            "# script from anywhere: the engine is written to engine/ in that directory.",
            "set -euo pipefail",
            'out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
            'while [ ! -f "$out/trtforge.lock.json" ] && [ "$out" != / ]; do out="$(dirname "$out")"; done',
            'cd "$out"',
            f"if [ ! -f {shlex.quote(ck_path + '/config.json')} ]; then",
            f"  echo {shlex.quote(f'no TensorRT-LLM checkpoint at {ck_path} ({missing_hint})')} >&2",
            "  exit 1",
            "fi",
            "if command -v trtllm-build >/dev/null 2>&1; then",
            "  " + shlex.join(local_argv),
            "else  # NVIDIA's release container (docker + NVIDIA container toolkit)",
            "  " + container_line,
            "fi",
            "",
        ]
        (where / "trtllm-build.sh").write_text("\n".join(script), encoding="utf-8")
        (where / "compile-inputs.json").write_text(
            json.dumps(
                {
                    "recipe": self.plan.recipe,
                    "target": self.plan.target,
                    "trtllm_version": self.plan.toolchain.trtllm_version,
                    "release_image": image,
                    "gpu": {"name": self.plan.gpu.name, "sm": self.plan.gpu.sm},
                    "checkpoint_dir": ck_path,
                    "checkpoint_published": published is not None,
                    "run_in": "the output directory (the folder holding trtforge.lock.json)",
                    "script": "trtllm-build.sh",
                    "argv": local_argv,
                    "as_run_here": command,
                    "options": dataclasses.asdict(self.options) if self.options else None,
                    "expected_outputs": [f"{ENGINE_DIR}/config.json"]
                    + [f"{ENGINE_DIR}/rank{r}.engine" for r in range(self.plan.parallel.world_size)],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        return where


def _options_of(data: dict[str, Any]) -> EngineBuildOptions:
    """EngineBuildOptions back from the section's JSON (tuples were written as lists)."""
    known = {k: v for k, v in data.items() if k in EngineBuildOptions.__dataclass_fields__}
    known["extra_plugins"] = tuple(known.get("extra_plugins") or ())
    return EngineBuildOptions(**known)


def compile_step_for(name: str, loaded, plan: Plan, needs: tuple[str, ...] = ()) -> Step:
    """The compile step a plan needs: trtllm-build (tensorrt), the LLM-API config (pytorch), or none
    (reference)."""
    if plan.backend == "pytorch":
        return LlmApiConfigStep(name, loaded, plan, needs)
    return CompileEngineStep(name, loaded, plan, needs)


def _last_error(tail: list[str]) -> str:
    """The most telling line of a failed build log (an error/assert line, else the last non-empty line)."""
    for line in reversed(tail):
        if re.search(r"(Error|error:|Assertion|RuntimeError|Traceback|\[E\])", line):
            return line.strip()[:300]
    for line in reversed(tail):
        if line.strip():
            return line.strip()[:300]
    return "no output"


def _terminate(proc: subprocess.Popen) -> None:
    """Stop a child we started (its whole process group: trtllm-build spawns workers), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def local_trtllm_version(tool_path: str | None) -> str | None:
    """TensorRT-LLM version behind a trtllm-build entry point, read from its interpreter's package metadata
    (no `import tensorrt_llm`: that takes seconds and needs a GPU stack). None when it cannot be told."""
    if not tool_path:
        return None
    try:
        with open(tool_path, "rb") as fh:
            first = fh.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!") or "python" not in first:
        return None
    interpreter = shlex.split(first[2:])
    try:
        done = subprocess.run(
            [*interpreter, "-c", "import importlib.metadata as m; print(m.version('tensorrt_llm'))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
