"""Finding config.json: local paths, the HF cache, bundled snapshots, the hub; one clear error each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtforge.errors import EXIT_INFEASIBLE, EXIT_INVALID, EXIT_MISSING, InvalidInput, ToolMissing
from trtforge.models import UnknownArchitecture, load_model_spec, resolve_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-llama"


def test_local_directory_and_file() -> None:
    spec = load_model_spec(str(TINY))
    assert spec.architecture == "LlamaForCausalLM" and spec.source.endswith("tiny-llama/config.json")
    assert load_model_spec(str(TINY / "config.json")).total_params == spec.total_params


def test_hub_id_with_revision_skips_bundled_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_hub(repo: str, revision: str, token: str | None) -> Path:
        calls.append((repo, revision))
        raise ToolMissing("offline")

    monkeypatch.setattr("trtforge.models.source._from_hub", fake_hub)
    monkeypatch.setattr("trtforge.models.source._from_cache", lambda repo, rev: None)
    with pytest.raises(ToolMissing):
        resolve_config("openai/gpt-oss-120b@abc123")
    assert calls == [("openai/gpt-oss-120b", "abc123")]
    assert resolve_config("openai/gpt-oss-120b").where == "bundled:openai/gpt-oss-120b"


def test_hf_cache_is_read_before_the_bundled_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hf_constants

    snap = tmp_path / "models--openai--gpt-oss-120b" / "snapshots" / "deadbeef"
    snap.mkdir(parents=True)
    cfg = json.loads((ROOT / "trtforge/data/model_configs/openai--gpt-oss-20b.json").read_text())
    (snap / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "models--openai--gpt-oss-120b" / "refs").mkdir()
    (tmp_path / "models--openai--gpt-oss-120b" / "refs" / "main").write_text("deadbeef")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    found = resolve_config("openai/gpt-oss-120b")
    assert found.where == "hf-cache:openai/gpt-oss-120b@main"
    assert found.config["num_hidden_layers"] == 24  # the cached file, not the bundled one


def test_offline_unknown_hub_model_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises((ToolMissing, InvalidInput)) as exc:
        load_model_spec("someone/not-a-bundled-model")
    assert exc.value.exit_code in (EXIT_MISSING, EXIT_INVALID)
    assert "someone/not-a-bundled-model" in exc.value.one_line()


@pytest.mark.parametrize(
    "content,needle",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"model_type": "llama"}', "no 'architectures'"),
        ('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}', "config.json has no"),
        (
            '{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, '
            '"num_attention_heads": 6,'
            ' "num_key_value_heads": 4, "intermediate_size": 8, "vocab_size": 10}',
            "not a multiple",
        ),
    ],
)
def test_bad_config_is_invalid_input(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(InvalidInput) as exc:
        load_model_spec(str(path))
    assert needle in exc.value.one_line()
    assert exc.value.exit_code == EXIT_INVALID


def test_unknown_architecture_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"architectures": ["MambaForCausalLM"], "model_type": "mamba"}')
    with pytest.raises(UnknownArchitecture) as exc:
        load_model_spec(str(path))
    assert exc.value.exit_code == EXIT_INFEASIBLE
    assert "MambaForCausalLM" in exc.value.message and "LlamaForCausalLM" in exc.value.message


@pytest.mark.parametrize("source", ["./nope", "not a model", "a/b/c", "x.json"])
def test_unusable_source(source: str) -> None:
    with pytest.raises(InvalidInput):
        resolve_config(source)


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no config.json"):
        resolve_config(str(tmp_path))
