"""Bounds at validate: strict types and TensorRT-LLM's int32 limit, each error at file:line:col.

The int32 limit is TensorRT-LLM's `SizeType32 = std::int32_t` (cpp/include/tensorrt_llm/runtime/common.h):
2**31 - 1 is written here by hand, not imported from the schema, so the test can disagree with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trtforge.recipe import RecipeInvalid, load_recipe

HEAD = "name: x\nmodel:\n  repo: org/m\n"
TARGET = "target:\n  gpu: H100\n"

# (id, recipe text after the model section, expected "line:col: path: message")
CASES = [
    (
        "tokens-float-3e9",
        TARGET + "engine:\n  max_num_tokens: 3.0e+9\n",
        "7:3: engine.max_num_tokens: must be 'auto' or a valid integer",
    ),
    (
        "tokens-3e9-is-a-string",
        TARGET + "engine:\n  max_num_tokens: 3e9\n",  # YAML 1.1: '3e9' is a string
        "7:3: engine.max_num_tokens: must be 'auto' or a valid integer",
    ),
    (
        "tokens-past-int32",
        TARGET + "engine:\n  max_num_tokens: 2147483648\n",
        "7:3: engine.max_num_tokens: must be 'auto' or at most 2147483647 (TensorRT-LLM's int32 SizeType32)",
    ),
    (
        "seq-len-past-int32",
        TARGET + "engine:\n  max_seq_len: 3000000000\n",
        "7:3: engine.max_seq_len: must be 'auto' or at most 2147483647 (TensorRT-LLM's int32 SizeType32)",
    ),
    (
        "batch-bool",
        TARGET + "engine:\n  max_batch_size: true\n",
        "7:3: engine.max_batch_size: must be 'auto' or a valid integer",
    ),
    ("gpus-true", "target:\n  gpu: H100\n  gpus: true\n", "6:3: target.gpus: must be a valid integer"),
    (
        "tp-float",
        "target:\n  gpu: H100\n  gpus: 2\n  tp: 2.0\n",
        "7:3: target.tp: must be 'auto' or a valid integer",
    ),
    ("gpus-string", "target:\n  gpu: H100\n  gpus: '2'\n", "6:3: target.gpus: must be a valid integer"),
    (
        "workload-float",
        TARGET + "engine:\n  workload:\n    concurrency: 64.0\n",
        "8:5: engine.workload.concurrency: must be a valid integer",
    ),
    (
        "seed-past-numpy",
        TARGET + "quantization:\n  calibration:\n    seed: 4294967296\n",
        "8:5: quantization.calibration.seed: must be less than or equal to 4294967295",
    ),
    (
        "bool-from-int",
        TARGET + "engine:\n  chunked_prefill: 1\n",
        "7:3: engine.chunked_prefill: must be a valid boolean",
    ),
    (
        "fraction-bool",
        TARGET + "serving:\n  kv_cache_free_gpu_mem_fraction: true\n",
        "7:3: serving.kv_cache_free_gpu_mem_fraction: must be 'auto' or a valid number",
    ),
    (
        "lookahead-float",
        TARGET + "engine:\n  speculative:\n    mode: lookahead\n    lookahead: "
        "{window_size: 4.0, ngram_size: 3, verification_set_size: 4}\n",
        "9:5: engine.speculative.lookahead: must be a valid integer",
    ),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_fails_at_validate_with_location(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + text)
    with pytest.raises(RecipeInvalid) as exc:
        load_recipe(path)
    assert exc.value.issues[0].one_line() == f"{path}:{expected}"


@pytest.mark.parametrize(
    "text",
    [
        TARGET + "engine:\n  max_num_tokens: 2147483647\n",  # the int32 maximum itself is fine
        TARGET + "engine:\n  max_num_tokens: 8_192\n",  # YAML 1.1 integer with underscores
        TARGET + "serving:\n  kv_cache_free_gpu_mem_fraction: 1\n",  # an integer is a number
    ],
)
def test_edge_values_pass(tmp_path: Path, text: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + text)
    load_recipe(path)


def test_validate_cli_exits_2_with_location(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from trtforge.cli.app import main

    path = tmp_path / "r.yaml"
    path.write_text(HEAD + TARGET + "engine:\n  max_num_tokens: 3.0e+9\n")
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path)])
    assert exc.value.code == 2
    assert f"{path}:7:3: engine.max_num_tokens:" in capsys.readouterr().err
