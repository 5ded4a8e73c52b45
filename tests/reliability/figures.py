"""The figures the reliability tests report (cases tried, faults injected): one counter per run, printed by
the
terminal summary of tests/reliability/conftest.py and quoted in docs/reliability.md."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter = Counter()


def figure(name: str, n: int = 1) -> None:
    FIGURES[name] += n
