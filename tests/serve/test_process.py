"""ServerProcess: readiness deadline, the model's own error line, whole process group stopped, shm cleaned."""

from __future__ import annotations

import os
import sys
import textwrap
import time

import pytest

from trtforge.errors import StepFailed
from trtforge.serve.process import SHM_DIR, Endpoints, ServerProcess, error_line, free_ports

# A stand-in "server": serves /v2/health/ready after a delay and starts a child (like Triton's python stubs).
FAKE_SERVER = textwrap.dedent("""
    import http.server, subprocess, sys, time
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print("child", child.pid, flush=True)
    time.sleep(delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/v2/health/ready" else 404); self.end_headers()
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _server(tmp_path, delay: float, shm_prefix: str | None = None) -> ServerProcess:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    (port,) = free_ports(1)
    return ServerProcess(
        argv=[sys.executable, str(script), str(port), str(delay)],
        env={},
        endpoints=Endpoints("127.0.0.1", port, 0, 0),
        shm_prefix=shm_prefix,
        log_path=tmp_path / "server.log",
    )


def _child_pid(server: ServerProcess) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if line.startswith("child "):
                return int(line.split()[1])
        time.sleep(0.05)
    raise AssertionError("fake server did not report its child")


def test_free_ports_are_distinct():
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_ready_then_stop_leaves_no_process_and_no_shm(tmp_path):
    prefix = f"trtforge_test{os.getpid()}_"
    shm_file = SHM_DIR / (prefix + "region")
    if SHM_DIR.is_dir():
        shm_file.write_bytes(b"x")
    server = _server(tmp_path, 0.3, prefix).start()
    child = _child_pid(server)
    took = server.wait_ready(30)
    assert 0.2 < took < 30
    server.stop()
    time.sleep(0.2)
    assert not _alive(server.proc.pid) and not _alive(child)
    assert not shm_file.exists()


def test_deadline_gives_up_and_kills_the_group(tmp_path):
    server = _server(tmp_path, 60).start()
    child = _child_pid(server)
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match="not ready within 2 s"):
        server.wait_ready(2)
    assert time.monotonic() - t0 < 25
    time.sleep(0.2)
    assert not _alive(server.proc.pid) and not _alive(child)


def test_exit_before_ready_reports_the_model_error_line(tmp_path):
    log = tmp_path / "server.log"
    script = tmp_path / "dies.py"
    script.write_text(
        textwrap.dedent("""
        print("I1124 model_lifecycle.cc:472] loading: tensorrt_llm:1")
        print("E1124 model_lifecycle.cc:641] failed to load 'tensorrt_llm' version 1: Internal: ReferenceUnsupported: NVFP4")
        print("error: creating server: Internal - failed to load all models")
        raise SystemExit(1)
    """)
    )
    (port,) = free_ports(1)
    server = ServerProcess(
        argv=[sys.executable, str(script)], env={}, endpoints=Endpoints("127.0.0.1", port, 0, 0), log_path=log
    ).start()
    with pytest.raises(StepFailed) as info:
        server.wait_ready(30)
    assert (
        "failed to load 'tensorrt_llm' version 1: Internal: ReferenceUnsupported: NVFP4" in info.value.message
    )


def test_error_line_prefers_the_model_load_error():
    log = (
        "W warning\nE ensemble_scheduler.cc: unable to create stream: CUDA driver\n"
        "E model_lifecycle.cc:641] failed to load 'preprocessing' version 1: Internal: ModuleNotFoundError: numpy\n"
    )
    assert error_line(log) == "failed to load 'preprocessing' version 1: Internal: ModuleNotFoundError: numpy"
    assert error_line("all good\n") is None
