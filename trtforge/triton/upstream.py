"""Maintenance library: extract NVIDIA's Triton backend facts from its source (run by
scripts/extract_triton_backend.py, which writes trtforge/data/triton/).

From the config.pbtxt templates: tensors (names, types, dims, optional), parameter keys (with the placeholder
each is filled from) and ensemble steps. From the code that reads the parameters (the C++ tensorrtllm backend,
the python models' model.py): which keys are read without a fallback (required), only on some path
(conditional) or with a default (optional). Placeholders (`${x}`) are replaced by parseable stand-ins only so
protobuf can read a template; the stand-in values never reach the data file.
"""

from __future__ import annotations

import re
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
    """Tensors, parameter keys (with the placeholder each is filled from) and model-level facts of one
    template."""
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
                "input_map": dict(sorted(step.input_map.items())),
                "output_map": dict(sorted(step.output_map.items())),
            }
            for step in config.ensemble_scheduling.step
        ],
    }


# -- parameters NVIDIA's code reads, and whether it has a fallback -------------------------------------------

_CPP_CALL = re.compile(r'GetParameter\s*<.*?>\s*\(\s*(?:"(\w+)"|(\w+))\s*\)')
_CPP_ASSIGN = r'\b{var}\s*=\s*"(\w+)"'
_CONDITIONAL_HEADS = ("if", "else", "for", "while", "switch", "case", "do")


def _blank_cpp(text: str) -> str:
    """Comments and string contents replaced by spaces (same length), so braces in them do not count."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while j < n and text[j] != quote:
                j += 2 if text[j] == "\\" else 1
            out[i + 1 : j] = " " * (j - i - 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def _cpp_blocks(blank: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every brace block; kind is 'try', 'conditional' or 'plain'."""
    blocks, stack = [], []
    for i, ch in enumerate(blank):
        if ch == "{":
            head_start = max(blank.rfind(";", 0, i), blank.rfind("{", 0, i), blank.rfind("}", 0, i)) + 1
            head = blank[head_start:i].strip()
            word = re.match(r"\w+", head)
            if head == "try" or head.endswith(" try"):
                kind = "try"
            elif word and word.group(0) in _CONDITIONAL_HEADS:
                kind = "conditional"
            else:
                kind = "plain"
            stack.append((i, kind))
        elif ch == "}" and stack:
            start, kind = stack.pop()
            blocks.append((start, i, kind))
    return blocks


def cpp_parameter_reads(text: str, file: str) -> list[dict]:
    """Every `GetParameter<T>("name")` call of a C++ source: inside a try block it has a fallback
    ('optional'),
    inside if/else/loops only on that path ('conditional'), else the backend fails without it ('required')."""
    blank = _blank_cpp(text)
    blocks = _cpp_blocks(blank)
    reads = []
    for match in _CPP_CALL.finditer(text):
        if blank[match.start() : match.start() + 12] != "GetParameter":
            continue  # inside a comment or string
        name = match.group(1)
        if name is None:  # a variable: the last string assigned to it before the call
            found = re.findall(_CPP_ASSIGN.format(var=re.escape(match.group(2))), text[: match.start()])
            if not found:
                continue  # the generic GetParameter<T>(name) definitions themselves
            name = found[-1]
        kinds = {kind for start, end, kind in blocks if start < match.start() < end}
        status = "optional" if "try" in kinds else "conditional" if "conditional" in kinds else "required"
        line = text.count("\n", 0, match.start()) + 1
        reads.append({"name": name, "status": status, "file": file, "line": line})
    return reads


def python_parameter_reads(text: str, file: str) -> list[dict]:
    """Parameter reads of a python model: `<x>['parameters']['name']` (or through an alias of
    `<x>['parameters']`) is required unless under try/except or a condition; `.get('name')` is optional."""
    import ast

    tree = ast.parse(text)
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_parameters(node.value, aliases):
            aliases.update(ast.unparse(t) for t in node.targets)
    reads: list[dict] = []

    def visit(node, guarded: str | None, function: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function, guarded = node.name, None
        if isinstance(node, ast.Subscript) and _is_parameters(node.value, aliases):
            key = _constant(node.slice)
            if key is not None:
                reads.append(_py_read(key, guarded or "required", file, node, function))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _is_parameters(node.func.value, aliases)
            and node.args
            and _constant(node.args[0]) is not None
        ):
            reads.append(_py_read(_constant(node.args[0]), "optional", file, node, function))
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            child_guard = guarded
            if isinstance(node, ast.Try) and field == "body" and node.handlers:
                child_guard = "optional"
            elif isinstance(node, (ast.If, ast.While, ast.For, ast.IfExp)) and field in ("body", "orelse"):
                child_guard = guarded or "conditional"
            elif isinstance(node, ast.BoolOp) and value is node.values:
                for k, child in enumerate(children):
                    if isinstance(child, ast.AST):
                        visit(child, guarded if k == 0 else (guarded or "conditional"), function)
                continue
            for child in children:
                if isinstance(child, ast.AST):
                    visit(child, child_guard, function)

    visit(tree, None, None)
    return reads


