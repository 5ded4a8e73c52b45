"""Run the worker subprocess: stream its progress, map its errors, and never leave it running.

The worker is started in its own session (process group) and arms PR_SET_PDEATHSIG against this process, so
stopping the build — an exception, Ctrl-C, SIGTERM handled by the pipeline, or even SIGKILL of this process —
stops the worker too. (No preexec_fn: it is unsafe when the pipeline runs steps in threads.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trtforge import errors
from trtforge.errors import Interrupted, StepFailed, TrtforgeError
from trtforge.procutil import PARENT_PID_ENV
from trtforge.quantize.job import QuantJob
from trtforge.secrets import redact

Handler = Callable[[dict[str, Any]], None]
KILL_GRACE_S = 5.0


def worker_command(job_file: str | Path) -> list[str]:
    return [sys.executable, "-m", "trtforge.quantize.worker", str(job_file)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[2])  # so `-m trtforge...` works from a checkout too
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env[PARENT_PID_ENV] = str(os.getpid())  # the worker arms PR_SET_PDEATHSIG against us (see worker.main)
    return env


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the worker's process group, then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_jobs(
    jobs: list[QuantJob],
    on_event: Handler,
    log_path: Path | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> list[dict[str, Any]]:
    """Run jobs in one worker process; returns one {"event": "result"|"error", ...} per job.

    on_event gets every progress/log event as it arrives. Raises Interrupted if we are interrupted, StepFailed
    if the worker dies without reporting.
    """
    work = Path(tempfile.mkdtemp(prefix="trtforge-quantize-"))
    job_file = work / "job.json"
    job_file.write_text(json.dumps({"jobs": [json.loads(j.to_json()) for j in jobs]}))
    log_path = log_path or work / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    outcomes: dict[int, dict[str, Any]] = {}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            worker_command(job_file),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=_env(),
            start_new_session=True,
        )
        try:
            if on_start is not None:
                on_start(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # not ours (should not happen: the worker moves library output to stderr)
                if event.get("event") in ("result", "error"):
                    outcomes[event.get("job") or 0] = event
                else:
                    on_event(event)
            rc = proc.wait()
        except KeyboardInterrupt:
            stop(proc)
            raise Interrupted("quantize: interrupted; the ModelOpt worker was stopped") from None
        except BaseException:
            stop(proc)
            raise
    if len(outcomes) < len(jobs):
        tail = _tail(log_path)
        raise StepFailed(
            f"quantize: the ModelOpt worker exited with code {rc} without a result"
            + (f": {tail}" if tail else ""),
            hint=f"full log: {log_path}",
        )
    try:
        if log_path.parent == work:
            log_path.unlink(missing_ok=True)
        job_file.unlink(missing_ok=True)
        work.rmdir()
    except OSError:
        pass
    return [outcomes[i] for i in range(len(jobs))]


def raise_for(outcome: dict[str, Any]) -> dict[str, Any]:
    """The report of a result event; a worker error event becomes the same TrtforgeError class here."""
    if outcome.get("event") == "result":
        return outcome["report"]
    cls = getattr(errors, str(outcome.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, TrtforgeError)):
        cls = StepFailed
    raise cls(redact(str(outcome.get("message"))), hint=outcome.get("hint"))


def _tail(path: Path, lines: int = 3) -> str:
    try:
        with path.open(errors="replace") as f:
            last = deque((ln.strip() for ln in f if ln.strip()), maxlen=lines)
    except OSError:
        return ""
    return redact(" | ".join(last))[-600:]
