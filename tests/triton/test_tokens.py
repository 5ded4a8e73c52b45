"""End / pad / stop ids from generation_config.json, config.json and the tokenizer (P7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtforge.errors import InvalidInput
from trtforge.triton.tokens import special_tokens, tokenizer_files


def _write(d: Path, name: str, data: dict) -> None:
    (d / name).write_text(json.dumps(data))


def test_several_eos_ids_become_end_id_plus_stop_words(tmp_path):
    # Llama-3.1-Instruct: eos_token_id [128001, 128008, 128009] in generation_config.json.
    _write(
        tmp_path, "generation_config.json", {"eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000}
    )
    _write(tmp_path, "config.json", {"eos_token_id": 128001})
    tokens = special_tokens(tmp_path)
    assert (tokens.end_id, tokens.stop_token_ids, tokens.source) == (
        128001,
        (128008, 128009),
        "generation_config.json",
    )
    assert tokens.pad_id == 128001  # no pad token: pad with the end id, as the backend expects


def test_falls_back_to_the_tokenizer_eos_token(tmp_path):
    _write(tmp_path, "config.json", {})
    _write(tmp_path, "tokenizer_config.json", {"eos_token": "</s>", "pad_token": {"content": "<pad>"}})
    _write(
        tmp_path,
        "tokenizer.json",
        {
            "added_tokens": [{"id": 0, "content": "<pad>"}, {"id": 2, "content": "</s>"}],
            "model": {"vocab": {}},
        },
    )
    tokens = special_tokens(tmp_path)
    assert (tokens.end_id, tokens.pad_id, tokens.stop_token_ids, tokens.source) == (2, 0, (), "tokenizer")


def test_no_eos_anywhere_is_refused(tmp_path):
    _write(tmp_path, "config.json", {})
    with pytest.raises(InvalidInput, match="never stop"):
        special_tokens(tmp_path)


def test_tokenizer_files_are_required(tmp_path, tiny_llama):
    names = {p.name for p in tokenizer_files(tiny_llama)}
    assert {"tokenizer.json", "tokenizer_config.json", "generation_config.json"} <= names
    assert "model.safetensors" not in names
    _write(tmp_path, "config.json", {})
    with pytest.raises(InvalidInput, match="no tokenizer"):
        tokenizer_files(tmp_path)
