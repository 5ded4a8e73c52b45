"""`trtforge bench --tool aiperf`: NVIDIA's aiperf as the load client, its own export files as the result.

aiperf (PyPI, the `bench` extra) drives Triton's generate / generate_stream through its `template` endpoint.
Three things make that work against a trtforge repository (docs/serving.md):
- the payload template goes to aiperf as a FILE: an inline `--extra-inputs payload_template:{...}` is split at
  its commas by aiperf's option parser ("Template did not render valid JSON");
- the tokenizer aiperf needs to synthesise prompts is the repository's own (found from the server
  `trtforge serve` started, or `--tokenizer`);
- aiperf counts output tokens by re-tokenizing the returned text, which inflates the count where the ensemble
  decodes one token at a time (a split UTF-8 character becomes U+FFFD, which re-tokenizes to several tokens).
  Where the model reports tokens itself (the ensemble/BLS API returns one `output_log_probs` entry per
  generated token when asked with `return_log_probs`), the server's count is reported instead, read from
  aiperf's raw export; the result says which count it is.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from trtforge.errors import InvalidInput, StepFailed, ToolMissing
from trtforge.serve.bench import result_head, summary_ms
from trtforge.serve.client import Target
from trtforge.serve.launch import running_servers
from trtforge.serve.process import die_with_parent
from trtforge.triton.settings import CHECKPOINT_DIR, TOKENIZER_DIR

SUMMARY_FILE = "profile_export_aiperf.json"
RAW_FILE = "profile_export_raw.jsonl"
TEMPLATE_FILE = "trtforge_payload_template.json"
SERVER_COUNT = "server (output_log_probs entries, one per generated token)"
AIPERF_COUNT = "aiperf (re-tokenized returned text; inflated where per-token decoding yields U+FFFD)"


def aiperf_command() -> list[str] | None:
    """How to run aiperf: this interpreter's module when installed here (the `bench` extra), else PATH."""
    if importlib.util.find_spec("aiperf") is not None:
        return [sys.executable, "-m", "aiperf"]
    found = shutil.which("aiperf")
    return [found] if found else None


def server_counts_tokens(target: Target, stream: bool) -> bool:
    """The ensemble/BLS API returns one log-prob per generated token on request; the llmapi text API has no
    token output. trtforge's BLS stream holds a partial character's token back and sends it merged into the
    next response, which carries only that response's log-prob (seen 2026-12-07: 41 counted for 48 generated),
    so there aiperf's count is reported, labelled as such."""
    return target.api == "ensemble" and not (stream and target.model == "tensorrt_llm_bls")


def payload_template(target: Target, stream: bool, max_tokens_exact: bool = True) -> dict[str, Any]:
    """The request body as a Jinja2 template (aiperf fills `text` and `max_tokens`), as a dict of raw JSON
    fragments rendered by `template_text`."""
    if target.api == "llmapi":
        body: dict[str, Any] = {
            "text_input": "{{ text|tojson }}",
            "sampling_param_max_tokens": "{{ max_tokens }}",
        }
        if stream:
            body["streaming"] = "true"
        return body
    body = {"text_input": "{{ text|tojson }}", "max_tokens": "{{ max_tokens }}"}
    if max_tokens_exact:
        body["min_tokens"] = "{{ max_tokens }}"  # a fixed output length, as the built-in client asks
    if server_counts_tokens(target, stream):
        body["return_log_probs"] = "true"
    if stream:
        body["stream"] = "true"
    return body


