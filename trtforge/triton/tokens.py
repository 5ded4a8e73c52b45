"""End, pad and stop token ids for a checkpoint, from generation_config.json, config.json and the tokenizer.

The upstream preprocessing derives end_id from `encode(tokenizer.eos_token)` and ignores
generation_config.json, so models with several end-of-turn tokens (Llama-3 `<|eot_id|>`) never stop (P7).
trtforge takes the first eos id as end_id and the others as single-token stop words, and writes them into the
configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtforge.errors import InvalidInput


@dataclass(frozen=True)
class SpecialTokens:
    end_id: int
    pad_id: int
    stop_token_ids: tuple[int, ...]
    source: str  # where end_id came from, for the README/manifest


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}") from exc


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, list):
        return [int(v) for v in value if v is not None]
    return [int(value)]


def _token_id(token: Any, tokenizer_json: dict[str, Any]) -> int | None:
    """Id of a special token string (or {"content": ...}) via tokenizer.json's added tokens / vocab."""
    if isinstance(token, dict):
        token = token.get("content")
    if not isinstance(token, str):
        return None
    for added in tokenizer_json.get("added_tokens", []):
        if added.get("content") == token:
            return int(added["id"])
    vocab = (tokenizer_json.get("model") or {}).get("vocab")
    if isinstance(vocab, dict) and token in vocab:
        return int(vocab[token])
    return None


def special_tokens(checkpoint: Path) -> SpecialTokens:
    """Read-only look at a Hugging Face checkpoint/tokenizer directory (no transformers import)."""
    gen = _json(checkpoint / "generation_config.json")
    cfg = _json(checkpoint / "config.json")
    tok_cfg = _json(checkpoint / "tokenizer_config.json")
    special_map = _json(checkpoint / "special_tokens_map.json")
    tok_json = _json(checkpoint / "tokenizer.json")

    eos, source = _ids(gen.get("eos_token_id")), "generation_config.json"
    if not eos:
        eos, source = _ids(cfg.get("eos_token_id")), "config.json"
    if not eos:
        tid = _token_id(tok_cfg.get("eos_token") or special_map.get("eos_token"), tok_json)
        eos, source = ([tid], "tokenizer") if tid is not None else ([], "")
    if not eos:
        raise InvalidInput(
            f"{checkpoint}: no end-of-sequence token in generation_config.json, config.json or the "
            "tokenizer; generation would never stop",
            hint="add eos_token_id to generation_config.json",
        )
    pad = _ids(gen.get("pad_token_id")) or _ids(cfg.get("pad_token_id"))
    if not pad:
        tid = _token_id(tok_cfg.get("pad_token") or special_map.get("pad_token"), tok_json)
        pad = [tid] if tid is not None else []
    end_id = eos[0]
    stops = tuple(dict.fromkeys(t for t in eos[1:] if t != end_id))
    return SpecialTokens(end_id=end_id, pad_id=pad[0] if pad else end_id, stop_token_ids=stops, source=source)


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    "config.json",
    "spiece.model",
    "tiktoken.model",
)


def tokenizer_files(checkpoint: Path) -> list[Path]:
    """The files AutoTokenizer needs from a checkpoint (plus generation_config.json/config.json for ids)."""
    files = [checkpoint / n for n in TOKENIZER_FILES if (checkpoint / n).is_file()]
    files += sorted(p for p in checkpoint.glob("*.tiktoken") if p.is_file())
    if not any(
        f.name
        in ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "tiktoken.model")
        or f.suffix == ".tiktoken"
        for f in files
    ):
        raise InvalidInput(
            f"{checkpoint} has no tokenizer (tokenizer.json, tokenizer.model, vocab.json ...)",
            hint="the checkpoint must carry its tokenizer: the repository is served offline",
        )
    return files
