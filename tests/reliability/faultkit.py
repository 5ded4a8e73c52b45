"""Fault injection for whole `trtforge` processes: SIGKILL at the K-th file-system mutation, or out of space.

Run as `python -m tests.reliability.faultkit [--kill-at K] [--count FILE] -- <trtforge args>`: it wraps the
operations through which trtforge changes the file system (open for writing, mkdir, rename/replace, link,
symlink, unlink, rmdir, chmod, utime, fsync, the renameat2 swap) in this process, then runs the real CLI.
- `--count FILE`: run normally and write how many such operations happened (and the first few, for reports);
- `--kill-at K`: SIGKILL this process just before its K-th operation (the operation does not happen);
- `--enospc-at K`: from the K-th operation on, every operation that needs space (open for writing, mkdir,
  link, symlink, fsync) fails with ENOSPC, as on a full disk (removing files still works).
Only the trtforge process is instrumented; the subprocesses it starts (the ModelOpt worker) are not.

Not a mock: the build runs for real; the only thing added is an abrupt death at a chosen moment, like a power
cut, an OOM kill or a CI runner timing out.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import sys
import threading
import traceback

_lock = threading.Lock()
_state = {"n": 0, "kill_at": 0, "enospc_at": 0, "trace": []}
_NEEDS_SPACE = {"open-write", "os.open-write", "os.mkdir", "os.link", "os.symlink", "os.fsync"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _where() -> str:
    """The innermost trtforge frame that caused the operation (for reports: which step, which function)."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        if "/trtforge/" in frame.filename and "faultkit" not in frame.filename:
            return f"{frame.filename.rsplit('/trtforge/', 1)[1]}:{frame.lineno} {frame.name}"
    return "?"


def _tick(op: str) -> None:
    with _lock:
        _state["n"] += 1
        n = _state["n"]
        if len(_state["trace"]) < 5000:
            _state["trace"].append(f"{n} {op} {_where()}")
    if n == _state["kill_at"]:
        os.kill(os.getpid(), signal.SIGKILL)
    if _state["enospc_at"] and n >= _state["enospc_at"] and op in _NEEDS_SPACE:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _wrap(module, name: str, op: str, when=None) -> None:  # noqa: ANN001
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        if when is None or when(*args, **kwargs):
            _tick(op)
        return real(*args, **kwargs)

    wrapper.__wrapped__ = real  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


def _writes(_file, mode="r", *args, **kwargs) -> bool:  # noqa: ANN001
    return any(c in str(mode) for c in "wax+")


def _os_open_writes(_path, flags, *args, **kwargs) -> bool:  # noqa: ANN001
    return bool(flags & _WRITE_FLAGS)


def install(kill_at: int = 0, enospc_at: int = 0) -> None:
    """Wrap the mutating operations of this process; SIGKILL before operation number kill_at (0: never), fail
    those needing space with ENOSPC from operation number enospc_at on (0: never)."""
    _state["kill_at"], _state["enospc_at"] = kill_at, enospc_at
    _wrap(builtins, "open", "open-write", _writes)
    io.open = builtins.open
    _wrap(os, "open", "os.open-write", _os_open_writes)
    for name in (
        "mkdir",
        "rename",
        "replace",
        "link",
        "symlink",
        "unlink",
        "remove",
        "rmdir",
        "chmod",
        "utime",
        "fsync",
        "truncate",
        "ftruncate",
    ):
        _wrap(os, name, f"os.{name}")
    from trtforge import fsutil

    _wrap(fsutil, "exchange", "renameat2-exchange")


def main(argv: list[str]) -> None:
    kill_at, enospc_at, count_file = 0, 0, None
    while argv and argv[0] != "--":
        flag = argv.pop(0)
        if flag == "--kill-at":
            kill_at = int(argv.pop(0))
        elif flag == "--enospc-at":
            enospc_at = int(argv.pop(0))
        elif flag == "--count":
            count_file = argv.pop(0)
        else:
            raise SystemExit(f"faultkit: unknown option {flag}")
    args = argv[1:]
    install(kill_at, enospc_at)
    from trtforge.cli.app import main as trtforge_main

    code = 0
    try:
        trtforge_main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if count_file:
            with _lock:
                doc = {"ops": _state["n"], "trace": list(_state["trace"])}
            real_open = builtins.open.__wrapped__  # type: ignore[attr-defined]
            with real_open(count_file, "w") as f:
                json.dump(doc, f)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
