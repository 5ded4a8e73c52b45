"""Build events: dicts with an "event" key, sent to one sink (how they are shown is the CLI's business).

Kinds: build_started, started, progress, log, waiting, finished, skipped, failed, blocked, warning, published,
build_finished. Step events carry "step" and "kind"; progress carries message/done/total/unit (unit "B" =
bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Sink = Callable[[dict[str, Any]], None]
