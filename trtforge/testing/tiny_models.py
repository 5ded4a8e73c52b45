"""Tiny, seeded, randomly initialised Hugging Face models (Llama, Mixtral-style MoE, GPT-OSS) for tests and
CI.

They are real transformers checkpoints (bf16 safetensors, config.json with `architectures`,
generation_config.json) with a real byte-level BPE tokenizer trained deterministically on a fixed built-in
text, so every trtforge step (download, quantize with ModelOpt, export, serve) runs on them offline in
seconds. Random weights: outputs are noise, useful only to prove plumbing. Same (kind, hidden, layers, seed)
-> same bytes on disk; a directory already holding that model is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

KINDS = ("llama", "moe", "gptoss", "qwen3moe", "llama4")
ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "moe": "MixtralForCausalLM",
    "gptoss": "GptOssForCausalLM",
    "qwen3moe": "Qwen3MoeForCausalLM",
    "llama4": "Llama4ForCausalLM",
}
VOCAB_SIZE = 512
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
MARKER = "trtforge_tiny.json"  # what made this directory; the idempotency check reads it
GENERATOR_VERSION = 2  # bump when the output of make_tiny_model changes for the same arguments

# A fixed text to train the tokenizer on; changing it changes every tiny model (bump GENERATOR_VERSION).
_CORPUS = """\
The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly.
TensorRT-LLM builds optimized engines for large language models on NVIDIA GPUs, and the PyTorch backend runs
Hugging Face checkpoints directly. Quantization makes big models fit: FP8, NVFP4, INT4 AWQ and MXFP4 weights with
calibrated scales, and an FP8 key-value cache that doubles the number of tokens a GPU can hold.
Triton Inference Server serves a model repository with preprocessing, postprocessing, an ensemble and a business
logic scripting model. Clients send text, the tokenizer turns it into ids, the model generates new tokens and the
detokenizer turns them back into text, streaming one token at a time when asked.
A recipe says which model to build, for which GPU, with which precision, batch size and sequence length.
The planner checks that the weights and the cache fit in memory and explains every decision it makes.
Once upon a time there was a small model that learned to count: one, two, three, four, five, six, seven, eight,
nine, ten. It liked numbers such as 0 1 2 3 4 5 6 7 8 9 10 16 32 64 128 256 512 1024 2048 4096 8192.
Hello, world! How are you today? I am fine, thank you. What is the capital of France? Paris is the capital.
def add(a, b):
    return a + b
{"name": "tiny", "layers": 2, "heads": 4, "experts": 4, "top_k": 2}
Summer, autumn, winter and spring; mountains, rivers, forests and oceans; red, green, blue and yellow.
"""  # noqa: E501 (training text: its bytes define every tiny tokenizer)


def _train_tokenizer():
    """Byte-level BPE with VOCAB_SIZE entries, trained on _CORPUS (deterministic: checked across
    processes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # Like Llama: prepend <s> to every encoded sequence.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", BOS_ID)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer)
    if tok.get_vocab_size() != VOCAB_SIZE:  # the corpus is too small for the merges asked for
        raise RuntimeError(f"tiny tokenizer has {tok.get_vocab_size()} entries, expected {VOCAB_SIZE}")
    return tok


_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _save_tokenizer(out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],  # no token_type_ids: generate() rejects them
    )
    fast.chat_template = _CHAT_TEMPLATE
    fast.save_pretrained(str(out))


