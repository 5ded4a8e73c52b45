"""Export validation: every rank file present, mapping and quantization block as asked, files readable."""

from __future__ import annotations

import json
import struct

from trtforge.quantize import validate


def write_safetensors(path, tensors: dict[str, int]) -> None:
    """A minimal valid safetensors file: name -> number of uint8 bytes."""
    header, offset = {}, 0
    for name, n in tensors.items():
        header[name] = {"dtype": "U8", "shape": [n], "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def trtllm_dir(tmp_path, tp=2, quant_algo="FP8", kv="FP8"):
    d = tmp_path / "trtllm"
    d.mkdir()
    cfg = {
        "architecture": "LlamaForCausalLM",
        "mapping": {"world_size": tp, "tp_size": tp, "pp_size": 1},
        "quantization": {"quant_algo": quant_algo, "kv_cache_quant_algo": kv},
    }
    (d / "config.json").write_text(json.dumps(cfg))
    for i in range(tp):
        write_safetensors(d / f"rank{i}.safetensors", {"transformer.layers.0.attention.qkv.weight": 64})
    return d


def test_good_trtllm_checkpoint(tmp_path):
    r = validate.validate_trtllm(trtllm_dir(tmp_path), 2, 1, "FP8", "FP8")
    assert r["ok"], r["problems"]
    assert r["tensors"] == 2 and r["files"] == ["config.json", "rank0.safetensors", "rank1.safetensors"]


def test_missing_rank_wrong_mapping_and_algo_are_named(tmp_path):
    d = trtllm_dir(tmp_path, tp=2, quant_algo="W4A16_AWQ", kv=None)
    (d / "rank1.safetensors").unlink()
    r = validate.validate_trtllm(d, 4, 1, "FP8", "FP8")
    text = "\n".join(r["problems"])
    assert not r["ok"]
    assert "rank1.safetensors is missing (world size 4 = tp 4 x pp 1)" in text
    assert "rank3.safetensors is missing" in text
    assert "mapping.tp_size is 2, expected 4" in text
    assert "quant_algo is 'W4A16_AWQ', expected 'FP8'" in text
    assert "kv_cache_quant_algo is None, expected 'FP8'" in text


def test_truncated_safetensors_is_caught(tmp_path):
    d = trtllm_dir(tmp_path, tp=1)
    data = (d / "rank0.safetensors").read_bytes()
    (d / "rank0.safetensors").write_bytes(data[:-10])
    r = validate.validate_trtllm(d, 1, 1, "FP8", "FP8")
    assert not r["ok"] and "truncated" in r["problems"][0]


def test_hf_checkpoint(tmp_path):
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text(
        json.dumps(
            {"architectures": ["LlamaForCausalLM"], "quantization_config": {"quant_method": "modelopt"}}
        )
    )
    (d / "hf_quant_config.json").write_text(
        json.dumps({"quantization": {"quant_algo": "mxfp4", "kv_cache_quant_algo": None}})
    )
    write_safetensors(d / "model.safetensors", {"w": 8})
    r = validate.validate_hf(d, "mxfp4", None)
    assert r["problems"] == ["no tokenizer (tokenizer.json / tokenizer.model) next to the weights"]
    src = tmp_path / "src"
    src.mkdir()
    (src / "tokenizer.json").write_text("{}")
    (src / "generation_config.json").write_text("{}")
    assert validate.copy_tokenizer(src, d) == ["tokenizer.json", "generation_config.json"]
    assert validate.validate_hf(d, "MXFP4", None)["ok"]
    assert not validate.validate_hf(d, "NVFP4", "FP8")["ok"]
