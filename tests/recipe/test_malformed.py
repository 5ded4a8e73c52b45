"""Malformed recipes: each gives its exact, located message and never a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trtforge.recipe import RecipeInvalid, load_recipe

GOOD = """\
name: ok
model:
  repo: org/model
target:
  gpu: H100-80GB
"""

# (id, recipe text, expected "line:col: path: message" of the first issue)
CASES = [
    ("empty", "", "1:1: recipe is empty"),
    ("comment-only", "# nothing\n", "1:1: recipe is empty"),
    (
        "list-root",
        "- a\n- b\n",
        "1:1: a recipe must be a mapping of sections (name, model, target, ...), not a list",
    ),
    (
        "scalar-root",
        "hello\n",
        "1:1: a recipe must be a mapping of sections (name, model, target, ...), not a str",
    ),
    ("syntax", "name: [unclosed\n", "2:1: YAML syntax error: expected ',' or ']', but got '<stream end>'"),
    (
        "tab-indent",
        "name: x\n\tmodel: y\n",
        "2:1: YAML syntax error: found character '\\t' that cannot start any token",
    ),
    (
        "two-docs",
        "name: a\n---\nname: b\n",
        "3:1: more than one YAML document ('---'): a recipe is one document",
    ),
    ("duplicate-key", GOOD + "name: again\n", "6:1: name: duplicate key 'name'"),
    ("non-string-key", GOOD + "1: x\n", "6:1: keys must be plain strings"),
    ("missing-name", "model: {repo: org/m}\ntarget: {gpu: H100}\n", "1:1: missing required key 'name'"),
    ("missing-model", "name: x\ntarget: {gpu: H100}\n", "1:1: missing required key 'model'"),
    (
        "unknown-top",
        GOOD + "quantisation: {format: fp8}\n",
        "6:1: quantisation: unknown key 'quantisation' in the recipe (did you mean 'quantization'?)",
    ),
    (
        "unknown-nested",
        GOOD + "engine:\n  max_batch: 8\n",
        "7:3: engine.max_batch: unknown key 'max_batch' in engine (did you mean 'max_batch_size'?)",
    ),
    (
        "unknown-no-hint",
        GOOD.replace("gpu: H100-80GB", "gpu: H100-80GB\n  zzz: 1"),
        "6:3: target.zzz: unknown key 'zzz' in target (known keys: gpu, gpus, nodes, tp, pp, ep)",
    ),
    (
        "bad-name",
        GOOD.replace("name: ok", "name: My Model"),
        "1:1: name: must be lowercase letters, digits, '.', '_' or '-' (max 64), starting with a letter or "
        "digit",
    ),
    (
        "name-traversal",
        GOOD.replace("name: ok", "name: ../etc"),
        "1:1: name: must be lowercase letters, digits, '.', '_' or '-' (max 64), starting with a letter or "
        "digit",
    ),
    ("name-number", GOOD.replace("name: ok", "name: 12"), "1:1: name: must be a valid string"),
    (
        "both-sources",
        GOOD.replace("repo: org/model", "repo: org/model\n  path: ./m"),
        "2:1: model: give exactly one of 'repo' (Hugging Face id), 'path' (local directory) or 'gguf'",
    ),
    (
        "no-source",
        GOOD.replace("  repo: org/model\n", "  revision: main\n"),
        "2:1: model: give exactly one of 'repo' (Hugging Face id), 'path' (local directory) or 'gguf'",
    ),
    (
        "bad-repo-id",
        GOOD.replace("org/model", "not a repo"),
        "3:3: model.repo: must be a Hugging Face repo id such as 'org/name'",
    ),
    (
        "bad-revision",
        GOOD.replace("repo: org/model", "repo: org/model\n  revision: 'a b'"),
        "4:3: model.revision: must be a branch, tag or commit sha without spaces or '..'",
    ),
    (
        "model-is-list",
        GOOD.replace("model:\n  repo: org/model", "model: [org/model]"),
        "2:1: model: must be a mapping (section)",
    ),
    (
        "trust-not-bool",
        GOOD.replace("repo: org/model", "repo: org/model\n  trust_remote_code: maybe"),
        "4:3: model.trust_remote_code: must be a valid boolean",
    ),
    (
        "no-target",
        "name: x\nmodel: {repo: org/m}\n",
        "1:1: give exactly one of 'target' (one GPU setup) or 'targets' (a list, for a matrix)",
    ),
    (
        "target-and-targets",
        GOOD + "targets:\n  - gpu: B200\n",
        "1:1: give exactly one of 'target' (one GPU setup) or 'targets' (a list, for a matrix)",
    ),
    (
        "empty-targets",
        "name: x\nmodel: {repo: org/m}\ntargets: []\n",
        "1:1: 'targets' must list at least one target",
    ),
    (
        "dup-targets",
        "name: x\nmodel: {repo: org/m}\ntargets:\n  - {gpu: B200}\n  - {gpu: B200}\n",
        "1:1: targets repeat the same GPU setup: b200",
    ),
    (
        "targets-item-unknown",
        "name: x\nmodel: {repo: org/m}\ntargets:\n  - {gpu: B200}\n  - {gpu: H200, gpuz: 2}\n",
        "5:17: targets[1].gpuz: unknown key 'gpuz' in targets[1] (did you mean 'gpu'?)",
    ),
    (
        "gpus-zero",
        GOOD.replace("gpu: H100-80GB", "gpu: H100-80GB\n  gpus: 0"),
        "6:3: target.gpus: must be greater than or equal to 1",
    ),
    (
        "tp-over-gpus",
        GOOD.replace("gpu: H100-80GB", "gpu: H100-80GB\n  tp: 4"),
        "4:1: target: tp x pp = 4 needs more GPUs than target.gpus = 1",
    ),
    (
        "tp-string",
        GOOD.replace("gpu: H100-80GB", "gpu: H100-80GB\n  tp: two"),
        "6:3: target.tp: must be 'auto' or a valid integer",
    ),
    (
        "gpu-garbage",
        GOOD.replace("gpu: H100-80GB", "gpu: '$(rm -rf /)'"),
        "5:3: target.gpu: must be a GPU name such as 'H100-80GB' (see `trtforge gpus`) or 'cpu'",
    ),
    (
        "bad-format",
        GOOD + "quantization: {format: fp9}\n",
        "6:16: quantization.format: must be 'none', 'native', 'fp8', 'nvfp4', 'nvfp4_awq', 'mxfp4', "
        "'int4_awq', "
        "'w4a8_awq' or 'int8_sq'",
    ),
    (
        "bad-kv",
        GOOD + "quantization:\n  kv_cache: int8\n",
        "7:3: quantization.kv_cache: must be 'auto', 'fp16', 'bf16', 'fp8' or 'nvfp4'",
    ),
    (
        "calib-samples-negative",
        GOOD + "quantization:\n  calibration: {samples: -5}\n",
        "7:17: quantization.calibration.samples: must be greater than or equal to 1",
    ),
    (
        "accuracy-out-of-range",
        GOOD + "quantization:\n  accuracy: {min_top1_agreement: 1.5}\n",
        "7:14: quantization.accuracy.min_top1_agreement: must be less than or equal to 1",
    ),
    (
        "backend-typo",
        GOOD + "engine: {backend: tensorrt-llm}\n",
        "6:10: engine.backend: must be 'auto', 'tensorrt' or 'pytorch'",
    ),
    (
        "batch-float",
        GOOD + "engine: {max_batch_size: 1.5}\n",
        "6:10: engine.max_batch_size: must be 'auto' or a valid integer",
    ),
    (
        "batch-zero",
        GOOD + "engine: {max_batch_size: 0}\n",
        "6:10: engine.max_batch_size: must be 'auto' or greater than or equal to 1",
    ),
    (
        "chunked-without-paged",
        GOOD + "engine: {paged_kv_cache: false, paged_context_fmha: false}\n",
        "6:1: engine: chunked_prefill needs paged_kv_cache and paged_context_fmha (set both true, or "
        "chunked_prefill false)",
    ),
    (
        "input-ge-seq",
        GOOD + "engine: {max_seq_len: 1024, max_input_len: 1024}\n",
        "6:1: engine: max_input_len must be smaller than max_seq_len (room for at least one output token)",
    ),
    (
        "workload-zero",
        GOOD + "engine:\n  workload: {concurrency: 0}\n",
        "7:14: engine.workload.concurrency: must be greater than or equal to 1",
    ),
    (
        "spec-no-draft",
        GOOD + "engine:\n  speculative: {mode: eagle}\n",
        "7:3: engine.speculative: speculative mode 'eagle' needs max_draft_len >= 1",
    ),
    (
        "bad-version",
        GOOD + "toolchain: {trtllm_version: latest}\n",
        "6:13: toolchain.trtllm_version: must be a TensorRT-LLM version such as '1.2.1'",
    ),
    (
        "bad-executor",
        GOOD + "toolchain: {executor: k8s}\n",
        "6:13: toolchain.executor: must be 'local' or 'container'",
    ),
    (
        "fraction-too-big",
        GOOD + "serving: {kv_cache_free_gpu_mem_fraction: 1.5}\n",
        "6:11: serving.kv_cache_free_gpu_mem_fraction: must be 'auto' or less than or equal to 1",
    ),
    (
        "relative-container-root",
        GOOD + "serving: {container_model_root: models}\n",
        "6:11: serving.container_model_root: must be an absolute container path without '..'",
    ),
    (
        "bad-model-name",
        GOOD + "serving: {model_name: 'My Model'}\n",
        "6:11: serving.model_name: must be lowercase letters, digits, '.', '_' or '-' (max 64), starting "
        "with a letter or digit",
    ),
    (
        "streaming-string",
        GOOD + "serving: {streaming: sometimes}\n",
        "6:11: serving.streaming: must be a valid boolean",
    ),
    (
        "instance-counts-zero",
        GOOD + "serving:\n  instance_counts: {bls: 0}\n",
        "7:21: serving.instance_counts.bls: must be greater than or equal to 1",
    ),
    (
        "env-missing",
        GOOD.replace("repo: org/model", "repo: ${TRTFORGE_TEST_UNSET_VAR}"),
        "3:3: model.repo: environment variable TRTFORGE_TEST_UNSET_VAR is not set",
    ),
    (
        "env-bad-ref",
        GOOD.replace("repo: org/model", "repo: '${1BAD}'"),
        "3:3: model.repo: bad environment variable name '${1BAD}'",
    ),
    (
        "merge-not-mapping",
        "base: &b [1]\n" + GOOD + "engine:\n  <<: *b\n",
        "1:11: engine: a merge key '<<' must refer to a mapping",
    ),
    ("extends-not-string", GOOD + "extends: 3\n", "6:1: extends: must be a path to a base recipe"),
    ("extends-missing", GOOD + "extends: nowhere.yaml\n", "1:1: file not found"),
    ("date-as-name", GOOD.replace("name: ok", "name: 2024-01-01"), "1:1: name: must be a valid string"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_recipe_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(path, env={})
    first = info.value.issues[0]
    assert (
        f"{first.line}:{first.column}: {first.path + ': ' if first.path else ''}{first.message}" == expected
    )


def test_at_least_thirty_distinct_cases() -> None:
    assert len({c[2] for c in CASES}) >= 30


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + "engine: {max_batch_size: x, max_num_token: 3}\nquantization: {format: q}\n")
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(path, env={})
    paths = sorted(i.path for i in info.value.issues)
    assert paths == ["engine.max_batch_size", "engine.max_num_token", "quantization.format"]


def test_errors_locate_keys_of_the_base_file_when_extending(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        textwrap.dedent("""\
        model: {repo: org/m}
        engine:
          max_batch_size: many
        """)
    )
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: c\ntarget: {gpu: H100}\n")
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(child, env={})
    issue = info.value.issues[0]
    assert issue.file.endswith("base.yaml") and (issue.line, issue.path) == (3, "engine.max_batch_size")


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(tmp_path / "a.yaml", env={})
    assert "extends itself (a cycle)" in info.value.issues[0].message
