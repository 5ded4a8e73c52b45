"""The serving commands the targets share: trtllm-serve (optionally behind trtllm-llmapi-launch) and the
pinned-revision download.

Interfaces, as read in NVIDIA/TensorRT-LLM tensorrt_llm/commands/serve.py @00209af1 (main, 1.3-era; no 1.2.x
copy is stored): `trtllm-serve MODEL --host --port --extra_llm_api_options FILE` (`--config` is an alias
there; trtforge writes the long name, which every release since 1.0 accepts), and the YAML overrides the CLI
values. Multi-node: every MPI rank runs `trtllm-llmapi-launch trtllm-serve ...` (TensorRT-LLM docs, "Run
trtllm-serve with pytorch backend on Slurm"); rank 0 serves HTTP.
"""

from __future__ import annotations

import json
import shlex

from trtforge.deploy.context import DeployContext


def trtllm_serve_argv(ctx: DeployContext, model: str, config_path: str, launcher: bool) -> list[str]:
    argv = ["trtllm-serve", model, "--host", "0.0.0.0", "--port", str(ctx.deploy.port)]
    argv += ["--extra_llm_api_options", config_path]
    return (["trtllm-llmapi-launch", *argv]) if launcher else argv


# Shell lines for a checkpoint that cannot be downloaded (a local source): stop unless ops copied it in.
NO_CHECKPOINT_CHECK = [
    'if [ ! -f "$MODEL_DIR/config.json" ]; then',
    '  echo "no checkpoint at $MODEL_DIR: copy the build output\'s checkpoint/ there or set MODEL_DIR" >&2',
    "  exit 2",
    "fi",
]


def download_python(ctx: DeployContext, local_dir: str) -> str:
    """A python3 -c program that downloads the pinned revision (huggingface_hub reads HF_TOKEN itself)."""
    args = ", ".join(
        f"{k}={json.dumps(v)}"
        for k, v in (("repo_id", ctx.repo), ("revision", ctx.revision), ("local_dir", local_dir))
    )
    return f"from huggingface_hub import snapshot_download; snapshot_download({args})"


def sh(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