def _constant(node) -> str | None:
    import ast

    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_parameters(node, aliases: set[str]) -> bool:
    """`<x>['parameters']` or a name/attribute previously assigned from one."""
    import ast

    if isinstance(node, ast.Subscript) and _constant(node.slice) == "parameters":
        return True
    return isinstance(node, (ast.Name, ast.Attribute)) and ast.unparse(node) in aliases


def _py_read(name: str, status: str, file: str, node, function: str | None) -> dict:
    return {"name": name, "status": status, "file": file, "line": node.lineno, "function": function}


def summarize_reads(reads: list[dict]) -> dict[str, list[str]]:
    """Per parameter the strongest status over all its reads: required > conditional > optional."""
    rank = {"required": 0, "conditional": 1, "optional": 2}
    best: dict[str, str] = {}
    for read in reads:
        if read["name"] not in best or rank[read["status"]] < rank[best[read["name"]]]:
            best[read["name"]] = read["status"]
    return {
        status: sorted(n for n, s in best.items() if s == status)
        for status in ("required", "conditional", "optional")
    }


# -- one release: templates + parameter reads ----------------------------------------------------------------

TEMPLATE_MODELS = (
    "inflight_batcher_llm/preprocessing",
    "inflight_batcher_llm/tensorrt_llm",
    "inflight_batcher_llm/postprocessing",
    "inflight_batcher_llm/ensemble",
    "inflight_batcher_llm/tensorrt_llm_bls",
    "llmapi/tensorrt_llm",
)
# Which code reads each template's parameters: the C++ backend for the engine slot, model.py otherwise.
CPP_SOURCES = "inflight_batcher_llm/src"


def source_root(src: Path) -> Path:
    """NVIDIA/TensorRT-LLM keeps the backend under triton_backend/ (since May 2025); tensorrtllm_backend at
    its root."""
    return src / "triton_backend" if (src / "triton_backend" / "all_models").is_dir() else src


def extract_release(src: Path, source: dict) -> dict:
    """Tensors, parameter keys and parameter reads (required / conditional / optional) of every template model
    found under `src` (a checkout of one release); `source` (repo, tag, commit, ...) is recorded as given."""
    root = source_root(src)
    models: dict[str, dict] = {}
    cpp_dir = root / CPP_SOURCES
    for key in TEMPLATE_MODELS:
        config_path = root / "all_models" / key / "config.pbtxt"
        if not config_path.is_file():
            continue
        entry = extract_model(config_path)
        entry["path"] = str(config_path.relative_to(src))
        if key == "inflight_batcher_llm/tensorrt_llm":
            files = sorted(cpp_dir.rglob("*.cc")) if cpp_dir.is_dir() else []
            reads = [r for f in files for r in cpp_parameter_reads(f.read_text(), str(f.relative_to(src)))]
            entry["parameters_read_by"] = "C++ tensorrtllm backend" if files else None
        else:
            model_py = config_path.parent / "1" / "model.py"
            reads = (
                python_parameter_reads(model_py.read_text(), str(model_py.relative_to(src)))
                if model_py.is_file()
                else []
            )
            entry["parameters_read_by"] = str(model_py.relative_to(src)) if model_py.is_file() else None
        entry["parameter_reads"] = summarize_reads(reads)
        entry["parameter_read_sites"] = reads
        models[key] = entry
    return {
        "_about": "Extracted by scripts/extract_triton_backend.py from NVIDIA's Triton backend source at the "
        "commit below (never edited by hand). parameter_reads: 'required' = read without a fallback "
        "(the model fails to load without the key), 'conditional' = read only on some path, 'optional' = "
        "read with a default.",
        "source": source,
        "engine_backend": cpp_dir.is_dir(),
        "models": models,
    }
