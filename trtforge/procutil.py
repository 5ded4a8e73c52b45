"""Processes trtforge starts die with it, even when it is SIGKILLed (Linux prctl PR_SET_PDEATHSIG).

One mechanism for every child: the Triton server (as a preexec_fn), the ModelOpt quantize worker and the GGUF
conversion (armed by the child itself at start, from the parent pid its environment names). The Python
children get their environment from `child_env` and are stopped, with their process group, by `stop_group`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

PR_SET_PDEATHSIG = 1
PARENT_PID_ENV = "TRTFORGE_PARENT_PID"  # a child started by trtforge dies with this process


def _load_prctl():  # noqa: ANN202 - a ctypes function or None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _load_prctl()  # resolved here, in the parent: a forked child only calls it


def die_with_parent(parent_pid: int, exit_code: int = 1) -> None:
    """The kernel SIGKILLs this process when `parent_pid` dies (a no-op where prctl is missing).

    Safe as a preexec_fn (bind `parent_pid` = os.getpid() before the fork): it calls one C function and
    nothing that could take a lock another thread of the parent held at fork time."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(exit_code)


def die_with_parent_named_in_env(exit_code: int = 130) -> None:
    """Arm `die_with_parent` against the pid in $TRTFORGE_PARENT_PID (set by the parent); none when unset."""
    parent = os.environ.get(PARENT_PID_ENV)
    if parent and parent.isdigit():
        die_with_parent(int(parent), exit_code)


def child_env() -> dict[str, str]:
    """The environment of a Python child trtforge starts (`python -m trtforge....`): this checkout importable,
    tokenizers single-threaded, and our pid, which the child arms die_with_parent against."""
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[1])  # so `-m trtforge...` works from a checkout too
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


def stop_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group of `proc` (started with start_new_session), then SIGKILL after grace_s."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
