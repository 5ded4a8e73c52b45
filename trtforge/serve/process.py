"""A tritonserver child process: start in its own process group, wait for readiness with a deadline, stop
cleanly.

Guarantees: binds 127.0.0.1 unless told otherwise; free ports; the whole process group (server + python stubs)
is terminated on stop, on a missed deadline, and on SIGINT/SIGTERM to us; python-backend shared-memory files
are under a private prefix and removed afterwards; a server that never becomes ready is reported with the
model's own error line from its log.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from trtforge.errors import InvalidInput, StepFailed
from trtforge.procutil import die_with_parent

SHM_DIR = Path("/dev/shm")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct free TCP ports (bound together so they cannot collide with each other)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


@dataclass
class Endpoints:
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def to_json(self) -> dict[str, str]:
        return {"http": self.http, "grpc": self.grpc, "metrics": self.metrics}


# Lines in Triton's log that name why it cannot serve, most specific first.
_ERROR_PATTERNS = [
    re.compile(r"failed to start \w+ service: .*"),  # ... Socket '127.0.0.1:PORT' already in use
    re.compile(r"failed to load '[^']+' version \d+: .*"),
    re.compile(r".*TritonModelException.*"),
    re.compile(r".*(Error|Exception): .*"),
    re.compile(r"error: .*"),
]
# Lines Triton logs on every machine without a GPU: never the reason it failed.
_HARMLESS = re.compile(
    r"Failed to initialize NVML|CudaDriverHelper|CUDA driver version is insufficient|DCGM|pinned memory"
)
# Lines after which this server will not become ready (with --exit-on-error): stop waiting at once.
_FATAL = re.compile(r"failed to start \w+ service: |failed to load '[^']+' version \d+: ")


def error_line(log_text: str) -> str | None:
    """The most telling error line of a Triton log (a service that could not start, then a model's own load
    error), never one of the GPU-less machine's harmless lines."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip() and not _HARMLESS.search(ln)]
    for pattern in _ERROR_PATTERNS:
        for line in lines:
            m = pattern.search(line)
            if m:
                # Triton quotes its messages and joins a python traceback into one line; keep it short.
                return m.group(0).rstrip('" ').strip()[:600]
    return None


def fatal_line(log_text: str) -> str | None:
    """A line that already decides the server will not become ready, as `error_line` words it."""
    for line in log_text.splitlines():
        if _FATAL.search(line) and not _HARMLESS.search(line):
            return error_line(line)
    return None


def port_in_use(host: str, port: int) -> bool:
    """True when `port` cannot be bound on `host` (another server, or one that just stopped)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Triton binds: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class ServerProcess:
    """One tritonserver (or `docker run`) child. Use as a context manager or call stop()."""

    argv: list[str]
    env: dict[str, str]
    endpoints: Endpoints
    shm_prefix: str | None = None
    log_path: Path | None = None
    ready_path: str = "/v2/health/ready"
    stop_argv: list[str] | None = None  # e.g. ["docker", "stop", name]: run before signalling the group
    # A log line that proves the ready answer is this server's: with a port taken after check_ports, another
    # server answers /v2/health/ready while ours fails to bind.
    ready_marker: str | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)
    ready_after_s: float | None = field(default=None, init=False)

    def check_ports(self) -> None:
        """Refuse a port another process holds before starting: Triton would load every model first, then
        fail to bind, and meanwhile another server would answer our readiness checks."""
        ep = self.endpoints
        for flag, port in (
            ("--http-port", ep.http_port),
            ("--grpc-port", ep.grpc_port),
            ("--metrics-port", ep.metrics_port),
        ):
            host = "127.0.0.1" if ep.host in ("0.0.0.0", "") else ep.host
            if port and port_in_use(host, port):
                raise InvalidInput(
                    f"Socket '{ep.host}:{port}' already in use ({flag} {port})",
                    hint="stop what holds it, or choose another port (0 picks a free one)",
                )

    def start(self) -> ServerProcess:
        self.check_ports()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="trtforge-triton-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.started_at = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=functools.partial(die_with_parent, os.getpid()),  # noqa: PLW1509 - async-signal-safe; a SIGKILLed trtforge takes its server
            )
        except OSError as exc:
            raise StepFailed(f"cannot start {self.argv[0]}: {exc}") from exc
        finally:
            log.close()
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, deadline_s: float, poll_s: float = 0.2) -> float:
        """Seconds from start to ready. On exit or deadline: stop everything and raise StepFailed with the
        model's own error line."""
        assert self.proc is not None, "start() first"
        end = self.started_at + deadline_s
        url = self.endpoints.http + self.ready_path
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.stop()
                why = error_line(self.log_text()) or f"exit code {self.proc.returncode}"
                raise StepFailed(f"Triton could not start: {why}", hint=f"full log: {self.log_path}")
            fatal = fatal_line(self.log_text())
            if fatal:  # it would only unload the other models and exit: do not wait for that
                self.stop()
                raise StepFailed(f"Triton could not start: {fatal}", hint=f"full log: {self.log_path}")
            if http_ok(url, timeout=min(2.0, poll_s * 5)) and (
                self.ready_marker is None or self.ready_marker in self.log_text()
            ):
                self.ready_after_s = time.monotonic() - self.started_at
                return self.ready_after_s
            time.sleep(poll_s)
        self.stop()
        why = error_line(self.log_text())
        raise StepFailed(
            f"Triton was not ready within {deadline_s:.0f} s" + (f": {why}" if why else ""),
            hint=f"full log: {self.log_path}",
        )

    def stop(self, grace_s: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after the grace period; remove our shm files."""
        if self.proc is None:
            return None
        if self.stop_argv and self.proc.poll() is None:
            try:
                subprocess.run(self.stop_argv, capture_output=True, timeout=grace_s, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass
        pgid = self.proc.pid  # start_new_session: the group id is the child's pid
        _signal_group(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        # Stubs may outlive the server by a moment; whatever is left of the group goes now.
        deadline = time.monotonic() + 3.0
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.clean_shm()
        return self.proc.returncode

    def clean_shm(self) -> list[str]:
        removed = []
        if self.shm_prefix and SHM_DIR.is_dir():
            for path in SHM_DIR.glob(self.shm_prefix + "*"):
                try:
                    path.unlink()
                    removed.append(path.name)
                except OSError:
                    pass
        return removed

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
