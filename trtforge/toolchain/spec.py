"""Validate generated commands and configs against the option spec of the TensorRT-LLM version they target.

The spec of a version is trtforge/data/trtllm/<version>/{trtllm_build_options,llm_api_args}.json, written by
scripts/extract_trtllm_spec.py from NVIDIA's source at the release tag (tag + commit in its provenance).
trtforge/data/trtllm/specs.json lists the versions a recipe may pin; one without an extracted spec is either
refused (InvalidInput naming the versions that have one) or, where the manifest marks it `interim`, checked
against the hand-transcribed 1.2-era files, and every problem line names that source.

- `parse_build_command(argv, version)` / `validate_build_command(argv, version)`: a `trtllm-build` argv
  (names, aliases, types, choices, options other versions have).
- `validate_llm_api_config(config, backend, version=...)`: an LLM-API YAML (trtllm-serve --config, Triton
  llmapi model.yaml): unknown keys at any level are errors, as TensorRT-LLM's StrictBaseModel makes them.
Both return a list of problems (empty = valid); only a version with no spec raises (InvalidInput).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from trtforge.errors import InvalidInput
from trtforge.toolchain.data import (
    SPEC_INDEX,
    has_versioned,
    load,
    versioned_name,
)
from trtforge.toolchain.versions import (
    default_version,
    engine_backend_available,
    last_engine_version,
    spec_versions,
    version_key,
)

# --------------------------------------------------------------------------------------------- versions

_KIND_FILES = {
    "llm_api_args": "tensorrt_llm/llmapi/llm_args.py",
    "trtllm_build_options": "tensorrt_llm/commands/build.py",
    "quant_algos": "tensorrt_llm/quantization/mode.py",
    "model_map": "tensorrt_llm/models/__init__.py",
}


def _pick(version: str | None) -> str:
    chosen = version or default_version()
    version_key(chosen)  # a malformed version is InvalidInput
    return chosen


def _spec(kind: str, version: str | None) -> dict[str, Any]:
    """The `kind` spec of a version: extracted, or the interim hand-made file the manifest allows; else
    refused."""
    chosen = _pick(version)
    if has_versioned(kind, chosen):
        return load(versioned_name(kind, chosen))
    index = load(SPEC_INDEX)
    entry = index["versions"].get(chosen)
    if entry and entry.get("interim"):
        return load(index["interim"][kind])
    have = ", ".join(spec_versions()) or "none"
    why = f": {entry['missing']}" if entry else ""
    raise InvalidInput(
        f"TensorRT-LLM {chosen} has no option spec extracted from its source ({_KIND_FILES[kind]} at its "
        f"release tag){why}",
        hint=f"versions with an extracted spec: {have}; regenerate with scripts/extract_trtllm_spec.py "
        "(docs/compile.md)",
    )


def spec_provenance(version: str | None = None) -> dict[str, Any]:
    """Where the spec of `version` comes from: tag, commit, extracted (bool), paths / interim source; for docs
    and plans."""
    chosen = _pick(version)
    if has_versioned("llm_api_args", chosen):
        prov = load(versioned_name("llm_api_args", chosen))["provenance"]
        out = {"version": chosen, "extracted": True, **prov}
        if has_versioned("trtllm_build_options", chosen):
            out["build_paths"] = load(versioned_name("trtllm_build_options", chosen))["provenance"]["paths"]
        return out
    index = load(SPEC_INDEX)
    entry = index["versions"].get(chosen)
    if entry is None:
        _spec("llm_api_args", chosen)  # raises the refusal
    out = {
        "version": chosen,
        "repo": index["repo"],
        "tag": entry["tag"],
        "commit": entry["commit"],
        "extracted": False,
        "missing": entry["missing"],
    }
    if entry.get("interim"):
        out["interim_source"] = index["interim"]["label"]
    return out


def _source_label(version: str | None, path: str = "llm_args.py") -> str:
    """Short 'where this rule comes from' for problem lines: 'llm_args.py @ v1.2.1 376f7e1b8ed5'."""
    prov = spec_provenance(version)
    if prov["extracted"]:
        return f"{path} @ {prov['tag']} {prov['commit'][:12]}"
    return f"interim hand-transcribed {path} spec; not extracted at {prov['tag']}"


def quant_algos(version: str | None = None) -> dict[str, list[str]]:
    """QuantAlgo members and the KV-cache quant algos TensorRT-LLM `version` defines
    (quantization/mode.py)."""
    data = _spec("quant_algos", version)
    return {
        "quant_algo": list(data["quant_algo"]),
        "kv_cache_quant_algo": list(data["kv_cache_quant_algo"] or []),
    }


def model_map_architectures(version: str | None = None) -> frozenset[str]:
    """Keys of MODEL_MAP (the architectures trtllm-build accepts) at TensorRT-LLM `version`."""
    data = _spec("model_map", version)
    if "architectures" in data:  # extracted
        return frozenset(data["architectures"])
    engine = data["engine_model_map"]  # interim hand-made table
    return frozenset(engine["architectures"]) | frozenset(
        engine.get("later_additions", {}).get("architectures", [])
    )


# --------------------------------------------------------------------------------------------- trtllm-build


def _has_trtllm_build(version: str) -> bool:
    """An extracted spec knows (build.py exists at the tag or not); otherwise the release table decides."""
    if has_versioned("trtllm_build_options", version):
        return bool(load(versioned_name("trtllm_build_options", version)).get("engine_backend", True))
    return engine_backend_available(version)


def build_options(version: str) -> dict[str, dict[str, Any]]:
    """Options `trtllm-build` accepts at `version`, by every spelling (name and aliases)."""
    key = version_key(version)
    table: dict[str, dict[str, Any]] = {}
    for option in _spec("trtllm_build_options", version)["options"]:
        removed = option.get("removed_in")
        if removed and key >= version_key(removed):
            continue
        for spelling in (option["name"], *option["aliases"]):
            table[spelling] = option
    return table


def _removed_options(version: str) -> dict[str, str]:
    """Options this version lacks that another known version has, with why (era markers or other extracted
    specs)."""
    key = version_key(version)
    data = _spec("trtllm_build_options", version)
    gone = {
        o["name"]: f"removed in TensorRT-LLM {o['removed_in']}"
        for o in data["options"]
        if o.get("removed_in") and key >= version_key(o["removed_in"])
    }
    for legacy in data.get("legacy_options", []):
        gone[legacy["name"]] = legacy["note"]
    mine = {o["name"] for o in data["options"]}
    for other in spec_versions():
        if other == version or not has_versioned("trtllm_build_options", other):
            continue
        for o in load(versioned_name("trtllm_build_options", other))["options"]:
            if o["name"] not in mine and o["name"] not in gone:
                side = "only in" if version_key(other) < key else "added in"
                gone[o["name"]] = f"{side} TensorRT-LLM {other}"
    return gone


@dataclass
class ParsedBuild:
    """A trtllm-build argv parsed the way its argparse parser would, plus what was wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)  # dest -> typed value (only options given)
    problems: list[str] = field(default_factory=list)

    def get(self, dest: str, default: Any = None) -> Any:
        return self.values.get(dest, default)


