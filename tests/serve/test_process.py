"""ServerProcess: readiness deadline, the model's own error line, whole process group stopped, shm cleaned."""

from __future__ import annotations

import os
import sys
import textwrap
import time

import pytest

from tests.conftest import ROOT
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
        print("E1124 model_lifecycle.cc:641] failed to load 'tensorrt_llm' version 1: "
              "Internal: ReferenceUnsupported: NVFP4")
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
        "E model_lifecycle.cc:641] failed to load 'preprocessing' version 1: Internal: ModuleNotFoundError: "
        "numpy\n"
    )
    assert error_line(log) == "failed to load 'preprocessing' version 1: Internal: ModuleNotFoundError: numpy"
    assert error_line("all good\n") is None


# Lines as tritonserver 2.51 logs them on this CPU machine with its HTTP port taken (seen 2026-12-07).
PORT_TAKEN_LOG = (
    'W1207 01:30:29.950000 23084 pinned_memory_manager.cc:273] "Unable to allocate pinned system memory"\n'
    'E1207 01:30:29.950100 23084 server.cc:241] "CudaDriverHelper has not been initialized."\n'
    "Error: Failed to initialize NVML\n"
    'W1207 01:30:30.052260 23084 metrics.cc:798] "DCGM unable to start: DCGM initialization error"\n'
    'E1207 01:30:30.101044 23084 main.cc:257] "failed to start HTTP service: Unavailable - Socket '
    "'127.0.0.1:18700' already in use \"\n"
)


def test_error_line_names_the_socket_not_nvml():
    assert error_line(PORT_TAKEN_LOG) == (
        "failed to start HTTP service: Unavailable - Socket '127.0.0.1:18700' already in use"
    )
    assert (
        error_line(PORT_TAKEN_LOG.rsplit("E1207", 1)[0]) is None
    )  # the GPU-less lines alone explain nothing


def test_a_fatal_log_line_ends_the_wait_while_the_server_still_runs(tmp_path):
    """Triton logs the failure, then unloads every model before it exits: the wait ends at the line."""
    script = tmp_path / "slow_exit.py"
    script.write_text(
        f"import sys, time\nsys.stdout.write({PORT_TAKEN_LOG!r})\nsys.stdout.flush()\ntime.sleep(120)\n"
    )
    (port,) = free_ports(1)
    server = ServerProcess(
        argv=[sys.executable, str(script)],
        env={},
        endpoints=Endpoints("127.0.0.1", port, 0, 0),
        log_path=tmp_path / "server.log",
    ).start()
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match="Socket '127.0.0.1:18700' already in use") as info:
        server.wait_ready(100)
    assert time.monotonic() - t0 < 20 and "NVML" not in info.value.message
    assert not _alive(server.proc.pid)


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    import socket

    from trtforge.errors import InvalidInput

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = _server(tmp_path, 0)
        server.endpoints = Endpoints("127.0.0.1", free_ports(1)[0], port, 0)
        with pytest.raises(
            InvalidInput, match=f"Socket '127.0.0.1:{port}' already in use \\(--grpc-port {port}\\)"
        ):
            server.start()
        assert server.proc is None


def test_the_server_dies_with_its_parent_even_on_sigkill(tmp_path):
    """A parent that starts a ServerProcess and is SIGKILLed: the kernel kills the server too."""
    import signal
    import subprocess

    pid_file = tmp_path / "server.pid"
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(f"""
        import sys, time
        from trtforge.serve.process import Endpoints, ServerProcess
        s = ServerProcess(argv=[sys.executable, "-c", "import time; time.sleep(300)"], env={{}},
                          endpoints=Endpoints("127.0.0.1", 0, 0, 0),
                          log_path={str(tmp_path / "l.log")!r}).start()
        open({str(pid_file)!r}, "w").write(str(s.proc.pid))
        time.sleep(300)
    """)
    )
    proc = subprocess.Popen([sys.executable, str(parent)], env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _alive(child)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = not _alive(child)
    if not gone:
        os.kill(child, signal.SIGKILL)
    assert gone


def test_a_ready_answer_from_another_server_is_not_ours(tmp_path):
    """A port taken between check_ports and Triton's bind: the other server answers /v2/health/ready while
    ours
    logs "Started HTTPService" and then fails to bind. Readiness waits for the line that proves it is ours."""
    other = _server(tmp_path, 0).start()  # holds the port and answers ready
    try:
        other.wait_ready(30)
        script = tmp_path / "loses_the_race.py"
        started = 'I1207 http_server.cc:4713] "Started HTTPService at 127.0.0.1:18700"'
        failed = PORT_TAKEN_LOG.splitlines()[-1]
        script.write_text(
            f"import sys, time\nprint({started!r}, flush=True)\ntime.sleep(1.5)\n"
            f"print({failed!r}, flush=True)\ntime.sleep(120)\n"
        )
        ours = ServerProcess(
            argv=[sys.executable, str(script)],
            env={},
            endpoints=other.endpoints,
            log_path=tmp_path / "ours.log",
            ready_marker="Started Metrics Service at ",
        )
        ours.check_ports = lambda: None  # the race: the port was free when checked
        ours.start()
        with pytest.raises(StepFailed, match="already in use"):
            ours.wait_ready(60)
    finally:
        other.stop()
