"""The command that runs a model repository in NVIDIA's tritonserver:<yy.mm>-trtllm-python-py3 image (pure).

The repository README for ops, `trtforge deploy --target triton` and `trtforge serve --runtime container`
print or run this same command. For world size > 1 it is tensorrtllm_backend's launch_triton_server.py leader
mode: one tritonserver per MPI rank (MPMD, ':'-separated), ranks >= 1 load only the tensorrt_llm model, each
rank with its own python-backend shared-memory prefix.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from trtforge.errors import InvalidInput

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
