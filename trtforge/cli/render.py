"""Output helpers shared by every command: rich on a terminal, plain lines otherwise, JSON on --json."""

from __future__ import annotations

import json
import sys
from typing import Any

from trtforge import secrets


def is_tty() -> bool:
    return sys.stdout.isatty()


def emit_json(obj: Any) -> None:
    """Print one JSON document (secrets redacted) to stdout."""
    text = json.dumps(obj, indent=None if not is_tty() else 2, sort_keys=False, default=str)
    sys.stdout.write(secrets.redact(text) + "\n")
    sys.stdout.flush()


def emit_event(obj: dict) -> None:
    """One JSON event per line (for CI logs), flushed at once."""
    sys.stdout.write(secrets.redact(json.dumps(obj, default=str)) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    sys.stdout.write(secrets.redact(text) + "\n")


def warn(text: str) -> None:
    sys.stderr.write(secrets.redact(text) + "\n")


def console():
    """A rich Console for stdout (imported lazily: rich is only needed on a terminal)."""
    from rich.console import Console

    return Console(highlight=False)
