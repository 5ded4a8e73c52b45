"""Run the worker subprocess: stream its progress, map its errors, and never leave it running.

The worker is started in its own session (process group) and arms PR_SET_PDEATHSIG against this process, so
stopping the build — an exception, Ctrl-C, SIGTERM handled by the pipeline, or even SIGKILL of this process —
stops the worker too. (No preexec_fn: it is unsafe when the pipeline runs steps in threads.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trtforge import errors
from trtforge.errors import Interrupted, StepFailed, TrtforgeError
from trtforge.procutil import child_env, stop_group
from trtforge.quantize.job import QuantJob
from trtforge.secrets import redact

Handler = Callable[[dict[str, Any]], None]
KILL_GRACE_S = 5.0


def worker_command(job_file: str | Path) -> list[str]:
    return [sys.executable, "-m", "trtforge.quantize.worker", str(job_file)]


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
            env=child_env(),
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
            stop_group(proc, KILL_GRACE_S)
            raise Interrupted("quantize: interrupted; the ModelOpt worker was stopped") from None
        except BaseException:
            stop_group(proc, KILL_GRACE_S)
            raise
    if len(outcomes) < len(jobs):
        tail = log_tail(log_path)
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


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a child's log as one redacted line (for an error message)."""
    try:
        with path.open(errors="replace") as f:
            last = deque((ln.strip() for ln in f if ln.strip()), maxlen=lines)
    except OSError:
        return ""
    return redact(" | ".join(last))[-600:]