def _convert(option: dict[str, Any], raw: str) -> tuple[Any, str | None]:
    name, kind = option["name"], option["type"]
    value: Any = raw
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            return None, f"{name} expects an integer, got '{raw}'"
    elif kind == "float":
        try:
            value = float(raw)
        except ValueError:
            return None, f"{name} expects a number, got '{raw}'"
    choices = option.get("choices")
    if choices is None and option.get("choices_case_insensitive"):
        value = raw.lower()  # an enum whose members are not in the Python source (C++ bindings)
    if choices is not None:
        probe = raw.lower() if option.get("choices_case_insensitive") else raw
        if probe not in choices:
            return None, f"{name} got '{raw}'; expected one of {', '.join(choices)}"
        value = probe
    return value, None


def parse_build_command(argv: list[str], version: str) -> ParsedBuild:
    """Parse a trtllm-build argv against the spec for `version` (unknown, removed, mistyped, repeated
    options)."""
    parsed = ParsedBuild()
    if not argv or os.path.basename(argv[0]) != "trtllm-build":
        parsed.problems.append(
            f"the command must start with trtllm-build (got {argv[0] if argv else 'nothing'})"
        )
        return parsed
    try:
        if not _has_trtllm_build(version):
            parsed.problems.append(
                f"TensorRT-LLM {version} has no trtllm-build (the engine backend was removed in 1.3; "
                f"last release with it: {last_engine_version()})"
            )
            return parsed
        table = build_options(version)
        label = _source_label(version, "build.py")
    except InvalidInput as exc:
        parsed.problems.append(exc.one_line())
        return parsed
    removed = _removed_options(version)
    seen: set[str] = set()
    i, args = 0, argv[1:]
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("--"):
            parsed.problems.append(
                f"unexpected positional argument '{token}' (trtllm-build takes only --options)"
            )
            continue
        name, eq, inline = token.partition("=")
        option = table.get(name)
        if option is None:
            why = removed.get(name)
            parsed.problems.append(
                f"trtllm-build {version} has no option {name} ({why + '; ' if why else ''}{label})"
            )
            continue
        dest = option["dest"]
        if dest in seen:
            parsed.problems.append(f"{option['name']} is given more than once")
        seen.add(dest)
        if option["action"] == "store_true":
            if eq:
                parsed.problems.append(f"{name} is a flag and takes no value")
            parsed.values[dest] = True
            continue
        if option.get("nargs") == "+":
            raws = [inline] if eq else []
            while not eq and i < len(args) and not args[i].startswith("--"):
                raws.append(args[i])
                i += 1
            if not raws:
                parsed.problems.append(f"{name} expects at least one value")
                continue
            converted = []
            for raw in raws:
                value, err = _convert(option, raw)
                if err:
                    parsed.problems.append(err)
                converted.append(value)
            parsed.values[dest] = converted
            continue
        if eq:
            raw = inline
        elif i < len(args) and not args[i].startswith("--"):
            raw = args[i]
            i += 1
        else:
            parsed.problems.append(f"{name} expects a value")
            continue
        value, err = _convert(option, raw)
        if err:
            parsed.problems.append(err)
        else:
            parsed.values[dest] = value
    if "checkpoint_dir" not in parsed.values and "model_config" not in parsed.values:
        parsed.problems.append("trtllm-build needs --checkpoint_dir (or --model_config)")
    return parsed


