"""Maintenance tool: extract tensor specs and parameter keys from NVIDIA's config.pbtxt templates.

Used to (re)generate `trtforge/data/triton_tensors.json` when pinning a newer release:

    python -m trtforge.triton.upstream <checkout>/all_models <repo> <commit> > upstream.json

Placeholders (`${x}`) are replaced by parseable stand-ins only so protobuf can read the template; the
stand-in values never reach the data file (we record names, types, dims and parameter *keys*).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from trtforge.triton.pb import data_type_name, parse_pbtxt

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
# The unquoted placeholder positions in the templates and what the parser needs there.
_STAND_INS = {"datatype": "TYPE_FP32", "decoupled_mode": "false"}


def _stand_in(match: re.Match, quoted: bool) -> str:
    name = match.group(1)
    if quoted:
        return "PLACEHOLDER_" + name
    if name.endswith(("datatype", "data_type")):
        return _STAND_INS["datatype"]
    if name == "decoupled_mode":
        return _STAND_INS["decoupled_mode"]
    return "1"


def _fill(text: str) -> str:
    out = []
    for line in text.splitlines():
        quoted = '"${' in line
        out.append(PLACEHOLDER.sub(lambda m, q=quoted: _stand_in(m, q), line))
    return "\n".join(out)


def _tensor(t, typed_placeholder: dict[str, str]) -> dict:
    spec = {"name": t.name, "data_type": data_type_name(t.data_type), "dims": list(t.dims)}
    if t.name in typed_placeholder:
        spec["data_type"] = "${" + typed_placeholder[t.name] + "}"
    if t.HasField("reshape"):
        spec["reshape"] = list(t.reshape.shape)
    if getattr(t, "optional", False):
        spec["optional"] = True
    if getattr(t, "allow_ragged_batch", False):
        spec["allow_ragged_batch"] = True
    return spec


def extract_model(config_path: Path) -> dict:
    """Tensors, parameter keys (with the placeholder each is filled from) and model-level facts of one template."""
    text = config_path.read_text()
    # Which tensors take their dtype from a placeholder (e.g. logits_datatype): record the placeholder itself.
    typed: dict[str, str] = {}
    for block in re.finditer(r'name:\s*"(\w+)"\s*\n\s*data_type:\s*\$\{(\w+)\}', text):
        typed[block.group(1)] = block.group(2)
    config = parse_pbtxt(_fill(text))
    params = {}
    for key, value in config.parameters.items():
        if value.string_value.startswith("PLACEHOLDER_"):
            params[key] = {"placeholder": value.string_value.removeprefix("PLACEHOLDER_")}
        else:
            params[key] = {"fixed": value.string_value}
    return {
        "backend": config.backend or None,
        "platform": config.platform or None,
        "inputs": [_tensor(t, typed) for t in config.input],
        "outputs": [_tensor(t, typed) for t in config.output],
        "parameters": dict(sorted(params.items())),
        "placeholders": sorted(set(PLACEHOLDER.findall(text))),
        "ensemble_steps": [
            {
                "model_name": step.model_name,
                "input_map": dict(step.input_map),
                "output_map": dict(step.output_map),
            }
            for step in config.ensemble_scheduling.step
        ],
    }


def extract(all_models: Path, repo: str, commit: str) -> dict:
    """Specs of every inflight_batcher_llm + llmapi template under `all_models`."""
    models = {}
    for config_path in sorted(all_models.glob("*/*/config.pbtxt")):
        layout, name = config_path.parent.parent.name, config_path.parent.name
        entry = extract_model(config_path)
        entry["source"] = {
            "repo": repo,
            "commit": commit,
            "path": str(config_path.relative_to(all_models.parent)),
        }
        models[f"{layout}/{name}"] = entry
    return models


if __name__ == "__main__":  # pragma: no cover - maintenance tool
    json.dump(extract(Path(sys.argv[1]), sys.argv[2], sys.argv[3]), sys.stdout, indent=1)
    sys.stdout.write("\n")
