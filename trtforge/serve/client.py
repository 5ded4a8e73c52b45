"""Client for Triton's generate / generate_stream endpoints (standard library only: http.client).

The request schema differs by layout: the ensemble/BLS take `max_tokens` and `stream`, the llmapi model takes
`sampling_param_max_tokens` and `streaming` (NOTES.md section 5). `payload` builds the right one. SSE chunks
are checked one by one: after the first, Triton reports errors inside a 200 stream as {"error": ...}.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trtforge.errors import InvalidInput, StepFailed, ToolMissing

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class Target:
    url: str  # base URL, e.g. http://127.0.0.1:8000
    model: str  # ensemble | tensorrt_llm_bls | tensorrt_llm
    api: str  # "ensemble" (ensemble/BLS schema) | "llmapi"
    decoupled: bool
    runtime_note: str | None = None


@dataclass
class Generation:
    text: str
    chunks: list[str] = field(default_factory=list)
    ttft_s: float | None = None  # time to the first chunk (streaming) or to the response
    chunk_times_s: list[float] = field(
        default_factory=list
    )  # arrival of each chunk since the request was sent
    latency_s: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)


def _split(url: str) -> tuple[str, int, str]:
    parsed = urllib.parse.urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", ""):
        raise InvalidInput(f"only http:// URLs are supported, got {url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path.rstrip("/")


def _request(url: str, method: str, path: str, body: dict | None = None, timeout: float = 300.0):
    host, port, prefix = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(
            method, prefix + path, body=data, headers={"Content-Type": "application/json"} if data else {}
        )
        return conn, conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise ToolMissing(
            f"no Triton server answers at {url}: {exc}", hint="start one with `trtforge serve`, or pass --url"
        ) from exc


def get_json(url: str, path: str, timeout: float = 30.0) -> tuple[int, Any]:
    conn, resp = _request(url, "GET", path, timeout=timeout)
    try:
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def post_json(url: str, path: str, body: dict, timeout: float = 300.0) -> dict:
    """POST a JSON body; the JSON answer, StepFailed on an HTTP error or an {"error": ...} answer."""
    conn, resp = _request(url, "POST", path, body, timeout)
    try:
        raw = resp.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {"error": raw.decode(errors="replace")[:300]}
    if resp.status != 200 or "error" in data:
        raise StepFailed(f"{path} failed (HTTP {resp.status}): {data.get('error', '')}")
    return data


def discover(url: str, model: str | None = None) -> Target:
    """Which generate model the server offers (ensemble first, then the llmapi tensorrt_llm), and whether it
    streams. `model` forces one."""
    status, _ = get_json(url, "/v2/health/ready")
    if status != 200:
        raise StepFailed(f"Triton at {url} is not ready (HTTP {status})")
    candidates = [model] if model else ["ensemble", "tensorrt_llm"]
    for name in candidates:
        status, config = get_json(url, f"/v2/models/{name}/config")
        if status != 200 or not isinstance(config, dict):
            continue
        inputs = {i["name"] for i in config.get("input", [])}
        api = "llmapi" if "sampling_param_max_tokens" in inputs else "ensemble"
        decoupled = bool(config.get("model_transaction_policy", {}).get("decoupled", False))
        if name == "ensemble":
            # The ensemble streams iff the tensorrt_llm it calls is decoupled.
            _, llm = get_json(url, "/v2/models/tensorrt_llm/config")
            decoupled = bool(
                isinstance(llm, dict) and llm.get("model_transaction_policy", {}).get("decoupled")
            )
        note = None
        _, slot = get_json(url, "/v2/models/tensorrt_llm/config")
        if isinstance(slot, dict):
            note = slot.get("parameters", {}).get("runtime", {}).get("string_value")
        return Target(url=url, model=name, api=api, decoupled=decoupled, runtime_note=note)
    raise InvalidInput(f"no generate model ({', '.join(candidates)}) is loaded at {url}")


def payload(target: Target, prompt: str, max_tokens: int, stream: bool, extra: dict | None = None) -> dict:
    if target.api == "llmapi":
        body: dict[str, Any] = {"text_input": prompt, "sampling_param_max_tokens": max_tokens}
        if stream:
            body["streaming"] = True
    else:
        body = {"text_input": prompt, "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
    body.update(extra or {})
    return body


def _error_text(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("error", raw.decode(errors="replace")))
    except ValueError:
        return raw.decode(errors="replace")


def generate(target: Target, body: dict, timeout: float = 300.0) -> Generation:
    """POST .../generate: one response."""
    t0 = time.perf_counter()
    conn, resp = _request(target.url, "POST", f"/v2/models/{target.model}/generate", body, timeout)
    try:
        raw = resp.read()
    finally:
        conn.close()
    latency = time.perf_counter() - t0
    if resp.status != 200:
        raise StepFailed(f"{target.model}/generate failed (HTTP {resp.status}): {_error_text(raw)}")
    data = json.loads(raw)
    text = data.get("text_output", "")
    if isinstance(text, list):
        text = "".join(str(t) for t in text)
    return Generation(
        text=text, chunks=[text], ttft_s=latency, chunk_times_s=[latency], latency_s=latency, raw=data
    )


def stream_events(target: Target, body: dict, timeout: float = 300.0) -> Iterator[tuple[float, dict]]:
    """POST .../generate_stream; yields (seconds since sent, event JSON) per SSE `data:` line."""
    t0 = time.perf_counter()
    conn, resp = _request(target.url, "POST", f"/v2/models/{target.model}/generate_stream", body, timeout)
    try:
        if resp.status != 200:
            raise StepFailed(
                f"{target.model}/generate_stream failed (HTTP {resp.status}): {_error_text(resp.read())}"
            )
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:].strip())
            if "error" in event:
                raise StepFailed(f"{target.model}/generate_stream: {event['error']}")
            yield time.perf_counter() - t0, event
    finally:
        conn.close()


def generate_stream(target: Target, body: dict, timeout: float = 300.0, on_chunk=None) -> Generation:
    chunks, times = [], []
    t0 = time.perf_counter()
    for at, event in stream_events(target, body, timeout):
        piece = event.get("text_output", "")
        if isinstance(piece, list):
            piece = "".join(str(t) for t in piece)
        chunks.append(piece)
        times.append(at)
        if on_chunk is not None:
            on_chunk(piece)
    latency = time.perf_counter() - t0
    return Generation(
        text="".join(chunks),
        chunks=chunks,
        ttft_s=times[0] if times else None,
        chunk_times_s=times,
        latency_s=latency,
    )
