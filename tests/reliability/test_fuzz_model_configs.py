"""Fuzzing `trtforge inspect` and `trtforge plan --model DIR --gpu H100-80GB` with hostile config.json files.

Inputs: mutations of the bundled real configs (wrong types, negative/zero/huge numbers, NaN/Infinity, missing
keys, unknown architectures, garbage in text_config/quantization_config), random JSON documents, random bytes,
truncated JSON, deep nesting and oversized files. Every case must end with exit 0 (the mutation still
describes a model: then stdout is the JSON report), 2 (invalid input) or 3 (cannot introspect / does not fit),
with every stderr line an `error: ...` line (exactly one line for exit 2), never an internal error or a
traceback, within CASE_SECONDS. The CLI runs in process (its real entry point, SystemExit caught) to try
thousands of cases fast; test_subprocess_sample runs a sample through `python -m trtforge` to prove the same
outside.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import REPO, figure
from trtforge.cli.app import main

BUNDLED = sorted((REPO / "trtforge" / "data" / "model_configs").glob("*.json"))
CONFIGS = [json.loads(p.read_text()) for p in BUNDLED]
FUZZ = settings(
    max_examples=int(os.environ.get("TRTFORGE_FUZZ_EXAMPLES", "400")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CASE_SECONDS = 2.0
WORK = Path(tempfile.mkdtemp(prefix="trtforge-cfgfuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
KEYS = sorted(
    {k for c in CONFIGS for k in c}
    | {k for c in CONFIGS for k in (c.get("text_config") or {})}
    | {
        "architectures",
        "architecture",
        "head_dim",
        "num_key_value_heads",
        "layer_types",
        "sliding_window",
        "quantization_config",
        "text_config",
        "torch_dtype",
        "dtype",
        "tie_word_embeddings",
        "num_experts",
        "num_local_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "first_k_dense_replace",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "n_routed_experts",
        "n_shared_experts",
        "moe_layer_freq",
        "decoder_sparse_step",
        "mlp_only_layers",
        "attention_chunk_size",
        "no_rope_layers",
        "interleave_moe_layer_step",
        "intermediate_size_mlp",
        "shared_expert_intermediate_size",
        "vision_config",
    }
)

numbers = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**63), 2**63),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 2**53 + 1, 10**100, 7.5]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "bfloat16",
            "float8_e4m3fn",
            "LlamaForCausalLM",
            "sliding_attention",
            "full_attention",
            "fp8",
            "modelopt",
            "mxfp4",
            "NVFP4",
            "\u0000",
            "∞",
            "1e999",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), kids, max_size=4),
    ),
    max_leaves=12,
)
architectures = st.one_of(
    st.sampled_from(sorted({c["architectures"][0] for c in CONFIGS if "architectures" in c})),
    st.sampled_from(["NotARealForCausalLM", "", "BertModel", "T5ForConditionalGeneration"]),
    values,
)


@st.composite
def mutated_configs(draw) -> dict:
    cfg = json.loads(json.dumps(draw(st.sampled_from(CONFIGS))))
    for _ in range(draw(st.integers(1, 4))):
        where = cfg
        if isinstance(cfg.get("text_config"), dict) and draw(st.booleans()):
            where = cfg["text_config"]
        key = draw(st.sampled_from(sorted(where) or KEYS) | st.sampled_from(KEYS))
        action = draw(st.sampled_from(["set", "set", "number", "delete", "arch"]))
        if action == "delete":
            where.pop(key, None)
        elif action == "number":
            where[key] = draw(numbers)
        elif action == "arch":
            cfg["architectures"] = draw(st.one_of(st.lists(architectures, max_size=2), architectures))
        else:
            where[key] = draw(values)
    return cfg


def _dump(doc) -> bytes:  # noqa: ANN001
    # allow_nan: Python writes NaN/Infinity, which json.loads accepts (and real configs have had them)
    return json.dumps(doc, allow_nan=True).encode()


def run(*argv: str) -> tuple[int, str, str, float]:
    """The real CLI entry point, in process: (exit code, stdout, stderr, seconds)."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue(), time.monotonic() - t0


def check_outcome(code: int, stdout: str, stderr: str, seconds: float, *, as_json: bool) -> None:
    assert code in (0, 2, 3), f"exit {code}: {stderr[-600:]}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-600:]
    assert seconds < CASE_SECONDS, f"{seconds:.2f} s"
    lines = stderr.strip().splitlines()
    if code == 0:
        if as_json:
            json.loads(stdout)
        return
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    if code == 2:
        assert len(lines) == 1, stderr


def check_config_bytes(data: bytes, *, text_every: int = 7) -> None:
    """inspect and plan on a model directory whose config.json holds `data`."""
    model = WORK / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_bytes(data)
    # most cases as --json, every few (chosen by content: a replayed case takes the same path) as rich tables
    as_json = zlib.crc32(data) % text_every != 0
    flag = ["--json"] if as_json else []
    check_outcome(*run("inspect", str(model), *flag), as_json=as_json)
    check_outcome(*run("plan", "--model", str(model), "--gpu", "H100-80GB", *flag), as_json=as_json)
    figure("config.json fuzz cases (inspect + plan)")


