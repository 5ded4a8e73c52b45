"""Pure parts of the client and the bench: payload schemas, percentiles, the aiperf command."""

from __future__ import annotations

from pathlib import Path

from trtforge.serve.bench import BenchConfig, aiperf_argv, percentile, summary_ms
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


def test_aiperf_command_targets_generate_stream_with_a_template():
    target = Target("http://127.0.0.1:9000", "ensemble", "ensemble", True)
    argv = aiperf_argv(
        "aiperf", target, BenchConfig(concurrency=2, requests=10, max_tokens=16), "/tok", Path("/a")
    )
    assert argv[:2] == ["aiperf", "profile"]
    assert argv[argv.index("--url") + 1] == "http://127.0.0.1:9000/v2/models/ensemble/generate_stream"
    template = next(a for a in argv if a.startswith("payload_template:"))
    assert '"text_input": {{ text|tojson }}' in template and '"stream": true' in template
    assert "--streaming" in argv and argv[argv.index("--concurrency") + 1] == "2"