def template_text(fields: dict[str, Any]) -> str:
    """`{"key": <raw>, ...}`: values are JSON fragments or Jinja2 expressions, written verbatim."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}\n"


def write_template(target: Target, stream: bool, artifacts: Path, max_tokens_exact: bool = True) -> Path:
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / TEMPLATE_FILE
    path.write_text(template_text(payload_template(target, stream, max_tokens_exact)))
    return path


def tokenizer_of_repository(repo: Path) -> Path | None:
    """The tokenizer a trtforge repository carries: preprocessing's copy, else the llmapi checkpoint's."""
    for rel in (TOKENIZER_DIR, CHECKPOINT_DIR):
        candidate = repo / rel
        if (candidate / "tokenizer_config.json").is_file() or (candidate / "tokenizer.json").is_file():
            return candidate
    return None


def find_tokenizer(url: str, given: Path | None) -> Path:
    """--tokenizer, else the tokenizer in the repository of the server `trtforge serve` runs at `url`."""
    if given is not None:
        if not given.is_dir():
            raise InvalidInput(f"--tokenizer {given}: not a directory")
        return given
    for info in running_servers():
        if info.get("endpoints", {}).get("http", "").rstrip("/") == url.rstrip("/"):
            for repo in (info.get("repository"), info.get("served_from")):
                found = tokenizer_of_repository(Path(repo)) if repo else None
                if found is not None:
                    return found
    raise InvalidInput(
        f"aiperf needs the served model's tokenizer, and no `trtforge serve` here serves {url}",
        hint="pass --tokenizer DIR (a trtforge repository's preprocessing/1/tokenizer)",
    )


def aiperf_argv(
    command: list[str], target: Target, cfg, tokenizer: Path, artifacts: Path, template: Path, stream: bool
) -> list[str]:
    """aiperf profile through its template endpoint on Triton's generate(_stream); raw export for token
    counts."""
    route = "generate_stream" if stream else "generate"
    argv = [
        *command,
        "profile",
        "--model",
        target.model,
        "--url",
        f"{target.url}/v2/models/{target.model}/{route}",
        "--endpoint-type",
        "template",
        "--extra-inputs",
        f"payload_template:{template}",
        "--extra-inputs",
        "response_field:text_output",
        "--tokenizer",
        str(tokenizer),
        "--synthetic-input-tokens-mean",
        str(max(len(cfg.prompt.split()), 1)),
        "--output-tokens-mean",
        str(cfg.max_tokens),
        "--concurrency",
        str(cfg.concurrency),
        "--request-count",
        str(cfg.requests),
        "--artifact-dir",
        str(artifacts),
        "--export-level",
        "raw",
        "--ui-type",
        "none",
        "--random-seed",
        "0",
        # aiperf scrapes <--url>/metrics, a path Triton's HTTP port does not have; Triton's own metrics port
        # answers aiperf's HEAD probe with a body (Triton 2.51), which breaks the GET after it on the same
        # connection, so collection turns itself off either way (tests/serve/test_e2e.py checks both facts).
        "--no-server-metrics",
    ]
    if stream:
        argv.append("--streaming")
    return argv


def _metric(summary: dict, name: str, stat: str = "avg") -> float | None:
    value = summary.get(name)
    return value.get(stat) if isinstance(value, dict) else None


def _ms_summary(summary: dict, name: str) -> dict[str, float | None]:
    out = {q: _metric(summary, name, q) for q in ("p50", "p90", "p99")}
    out["mean"] = _metric(summary, name, "avg")
    return {k: round(v, 2) if v is not None else None for k, v in out.items()}


def _events(record: dict) -> list[dict]:
    """The JSON bodies of one raw record's responses (SSE `data:` packets, or one whole-body response)."""
    bodies = []
    for response in record.get("responses") or []:
        chunks = [p.get("value") for p in response.get("packets") or [] if p.get("name") == "data"]
        if not chunks and isinstance(response.get("text"), str):
            chunks = [response["text"]]
        for chunk in chunks:
            try:
                body = json.loads(chunk)
            except (TypeError, ValueError):
                continue
            if isinstance(body, dict):
                bodies.append(body)
    return bodies


def server_token_records(raw_path: Path) -> list[tuple[int, float | None]] | None:
    """Per successful request: (generated tokens from the `output_log_probs` the server returned, inter-token
    latency in s from aiperf's response timestamps and that count). None when a successful response carries no
    `output_log_probs` (a count would be partial)."""
    if not raw_path.is_file():
        return None
    out = []
    for line in raw_path.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("error") or record.get("status") not in (200, None):
            continue
        bodies = [b for b in _events(record) if "error" not in b]
        if not bodies:
            continue
        if any(b.get("output_log_probs") is None for b in bodies):
            return None
        tokens = sum(_flat_len(b["output_log_probs"]) for b in bodies)
        times = [r.get("perf_ns") for r in record.get("responses") or [] if r.get("perf_ns") is not None]
        itl = (times[-1] - times[0]) / 1e9 / (tokens - 1) if len(times) > 1 and tokens > 1 else None
        out.append((tokens, itl))
    return out