def _config(kind: str, hidden: int, layers: int, intermediate: int):
    """A transformers config for `kind`; head_dim 64 (hidden/64 heads, half as many KV heads)."""
    heads = max(hidden // 64, 2)
    kv_heads = max(heads // 2, 1)
    common: dict[str, Any] = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    if kind == "llama":
        from transformers import LlamaConfig

        cfg = LlamaConfig(rope_theta=10000.0, **common)
    elif kind == "moe":
        from transformers import MixtralConfig

        cfg = MixtralConfig(num_local_experts=4, num_experts_per_tok=2, rope_theta=10000.0, **common)
    elif kind == "gptoss":
        from transformers import GptOssConfig

        cfg = GptOssConfig(
            num_local_experts=4,
            num_experts_per_tok=2,
            sliding_window=128,
            # gpt-oss uses YaRN; factor 1 keeps it a no-op and consistent with max_position_embeddings
            rope_scaling={
                "rope_type": "yarn",
                "factor": 1.0,
                "beta_fast": 32.0,
                "beta_slow": 1.0,
                "truncate": False,
                "original_max_position_embeddings": 2048,
            },
            layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
            **common,
        )
    elif kind == "qwen3moe":
        from transformers import Qwen3MoeConfig

        cfg = Qwen3MoeConfig(
            num_experts=4,
            num_experts_per_tok=2,
            moe_intermediate_size=intermediate,
            decoder_sparse_step=1,
            mlp_only_layers=[],
            rope_theta=10000.0,
            **common,
        )
    elif kind == "llama4":
        from transformers import Llama4TextConfig

        cfg = Llama4TextConfig(
            num_local_experts=4,
            num_experts_per_tok=1,
            intermediate_size_mlp=intermediate,
            interleave_moe_layer_step=1,
            rope_theta=10000.0,
            attn_temperature_tuning=False,
            **common,
        )
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}; choose one of {', '.join(KINDS)}")
    cfg.architectures = [ARCHITECTURES[kind]]  # export_hf_checkpoint needs it (MODELOPT-NOTES)
    cfg.dtype = "bfloat16"
    return cfg


def _identity(kind: str, hidden: int, layers: int, intermediate: int, seed: int) -> dict[str, Any]:
    return {
        "generator": "trtforge.testing.tiny_models",
        "generator_version": GENERATOR_VERSION,
        "kind": kind,
        "architecture": ARCHITECTURES[kind],
        "hidden": hidden,
        "layers": layers,
        "intermediate": intermediate,
        "vocab_size": VOCAB_SIZE,
        "seed": seed,
    }


def _already_made(out: Path, identity: dict[str, Any]) -> bool:
    marker = out / MARKER
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    needed = ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json")
    return recorded.get("identity") == identity and all((out / n).is_file() for n in needed)


def make_tiny_model(
    kind: str,
    out_dir: str | os.PathLike[str],
    hidden: int = 256,
    *,
    layers: int = 2,
    intermediate: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a tiny seeded `kind` model ("llama" | "moe" | "gptoss") into out_dir and return its path.

    hidden must be a multiple of 64; keep it >= 256 for INT4-AWQ at TP2 (block 128 per rank). intermediate
    defaults to 2 * hidden. Idempotent: if out_dir already holds this exact model, nothing is written. The
    directory is written next to out_dir and renamed into place, so a killed run leaves no half model.
    A non-empty out_dir that was not made by this function is never overwritten.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model kind {kind!r}; choose one of {', '.join(KINDS)}")
    if hidden < 64 or hidden % 64:
        raise ValueError(f"hidden must be a positive multiple of 64, got {hidden}")
    intermediate = intermediate or 2 * hidden
    out = Path(out_dir).absolute()
    identity = _identity(kind, hidden, layers, intermediate, seed)
    if _already_made(out, identity):
        return out
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise FileExistsError(
            f"{out} is not empty and was not made by make_tiny_model; refusing to overwrite it"
        )

    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        cfg = _config(kind, hidden, layers, intermediate)
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        model = model.to(torch.bfloat16).eval()
        model.generation_config = GenerationConfig(
            bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, do_sample=False, max_new_tokens=16
        )
        model.save_pretrained(str(tmp), safe_serialization=True)
        _save_tokenizer(tmp)
        digest = hashlib.sha256((tmp / "model.safetensors").read_bytes()).hexdigest()
        n_params = sum(p.numel() for p in model.parameters())
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "identity": identity,
                    "params": n_params,
                    "weights_sha256": digest,
                    "note": "random weights: outputs are noise",
                },
                indent=2,
            )
            + "\n"
        )
        # mkdtemp makes a 0700 directory and safetensors writes 0600 files; a model dir should be readable.
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            f.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def repo_root() -> Path:
    """The checkout root (where recipes/ and models/ live)."""
    return Path(__file__).resolve().parents[2]


# What `make_tiny_model.py --all` builds: the models recipes/tiny-*-cpu.yaml point at.
DEFAULT_MODELS = {"tiny-llama": "llama", "tiny-moe": "moe"}


def make_default_models(root: Path | None = None) -> list[Path]:
    """Build models/tiny-llama and models/tiny-moe under the repo root (idempotent)."""
    base = (root or repo_root()) / "models"
    return [make_tiny_model(kind, base / name) for name, kind in DEFAULT_MODELS.items()]
