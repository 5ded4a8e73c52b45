"""scripts/make_tiny_model.py / trtforge.testing.tiny_models: real, deterministic, idempotent tiny
checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtforge.testing.tiny_models import MARKER, make_tiny_model

pytestmark = pytest.mark.slow  # imports torch + transformers

ROOT = Path(__file__).resolve().parents[2]


def test_llama_is_a_loadable_checkpoint_with_a_working_tokenizer(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = make_tiny_model("llama", tmp_path / "m")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert cfg["hidden_size"] == 256 and cfg["dtype"] == "bfloat16"
    assert (out / "generation_config.json").is_file()
    tok = AutoTokenizer.from_pretrained(out)
    assert len(tok) == cfg["vocab_size"]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 0)
    ids = tok("Hello, world!")["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Hello, world!"
    model = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    assert str(model.dtype) == "torch.bfloat16"
    gen = model.generate(**tok("Hello", return_tensors="pt"), max_new_tokens=4, do_sample=False)
    assert gen.shape[1] == len(tok("Hello")["input_ids"]) + 4


def test_same_arguments_give_same_bytes_and_second_call_is_a_no_op(tmp_path):
    a = make_tiny_model("moe", tmp_path / "a")
    b = make_tiny_model("moe", tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert json.loads((a / "config.json").read_text())["num_local_experts"] == 4
    mtime = (a / "model.safetensors").stat().st_mtime_ns
    make_tiny_model("moe", a)
    assert (a / "model.safetensors").stat().st_mtime_ns == mtime
    # a different seed replaces the model it made
    make_tiny_model("moe", a, seed=1)
    assert (a / "model.safetensors").read_bytes() != (b / "model.safetensors").read_bytes()
    assert json.loads((a / MARKER).read_text())["identity"]["seed"] == 1


def test_refuses_to_overwrite_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "precious.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_tiny_model("llama", tmp_path / "user")
    assert (tmp_path / "user" / "precious.txt").read_text() == "x"


def test_script_cli_makes_gptoss(tmp_path, capsys):
    """The script's command line, called in this process (torch is already imported here)."""
    import runpy

    main = runpy.run_path(str(ROOT / "scripts" / "make_tiny_model.py"))["main"]
    assert main(["--kind", "gptoss", "--out", str(tmp_path / "g"), "--hidden", "256"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    assert cfg["architectures"] == ["GptOssForCausalLM"]