def validate_build_command(argv: list[str], version: str) -> list[str]:
    """Problems with a trtllm-build argv for TensorRT-LLM `version` (empty list = valid)."""
    return parse_build_command(argv, version).problems


def build_option_default(name: str, version: str | None = None) -> Any:
    """The default trtllm-build uses for an option it is not given (e.g. '--tokens_per_block' -> 32)."""
    for option in _spec("trtllm_build_options", version)["options"]:
        if name in (option["name"], *option["aliases"], option["dest"]):
            return option["default"]
    raise KeyError(name)


# --------------------------------------------------------------------------------------------- LLM API


@dataclass
class _Ctx:
    """What a validation pass needs besides the config: the spec, backend and the words for problem lines."""

    spec: dict[str, Any]
    backend: str
    version: str
    label: str


def _extra_of(spec: dict[str, Any], cls: str) -> str:
    """pydantic's `extra` for a class: extracted ('forbid' for StrictBaseModel; pydantic's own default is
    'ignore'); the interim hand-made spec records none and every class there is strict."""
    if "extra" not in spec:
        return "forbid"
    return spec["extra"].get(cls) or "ignore"


def _class_fields(spec: dict[str, Any], classes: list[str]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for cls in classes:
        # an extracted spec lists each class's own fields and its chain of bases separately
        for base in spec.get("class_bases", {}).get(cls, [cls]):
            for f in spec["classes"].get(base, []):
                merged[f["name"]] = f  # later classes (TorchLlmArgs) redefine base fields
    return merged


def llm_api_fields(backend: str = "pytorch", version: str | None = None) -> dict[str, dict[str, Any]]:
    """Top-level LLM-API fields for 'pytorch' (TorchLlmArgs) or 'tensorrt' (TrtLlmArgs) at TensorRT-LLM
    `version`.

    `version=None` means the default pinned version (toolchain.versions.default_version()).
    """
    spec = _spec("llm_api_args", version)
    if backend not in ("pytorch", "tensorrt"):
        raise InvalidInput(f"unknown LLM-API backend {backend}; expected pytorch or tensorrt")
    if backend not in spec["top_level"]:
        raise InvalidInput(
            f"TensorRT-LLM {_pick(version)} has no {backend} LLM-API backend "
            f"({_source_label(version)} defines no "
            f"{'TrtLlmArgs' if backend == 'tensorrt' else 'TorchLlmArgs'})"
        )
    return _class_fields(spec, spec["top_level"][backend])


def llm_api_default(path: str, backend: str = "pytorch", version: str | None = None) -> Any:
    """The default of a (possibly nested, dotted) LLM-API field, e.g. 'kv_cache_config.enable_block_reuse'."""
    spec = _spec("llm_api_args", version)
    fields = llm_api_fields(backend, version)
    parts = path.split(".")
    for depth, part in enumerate(parts):
        f = fields[part]
        if depth == len(parts) - 1:
            return f["default"]
        if f["kind"] != "model":
            raise KeyError(path)
        fields = _class_fields(spec, [f["model"]])
    raise KeyError(path)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    if kind in ("dict", "model", "union"):
        return isinstance(value, dict)
    return True  # any


def _check_value(f: dict[str, Any], value: Any, where: str, ctx: _Ctx) -> list[str]:
    problems: list[str] = []
    if value is None:
        if not f.get("nullable") and f["default"] is not None:
            problems.append(f"{where}: null is not allowed")
        return problems
    if f.get("internal"):
        return [f"{where}: holds a Python object at runtime and cannot be set from YAML"]
    if f.get("backend") and f["backend"] != ctx.backend:
        problems.append(f"{where}: only the {f['backend']} backend reads this field")
    kind = f["kind"]
    if not _type_ok(kind, value):
        return problems + [f"{where}: expected {kind}, got {type(value).__name__} {value!r}"]
    if kind == "list":
        if f.get("min_length") and len(value) < f["min_length"]:
            problems.append(f"{where}: needs at least {f['min_length']} item(s)")
        item_kind = f.get("items")
        for idx, item in enumerate(value):
            if item_kind and not _type_ok(item_kind, item):
                problems.append(f"{where}[{idx}]: expected {item_kind}, got {item!r}")
            elif f.get("choices") and item not in f["choices"]:
                problems.append(f"{where}[{idx}]: '{item}' is not one of {', '.join(f['choices'])}")
        return problems
    if kind == "dict" and f.get("items"):
        for k, v in value.items():
            if not _type_ok(f["items"], v) and not isinstance(v, (int, float)):
                problems.append(f"{where}.{k}: expected {f['items']}")
        return problems
    if kind == "model":
        fields = _class_fields(ctx.spec, [f["model"]])
        return problems + _check_mapping(value, fields, where, ctx, _extra_of(ctx.spec, f["model"]))
    if kind == "union":
        return problems + _check_union(value, f["model"], where, ctx)
    choices = f.get("choices")
    if choices is not None:
        probe = value.upper() if f.get("choices_case_insensitive") and isinstance(value, str) else value
        upper = [c.upper() for c in choices] if f.get("choices_case_insensitive") else choices
        if probe not in upper:
            problems.append(
                f"{where}: '{value}' is not one of {', '.join(map(str, choices))} "
                f"(TensorRT-LLM {ctx.version}, {ctx.label})"
            )
    elif f.get("known_values") is not None and value not in f["known_values"]:
        problems.append(
            f"{where}: '{value}' is not a value TensorRT-LLM {ctx.version} knows "
            f"({', '.join(f['known_values'])}; {ctx.label})"
        )
    for bound, op, ok in (
        ("ge", ">=", lambda a, b: a >= b),
        ("le", "<=", lambda a, b: a <= b),
        ("gt", ">", lambda a, b: a > b),
        ("lt", "<", lambda a, b: a < b),
    ):
        if bound in f and isinstance(value, (int, float)) and not ok(value, f[bound]):
            problems.append(f"{where}: must be {op} {f[bound]} (got {value})")
    return problems


def _check_mapping(
    config: dict[str, Any],
    fields: dict[str, dict[str, Any]],
    prefix: str,
    ctx: _Ctx,
    extra: str | None = "forbid",
) -> list[str]:
    """Problems of one mapping; an unknown key is refused (extra='forbid') or silently dropped by
    TensorRT-LLM."""
    problems: list[str] = []
    aliases = {a: name for name, f in fields.items() for a in f.get("aliases", [])}
    for key, value in config.items():
        name = aliases.get(key, key)
        where = f"{prefix}.{key}" if prefix else str(key)
        f = fields.get(name)
        if f is None:
            hint = _suggest(str(key), fields)
            fate = "rejects it" if extra == "forbid" else "ignores it"
            problems.append(
                f"{where}: unknown field: TensorRT-LLM {ctx.version} {fate} ({ctx.label})"
                + (f"; did you mean {hint}?" if hint else "")
            )
            continue
        problems += _check_value(f, value, where, ctx)
    return problems


def _check_union(value: dict[str, Any], union: str, where: str, ctx: _Ctx) -> list[str]:
    spec = ctx.spec["unions"][union]
    disc = spec["discriminator"]
    tag = value.get(disc)
    variants = spec["variants"]
    if tag not in variants or variants[tag].get("from_dict") is False:
        accepted = ", ".join(t for t, v in variants.items() if v.get("from_dict") is not False)
        return [
            (
                f"{where}.{disc}: '{tag}' is not accepted by TensorRT-LLM {ctx.version} ({ctx.label}); "
                f"it is not one of {accepted}"
            )
        ]
    variant = variants[tag]
    problems: list[str] = []
    backends = variant.get("backends")
    if backends is not None and ctx.backend not in backends:
        problems.append(
            f"{where}: {disc} '{tag}' is not supported by the {ctx.backend} backend ({ctx.label})"
        )
    if variant.get("yaml_usable") is False:
        problems.append(f"{where}: {disc} '{tag}' needs Python objects and cannot come from YAML")
    fields = {f["name"]: f for f in spec["base_fields"]}
    fields.update({f["name"]: f for f in variant["fields"]})
    body = {k: v for k, v in value.items() if k != disc}
    problems += _check_mapping(body, fields, where, ctx)
    for req in variant.get("requires", []):
        if req == "max_draft_len>0" and not (
            isinstance(body.get("max_draft_len"), int) and body["max_draft_len"] > 0
        ):
            problems.append(f"{where}: {tag} needs max_draft_len > 0")
        elif req == "speculative_model" and not (
            body.get("speculative_model") or body.get("speculative_model_dir")
        ):
            problems.append(f"{where}: {tag} needs speculative_model")
    return problems


def _suggest(key: str, fields: dict[str, Any]) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.75)
    return match[0] if match else None


