"""Finding config.json: local paths, the HF cache, bundled snapshots, the hub; one clear error each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline.hubserver import FakeHub
from trtforge.errors import EXIT_INFEASIBLE, EXIT_INVALID, EXIT_MISSING, InvalidInput, ToolMissing
from trtforge.models import UnknownArchitecture, load_model_spec, resolve_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-llama"


def test_local_directory_and_file() -> None:
    spec = load_model_spec(str(TINY))
    assert spec.architecture == "LlamaForCausalLM" and spec.source.endswith("tiny-llama/config.json")
    assert load_model_spec(str(TINY / "config.json")).total_params == spec.total_params


@pytest.fixture
def hub_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local hub (tests/pipeline/hubserver.py; the real huggingface_hub client) and an empty HF cache."""
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    server = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()


def test_hub_id_with_revision_skips_bundled_snapshot(hub_at: FakeHub, tmp_path: Path) -> None:
    cfg = json.loads((ROOT / "trtforge/data/model_configs/openai--gpt-oss-20b.json").read_text())
    sha = hub_at.add_repo("openai/gpt-oss-120b", {"config.json": json.dumps(cfg).encode()})
    found = resolve_config(f"openai/gpt-oss-120b@{sha}")
    assert found.where == f"hub:openai/gpt-oss-120b@{sha}" and found.config["num_hidden_layers"] == 24
    fetched = [r["path"].split("/resolve/")[1] for r in hub_at.requests("GET", "/resolve/")]
    assert fetched == [f"{sha}/config.json"]
    assert (tmp_path / "hf-home" / "hub" / "models--openai--gpt-oss-120b" / "snapshots" / sha).is_dir()
    assert resolve_config(f"openai/gpt-oss-120b@{sha}").where == f"hf-cache:openai/gpt-oss-120b@{sha}"
    assert resolve_config("openai/gpt-oss-120b").where == "bundled:openai/gpt-oss-120b"  # main: not fetched


def test_hf_cache_is_read_before_the_bundled_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "models--openai--gpt-oss-120b" / "snapshots" / "deadbeef"
    snap.mkdir(parents=True)
    cfg = json.loads((ROOT / "trtforge/data/model_configs/openai--gpt-oss-20b.json").read_text())
    (snap / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "models--openai--gpt-oss-120b" / "refs").mkdir()
    (tmp_path / "models--openai--gpt-oss-120b" / "refs" / "main").write_text("deadbeef")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # read when called, not at huggingface_hub's import
    found = resolve_config("openai/gpt-oss-120b")
    assert found.where == "hf-cache:openai/gpt-oss-120b@main"
    assert found.config["num_hidden_layers"] == 24  # the cached file, not the bundled one


def test_offline_unknown_hub_model_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ToolMissing) as exc:
        load_model_spec("someone/not-a-bundled-model")
    assert exc.value.exit_code == EXIT_MISSING
    assert exc.value.one_line().startswith(
        "offline (HF_HUB_OFFLINE=1) and someone/not-a-bundled-model@main "
        f"(config.json) is not in the Hugging Face cache at {tmp_path}"
    )


def test_hub_without_config_json_is_invalid_input(hub_at: FakeHub) -> None:
    hub_at.add_repo("acme/weights-only", {"model.safetensors": b"x"})
    with pytest.raises(InvalidInput, match="acme/weights-only@main has no config.json"):
        resolve_config("acme/weights-only")


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
