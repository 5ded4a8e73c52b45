"""Fuzzing the CLI with recipes: the planner and the build graph under adversarial but well-formed recipes,
and hostile recipe files through the real entry point.

tests/recipe/test_fuzz_recipes.py already fuzzes the loader alone (bytes, text, structures, mutations,
nesting). Here: (1) recipes the loader *accepts* or nearly accepts (every section, extreme numbers, every
format x backend x GPU x model family) go through `plan --json` and `build --dry-run --json`: exit 0, 2, 3 or
4 with `error:` lines only, never an internal error; (2) hostile files (alias bomb, 30 MB, binary, deep
nesting, NUL bytes, a FIFO, a directory) go through `validate`, `plan` and `build` as separate processes: exit
2, one line, bounded time.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import REPO, figure
from trtforge.cli.app import main

FUZZ = settings(
    max_examples=int(os.environ.get("TRTFORGE_FUZZ_EXAMPLES", "400")) // 2,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CASE_SECONDS = 3.0
WORK = Path(tempfile.mkdtemp(prefix="trtforge-recipefuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
CONFIGS = REPO / "trtforge" / "data" / "model_configs"
MODELS = {}
for name in (
    "meta-llama--Llama-3.1-8B-Instruct",
    "mistralai--Mixtral-8x7B-Instruct-v0.1",
    "openai--gpt-oss-20b",
    "deepseek-ai--DeepSeek-V3",
    "google--gemma-2-9b-it",
    "Qwen--Qwen3-30B-A3B",
    "meta-llama--Llama-4-Scout-17B-16E-Instruct",
    "microsoft--Phi-3-mini-4k-instruct",
):
    d = WORK / "models" / name
    d.mkdir(parents=True)
    (d / "config.json").write_bytes((CONFIGS / f"{name}.json").read_bytes())
    MODELS[name] = d

# Valid per the schema but extreme: what the planner must survive (the schema bounds few integers from above).
big = st.one_of(
    st.integers(1, 8), st.integers(1, 2**20), st.integers(2**31, 2**64), st.sampled_from([10**30, 10**300])
)
auto_int = st.one_of(st.just("auto"), st.just("auto"), big)
small = st.sampled_from([1, 2, 4, 8])
gpu = st.sampled_from(
    [
        "cpu",
        "H100-80GB",
        "H100",
        "H200",
        "B200",
        "L40S",
        "A100-80GB",
        "A10G",
        "RTX-4090",
        "GB200",
        "bogus-gpu",
        "H100 80GB",
    ]
)
WRONG = st.sampled_from([0, -1, 1.5, "8", None, True, [], {}, "auto ", 10**400, float("nan")])


@st.composite
def recipes(draw) -> dict:
    gpus = draw(st.one_of(small, small, st.just(64)))
    tp = draw(st.one_of(st.just("auto"), st.sampled_from([t for t in (1, 2, 4, 8, 64) if t <= gpus])))
    pp_max = gpus // (tp if isinstance(tp, int) else 1)
    target = {
        "gpu": draw(gpu),
        "gpus": gpus,
        "tp": tp,
        "pp": draw(st.one_of(st.just("auto"), st.sampled_from([p for p in (1, 2, 4, 8) if p <= pp_max]))),
        "ep": draw(st.one_of(st.just("auto"), small, big)),
    }
    quant = {
        "format": draw(
            st.sampled_from(
                ["none", "native", "fp8", "nvfp4", "nvfp4_awq", "mxfp4", "int4_awq", "w4a8_awq", "int8_sq"]
            )
        ),
        "kv_cache": draw(st.sampled_from(["auto", "fp16", "bf16", "fp8", "nvfp4"])),
        "calibration": {
            "samples": draw(st.integers(1, 100_000)),
            "seq_len": draw(st.integers(8, 131_072)),
            "batch_size": draw(st.integers(1, 1024)),
            "seed": draw(st.integers(0, 2**64)),
        },
        "exclude_modules": draw(st.lists(st.text(max_size=12), max_size=3)),
    }
    seq = draw(auto_int)
    engine = {
        "backend": draw(st.sampled_from(["auto", "tensorrt", "pytorch"])),
        "dtype": draw(st.sampled_from(["auto", "bfloat16", "float16"])),
        "max_batch_size": draw(auto_int),
        "max_num_tokens": draw(auto_int),
        "max_seq_len": seq,
        "max_input_len": draw(
            st.one_of(
                st.just("auto"),
                st.integers(1, seq - 1) if isinstance(seq, int) and seq > 1 else st.just("auto"),
            )
        ),
        "workload": {
            "input_len": draw(st.integers(1, 10_000_000)),
            "output_len": draw(st.integers(1, 1_000_000)),
            "concurrency": draw(st.integers(1, 65_536)),
        },
        "chunked_prefill": draw(st.booleans()),
        "cuda_graphs": draw(st.booleans()),
    }
    if draw(st.booleans()):
        engine["speculative"] = draw(
            st.sampled_from(
                [
                    {"mode": "eagle", "max_draft_len": 3},
                    {"mode": "medusa", "max_draft_len": 512},
                    {
                        "mode": "lookahead",
                        "lookahead": {"window_size": 4, "ngram_size": 3, "verification_set_size": 4},
                    },
                    {"mode": "draft_tokens_external", "max_draft_len": 1},
                ]
            )
        )
    serving = {
        "frontend": draw(st.sampled_from(["auto", "ensemble", "bls", "llmapi"])),
        "streaming": draw(st.booleans()),
        "kv_cache_free_gpu_mem_fraction": draw(st.one_of(st.just("auto"), st.floats(0.01, 1.0))),
        "max_queue_delay_microseconds": draw(st.integers(0, 10_000_000)),
        "instance_counts": {"bls": draw(st.integers(1, 1024))},
    }
    doc = {
        "name": "fuzz",
        "model": {"path": str(draw(st.sampled_from(sorted(MODELS.values()))))},
        "quantization": quant,
        "engine": engine,
        "serving": serving,
        "toolchain": {
            "trtllm_version": draw(st.sampled_from(["1.2.1", "1.0.0", "0.20.0", "1.1.0", "9.9.9", "0.9.0"]))
        },
    }
    if draw(st.integers(0, 4)) == 0:
        doc["targets"] = [target, {"gpu": draw(gpu)}]
    else:
        doc["target"] = target
    for section in ("quantization", "engine", "serving", "target"):  # drop a few keys: defaults must cope too
        if section in doc and draw(st.integers(0, 3)) == 0:
            doc[section].pop(draw(st.sampled_from(sorted(doc[section]))))
    if (
        draw(st.integers(0, 7)) == 0
    ):  # now and then one wrong value (the loader's job; tests/recipe covers it)
        section = draw(st.sampled_from(["quantization", "engine", "serving"]))
        doc[section][draw(st.sampled_from(sorted(doc[section])))] = draw(WRONG)
    return doc


def run(*argv: str) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue(), time.monotonic() - t0


def check(code: int, stdout: str, stderr: str, seconds: float, allowed: tuple[int, ...]) -> None:
    assert code in allowed, f"exit {code}: {stderr[-800:]}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-800:]
    assert seconds < CASE_SECONDS, f"{seconds:.2f} s"
    if code == 0:
        json.loads(stdout)
    else:
        lines = stderr.strip().splitlines()
        assert lines and all(line.startswith(("error: ", "warning: ")) for line in lines), stderr


@pytest.mark.slow  # 200 recipes through plan and build --dry-run
@FUZZ
@given(doc=recipes())
def test_plan_and_dry_run_of_adversarial_recipes(doc: dict) -> None:
    path = WORK / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc))
    before = os.environ.get("TRTFORGE_CACHE")
    os.environ["TRTFORGE_CACHE"] = str(WORK / "cache")
    try:
        check(*run("plan", str(path), "--json"), allowed=(0, 2, 3))
        figure("adversarial recipes through plan")
        check(
            *run("build", str(path), "--dry-run", "--json", "--output", str(WORK / "out")),
            allowed=(0, 2, 3, 4),
        )
        figure("adversarial recipes through build --dry-run")
    finally:
        os.environ.pop("TRTFORGE_CACHE", None)
        if before is not None:
            os.environ["TRTFORGE_CACHE"] = before
    assert not (WORK / "out").exists()  # a dry run writes no output


def _hostile(tmp: Path) -> dict[str, Path]:
    files = {}

    def put(name: str, data: bytes) -> None:
        files[name] = tmp / f"{name}.yaml"
        files[name].write_bytes(data)

    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    put("alias-bomb", bomb.encode())
    put("huge", b"name: x\ndescription: '" + b"y" * (30 << 20) + b"'\n")
    put("binary", os.urandom(4096))
    put("nul", b"name: a\x00b\n")
    put("deep", b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n")
    put("utf16", "name: x\n".encode("utf-16"))
    put("merge-keys", b"base: &b {name: x}\n<<: *b\nmodel: {path: /nonexistent}\ntarget: {gpu: cpu}\n")
    put("python-tag", b"!!python/object/apply:os.system ['echo pwned > /tmp/trtforge-pwned']\n")
    put("token-in-name", b"name: ${HF_TOKEN}\nmodel: {path: m}\ntarget: {gpu: cpu}\n")
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    files["fifo"] = fifo
    (tmp / "dir.yaml").mkdir()
    files["directory"] = tmp / "dir.yaml"
    files["missing"] = tmp / "missing.yaml"
    return files


@pytest.mark.slow  # 36 CLI process runs (start-up is the subject: hostile files through the real process)
def test_hostile_recipe_files_through_the_cli(tmp_path: Path) -> None:
    canary = "hf_CANARYrecipeFuzz_0123456789"
    env = {**os.environ, "HF_TOKEN": canary, "TRTFORGE_CACHE": str(tmp_path / "cache")}
    env.pop("TRTFORGE_DEBUG", None)
    for name, path in _hostile(tmp_path).items():
        for argv in (
            ["validate", str(path)],
            ["plan", str(path), "--json"],
            ["build", str(path), "--dry-run"],
        ):
            t0 = time.monotonic()
            r = subprocess.run(
                [sys.executable, "-m", "trtforge", *argv],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                cwd=tmp_path,
            )
            seconds = time.monotonic() - t0
            assert r.returncode == 2, (name, argv, r.stderr[-500:])
            lines = r.stderr.strip().splitlines()
            # validate lists each problem located (file:line:col: ...); the other commands say one `error:`
            # line
            prefixes = ("error: ", str(path)) if argv[0] == "validate" else ("error: ",)
            assert lines and all(ln.startswith(prefixes) for ln in lines), (name, r.stderr[-500:])
            assert "Traceback" not in r.stderr, (name, r.stderr[-500:])
            assert "internal error" not in r.stderr and canary not in r.stdout + r.stderr, (
                name,
                r.stderr[-500:],
            )
            assert seconds < 20, (name, argv, seconds)
            if argv[0] != "validate":
                assert len(lines) == 1, (name, argv, r.stderr)
            figure("hostile recipe files through the CLI (process runs)")
    assert not Path("/tmp/trtforge-pwned").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["max_batch_size", "max_num_tokens", "max_seq_len", "max_input_len"])
def test_engine_limits_past_32_bits_are_invalid_input(key: str) -> None:
    """Found by the fuzzer: max_num_tokens 10^400 overflowed the memory arithmetic (internal error). The
    recipe
    schema bounds them (TensorRT-LLM's int32 SizeType32), so the error has the recipe's file:line:col."""
    engine = {key: 10**400}
    if key == "max_input_len":
        engine["max_seq_len"] = 10**400 + 1
    doc = {
        "name": "big",
        "model": {"path": str(MODELS["meta-llama--Llama-3.1-8B-Instruct"])},
        "target": {"gpu": "H100-80GB"},
        "engine": engine,
    }
    path = WORK / f"big-{key}.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err, _ = run("plan", str(path), "--json")
    assert code == 2 and err.strip().splitlines() == [err.strip()], err
    assert err.startswith(f"error: {path}:") and ": engine.max_" in err and "at most 2147483647" in err, err
