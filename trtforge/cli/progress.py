"""How build events are shown: JSON lines (--json), rich progress (TTY), or plain lines.

Events are dicts with an "event" key: build_started, started, progress, log, waiting, finished, skipped,
failed, blocked, warning, published, build_finished. Step events carry "step" and "kind"; progress carries
message/done/total/unit (unit "B" renders as bytes with speed and ETA). Every text is redacted on the way out.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from trtforge import secrets
from trtforge.cli.render import emit_event
from trtforge.pipeline.events import Sink


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"  # pragma: no cover


def describe(ev: dict[str, Any]) -> str:
    """One plain line for an event (without the [step] prefix)."""
    kind = ev.get("event")
    if kind == "started":
        return f"started ({ev.get('kind')}, {ev.get('fingerprint', '')[:12]})"
    if kind == "progress":
        msg = ev.get("message") or ""
        done, total, unit = ev.get("done"), ev.get("total"), ev.get("unit") or ""
        if done is None:
            return msg
        if unit == "B":
            amount = f"{human_bytes(done)}/{human_bytes(total)}" if total else human_bytes(done)
        else:
            amount = f"{done:g}/{total:g} {unit}".strip() if total else f"{done:g} {unit}".strip()
        pct = f" ({100 * done / total:.0f}%)" if total else ""
        return f"{msg} {amount}{pct}".strip()
    if kind == "finished":
        size = human_bytes(ev.get("bytes"))
        return f"done in {ev.get('duration_s', 0):.1f}s ({ev.get('files', 0)} files, {size})"
    if kind == "skipped":
        if ev.get("reason") == "cached":
            return f"cached ({ev.get('fingerprint', '')[:12]})"
        return f"skipped: {ev.get('reason')}"
    if kind in ("failed", "blocked"):
        return f"{kind}: {ev.get('message')}"
    if kind == "waiting":
        return f"waiting: {ev.get('message')}"
    if kind == "build_started":
        return f"building {ev.get('recipe')} for {ev.get('target')} -> {ev.get('output')}"
    if kind == "published":
        return f"output: {ev.get('output')} ({ev.get('how')})"
    if kind == "build_finished":
        return f"build {ev.get('status')} in {ev.get('duration_s', 0):.1f}s"
    return str(ev.get("message", ""))


class JsonSink:
    """One JSON object per line on stdout, flushed at once (for CI)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self._lock:
            emit_event({"ts": round(time.time(), 3), **ev})


class PlainSink:
    """`[step] message` lines; progress is throttled to one line per step every `every_s` seconds."""

    def __init__(self, stream=None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stdout
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, ev: dict[str, Any]) -> None:
        step = ev.get("step")
        if ev.get("event") == "progress":
            now = time.monotonic()
            done, total = ev.get("done"), ev.get("total")
            final = total is not None and done is not None and done >= total
            if not final and now - self._last.get(step or "", 0.0) < self.every_s:
                return
            self._last[step or ""] = now
        prefix = f"[{step}] " if step else ""
        with self._lock:
            self.stream.write(secrets.redact(prefix + describe(ev)) + "\n")
            self.stream.flush()


class RichSink:
    """A rich Progress with one row per step: bytes, speed and ETA for transfers; log lines above it."""

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
        from rich.table import Column

        self.console = console or Console(highlight=False)
        self.progress = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("[bold]{task.fields[step]}", table_column=Column(min_width=14, no_wrap=True)),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[amount]}", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(),
            TextColumn(
                "{task.fields[note]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")
            ),
            console=self.console,
            transient=False,
            expand=True,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._started = False

    def _task(self, step: str):
        if step not in self._tasks:
            self._tasks[step] = self.progress.add_task("", total=None, step=step, amount="", note="")
        return self._tasks[step]

    def __call__(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape

        with self._lock:
            if not self._started:
                self.progress.start()
                self._started = True
            kind, step = ev.get("event"), ev.get("step")
            text = escape(secrets.redact(describe(ev)))
            if step is None:
                self.progress.console.print(text)
                if kind == "build_finished":
                    self.close()
                return
            task = self._task(step)
            if kind == "progress":
                done, total, unit = ev.get("done"), ev.get("total"), ev.get("unit")
                amount = ""
                if done is not None:
                    amount = (
                        f"{human_bytes(done)}/{human_bytes(total)}"
                        if unit == "B"
                        else f"{done:g}/{total:g}"
                        if total
                        else f"{done:g}"
                    )
                self.progress.update(
                    task,
                    completed=done or 0,
                    total=total,
                    amount=amount,
                    note=escape(secrets.redact(ev.get("message") or "")),
                )
            elif kind == "log":
                message = escape(secrets.redact(ev.get("message", "")))
                self.progress.console.print(f"[dim]\\[{escape(step)}][/dim] {message}", highlight=False)
            elif kind in ("finished", "skipped"):
                total = self.progress.tasks[task].total or 1
                self.progress.update(task, total=total, completed=total, note=text, amount="")
            elif kind in ("failed", "blocked"):
                self.progress.update(task, total=1, completed=1, note=f"[red]{text}", amount="")
            elif kind == "started":
                self.progress.update(task, note=text)
            else:
                self.progress.update(task, note=text)

    def close(self) -> None:
        if self._started:
            self.progress.stop()
            self._started = False


def make_sink(*, as_json: bool, tty: bool | None = None) -> Sink:
    """JSON lines with --json; rich progress on a terminal; plain lines otherwise."""
    if as_json:
        return JsonSink()
    if tty is None:
        tty = sys.stdout.isatty()
    return RichSink() if tty else PlainSink()
