"""GGUF -> Hugging Face safetensors checkpoint (bf16) with its tokenizer, by transformers' own GGUF loader.

Run as `python -m trtforge.models.gguf_convert FILE.gguf OUT_DIR` (trtforge/steps/gguf_convert.py starts it:
the import of torch + transformers takes seconds and the conversion dequantizes every tensor). Protocol:
library output goes to stderr; the last stdout line is one JSON object, {"ok": true, ...} or {"ok": false,
"error": <TrtforgeError class>, "message": ...}.

transformers' tokenizer conversion turns `add_bos_token` on for llama-family vocabularies even where the GGUF
says `tokenizer.ggml.add_bos_token = false` (SmolLM2): the file's own flag wins here, so the served tokenizer
encodes prompts as the model's authors ship it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from trtforge.errors import InvalidInput, StepFailed, TrtforgeError
from trtforge.models.gguf import hf_config, read_header
from trtforge.procutil import die_with_parent_named_in_env

CONVERTER_VERSION = 1  # bump when the output for the same GGUF and library versions changes


def convert(gguf_path: Path, out_dir: Path, dtype_name: str = "bfloat16") -> dict[str, Any]:
    """Write config.json, model.safetensors and the tokenizer files of `gguf_path` into `out_dir`."""
    header = read_header(gguf_path)
    planned = hf_config(header)  # refuses an architecture we do not convert, before the slow part
    t0 = time.monotonic()
    _parse_once()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype_name))
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise InvalidInput(
            f"{name}: transformers cannot convert this GGUF file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})"
        ) from None
    add_bos = header.metadata.get("tokenizer.ggml.add_bos_token")
    if isinstance(add_bos, bool) and getattr(tokenizer, "add_bos_token", add_bos) != add_bos:
        tokenizer.add_bos_token = add_bos  # LlamaTokenizerFast rebuilds its post-processor on assignment
    convert_s = time.monotonic() - t0
    model.config.name_or_path = ""  # the temporary folder's path must not reach the published config
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    stray = (
        out_dir / "tokenizer.model"
    )  # transformers saves the GGUF itself as the "vocab file": tokenizer.json
    if stray.is_file() and stray.open("rb").read(4) == b"GGUF":  # holds the vocabulary, drop the 98 MB copy
        stray.unlink()
    config = json.loads((out_dir / "config.json").read_text())
    mismatched = sorted(k for k, v in planned.items() if k != "torch_dtype" and config.get(k) != v)
    return {
        "ok": True,
        "architecture": (config.get("architectures") or ["?"])[0],
        "params": int(sum(p.numel() for p in model.parameters())),
        "dtype": dtype_name,
        "add_bos_token": bool(getattr(tokenizer, "add_bos_token", False)),
        "convert_s": round(convert_s, 1),
        # the plan was made from the header: a field the conversion set differently is worth a warning
        "plan_mismatch": {k: [planned[k], config.get(k)] for k in mismatched},
    }


def _parse_once() -> None:
    """Make transformers' GGUF loading parse the file once (this process only).

    transformers 4.57 parses the GGUF metadata four times for a tokenizer and model (4.4 s each for SmolLM2's
    49,152-token vocabulary) and builds gguf's tensor-name map afresh for each of the model's 397 modules (15
    ms each): 31 of a conversion's 38 CPU seconds. Both are pure functions of their arguments (a read-only
    memory map; a lookup table), so each is computed once here; the output is byte-identical.
    """
    import functools

    import gguf

    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(gguf.get_tensor_name_map)
    base, parsed = gguf.GGUFReader, {}

    class ParsedOnce(base):  # type: ignore[misc, valid-type]
        def __new__(cls, path, mode="r"):  # noqa: ANN001, ANN204
            key = (os.path.realpath(path), mode)
            if key not in parsed:
                reader = super().__new__(cls)
                base.__init__(reader, path, mode)
                parsed[key] = reader
            return parsed[key]

        def __init__(self, path, mode="r") -> None:  # noqa: ANN001 - parsed once, in __new__
            pass

    setattr(gguf, "GGUFReader", ParsedOnce)  # noqa: B010 - replacing a class: mypy refuses the assignment


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        print("usage: python -m trtforge.models.gguf_convert FILE.gguf OUT_DIR [DTYPE]", file=sys.stderr)
        return 2
    die_with_parent_named_in_env()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints and progress bars go to stderr (the step keeps them in its log)
    sys.stdout = sys.stderr
    try:
        result = convert(Path(argv[0]), Path(argv[1]), *(argv[2:] or []))
        code = 0
    except TrtforgeError as exc:
        result = {"ok": False, "error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        code = exc.exit_code
    except Exception as exc:  # noqa: BLE001 - still one line for the user; the traceback goes to the log
        import traceback

        traceback.print_exc()
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        result = {
            "ok": False,
            "error": StepFailed.__name__,
            "message": f"GGUF conversion failed: {type(exc).__name__}: {first}",
            "hint": None,
        }
        code = 1
    proto.write(json.dumps(result) + "\n")
    proto.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