def _flat_len(value) -> int:
    """Triton's JSON flattens a one-element tensor to a scalar and keeps nested lists for [beam, tokens]."""
    if isinstance(value, list):
        return sum(_flat_len(v) for v in value)
    return 1


def first_error(log: Path) -> str:
    """aiperf's first ERROR line (its closing box repeats it, wrapped), else its last line."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip(" │╭╰─\n")]
    for line in lines:
        if " ERROR " in line:
            text = line.split(" ERROR ", 1)[1].strip()
            return re.sub(r" \([\w.]+:\d+\)$", "", text)[:600]  # drop aiperf's "(file.py:123)"
    return lines[-1].strip(" │") if lines else "no output"


def parse_exports(artifacts: Path) -> dict[str, Any]:
    """aiperf's own summary export, as a bench result (requests, throughput, latencies)."""
    path = artifacts / SUMMARY_FILE
    if not path.is_file():
        raise StepFailed(f"aiperf wrote no {SUMMARY_FILE} under {artifacts}")
    return json.loads(path.read_text())


def run_aiperf(target: Target, cfg, tokenizer: Path, artifacts: Path) -> dict[str, Any]:
    """Run aiperf for a bounded number of requests; return the same result keys as the built-in client."""
    command = aiperf_command()
    if command is None:
        raise ToolMissing("aiperf is not installed", hint="pip install 'trtforge[bench]'")
    stream = target.decoupled if cfg.stream is None else cfg.stream
    template = write_template(target, stream, artifacts, cfg.fixed_length)
    argv = aiperf_argv(command, target, cfg, tokenizer, artifacts, template, stream)
    # Not HF_HUB_OFFLINE: aiperf 0.13 then treats a tokenizer directory as a hub repo id (HFValidationError).
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    log = artifacts / "trtforge_aiperf_output.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),  # noqa: PLW1509 - see process.py
        )
        try:
            proc.wait(timeout=max(cfg.timeout_s * cfg.requests, 600))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise StepFailed(f"aiperf did not finish in time (output: {log})") from None
        finally:
            if proc.poll() is None:  # interrupted: its workers go with it
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if proc.returncode != 0:
        raise StepFailed(
            f"aiperf failed (exit {proc.returncode}): {first_error(log)}", hint=f"full output: {log}"
        )
    summary = parse_exports(artifacts)
    succeeded = int(_metric(summary, "request_count") or 0)
    wall = _metric(summary, "benchmark_duration")
    aiperf_tokens = _metric(summary, "total_output_tokens")
    records = server_token_records(artifacts / RAW_FILE) if server_counts_tokens(target, stream) else None
    itl_ms = _ms_summary(summary, "inter_token_latency") if stream else _ms_summary({}, "")
    if records is not None and len(records) == succeeded:
        tokens, counted_as = sum(r[0] for r in records), SERVER_COUNT
        if stream:  # aiperf's own inter-token latency divides by its re-tokenized count
            itl_ms = summary_ms([r[1] for r in records if r[1] is not None])
    else:
        tokens, counted_as = (int(aiperf_tokens) if aiperf_tokens is not None else None), AIPERF_COUNT
    errors = summary.get("error_summary") or []
    return {
        **result_head(f"aiperf {summary.get('aiperf_version', '?')}", target, cfg, stream),
        "succeeded": succeeded,
        "errors": sum(int(e.get("count", 1)) for e in errors if isinstance(e, dict)) or len(errors),
        "first_error": str(errors[0]) if errors else None,
        "max_tokens": cfg.max_tokens,
        "wall_s": round(wall, 3) if wall is not None else None,
        "requests_per_s": round(v, 3) if (v := _metric(summary, "request_throughput")) is not None else None,
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / wall, 2) if tokens is not None and wall else None,
        "output_tokens_counted_as": counted_as,
        "aiperf_output_tokens": aiperf_tokens,
        "ttft_ms": _ms_summary(summary, "time_to_first_token") if stream else _ms_summary({}, ""),
        "inter_token_latency_ms": itl_ms,
        "aiperf_inter_token_latency_ms": _ms_summary(summary, "inter_token_latency") if stream else None,
        "request_latency_ms": _ms_summary(summary, "request_latency"),
        "artifacts": str(artifacts),
        "argv": argv,
    }
