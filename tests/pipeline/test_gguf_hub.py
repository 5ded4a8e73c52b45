"""A GGUF file of a Hugging Face repo (`model: {repo, revision, gguf: {file}}`), fetched by the real huggingface_hub
client from the local fake hub: pinned, cached by sha256, the hub's commit recorded."""

from __future__ import annotations

import hashlib

import pytest

from tests.models.test_gguf import write_gguf
from trtforge.errors import InvalidInput
from trtforge.models import gguf
from trtforge.recipe.schema import ModelSource


def test_gguf_file_of_a_hub_repo(tmp_path, fake_hub, clean_hf_env):
    from trtforge.pipeline import cache

    clean_hf_env.setattr(cache, "_active_root", tmp_path / "cache")
    clean_hf_env.setenv("HF_ENDPOINT", fake_hub.url)
    data = write_gguf(tmp_path / "m.gguf").read_bytes()
    sha = fake_hub.add_repo("org/tiny-gguf", {"m.Q8_0.gguf": data, "README.md": b"hi"})
    digest = hashlib.sha256(data).hexdigest()
    got = gguf.fetch(ModelSource(repo="org/tiny-gguf", gguf={"file": "m.Q8_0.gguf", "sha256": digest}))
    assert got.sha256 == digest and got.path.read_bytes() == data
    assert got.provenance == {"source": "hub", "repo": "org/tiny-gguf", "revision": sha, "file": "m.Q8_0.gguf",
                              "sha256": digest, "size": len(data)}
    assert gguf.hf_config(gguf.read_header(got.path))["hidden_size"] == 64
    with pytest.raises(InvalidInput, match="does not match the recipe's pin"):
        gguf.fetch(ModelSource(repo="org/tiny-gguf", gguf={"file": "m.Q8_0.gguf", "sha256": "f" * 64}))
