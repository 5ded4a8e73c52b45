"""`--runtime container`: the generated docker/mpirun command, and a clear exit 4 where docker cannot run."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_cli
from tests.triton.fixtures import h100_llmapi_repo
from trtforge.triton.launch_command import ContainerLaunch, container_argv, tritonserver_argv

IMAGE = "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3"


def test_single_gpu_command():
    argv = container_argv(
        ContainerLaunch(
            image=IMAGE,
            repo_host_path="/srv/repo",
            http_port=18000,
            grpc_port=18001,
            metrics_port=18002,
            name="trtforge-1",
        )
    )
    assert argv[:5] == ["docker", "run", "--rm", "--init", "--name"]
    assert ["-p", "127.0.0.1:18000:8000"] == argv[
        argv.index("127.0.0.1:18000:8000") - 1 : argv.index("127.0.0.1:18000:8000") + 1
    ]
    assert "/srv/repo:/models:ro" in argv and "--gpus" in argv
    image_at = argv.index(IMAGE)
    assert argv[image_at + 1 :] == [
        "tritonserver",
        "--model-repository=/models",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--disable-auto-complete-config",
        "--backend-config=python,shm-region-prefix-name=trtforge0_",
    ]


def test_world_size_two_is_mpirun_leader_mode():
    inner = tritonserver_argv(ContainerLaunch(image=IMAGE, repo_host_path="/srv/repo", world_size=2))
    assert inner[:2] == ["mpirun", "--allow-run-as-root"]
    ranks = " ".join(inner[2:]).split(" : ")
    assert len(ranks) == 2
    assert ranks[0].startswith("-n 1 tritonserver ") and "shm-region-prefix-name=trtforge0_" in ranks[0]
    assert "--model-control-mode=explicit --load-model=tensorrt_llm" in ranks[1]
    assert "shm-region-prefix-name=trtforge1_" in ranks[1] and "--load-model" not in ranks[0]


def test_llmapi_multi_gpu_ranks_use_trtllm_llmapi_launch():
    inner = tritonserver_argv(
        ContainerLaunch(image=IMAGE, repo_host_path="/r", world_size=2, llmapi_launch=True)
    )
    assert inner.count("trtllm-llmapi-launch") == 2


@pytest.fixture(scope="module")
def gpu_repo(tiny_llama, tmp_path_factory):
    """A PyTorch-backend (llmapi) repository for an H100 target: valid without any engine file."""
    return h100_llmapi_repo(tmp_path_factory.mktemp("gpu-repo"), tiny_llama)


def test_print_command_for_the_container(gpu_repo):
    r = run_cli("serve", str(gpu_repo), "--runtime", "container", "--print-command")
    assert r.returncode == 0, r.stderr
    assert f"-v {gpu_repo}:/models:ro {IMAGE} tritonserver --model-repository=/models" in r.stdout


def test_container_runtime_without_a_docker_engine_exits_4(gpu_repo, tmp_path):
    if shutil.which("docker"):
        import subprocess

        if subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0:
            pytest.skip("a docker engine is running here")
    r = run_cli("serve", str(gpu_repo), "--runtime", "container", "--ready-timeout", "30")
    assert r.returncode == 4
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: docker")


def test_image_of_another_trtllm_version_is_refused(gpu_repo):
    r = run_cli(
        "serve",
        str(gpu_repo),
        "--runtime",
        "container",
        "--print-command",
        "--image",
        "nvcr.io/nvidia/tritonserver:25.12-trtllm-python-py3",
    )
    assert r.returncode == 2 and "ships TensorRT-LLM 1.1.0" in r.stderr
