"""The shipped tiny recipe built through every real step (FP8 via ModelOpt) and served by a REAL Triton server
(bundled tritonserver 2.51) with the CPU reference runtime: ensemble and BLS, generate and generate_stream,
compared with transformers' own greedy decoding on the same weights.

The module builds with trtforge.api and serves with it; the CLI finds the same build in the cache and prints
the command the API serves with (test_the_api_build_is_what_the_cli_builds). One build and one server for the
whole module (each start costs ~12 CPU s)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli_inprocess import invoke
from tests.conftest import run_cli
from tests.serve.serving import NOTE, pids_mentioning, serve_process
from tests.triton.fixtures import tiny_recipe
from trtforge import api
from trtforge.serve import client
from trtforge.serve.process import SHM_DIR

# slow: real builds and Triton servers; one xdist worker runs the module, so its build and server start once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-e2e")]
PROMPT = "Hello, world! How are"
MAX_TOKENS = 12


@pytest.fixture(scope="module")
def api_build(tiny_llama, tmp_path_factory) -> dict:
    """recipes/tiny-llama-cpu.yaml as shipped (its model path pointed at the tiny Llama), built by the API
    in a private cache: download -> ModelOpt FP8 quantize -> triton_repo."""
    tmp = tmp_path_factory.mktemp("e2e")
    recipe = tiny_recipe(tmp, tiny_llama)
    outcome = api.build(recipe, output=tmp / "out", cache_dir=tmp / "cache")
    outcome.raise_for_error()
    return {"recipe": recipe, "out": tmp / "out", "cache": tmp / "cache", "outcome": outcome}


@pytest.fixture(scope="module")
def built(api_build) -> Path:
    return api_build["out"]


@pytest.fixture(scope="module")
def tiny_repo(built) -> Path:
    r = run_cli("validate-repo", str(built / "model_repository"))
    assert r.returncode == 0, r.stderr
    return built / "model_repository"


@pytest.fixture(scope="module")
def expected(built):
    """Greedy decoding by transformers itself on the same (dequantized FP8) weights."""
    import torch
    from transformers import AutoTokenizer

    from trtforge.triton.models.reference.model import load_model

    checkpoint = built / "checkpoint" / "hf"  # the build's own FP8 export
    model, _ = load_model(str(checkpoint))
    tok = AutoTokenizer.from_pretrained(checkpoint)
    ids = tok.encode(PROMPT)
    out = model.generate(
        torch.tensor([ids]), max_new_tokens=MAX_TOKENS, do_sample=False, eos_token_id=2, pad_token_id=0
    )[0, len(ids) :].tolist()
    tokens = [t for t in out if t != 2]
    return {
        "tokens": tokens,
        "text": tok.decode(tokens, skip_special_tokens=True),
        "pieces": [tok.decode([t], skip_special_tokens=True) for t in tokens],
        "prompt_ids": ids,
    }


@pytest.fixture(scope="module")
def server(built, tiny_repo, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "triton.log"
    t0 = time.monotonic()
    # Served through the API from the build's output directory (the repository under it)
    with api.serve(built, api.ServeOptions(runtime="auto", ready_timeout_s=300, log_file=log)) as served:
        served.start_to_ready_s = time.monotonic() - t0
        yield served
        prefix = served.server.shm_prefix
    # After the context: the server, every python stub, and our shm files are gone.
    time.sleep(0.5)
    assert pids_mentioning(str(tiny_repo)) == []
    assert not list(SHM_DIR.glob(prefix + "*"))
    assert not list(
        tiny_repo.glob("*/1/__pycache__")
    )  # the python stubs' bytecode is not left in the repository


def test_the_api_build_is_what_the_cli_builds(api_build, capsys):
    """Every real step built by the API and recorded in the lock file; the CLI rebuilds it from the cache
    under the same fingerprints; the command `serve` would run is the CLI's `serve --print-command`."""
    (target,) = api_build["outcome"].targets
    assert [(s.name, s.status) for s in target.steps] == [
        ("download", "built"),
        ("quantize", "built"),
        ("triton_repo", "built"),
    ]
    out = api_build["out"]
    assert (out / "model_repository" / "ensemble" / "config.pbtxt").is_file()
    lock = json.loads((out / "trtforge.lock.json").read_text())
    assert [(s["name"], s["status"]) for s in lock["steps"]] == [(s.name, "built") for s in target.steps]
    assert lock["outputs"] == {"checkpoint": "quantize", "model_repository": "triton_repo/model_repository"}
    assert lock["plan"]["engine_built"] is False and lock["target"]["backend"] == "reference"
    assert (out / "checkpoint" / "hf" / "hf_quant_config.json").is_file()
    args = ("--output", str(out), "--cache-dir", str(api_build["cache"]), "--json")
    code, stdout, err = invoke(capsys, "build", str(api_build["recipe"]), *args)
    assert code == 0, err
    again = [json.loads(line) for line in stdout.splitlines()]
    assert [(e["event"], e.get("fingerprint")) for e in again if e.get("step")] == [
        ("skipped", s.fingerprint) for s in target.steps
    ]
    runtime, argv = api.launch_command(out, api.ServeOptions())
    code, stdout, err = invoke(capsys, "serve", str(out), "--print-command", "--json")
    assert code == 0 and {"runtime": runtime, "argv": argv} == json.loads(stdout), err
    assert runtime == "reference"


