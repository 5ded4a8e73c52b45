"""Executors: exact container command lines, path mapping, and engine detection (no container is started)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trtforge.errors import ToolMissing
from trtforge.steps.executors import ContainerExecutor, LocalExecutor, detect_container_engine, make_executor


def test_local_executor_runs_the_tool_as_is(tmp_path: Path) -> None:
    ex = LocalExecutor()
    assert ex.wrap(["trtllm-build", "--x", "1"]) == ["trtllm-build", "--x", "1"]
    assert ex.path(tmp_path) == str(tmp_path)
    with pytest.raises(ToolMissing) as exc:
        ex.check("trtllm-build", which=lambda name: None)
    assert exc.value.exit_code == 4 and "not on PATH" in exc.value.one_line()


def test_container_command_line() -> None:
    ex = ContainerExecutor(
        image="nvcr.io/nvidia/tensorrt-llm/release:1.2.1", client="docker", user="1000:1000"
    )
    ck = ex.mount(Path("/cache/ckpt"), "checkpoint", read_only=True)
    out = ex.mount(Path("/tmp/out"), "out")
    assert ck == "/trtforge/checkpoint" and out == "/trtforge/out"
    assert ex.wrap(["trtllm-build", "--checkpoint_dir", ck]) == [
        "docker",
        "run",
        "--rm",
        "--gpus",
        "all",
        "--ipc=host",
        "--ulimit",
        "memlock=-1",
        "--ulimit",
        "stack=67108864",
        "--user",
        "1000:1000",
        "-e",
        "HOME=/tmp",
        "-v",
        "/cache/ckpt:/trtforge/checkpoint:ro",
        "-v",
        "/tmp/out:/trtforge/out",
        "-w",
        "/trtforge",
        "nvcr.io/nvidia/tensorrt-llm/release:1.2.1",
        "trtllm-build",
        "--checkpoint_dir",
        "/trtforge/checkpoint",
    ]


def test_podman_keeps_its_own_user_mapping() -> None:
    ex = ContainerExecutor(image="img", client="podman", user="1000:1000", env={"B": "2", "A": "1"})
    cmd = ex.wrap(["true"])
    assert cmd[:5] == ["podman", "run", "--rm", "--gpus", "all"]
    assert "--user" not in cmd
    assert cmd[cmd.index("-e") : cmd.index("-e") + 4] == ["-e", "A=1", "-e", "B=2"]


def test_container_path_mapping() -> None:
    ex = ContainerExecutor(image="img")
    ex.mount(Path("/data"), "data")
    ex.mount(Path("/data/out"), "out")
    assert ex.path(Path("/data/out/engine")) == "/trtforge/out/engine"
    assert ex.path(Path("/data/x")) == "/trtforge/data/x"
    assert ex.path(Path("/data")) == "/trtforge/data"
    with pytest.raises(ValueError):
        ex.path(Path("/elsewhere"))


def _runner(returncode: int, stdout: str = "", stderr: str = ""):
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    return run, calls


def test_detect_engine_running() -> None:
    run, calls = _runner(0, "28.2.2\n")
    status = detect_container_engine(which=lambda n: f"/usr/bin/{n}", run=run)
    assert status.running and status.client == "docker" and "28.2.2" in status.detail
    assert calls == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_detect_client_without_engine() -> None:
    run, _ = _runner(
        1,
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon "
        "running?\n",
    )
    status = detect_container_engine("docker", which=lambda n: "/usr/bin/docker", run=run)
    assert not status.running
    assert status.detail.startswith(
        "the docker client is installed but no engine runs (`docker info` exited 1: Cannot connect"
    )


def test_detect_no_client() -> None:
    status = detect_container_engine(which=lambda n: None, run=_runner(0)[0])
    assert status.client is None and not status.running and "no container client" in status.detail


def test_detect_falls_back_to_podman() -> None:
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 0 if argv[0] == "podman" else 1, "5.0.1", "no daemon")

    status = detect_container_engine(which=lambda n: f"/usr/bin/{n}", run=run)
    assert status.running and status.client == "podman"


def test_detect_timeout() -> None:
    def run(argv, **kw):
        raise subprocess.TimeoutExpired(argv, kw["timeout"])

    status = detect_container_engine("docker", which=lambda n: "/x", run=run, timeout=3)
    assert not status.running and "did not answer within 3 s" in status.detail


def test_container_check_raises_tool_missing() -> None:
    ex = ContainerExecutor(image="img")
    run, _ = _runner(1, stderr="Cannot connect to the Docker daemon\n")
    with pytest.raises(ToolMissing) as exc:
        ex.check("trtllm-build", which=lambda n: "/usr/bin/docker", run=run)
    assert exc.value.exit_code == 4
    assert "no engine runs" in exc.value.one_line()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
def test_real_docker_client_is_detected_honestly() -> None:
    """Here the docker client exists; whatever the engine state, detection must say it as it is."""
    status = detect_container_engine("docker")
    done = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert status.running is (done.returncode == 0)
    if not status.running:
        assert "no engine runs" in status.detail


def test_make_executor() -> None:
    assert isinstance(make_executor("local", image="img"), LocalExecutor)
    ex = make_executor("container", image="img", client="podman")
    assert isinstance(ex, ContainerExecutor) and ex.client == "podman" and ex.image == "img"
    with pytest.raises(ValueError):
        make_executor("ssh", image="img")