@pytest.mark.slow  # hundreds of hypothesis cases, each through inspect and plan
@FUZZ
@given(cfg=mutated_configs())
def test_mutated_real_configs(cfg: dict) -> None:
    check_config_bytes(_dump(cfg))


@pytest.mark.slow  # hundreds of hypothesis cases, each through inspect and plan
@FUZZ
@given(doc=values)
def test_random_json_documents(doc) -> None:  # noqa: ANN001
    check_config_bytes(_dump(doc))


@pytest.mark.slow  # hundreds of hypothesis cases, each through inspect and plan
@FUZZ
@given(data=st.binary(max_size=512) | st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes(data: bytes) -> None:
    check_config_bytes(data)


@pytest.mark.slow  # hundreds of hypothesis cases, each through inspect and plan
@FUZZ
@given(index=st.integers(0, len(CONFIGS) - 1), cut=st.integers(0, 10_000))
def test_truncated_real_configs(index: int, cut: int) -> None:
    text = BUNDLED[index].read_bytes()
    check_config_bytes(text[: cut % max(len(text), 1)])


@pytest.mark.parametrize(
    "name,data",
    [
        ("deep-list", b"[" * 200_000 + b"]" * 200_000),
        ("deep-object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        (
            "deep-in-field",
            b'{"architectures":["LlamaForCausalLM"],"text_config":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        ),
        ("oversized", b'{"architectures":["LlamaForCausalLM"],"pad":"' + b"x" * (5 << 20) + b'"}'),
        ("huge-number", b'{"architectures":["LlamaForCausalLM"],"hidden_size":1' + b"0" * 5000 + b"}"),
        (
            "nan-everywhere",
            json.dumps({**CONFIGS[0], **{k: math.nan for k in CONFIGS[0] if k != "architectures"}}).encode(),
        ),
        ("inf-layers", json.dumps({**CONFIGS[0], "num_hidden_layers": math.inf}).encode()),
        ("utf16", json.dumps(CONFIGS[0]).encode("utf-16")),
        ("bom", b"\xef\xbb\xbf" + json.dumps(CONFIGS[0]).encode()),
        ("nul", b"\x00" * 100),
        ("empty", b""),
    ],
)
def test_hostile_files(name: str, data: bytes) -> None:
    check_config_bytes(data, text_every=2)


def test_not_a_file_or_unreadable(tmp_path: Path) -> None:
    """config.json as a directory, a dangling symlink, a FIFO (would block a naive reader), no permission."""
    cases = {}
    d = tmp_path / "dir"
    (d / "config.json").mkdir(parents=True)
    cases["directory"] = d
    d = tmp_path / "dangling"
    d.mkdir()
    (d / "config.json").symlink_to(tmp_path / "nowhere.json")
    cases["dangling"] = d
    d = tmp_path / "fifo"
    d.mkdir()
    os.mkfifo(d / "config.json")
    cases["fifo"] = d
    for name, model in cases.items():
        for argv in (["inspect", str(model)], ["plan", "--model", str(model), "--gpu", "H100-80GB"]):
            code, out, err, seconds = run(*argv)
            assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (name, err)
            assert seconds < CASE_SECONDS, name
            figure("config.json fuzz cases (inspect + plan)")


@pytest.mark.slow  # a sample of the fuzz cases as real processes
def test_subprocess_sample(tmp_path: Path) -> None:
    """The same through `python -m trtforge`: one line on stderr, the exit code, no traceback."""
    samples = {
        "garbage": b"\x89PNG\r\n\x1a\n" + os.urandom(64),
        "wrong-types": json.dumps({**CONFIGS[0], "num_hidden_layers": "many", "hidden_size": [1]}).encode(),
        "unknown-arch": json.dumps({**CONFIGS[0], "architectures": ["FrobnicatorForCausalLM"]}).encode(),
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "nan": json.dumps({**CONFIGS[0], "hidden_size": math.nan}).encode(),
    }
    for name, data in samples.items():
        model = tmp_path / name
        model.mkdir()
        (model / "config.json").write_bytes(data)
        for argv in (
            ["inspect", str(model)],
            ["plan", "--model", str(model), "--gpu", "H100-80GB", "--json"],
        ):
            t0 = time.monotonic()
            r = subprocess.run(
                [sys.executable, "-m", "trtforge", *argv],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "TRTFORGE_DEBUG": ""},
            )
            assert r.returncode in (2, 3), (name, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: "), (
                name,
                r.stderr,
            )
            assert "Traceback" not in r.stderr and time.monotonic() - t0 < 30
            figure("config.json fuzz cases through a subprocess")
