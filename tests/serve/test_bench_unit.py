"""Pure parts of the client and the bench: payload schemas, percentiles, the aiperf command and exports."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from trtforge.serve.aiperf import (
    aiperf_argv,
    first_error,
    server_token_records,
    tokenizer_of_repository,
    write_template,
)
from trtforge.serve.bench import BenchConfig, percentile, summary_ms
from trtforge.serve.client import Target, payload


def test_payload_schema_per_api():
    ens = Target("http://h:1", "ensemble", "ensemble", True)
    llm = Target("http://h:1", "tensorrt_llm", "llmapi", True)
    assert payload(ens, "hi", 8, True) == {"text_input": "hi", "max_tokens": 8, "stream": True}
    assert payload(llm, "hi", 8, True) == {
        "text_input": "hi",
        "sampling_param_max_tokens": 8,
        "streaming": True,
    }
    assert payload(ens, "hi", 8, False) == {"text_input": "hi", "max_tokens": 8}


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5 and percentile(values, 99) == 99.01 and percentile([], 50) is None
    assert summary_ms([0.001, 0.003]) == {"p50": 2.0, "p90": 2.8, "p99": 2.98, "mean": 2.0}


def _render_as_aiperf(template: Path, text: str, max_tokens: int) -> dict:
    """aiperf 0.13's TemplateEndpoint: jinja2 with autoescape, then a JSON parse of the result."""
    rendered = jinja2.Environment(autoescape=True).from_string(template.read_text())
    return json.loads(rendered.render(text=text, max_tokens=max_tokens))


def test_template_file_renders_valid_json_for_any_prompt(tmp_path):
    """The template goes to aiperf as a file: inline, aiperf splits it at the commas."""
    ens = Target("http://h:1", "ensemble", "ensemble", True)
    tricky = 'a, "quoted" <tag> & back\\slash, ünïcode'
    body = _render_as_aiperf(write_template(ens, True, tmp_path / "e"), tricky, 12)
    assert body == {
        "text_input": tricky,
        "max_tokens": 12,
        "min_tokens": 12,
        "return_log_probs": True,
        "stream": True,
    }
    # the same fields the built-in client sends, plus the log-probs that count tokens on the server
    assert {k: v for k, v in body.items() if k != "return_log_probs"} == payload(
        ens, tricky, 12, True, {"min_tokens": 12}
    )
    bls = Target("http://h:1", "tensorrt_llm_bls", "ensemble", True)
    assert "return_log_probs" not in _render_as_aiperf(write_template(bls, True, tmp_path / "b"), "x", 2)
    assert _render_as_aiperf(write_template(bls, False, tmp_path / "bw"), "x", 2)["return_log_probs"] is True
    # the BLS stream merges held-back tokens' responses: counted by aiperf, so not asked for log-probs
    bls = Target("http://h:1", "tensorrt_llm_bls", "ensemble", True)
    assert "return_log_probs" not in _render_as_aiperf(write_template(bls, True, tmp_path / "b"), "x", 2)
    assert _render_as_aiperf(write_template(bls, False, tmp_path / "bw"), "x", 2)["return_log_probs"] is True
    llm = Target("http://h:1", "tensorrt_llm", "llmapi", True)
    body = _render_as_aiperf(write_template(llm, False, tmp_path / "l"), tricky, 5)
    assert body == payload(llm, tricky, 5, False)


def test_aiperf_command_uses_the_template_file_and_raw_export(tmp_path):
    target = Target("http://127.0.0.1:9000", "ensemble", "ensemble", True)
    template = write_template(target, True, tmp_path)
    argv = aiperf_argv(
        ["aiperf"],
        target,
        BenchConfig(concurrency=2, requests=10, max_tokens=16),
        Path("/tok"),
        tmp_path,
        template,
        True,
    )
    assert argv[:2] == ["aiperf", "profile"]
    assert argv[argv.index("--url") + 1] == "http://127.0.0.1:9000/v2/models/ensemble/generate_stream"
    assert f"payload_template:{template}" in argv and "response_field:text_output" in argv
    assert argv[argv.index("--request-count") + 1] == "10" and argv[argv.index("--concurrency") + 1] == "2"
    assert argv[argv.index("--export-level") + 1] == "raw" and "--streaming" in argv
    # why: tests/serve/test_e2e.py::test_why_bench_turns_aiperfs_server_metrics_off
    assert "--no-server-metrics" in argv


def _raw_record(events: list[dict], start_ns: int = 0, step_ns: int = 2_000_000) -> dict:
    return {
        "status": 200,
        "start_perf_ns": start_ns,
        "responses": [
            {"perf_ns": start_ns + (i + 1) * step_ns, "packets": [{"name": "data", "value": json.dumps(e)}]}
            for i, e in enumerate(events)
        ],
    }


def test_server_token_count_from_output_log_probs(tmp_path):
    raw = tmp_path / "profile_export_raw.jsonl"
    streamed = _raw_record([{"text_output": "\ufffd", "output_log_probs": -1.0}] * 4)  # 4 one-token events
    whole = {
        "status": 200,
        "responses": [
            {
                "perf_ns": 5,
                "text": json.dumps({"text_output": "ab", "output_log_probs": [[-1.0, -2.0, -3.0]]}),
            }
        ],
    }  # [beam, tokens]
    failed = {"status": 400, "responses": [{"perf_ns": 1, "text": json.dumps({"error": "bad"})}]}
    raw.write_text("\n".join(json.dumps(r) for r in (streamed, whole, failed)) + "\n")
    records = server_token_records(raw)
    assert [r[0] for r in records] == [4, 3]
    assert abs(records[0][1] - 0.002) < 1e-9  # (last - first) / (tokens - 1)
    raw.write_text(json.dumps(_raw_record([{"text_output": "x"}])) + "\n")  # no log-probs: no server count
    assert server_token_records(raw) is None


def test_tokenizer_is_found_in_the_repository(tmp_path):
    (tmp_path / "preprocessing/1/tokenizer").mkdir(parents=True)
    assert tokenizer_of_repository(tmp_path) is None
    (tmp_path / "preprocessing/1/tokenizer/tokenizer_config.json").write_text("{}")
    assert tokenizer_of_repository(tmp_path) == tmp_path / "preprocessing/1/tokenizer"


def test_first_error_is_aiperf_own_error_line(tmp_path):
    log = tmp_path / "out.txt"
    log.write_text(
        "01:33:18.096 INFO     Starting (x.py:81)\n"
        "01:33:42.233 ERROR    Failed to load tokenizer '/t': boom (base_component_service.py:522)\n"
        "│    Reason: Failed to load │\n"
    )
    assert first_error(log) == "Failed to load tokenizer '/t': boom"