def test_the_api_smoke_check_answers_on_every_route(server):
    check = api.smoke_check(server, "Hello, world")
    assert check.error is None and {(a.model, a.route) for a in check.answers} >= {
        ("ensemble", "generate"),
        ("tensorrt_llm_bls", "generate"),
    }


def _target(server, model: str) -> client.Target:
    return client.discover(server.server.endpoints.http, model)


def test_server_is_the_reference_runtime(server):
    info = server.info()
    assert info["runtime"] == "reference" and info["runtime_note"] == NOTE
    assert info["endpoints"]["http"].startswith("http://127.0.0.1:")
    status, config = client.get_json(info["endpoints"]["http"], "/v2/models/tensorrt_llm/config")
    assert status == 200 and config["parameters"]["runtime"]["string_value"] == NOTE
    assert config["backend"] == "python" and config["model_transaction_policy"]["decoupled"] is True
    log = server.server.log_text()
    assert f"[trtforge] {NOTE}: serving" in log
    assert (
        "ModelOpt FP8 checkpoint dequantized to float32" in log
    )  # the build's FP8 export, not other weights
    print(f"start-to-ready {server.start_to_ready_s:.1f} s")


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_generate_matches_transformers_greedy(server, expected, model):
    target = _target(server, model)
    result = client.generate(target, client.payload(target, PROMPT, MAX_TOKENS, stream=False))
    assert result.text == expected["text"]
    assert not result.text.startswith(PROMPT)  # exclude_input_in_output by default


def test_ensemble_stream_sends_one_chunk_per_token(server, expected):
    target = _target(server, "ensemble")
    assert target.decoupled
    result = client.generate_stream(target, client.payload(target, PROMPT, MAX_TOKENS, stream=True))
    assert len(result.chunks) > 1
    assert result.chunks == expected["pieces"]


def test_bls_stream_concatenates_to_the_full_text(server, expected):
    target = _target(server, "tensorrt_llm_bls")
    result = client.generate_stream(target, client.payload(target, PROMPT, MAX_TOKENS, stream=True))
    assert len(result.chunks) > 1
    assert "".join(result.chunks) == expected["text"]


