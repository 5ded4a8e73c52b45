"""`trtforge bench`: a bounded load against a served model.

NVIDIA's `aiperf` runs when installed (trtforge/serve/aiperf.py); otherwise a small built-in client does:
N requests at concurrency C, each streamed when the model is decoupled, reporting requests/s, output
tokens/s, TTFT, inter-token latency and request latency percentiles. Built-in token counts are SSE events (one
per generated token for the ensemble and the reference runtime; the BLS may merge tokens that end inside a
multi-byte character).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from trtforge.errors import StepFailed
from trtforge.serve.client import Target, generate, generate_stream, payload

DEFAULT_PROMPT = "The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly."


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100]); None for no values."""
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary_ms(values_s: list[float]) -> dict[str, float | None]:
    ms = [v * 1000.0 for v in values_s]
    out = {f"p{q}": percentile(ms, q) for q in (50, 90, 99)}
    out["mean"] = sum(ms) / len(ms) if ms else None
    return {k: round(v, 2) if v is not None else None for k, v in out.items()}


@dataclass
class BenchConfig:
    concurrency: int = 4
    requests: int = 16
    max_tokens: int = 16
    prompt: str = DEFAULT_PROMPT
    stream: bool | None = None  # None: stream when the model is decoupled
    fixed_length: bool = True  # ask for exactly max_tokens (min_tokens) where the API allows it
    warmup: int = 1
    timeout_s: float = 300.0


def result_head(tool: str, target: Target, cfg: BenchConfig, stream: bool) -> dict[str, Any]:
    """The keys every bench result starts with (built-in client or aiperf)."""
    return {
        "tool": tool,
        "model": target.model,
        "url": target.url,
        "runtime_note": target.runtime_note,
        "streaming": stream,
        "concurrency": cfg.concurrency,
        "requests": cfg.requests,
    }


def run_builtin(target: Target, cfg: BenchConfig) -> dict[str, Any]:
    """The built-in load generator (threads over http.client)."""
    if cfg.concurrency < 1 or cfg.requests < 1:
        raise StepFailed("bench needs --concurrency >= 1 and --requests >= 1")
    stream = target.decoupled if cfg.stream is None else cfg.stream
    extra = {"min_tokens": cfg.max_tokens} if cfg.fixed_length and target.api == "ensemble" else {}
    body = payload(target, cfg.prompt, cfg.max_tokens, stream, extra)
    call = (
        (lambda: generate_stream(target, body, cfg.timeout_s))
        if stream
        else (lambda: generate(target, body, cfg.timeout_s))
    )
    for _ in range(cfg.warmup):
        call()
    results, errors = [], []

    def one(_: int):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            errors.append(str(exc))
            return None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
        for result in pool.map(one, range(cfg.requests)):
            if result is not None:
                results.append(result)
    wall = time.perf_counter() - t0
    ttft = [r.ttft_s for r in results if r.ttft_s is not None]
    itl = [b - a for r in results for a, b in zip(r.chunk_times_s, r.chunk_times_s[1:], strict=False)]
    tokens = sum(len(r.chunks) for r in results) if stream else None
    return {
        **result_head("trtforge built-in", target, cfg, stream),
        "succeeded": len(results),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "max_tokens": cfg.max_tokens,
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(results) / wall, 3) if wall > 0 else None,
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / wall, 2) if tokens is not None and wall > 0 else None,
        "output_tokens_counted_as": "SSE events" if stream else "not counted (non-streaming)",
        "ttft_ms": summary_ms(ttft),
        "inter_token_latency_ms": summary_ms(itl),
        "request_latency_ms": summary_ms([r.latency_s for r in results]),
    }
