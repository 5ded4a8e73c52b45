"""Processes trtforge starts die with it, even when it is SIGKILLed (Linux prctl PR_SET_PDEATHSIG).

One mechanism for every child: the Triton server (as a preexec_fn), the ModelOpt quantize worker and the GGUF
conversion (armed by the child itself at start, from the parent pid its environment names).
"""

from __future__ import annotations

import os
import signal

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