def test_end_id_and_prompt_echo_reach_the_runtime(server, expected):
    target = _target(server, "ensemble")
    stop_at = expected["tokens"][3]
    cut = expected["tokens"][: expected["tokens"].index(stop_at)]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(server.source_repository / "preprocessing/1/tokenizer")
    body = client.payload(target, PROMPT, MAX_TOKENS, False, {"end_id": stop_at})
    assert client.generate(target, body).text == tok.decode(cut, skip_special_tokens=True)
    body = client.payload(target, PROMPT, 4, False, {"exclude_input_in_output": False})
    echoed = client.generate(target, body).text
    assert echoed == tok.decode(expected["prompt_ids"] + expected["tokens"][:4], skip_special_tokens=True)


def test_unsupported_request_is_refused_not_ignored(server):
    target = _target(server, "ensemble")
    with pytest.raises(
        Exception, match="beam_width/num_return_sequences > 1 not supported by the reference runtime"
    ):
        client.generate(target, client.payload(target, PROMPT, 4, False, {"beam_width": 2}))


def test_infer_cli(server, expected):
    url = server.server.endpoints.http
    r = run_cli("infer", PROMPT, "--url", url, "--max-tokens", str(MAX_TOKENS), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["text"] == expected["text"] and data["model"] == "ensemble" and data["runtime_note"] == NOTE
    r = run_cli(
        "infer",
        PROMPT,
        "--url",
        url,
        "--max-tokens",
        str(MAX_TOKENS),
        "--stream",
        "--model",
        "tensorrt_llm_bls",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["chunks"]) > 1 and "".join(data["chunks"]) == expected["text"]


def test_bench_cli_builtin(server):
    url = server.server.endpoints.http
    r = run_cli(
        "bench",
        "--url",
        url,
        "--concurrency",
        "2",
        "--requests",
        "8",
        "--max-tokens",
        "8",
        "--tool",
        "builtin",
        "--json",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["succeeded"] == 8 and result["errors"] == 0 and result["streaming"] is True
    assert result["output_tokens"] == 8 * 8  # min_tokens = max_tokens: a fixed output length
    assert result["requests_per_s"] > 0 and result["ttft_ms"]["p50"] > 0
    assert result["inter_token_latency_ms"]["p50"] > 0
    print("bench", json.dumps(result))


# -- the CLI end to end: `trtforge serve` of a one-model repository, SIGTERM, and a refused checkpoint -------


# -- aiperf, a port in use, SIGKILL of `trtforge serve`, and a --check that must fail ------------------------


def _ensemble_successes(url: str) -> int:
    """Triton's own count of successful ensemble requests (its statistics extension)."""
    _, stats = client.get_json(url, "/v2/models/ensemble/stats")
    return int(stats["model_stats"][0]["inference_stats"]["success"]["count"])


def _raw_http(port: int, request: str) -> bytes:
    """Everything the server sends back for one request on a fresh connection, as bytes."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request.encode())
        conn.settimeout(0.5)
        try:
            while chunk := conn.recv(4096):
                data += chunk
        except TimeoutError:
            pass  # kept alive: all of it has arrived
    return data


def test_why_bench_turns_aiperfs_server_metrics_off(server):
    """`bench --tool aiperf` passes --no-server-metrics because neither URL aiperf could scrape works with
    Triton: it derives <--url>/metrics, which the HTTP port does not serve, and the metrics port answers the
    HEAD aiperf probes with (a GET on the same connection follows) with a body, which a HEAD response must not
    have. When either fact changes with the bundled Triton, this fails and the flag is to be reconsidered."""
    ep = server.server.endpoints
    derived = _raw_http(
        ep.http_port, "GET /v2/models/ensemble/generate_stream/metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert not derived.startswith(b"HTTP/1.1 200"), derived[:80]
    head = _raw_http(ep.metrics_port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    headers, _, body = head.partition(b"\r\n\r\n")
    # RFC 9110 9.3.2: a HEAD response has no content
    assert headers.startswith(b"HTTP/1.1 405") and body, head
    get = _raw_http(ep.metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert get.startswith(b"HTTP/1.1 200") and b"nv_inference_request_success" in get  # the metrics are there


def test_bench_aiperf_needs_no_flags_and_counts_what_triton_counts(server, tmp_path):
    """`bench --tool aiperf` against the served tiny repository: no --tokenizer (the repository's own is
    used), aiperf's export, trtforge's result and Triton's statistics agree on the requests; tokens are the
    server's."""
    url = server.server.endpoints.http
    before = _ensemble_successes(url)
    artifacts = tmp_path / "aiperf"
    r = run_cli(
        "bench",
        "--url",
        url,
        "--tool",
        "aiperf",
        "--concurrency",
        "2",
        "--requests",
        "6",
        "--max-tokens",
        "8",
        "--artifact-dir",
        str(artifacts),
        "--json",
        timeout=400,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    served = _ensemble_successes(url) - before
    export = json.loads((artifacts / "profile_export_aiperf.json").read_text())
    raw = [
        json.loads(line) for line in (artifacts / "profile_export_raw.jsonl").read_text().splitlines() if line
    ]
    assert result["tool"].startswith("aiperf 0.13") and result["streaming"] is True
    assert result["succeeded"] == export["request_count"]["avg"] == len(raw) == served == 6
    assert result["errors"] == 0
    # min_tokens = max_tokens: the server generates exactly 8 per request and says so (one log-prob a token)
    assert result["output_tokens"] == 6 * 8 and result["output_tokens_counted_as"].startswith("server")
    assert result["aiperf_output_tokens"] == export["total_output_tokens"]["avg"]  # aiperf's own, kept beside
    assert result["requests_per_s"] == round(export["request_throughput"]["avg"], 3)
    tokenizer = str(server.source_repository / "preprocessing" / "1" / "tokenizer")
    assert result["argv"][result["argv"].index("--tokenizer") + 1] == tokenizer
    print("aiperf bench", json.dumps({k: v for k, v in result.items() if k != "argv"}))


def test_serve_with_the_http_port_in_use_names_the_socket_at_once(tiny_repo, tmp_path):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = run_cli("serve", str(tiny_repo), "--http-port", str(port), timeout=120)
        took = time.monotonic() - t0
    finally:
        holder.close()
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[0]
    assert line.startswith(f"error: Socket '127.0.0.1:{port}' already in use (--http-port {port})"), r.stderr
    assert "NVML" not in r.stderr
    assert took < 15, took  # loosely: not the minute Triton takes to load every model and fail to bind


def test_sigkill_of_serve_takes_triton_and_its_stubs_with_it(tiny_repo, tmp_path):
    import shutil

    repo = tmp_path / "repo"  # a copy: processes mentioning it are this test's alone
    shutil.copytree(tiny_repo, repo, ignore=shutil.ignore_patterns("__pycache__"))
    proc = serve_process(repo, tmp_path / "triton.log")
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready"
        assert len(pids_mentioning(str(repo))) >= 2  # tritonserver and its python stubs
        proc.kill()  # SIGKILL: no handler of ours runs
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while pids_mentioning(str(repo)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = pids_mentioning(str(repo))
        print(f"after SIGKILL: gone in {10 - (deadline - time.monotonic()):.1f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in left:  # never leave them behind, even when the assertion below fails
        os.kill(pid, signal.SIGKILL)
    assert left == []


# Appended to a copy's tensorrt_llm/1/model.py: the slot streams another id than it generates at token 3.
STREAM_OTHER_TOKEN = """

class TritonPythonModel(TritonPythonModel):  # noqa: F811 - a test double over trtforge's reference model
    def _ids_request(self, request, sender):
        self._streaming, self._sent = bool(_scalar(request, "streaming", False)), 0
        return super()._ids_request(request, sender)

    def _ids_response(self, rows, logprobs=None, pad=0):
        if self._streaming:
            self._sent += 1
            if self._sent == 3:
                rows = [[rows[0][0] + 1]]
        return super()._ids_response(rows, logprobs, pad)
"""


def test_cli_serve_check_fails_when_the_stream_has_other_tokens(tiny_repo, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(tiny_repo, repo, ignore=shutil.ignore_patterns("__pycache__"))
    model_py = repo / "tensorrt_llm" / "1" / "model.py"
    model_py.write_text(model_py.read_text() + STREAM_OTHER_TOKEN)
    r = run_cli("serve", str(repo), "--check", "Hello, world", "--json", timeout=400)
    assert r.returncode == 1, (r.stdout, r.stderr)
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ensemble: the tensorrt_llm slot streams other tokens than it generates"), (
        line
    )
    assert "token 2: " in line
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["event"] for e in events][:1] == ["ready"]
    assert any("mismatch" in e for e in events if e["event"] == "answer")
    time.sleep(0.5)
    assert pids_mentioning(str(repo)) == []


# -- NVIDIA's client contract (gRPC stream, 1-D text_output) -------------------------------------------------


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
@pytest.mark.parametrize("streaming", [False, True])
def test_nvidia_end_to_end_grpc_client_contract(server, expected, model, streaming):
    from tests.serve.nvidia_client import nvidia_inputs, run

    url = server.server.endpoints.grpc
    text, pieces, errors = run(url, model, nvidia_inputs(PROMPT, MAX_TOKENS, streaming), streaming)
    assert errors == []
    if streaming:
        # NVIDIA's check: streamed pieces concatenate to the generated text (no prompt while streaming).
        assert len(pieces) > 1
        assert text == ("".join(expected["pieces"]) if model == "ensemble" else expected["text"])
    else:
        # NVIDIA's check: `if not streaming and not exclude_input_in_output: expected = prompt + expected`.
        assert text == PROMPT + expected["text"]
    exclude = nvidia_inputs(PROMPT, MAX_TOKENS, streaming, exclude_input_in_output=True)
    text, _, errors = run(url, model, exclude, streaming)
    streamed_by_token = model == "ensemble" and streaming  # per-token decode, as NVIDIA's ensemble does
    assert errors == [] and text == ("".join(expected["pieces"]) if streamed_by_token else expected["text"])


@pytest.mark.parametrize("model", ["ensemble", "tensorrt_llm_bls"])
def test_inputs_the_runtime_cannot_honour_are_refused_by_name(server, model):
    """NVIDIA's public inputs all exist; one the CPU reference runtime or trtforge's preprocessing cannot
    honour
    fails the request with its name instead of being ignored."""
    from tests.serve.nvidia_client import nvidia_inputs, run

    url = server.server.endpoints.grpc
    cases = {
        "lora_task_id": (np.array([[7]], dtype=np.uint64), "lora_task_id"),
        "length_penalty": (np.array([[1.5]], dtype=np.float32), "len_penalty (request input length_penalty)"),
        "embedding_bias_words": (np.array([["world"]]).astype(object), "EMBEDDING_BIAS_WORDS"),
        "guided_decoding_guide_type": (np.array([["json"]]).astype(object), "guided_decoding_guide_type"),
    }
    for public, (value, named) in cases.items():
        inputs = {**nvidia_inputs(PROMPT, 4, False), public: value}
        _, _, errors = run(url, model, inputs, False)
        assert len(errors) == 1 and named in str(errors[0]) and "not supported" in str(errors[0]), (
            public,
            errors,
        )


def test_required_parameters_reach_the_models_as_empty_strings(server):
    """NVIDIA's python models index model_config['parameters'][key]['string_value'] directly: an empty value
    must arrive as "" (not as a missing field) in the config Triton hands to the model."""
    url = server.server.endpoints.http
    status, config = client.get_json(url, "/v2/models/preprocessing/config")
    assert status == 200
    from trtforge.triton import specs

    spec = json.loads((server.source_repository / "trtforge.json").read_text())["tensor_spec_source"]["name"]
    for key in specs.required_parameters(spec, "preprocessing"):
        assert "string_value" in config["parameters"][key], key
