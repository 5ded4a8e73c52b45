"""Where an external GPU tool runs: `local` (the tool on PATH) or `container` (NVIDIA's image via
docker/podman).

The command wrapping is pure (`ContainerExecutor.wrap`), so tests check exact argv; availability checks run
the client (`docker info`) and turn every way of not being able to run into one ToolMissing line (exit 4).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trtforge.errors import ToolMissing

Runner = Callable[..., subprocess.CompletedProcess]
CONTAINER_ROOT = "/trtforge"  # every mount lives under it inside the container


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False

    def volume_arg(self, engine: str) -> str:
        opts = ["ro"] if self.read_only else []
        return f"{self.host}:{self.container}" + (f":{','.join(opts)}" if opts else "")


@dataclass(frozen=True)
class EngineStatus:
    """What `docker info` / `podman info` said: is there a container engine we can use?"""

    client: str | None  # 'docker' | 'podman' | None
    running: bool
    detail: str


def detect_container_engine(
    preferred: str | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = subprocess.run,
    timeout: float = 20.0,
) -> EngineStatus:
    """Find a docker/podman client and ask its engine for its version; a non-zero `info` means no engine
    runs."""
    candidates = [preferred] if preferred else ["docker", "podman"]
    found = [c for c in candidates if c and which(c)]
    if not found:
        return EngineStatus(
            None,
            False,
            f"no container client found on PATH (looked for {', '.join(c for c in candidates if c)})",
        )
    last = EngineStatus(found[0], False, "")
    for client in found:
        try:
            done = run(
                [
                    client,
                    "info",
                    "--format",
                    "{{.ServerVersion}}" if client == "docker" else "{{.Version.Version}}",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            last = EngineStatus(client, False, f"`{client} info` did not answer within {timeout:.0f} s")
            continue
        except OSError as exc:
            last = EngineStatus(client, False, f"`{client} info` could not start: {exc.strerror or exc}")
            continue
        if done.returncode == 0:
            return EngineStatus(client, True, f"{client} engine {done.stdout.strip() or 'running'}")
        first = next(
            (line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()), ""
        )
        last = EngineStatus(
            client,
            False,
            f"the {client} client is installed but no engine runs "
            f"(`{client} info` exited {done.returncode}: {first or 'no output'})",
        )
    return last


@dataclass
class LocalExecutor:
    """Run tools installed on this machine."""

    name: str = "local"

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return list(argv)

    def path(self, host: Path) -> str:
        return str(host)

    def check(self, tool: str, *, which: Callable[[str], str | None] = shutil.which) -> None:
        if which(tool) is None:
            raise ToolMissing(
                f"{tool} is not installed here (not on PATH)",
                hint="install TensorRT-LLM at the pinned version, or set toolchain.executor: container",
            )

    def describe(self) -> dict[str, object]:
        return {"executor": "local"}


@dataclass
class ContainerExecutor:
    """Run tools inside a container image with all GPUs, the given directories mounted under /trtforge."""

    image: str
    client: str = "docker"
    mounts: list[Mount] = field(default_factory=list)
    workdir: str = CONTAINER_ROOT
    env: dict[str, str] = field(default_factory=dict)
    gpus: str = "all"
    user: str | None = (
        None  # "uid:gid" for docker so outputs are owned by the caller; podman maps users itself
    )
    name: str = "container"

    def mount(self, host: Path, container_name: str, *, read_only: bool = False) -> str:
        """Mount a host directory at /trtforge/<container_name>; returns the container path."""
        target = f"{CONTAINER_ROOT}/{container_name}"
        self.mounts.append(Mount(Path(host), target, read_only))
        return target

    def path(self, host: Path) -> str:
        """Container path of a host path under one of the mounts (ValueError if none contains it)."""
        host = Path(host)
        for m in sorted(self.mounts, key=lambda m: len(str(m.host)), reverse=True):
            try:
                rel = host.relative_to(m.host)
            except ValueError:
                continue
            return m.container if str(rel) == "." else f"{m.container}/{rel.as_posix()}"
        raise ValueError(f"{host} is not under any mount of the container")

    def wrap(self, argv: Sequence[str]) -> list[str]:
        cmd = [
            self.client,
            "run",
            "--rm",
            "--gpus",
            self.gpus,
            "--ipc=host",
            "--ulimit",
            "memlock=-1",
            "--ulimit",
            "stack=67108864",
        ]
        if self.user and self.client == "docker":
            cmd += ["--user", self.user, "-e", "HOME=/tmp"]
        for m in self.mounts:
            cmd += ["-v", m.volume_arg(self.client)]
        for key in sorted(self.env):
            cmd += ["-e", f"{key}={self.env[key]}"]
        cmd += ["-w", self.workdir, self.image, *argv]
        return cmd

    def check(
        self, tool: str, *, which: Callable[[str], str | None] = shutil.which, run: Runner = subprocess.run
    ) -> None:
        status = detect_container_engine(self.client, which=which, run=run)
        if not status.running:
            raise ToolMissing(
                f"cannot run {tool} in {self.image}: {status.detail}",
                hint="start the docker/podman engine on a host with an NVIDIA GPU and the NVIDIA container "
                "toolkit",
            )
        self.client = status.client or self.client

    def describe(self) -> dict[str, object]:
        return {"executor": "container", "client": self.client, "image": self.image}


def current_user() -> str | None:
    """'uid:gid' of this process (None where the platform has no such notion)."""
    if hasattr(os, "getuid") and hasattr(os, "getgid"):
        return f"{os.getuid()}:{os.getgid()}"
    return None


def make_executor(kind: str, *, image: str, client: str | None = None) -> LocalExecutor | ContainerExecutor:
    """The executor a recipe's toolchain.executor names ('local' | 'container')."""
    if kind == "local":
        return LocalExecutor()
    if kind == "container":
        chosen = client or ("docker" if shutil.which("docker") or not shutil.which("podman") else "podman")
        return ContainerExecutor(image=image, client=chosen, user=current_user())
    raise ValueError(f"unknown executor {kind}")