def validate_llm_api_config(
    config: dict[str, Any],
    backend: str = "pytorch",
    *,
    require_model: bool = False,
    ignore_keys: tuple[str, ...] = (),
    version: str | None = None,
) -> list[str]:
    """Problems with an LLM-API config dict for the given backend at TensorRT-LLM `version` (empty = valid).

    `ignore_keys` skips top-level keys a consumer strips before LLM(**args), e.g. ("triton_config",) for the
    Triton llmapi model.yaml. A version with no spec raises InvalidInput.
    """
    if not isinstance(config, dict):
        return [f"an LLM-API config must be a mapping, got {type(config).__name__}"]
    fields = llm_api_fields(backend, version)
    ctx = _Ctx(_spec("llm_api_args", version), backend, _pick(version), _source_label(version))
    body = {k: v for k, v in config.items() if k not in ignore_keys}
    problems = _check_mapping(body, fields, "", ctx, _extra_of(ctx.spec, ctx.spec["top_level"][backend][-1]))
    if require_model and "model" not in config:
        problems.append("model: required")
    cg = config.get("cuda_graph_config")
    sizes = cg.get("batch_sizes") if isinstance(cg, dict) else None
    if (
        isinstance(cg, dict)
        and isinstance(sizes, list)
        and sizes
        and all(isinstance(x, int) for x in sizes)
        and cg.get("max_batch_size")
        and cg["max_batch_size"] != max(sizes)
    ):
        problems.append("cuda_graph_config.max_batch_size must equal max(batch_sizes) when both are given")
    if backend == "tensorrt":
        kv = config.get("kv_cache_config")
        if isinstance(kv, dict) and kv.get("dtype", "auto") != "auto":
            problems.append(
                "kv_cache_config.dtype must be 'auto' on the TensorRT backend (KV quantization comes from "
                "the checkpoint)"
            )
    return problems
