"""`trtforge serve`: pick a runtime, prepare the repository, start Triton, wait until ready.

Runtimes: reference (bundled tritonserver + CPU reference model in the tensorrt_llm slot), local (a
tritonserver found here), container (NVIDIA's image, docker). Every runtime validates the repository first
(validate-repo's checks) so a broken repository never reaches a server.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from trtforge.errors import InvalidInput, ToolMissing
from trtforge.hardware.detect import detect_gpus
from trtforge.pipeline.cache import default_root
from trtforge.serve.container import check_container_engine
from trtforge.serve.process import Endpoints, ServerProcess, free_ports
from trtforge.serve.reference import reference_overlay, refuse_unloadable_checkpoint, repo_settings
from trtforge.serve.tritonserver import find_tritonserver
from trtforge.toolchain.versions import check_image_matches
from trtforge.triton.launch_command import ContainerLaunch, container_argv
from trtforge.triton.settings import REFERENCE_NOTE, RepoSettings
from trtforge.triton.validate import raise_if_invalid

RUNTIMES = ("auto", "reference", "local", "container")
DEFAULT_READY_TIMEOUT_S = 300.0
# tritonserver starts its endpoints gRPC, HTTP, then metrics, and logs "Started HTTPService" before it knows
# the bind failed: the metrics line is the first that proves its HTTP endpoint is its own (2.51, seen
# 2026-12-07).
TRITON_LAST_STARTED = "Started Metrics Service at "


def cache_root() -> Path:
    """The build cache root ($TRTFORGE_CACHE or the platform user cache dir): backend links, server state."""
    return default_root()


@dataclass
class ServeOptions:
    runtime: str = "auto"
    host: str = "127.0.0.1"
    http_port: int = 0  # 0: a free port
    grpc_port: int = 0
    metrics_port: int = 0
    checkpoint: Path | None = None  # reference runtime over an engine repository
    image: str | None = None  # container runtime: override the repository's image
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    log_file: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Served:
    """What a started server is, for printing and for `infer`/`bench` defaults."""

    server: ServerProcess
    repository: Path  # the repository as served (an overlay for the reference runtime over an engine repo)
    source_repository: Path
    runtime: str
    settings: RepoSettings
    install: str  # which tritonserver / image

    def info(self) -> dict:
        s = self.settings
        models = ["tensorrt_llm"] if s.layout == "llmapi" else ["ensemble", "tensorrt_llm_bls"]
        ep = self.server.endpoints
        return {
            "runtime": self.runtime,
            "runtime_note": REFERENCE_NOTE if self.runtime == "reference" else None,
            "repository": str(self.source_repository),
            "served_from": str(self.repository),
            "server": self.install,
            "endpoints": ep.to_json(),
            "generate": [f"{ep.http}/v2/models/{m}/generate" for m in models],
            "generate_stream": [f"{ep.http}/v2/models/{m}/generate_stream" for m in models]
            if s.streaming
            else [],
            "ready_after_s": round(self.server.ready_after_s, 2) if self.server.ready_after_s else None,
            "log": str(self.server.log_path),
            "pid": self.server.proc.pid if self.server.proc else None,
        }


def resolve_repository(target: Path) -> Path:
    """TARGET may be a model repository (has trtforge.json) or a recipe whose build output holds one."""
    target = target.expanduser()
    if target.is_dir():
        if (target / "trtforge.json").is_file():
            return target.resolve()
        if (target / "model_repository" / "trtforge.json").is_file():
            return (target / "model_repository").resolve()
        found = sorted(target.glob("*/model_repository/trtforge.json"))
        if len(found) == 1:
            return found[0].parent.resolve()
        raise InvalidInput(f"{target} is not a trtforge model repository (no trtforge.json)")
    if target.suffix in (".yaml", ".yml") and target.is_file():
        # Here, not at the top: the pydantic recipe models (~100 ms of -X importtime), which `infer` and
        # `bench` would pay for when they look up the running server through this module.
        from trtforge.recipe.loader import load_recipe
        from trtforge.recipe.schema import target_label

        recipe = load_recipe(target).recipe
        out = Path(recipe.outputs.dir) if recipe.outputs.dir else Path("out") / recipe.name
        candidates = [out / "model_repository"] + [
            out / target_label(t) / "model_repository" for t in recipe.all_targets
        ]
        built = [c for c in candidates if (c / "trtforge.json").is_file()]
        if len(built) == 1:
            return built[0].resolve()
        if not built:
            raise InvalidInput(
                f"no built model repository for recipe {recipe.name} under {out}",
                hint=f"run `trtforge build {target}` first, or pass the repository directory",
            )
        raise InvalidInput(
            f"recipe {recipe.name} has several built repositories: " + ", ".join(str(b) for b in built),
            hint="pass the one to serve",
        )
    raise InvalidInput(f"{target}: not a model repository directory or a recipe file")


def choose_runtime(settings: RepoSettings, requested: str) -> str:
    """auto: the reference runtime for CPU repositories and wherever no GPU is present, else the container."""
    if requested not in RUNTIMES:
        raise InvalidInput(f"unknown runtime {requested!r}; choose one of {', '.join(RUNTIMES)}")
    if requested != "auto":
        return requested
    if settings.runtime == "reference":
        return "reference"
    return "container" if detect_gpus() else "reference"


def _endpoints(opts: ServeOptions) -> Endpoints:
    free = iter(free_ports(3, opts.host if opts.host != "0.0.0.0" else "127.0.0.1"))
    return Endpoints(
        opts.host, opts.http_port or next(free), opts.grpc_port or next(free), opts.metrics_port or next(free)
    )


def tritonserver_argv(
    binary: Path, repo: Path, backend_dir: Path, cache_dir: Path | None, ep: Endpoints, shm_prefix: str
) -> list[str]:
    argv = [
        str(binary),
        f"--model-repository={repo}",
        f"--backend-directory={backend_dir}",
        f"--http-address={ep.host}",
        f"--http-port={ep.http_port}",
        f"--grpc-address={ep.host}",
        f"--grpc-port={ep.grpc_port}",
        f"--metrics-address={ep.host}",
        f"--metrics-port={ep.metrics_port}",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
        "--exit-on-error=true",
        "--strict-readiness=true",
        "--log-info=true",
    ]
    if cache_dir is not None:
        argv.append(f"--cache-directory={cache_dir}")
    return argv


def check_repository(repo: Path) -> RepoSettings:
    raise_if_invalid(repo)
    return repo_settings(repo)


def _local_server(
    repo: Path, served_repo: Path, settings: RepoSettings, runtime: str, opts: ServeOptions, cache: Path
) -> tuple[ServerProcess, str]:
    install = find_tritonserver(cache, prefer_bundled=(runtime == "reference"))
    if runtime == "local":
        if settings.runtime == "tensorrtllm" and not (install.backend_dir / "tensorrtllm").is_dir():
            raise ToolMissing(
                f"{install.source} has no tensorrtllm backend, which this engine repository needs",
                hint="run inside the TensorRT-LLM Triton container (--runtime container), or "
                "--runtime reference to test the repository on CPU",
            )
        if settings.runtime == "llmapi":
            import importlib.util

            if importlib.util.find_spec("tensorrt_llm") is None:
                raise ToolMissing(
                    "the llmapi model needs the tensorrt_llm package, which is not installed here",
                    hint="--runtime container, or --runtime reference to test on CPU",
                )
    ep = _endpoints(opts)
    shm_prefix = f"trtforge{os.getpid()}_{ep.http_port}_"
    argv = tritonserver_argv(
        install.binary, served_repo, install.backend_dir, install.cache_dir, ep, shm_prefix
    )
    env = {**install.env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **opts.extra_env}
    server = ServerProcess(
        argv=argv,
        env=env,
        endpoints=ep,
        shm_prefix=shm_prefix,
        log_path=opts.log_file,
        ready_marker=TRITON_LAST_STARTED if install.bundled else None,
    )
    return server, install.source


def _container_server(repo: Path, settings: RepoSettings, opts: ServeOptions) -> tuple[ServerProcess, str]:
    image = opts.image or settings.triton_image
    if not image:
        raise InvalidInput("the repository records no container image", hint="pass --image")
    check_image_matches(image, settings.trtllm_version)
    engine = check_container_engine("docker")
    gpus = detect_gpus()
    if len(gpus) < settings.world_size:
        raise ToolMissing(
            f"world size {settings.world_size} needs {settings.world_size} GPU(s); {len(gpus)} visible here"
        )
    ep = _endpoints(opts)
    name = f"trtforge-{os.getpid()}-{ep.http_port}"
    launch = ContainerLaunch(
        image=image,
        repo_host_path=str(repo),
        container_model_root=settings.container_model_root,
        world_size=settings.world_size,
        llmapi_launch=settings.runtime == "llmapi",
        host=opts.host,
        http_port=ep.http_port,
        grpc_port=ep.grpc_port,
        metrics_port=ep.metrics_port,
        name=name,
    )
    argv = container_argv(launch)
    argv[0] = engine
    server = ServerProcess(
        argv=argv,
        env=opts.extra_env,
        endpoints=ep,
        log_path=opts.log_file,
        stop_argv=[engine, "stop", "--time", "10", name],
    )
    return server, image


@contextmanager
def running_server(target: Path, opts: ServeOptions | None = None) -> Iterator[Served]:
    """Start a server for TARGET and yield it once ready; always stops it (and its process group) on exit."""
    opts = opts or ServeOptions()
    repo = resolve_repository(target)
    settings = check_repository(repo)
    runtime = choose_runtime(settings, opts.runtime)
    cache = cache_root()
    with tempfile.TemporaryDirectory(prefix="trtforge-serve-") as work:
        served_repo = repo
        if runtime == "reference":
            served_repo = reference_overlay(repo, Path(work), opts.checkpoint)
        refuse_unloadable_checkpoint(served_repo)
        if runtime == "container":
            server, install = _container_server(repo, settings, opts)
        else:
            server, install = _local_server(repo, served_repo, settings, runtime, opts, cache)
        served = Served(
            server=server,
            repository=served_repo,
            source_repository=repo,
            runtime=runtime,
            settings=settings,
            install=install,
        )
        bytecode_before = _bytecode_dirs(repo)
        server.start()
        try:
            server.wait_ready(opts.ready_timeout_s)
            _remember(served, cache)
            yield served
        finally:
            server.stop()
            _forget(served, cache)
            for d in _bytecode_dirs(repo) - bytecode_before:
                shutil.rmtree(d, ignore_errors=True)


def _bytecode_dirs(repo: Path) -> set[Path]:
    """__pycache__ of the repository's python models: Triton's python stub writes them (it ignores
    PYTHONDONTWRITEBYTECODE), and serving must leave the repository as it was built."""
    return set(repo.glob("*/1/__pycache__"))


# -- the last started server, so that `infer` / `bench` find it without --url ---------------------------


def _state_dir(cache: Path) -> Path:
    return cache / "serve"


def _state_file(served: Served, cache: Path) -> Path:
    """One record per server: a process may run several (the tests do), so the port is in the name."""
    return _state_dir(cache) / f"{os.getpid()}-{served.server.endpoints.http_port}.json"


def _remember(served: Served, cache: Path) -> None:
    try:
        d = _state_dir(cache)
        d.mkdir(parents=True, exist_ok=True)
        _state_file(served, cache).write_text(json.dumps({**served.info(), "owner_pid": os.getpid()}))
    except OSError:
        pass


def _forget(served: Served, cache: Path) -> None:
    try:
        _state_file(served, cache).unlink(missing_ok=True)
    except OSError:
        pass


def running_servers(cache: Path | None = None) -> list[dict]:
    """Servers started by `trtforge serve` that are still alive, newest first."""
    d = _state_dir(cache or cache_root())
    out = []
    for path in sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if d.is_dir() else []:
        try:
            info = json.loads(path.read_text())
            os.kill(int(info["owner_pid"]), 0)
        except (ValueError, KeyError, OSError):
            path.unlink(missing_ok=True)
            continue
        out.append(info)
    return out
