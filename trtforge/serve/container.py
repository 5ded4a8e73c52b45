"""`--runtime container`: is a container engine here to run NVIDIA's image? (The command itself is pure and
lives
in trtforge/triton/launch_command.py, with the README for ops that prints it.)"""

from __future__ import annotations

import shutil
import subprocess

from trtforge.errors import ToolMissing


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
