"""`--runtime container`: NVIDIA's tritonserver:<yy.mm>-trtllm-python-py3 image, launched as its own script does.

`container_argv` is pure (the README for ops prints the same command); `run_container` is the side effect.
For world size > 1 the command is tensorrtllm_backend's launch_triton_server.py leader mode: one tritonserver per
MPI rank (MPMD, ':'-separated), ranks >= 1 load only the tensorrt_llm model, each rank with its own python-backend
shared-memory prefix.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass

from trtforge.errors import InvalidInput, ToolMissing

CONTAINER_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}


@dataclass(frozen=True)
class ContainerLaunch:
    image: str
    repo_host_path: str  # absolute path on the host
    container_model_root: str = "/models"
    world_size: int = 1
    llmapi_launch: bool = (
        False  # the tensorrt_llm slot runs the LLM API: prefix ranks with trtllm-llmapi-launch
    )
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    name: str | None = None
    shm_size: str = "2g"
    gpus: str = "all"
    engine: str = "docker"  # docker | podman


def tritonserver_argv(launch: ContainerLaunch) -> list[str]:
    """The command run inside the container (tritonserver, or mpirun over one tritonserver per rank)."""

    def rank_cmd(rank: int) -> list[str]:
        cmd = [
            "tritonserver",
            f"--model-repository={launch.container_model_root}",
            f"--http-port={CONTAINER_PORTS['http']}",
            f"--grpc-port={CONTAINER_PORTS['grpc']}",
            f"--metrics-port={CONTAINER_PORTS['metrics']}",
            "--disable-auto-complete-config",
            f"--backend-config=python,shm-region-prefix-name=trtforge{rank}_",
        ]
        if rank > 0:
            cmd += ["--model-control-mode=explicit", "--load-model=tensorrt_llm"]
        if launch.llmapi_launch and launch.world_size > 1:
            cmd = ["trtllm-llmapi-launch", *cmd]
        return cmd

    if launch.world_size < 1:
        raise InvalidInput(f"world size must be >= 1, got {launch.world_size}")
    if launch.world_size == 1:
        return rank_cmd(0)
    argv = ["mpirun", "--allow-run-as-root"]
    for rank in range(launch.world_size):
        if rank:
            argv.append(":")
        argv += ["-n", "1", *rank_cmd(rank)]
    return argv


def container_argv(launch: ContainerLaunch) -> list[str]:
    """Full `docker run ...` argv; ports published on `host` only (127.0.0.1 unless asked otherwise)."""
    if not launch.repo_host_path.startswith("/"):
        raise InvalidInput(f"repository path must be absolute, got {launch.repo_host_path}")
    argv = [launch.engine, "run", "--rm", "--init"]
    if launch.name:
        argv += ["--name", launch.name]
    argv += [
        "--gpus",
        launch.gpus,
        f"--shm-size={launch.shm_size}",
        "--ulimit",
        "memlock=-1",
        "--ulimit",
        "stack=67108864",
        "-p",
        f"{launch.host}:{launch.http_port}:{CONTAINER_PORTS['http']}",
        "-p",
        f"{launch.host}:{launch.grpc_port}:{CONTAINER_PORTS['grpc']}",
        "-p",
        f"{launch.host}:{launch.metrics_port}:{CONTAINER_PORTS['metrics']}",
        "-v",
        f"{launch.repo_host_path}:{launch.container_model_root}:ro",
        launch.image,
    ]
    return argv + tritonserver_argv(launch)


def shell_command(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def check_container_engine(engine: str = "docker") -> str:
    """Path of docker/podman if its daemon answers; ToolMissing (exit 4) with a clear line otherwise."""
    path = shutil.which(engine)
    if path is None:
        raise ToolMissing(
            f"{engine} not found on PATH: --runtime container needs {engine} with the NVIDIA "
            "container toolkit",
            hint="use --runtime local or --runtime reference",
        )
    try:
        probe = subprocess.run(
            [path, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"{engine} does not answer: {exc}", hint="start the container engine") from exc
    if probe.returncode != 0 or not probe.stdout.strip():
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        raise ToolMissing(
            f"{engine} engine is not running or not reachable: {detail[-1] if detail else 'no answer'}",
            hint="start the container engine, or use --runtime local / reference",
        )
    return path
