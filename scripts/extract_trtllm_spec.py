#!/usr/bin/env python3
"""Extract TensorRT-LLM's option specs from its Python source at one release tag (ast only).

It never imports tensorrt_llm: every fact comes from parsing the files with `ast`, so it runs on any machine
with a checkout (or just the needed files under their repo-relative paths):

    git -C TensorRT-LLM checkout v1.2.1
    python scripts/extract_trtllm_spec.py --source TensorRT-LLM --tag v1.2.1 \\
        --commit "$(git -C TensorRT-LLM rev-parse HEAD)"

writes trtforge/data/trtllm/<version>/:
  llm_api_args.json          LLM-API fields (TorchLlmArgs / TrtLlmArgs and every nested config), with unions
  trtllm_build_options.json  trtllm-build argparse options + PluginConfig flags + BuildConfig defaults
                             (a marker with "engine_backend": false where build.py does not exist, as in 1.3)
  quant_algos.json           QuantAlgo members and the KV-cache algo list (tensorrt_llm/quantization/mode.py)
  model_map.json             keys of MODEL_MAP (tensorrt_llm/models/__init__.py)
each with provenance {repo, tag, commit, paths, extracted_by, extracted_on}.
`--list-files` prints the repo paths it reads (with --source: also the modules llm_args.py imports configs
from). Exit codes: 0 ok, 2 bad input (missing source, tag/version mismatch, unparseable file).
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = "NVIDIA/TensorRT-LLM"
EXTRACTED_BY = "scripts/extract_trtllm_spec.py"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "trtforge" / "data" / "trtllm"

VERSION_PY = "tensorrt_llm/version.py"
MANIFEST = "specs.json"  # per-version manifest beside the version folders (tags, commits, evidence)
LLM_ARGS = "tensorrt_llm/llmapi/llm_args.py"
BUILD_PY = "tensorrt_llm/commands/build.py"
PLUGIN_PY = "tensorrt_llm/plugin/plugin.py"
BUILDER_PY = "tensorrt_llm/builder.py"
MODE_PY = "tensorrt_llm/quantization/mode.py"
MODELS_INIT = "tensorrt_llm/models/__init__.py"
# Files that only resolve `choices=` of trtllm-build options (read when present).
CHOICE_HELPERS = {
    "severity_map": ["tensorrt_llm/logger.py"],
    "LORA_MODULE_IDS": ["tensorrt_llm/lora_manager.py", "tensorrt_llm/lora_helper.py"],
    "cluster_infos": ["tensorrt_llm/auto_parallel/cluster_info.py"],
    "KVCacheType": ["tensorrt_llm/llmapi/kv_cache_type.py"],
}
REQUIRED = [VERSION_PY, LLM_ARGS]
OPTIONAL = [BUILD_PY, PLUGIN_PY, BUILDER_PY, MODE_PY, MODELS_INIT]
BACKENDS = ("pytorch", "tensorrt")
MODEL_BASES = {"BaseModel", "StrictBaseModel"}
ENUM_BASES = {"Enum", "StrEnum", "IntEnum", "IntFlag", "Flag"}


class ExtractError(Exception):
    """Bad input: the message is the one line the user sees (exit 2)."""


# --------------------------------------------------------------------------------------------- helpers


def _name(node: ast.AST | None) -> str | None:
    """Dotted name of a Name/Attribute node ('typing.Optional' -> 'Optional')."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


_UNEVALUABLE = object()


def _const(node: ast.AST | None, env: dict[str, Any] | None = None) -> Any:
    """A JSON-able value of a literal expression, or _UNEVALUABLE."""
    if node is None:
        return _UNEVALUABLE
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        pass
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_const(e, env) for e in node.elts]
        return _UNEVALUABLE if any(i is _UNEVALUABLE for i in items) else items
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and env is not None:
        enum = env.get("enums", {}).get(node.value.id)
        if enum is not None and node.attr in enum:
            return enum[node.attr]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _const(node.operand, env)
        return -inner if isinstance(inner, (int, float)) else _UNEVALUABLE
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:  # e.g. default=1024**3
        left, right = _const(node.left, env), _const(node.right, env)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        if numbers and not (isinstance(node.op, ast.Pow) and abs(right) > 64):
            try:
                return _ARITH[type(node.op)](left, right)
            except ZeroDivisionError:
                return _UNEVALUABLE
    return _UNEVALUABLE


_ARITH = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Pow: lambda a, b: a**b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_jsonable(v) for v in value)
    return value


def _parse(path: Path, rel: str) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    except SyntaxError as exc:
        raise ExtractError(f"{rel}: cannot parse ({exc.msg}, line {exc.lineno})") from None


def _kwargs(call: ast.Call) -> dict[str, ast.AST]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _docline(text: Any) -> str:
    return " ".join(str(text).split()) if isinstance(text, str) else ""


def _joined_str(node: ast.AST | None) -> str:
    """Text of a (possibly implicitly concatenated) string expression; '' otherwise."""
    value = _const(node)
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------------------------- modules


@dataclass
class ClassInfo:
    name: str
    bases: list[str]
    node: ast.ClassDef
    module: str


@dataclass
class Module:
    """Classes, enums, aliases and constants of the parsed files (merged: names are unique enough)."""

    classes: dict[str, ClassInfo] = field(default_factory=dict)
    enums: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {member: value}
    aliases: dict[str, ast.AST] = field(default_factory=dict)  # X = Literal[...] / Union[...] / TypeAlias
    constants: dict[str, ast.AST] = field(default_factory=dict)  # other module-level assignments

    def add(self, tree: ast.Module, rel: str) -> None:
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                bases = [b for b in (_name(x) for x in node.bases) if b]
                self.classes[node.name] = ClassInfo(node.name, bases, node, rel)
                if any(b in ENUM_BASES for b in bases) or (
                    "str" in bases and any(b.endswith("Enum") for b in bases)
                ):
                    self.enums[node.name] = _enum_members(node)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self._assign(target.id, node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                self._assign(node.target.id, node.value, is_alias=_name(node.annotation) == "TypeAlias")
        # Enums whose base is another enum defined here (class X(MyEnum)).
        changed = True
        while changed:
            changed = False
            for info in self.classes.values():
                if info.name not in self.enums and any(b in self.enums for b in info.bases):
                    self.enums[info.name] = _enum_members(info.node)
                    changed = True

    def _assign(self, name: str, value: ast.AST, is_alias: bool = False) -> None:
        subscripted_type = isinstance(value, ast.Subscript) and _name(value.value) in _TYPE_FORMS
        union_of_types = (
            isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr) and _looks_like_type(value)
        )
        if is_alias or subscripted_type or union_of_types:
            self.aliases[name] = value
        else:
            self.constants[name] = value

    def is_model(self, name: str, _seen: frozenset[str] = frozenset()) -> bool:
        if name in MODEL_BASES:
            return True
        info = self.classes.get(name)
        if info is None or name in _seen:
            return False
        return any(self.is_model(b, _seen | {name}) for b in info.bases)

    def mro(self, name: str) -> list[str]:
        """Model classes from the base-most defined here to `name` (depth-first, bases first, no repeats)."""
        order: list[str] = []

        def visit(n: str) -> None:
            info = self.classes.get(n)
            if info is None or n in order:
                return
            for b in info.bases:
                if b not in MODEL_BASES and self.is_model(b):
                    visit(b)
            order.append(n)

        visit(name)
        return order


_TYPE_FORMS = {"Literal", "Optional", "Union", "List", "Dict", "Tuple", "Set", "Annotated", "list", "dict"}


def _looks_like_type(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp):
        return _looks_like_type(node.left) and _looks_like_type(node.right)
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Subscript):
        return _name(node.value) in _TYPE_FORMS
    return isinstance(node, (ast.Name, ast.Attribute))


def _enum_members(node: ast.ClassDef) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name.startswith("_"):
                continue
            value = _const(stmt.value)
            # auto() (strenum / executor bindings) -> the member name is what users write
            members[name] = name if value is _UNEVALUABLE else value
    return members


def _load_modules(source: Path, paths: list[str]) -> tuple[Module, list[str]]:
    mod = Module()
    read: list[str] = []
    for rel in paths:
        path = source / rel
        if path.is_file():
            mod.add(_parse(path, rel), rel)
            read.append(rel)
    return mod, read


def _imported_modules(tree: ast.Module, rel: str) -> list[str]:
    """Repo paths of modules a file imports relatively or from tensorrt_llm (candidates for nested
    configs)."""
    package = rel.rsplit("/", 1)[0].split("/")
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module is None and node.level == 0:
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            parts = base + (node.module.split(".") if node.module else [])
        elif node.module and node.module.startswith("tensorrt_llm"):
            parts = node.module.split(".")
        else:
            continue
        out.append("/".join(parts) + ".py")
        out.append("/".join(parts) + "/__init__.py")
    return out


# --------------------------------------------------------------------------------------------- types


@dataclass
class TypeSpec:
    kind: str = "any"
    nullable: bool = False
    choices: list[Any] | None = None
    items: str | None = None
    item_choices: list[Any] | None = None
    model: str | None = None
    union_members: list[str] | None = None
    type_name: str | None = None
    bounds: dict[str, Any] = field(default_factory=dict)  # pydantic constrained types (PositiveInt: gt 0)


_SCALARS = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str": "str",
    "Path": "str",
    "bytes": "str",
    "StrictInt": "int",
    "StrictFloat": "float",
    "StrictBool": "bool",
    "StrictStr": "str",
}
_CONSTRAINED = {
    "PositiveInt": ("int", {"gt": 0}),
    "NonNegativeInt": ("int", {"ge": 0}),
    "NegativeInt": ("int", {"lt": 0}),
    "NonPositiveInt": ("int", {"le": 0}),
    "PositiveFloat": ("float", {"gt": 0}),
    "NonNegativeFloat": ("float", {"ge": 0}),
}
_LISTS = {"List", "list", "Tuple", "tuple", "Set", "set", "Sequence", "FrozenSet"}
_DICTS = {"Dict", "dict", "Mapping", "MutableMapping"}


def _type_of(node: ast.AST | None, mod: Module, _depth: int = 0) -> TypeSpec:
    if node is None or _depth > 12:
        return TypeSpec()
    if isinstance(node, ast.Constant):
        if node.value is None:
            return TypeSpec(kind="none", nullable=True)
        if isinstance(node.value, str):  # forward reference
            try:
                return _type_of(ast.parse(node.value, mode="eval").body, mod, _depth + 1)
            except SyntaxError:
                return TypeSpec()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_flatten_or(node)], mod, _depth)
    if isinstance(node, ast.Subscript):
        head = _name(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            inner = _type_of(args[0], mod, _depth + 1)
            inner.nullable = True
            return inner
        if head == "Union":
            return _union([args], mod, _depth)
        if head == "Literal":
            values = [_const(a, {"enums": mod.enums}) for a in args]
            values = [v for v in values if v is not _UNEVALUABLE]
            nullable = None in values
            values = [v for v in values if v is not None]
            kinds = {type(v).__name__ for v in values}
            kind = kinds.pop() if len(kinds) == 1 else "any"
            return TypeSpec(kind=_SCALARS.get(kind, kind), nullable=nullable, choices=values)
        if head == "Annotated":
            return _type_of(args[0], mod, _depth + 1)
        if head == "ClassVar":
            return TypeSpec(kind="classvar")
        if head in _LISTS:
            item = _type_of(args[0], mod, _depth + 1) if args else TypeSpec()
            return TypeSpec(
                kind="list", items=item.kind if item.kind != "any" else None, item_choices=item.choices
            )
        if head in _DICTS:
            value = _type_of(args[-1], mod, _depth + 1) if len(args) == 2 else TypeSpec()
            return TypeSpec(kind="dict", items=value.kind if value.kind in _SCALARS.values() else None)
        return TypeSpec(type_name=head)
    name = _name(node)
    if name is None:
        return TypeSpec()
    if name in _SCALARS:
        return TypeSpec(kind=_SCALARS[name])
    if name in _CONSTRAINED:
        kind, bounds = _CONSTRAINED[name]
        return TypeSpec(kind=kind, bounds=dict(bounds))
    if name in _LISTS:
        return TypeSpec(kind="list")
    if name in _DICTS:
        return TypeSpec(kind="dict")
    if name in mod.aliases:
        spec = _type_of(mod.aliases[name], mod, _depth + 1)
        if spec.kind == "union" and spec.model is None:
            spec.model = name
        return spec
    if name in mod.enums:
        members = mod.enums[name]
        values = list(members.values())
        kind = "str" if all(isinstance(v, str) for v in values) else "any"
        return TypeSpec(kind=kind, choices=values, type_name=name)
    if mod.is_model(name):
        return TypeSpec(kind="model", model=name)
    return TypeSpec(type_name=name)  # a Python object type (tokenizer, callable, binding): not YAML-typed


def _flatten_or(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flatten_or(node.left) + _flatten_or(node.right)
    return [node]


def _union(arg_lists: list[list[ast.AST]], mod: Module, depth: int) -> TypeSpec:
    members = [_type_of(a, mod, depth + 1) for a in arg_lists[0]]
    nullable = any(m.nullable for m in members)
    real = [m for m in members if m.kind != "none"]
    if not real:
        return TypeSpec(kind="none", nullable=True)
    if len(real) == 1:
        only = real[0]
        only.nullable = only.nullable or nullable
        return only
    if all(m.kind == "model" for m in real):
        return TypeSpec(kind="union", nullable=nullable, union_members=[m.model for m in real if m.model])
    kinds = {m.kind for m in real}
    if kinds <= {"int", "float"}:
        return TypeSpec(kind="float", nullable=nullable)
    if kinds == {"str"} or (kinds <= {"str", "any"} and any(m.type_name == "Path" for m in real)):
        return TypeSpec(kind="str", nullable=nullable)
    if len(kinds) == 1:
        merged = real[0]
        merged.nullable = nullable
        return merged
    return TypeSpec(kind="any", nullable=nullable)


# --------------------------------------------------------------------------------------------- fields


_FIELD_CALLS = {"Field", "PydanticField", "field"}


def _field_spec(stmt: ast.AnnAssign, mod: Module) -> dict[str, Any] | None:
    """One pydantic/dataclass field as a spec entry, or None for ClassVar/private names."""
    name = stmt.target.id if isinstance(stmt.target, ast.Name) else None
    if name is None or name.startswith("_") or name == "model_config":
        return None
    t = _type_of(stmt.annotation, mod)
    if t.kind == "classvar":
        return None
    entry: dict[str, Any] = {"name": name, "kind": t.kind if t.kind != "none" else "any"}
    value = stmt.value
    kwargs: dict[str, ast.AST] = {}
    default_node: ast.AST | None = value
    has_default = value is not None
    if isinstance(value, ast.Call) and _name(value.func) in _FIELD_CALLS:
        kwargs = _kwargs(value)
        if value.args:
            default_node = value.args[0]
        elif "default" in kwargs:
            default_node = kwargs["default"]
        else:
            default_node = None
        has_default = default_node is not None or "default_factory" in kwargs
        if isinstance(default_node, ast.Constant) and default_node.value is Ellipsis:
            has_default = False
            default_node = None
    if isinstance(value, ast.Call) and _name(value.func) == "PrivateAttr":
        return None
    default = None
    if "default_factory" in kwargs:
        entry["default_factory"] = ast.unparse(kwargs["default_factory"])
        default = _factory_default(kwargs["default_factory"], mod)
    elif default_node is not None:
        evaluated = _const(default_node, {"enums": mod.enums})
        if evaluated is _UNEVALUABLE:
            entry["default_expr"] = ast.unparse(default_node)
        else:
            default = evaluated
    entry["default"] = _jsonable(default)
    if not has_default:
        entry["required"] = True
    if t.nullable:  # pydantic rejects an explicit null unless the annotation allows None
        entry["nullable"] = True
    if t.choices is not None:
        entry["choices"] = _jsonable(t.choices)
    if t.kind == "list" and t.items:
        entry["items"] = t.items
        if t.item_choices is not None:
            entry["choices"] = _jsonable(t.item_choices)
    if t.kind == "dict" and t.items:
        entry["items"] = t.items
    if t.kind in ("model", "union"):
        entry["model"] = t.model
        if t.union_members:
            entry["union_members"] = t.union_members
    if t.kind == "any" and t.type_name:
        entry["python_type"] = t.type_name
    entry.update(t.bounds)
    for bound in ("ge", "le", "gt", "lt", "min_length", "max_length"):
        if bound in kwargs:
            v = _const(kwargs[bound])
            if v is not _UNEVALUABLE:
                entry[bound] = v
    if "status" in kwargs:
        entry["status"] = _const(kwargs["status"])
    extra = kwargs.get("json_schema_extra")
    if isinstance(extra, ast.Dict):
        for k, v in zip(extra.keys, extra.values, strict=False):
            if _const(k) == "status" and _const(v) is not _UNEVALUABLE:
                entry["status"] = _const(v)
    if _const(kwargs.get("exclude")) is True:
        entry["internal"] = True
    aliases = _aliases(name, kwargs)
    if aliases:
        entry["aliases"] = aliases
    desc = _joined_str(kwargs.get("description")) or (
        _joined_str(_kwargs(kwargs["metadata"]).get("help"))
        if isinstance(kwargs.get("metadata"), ast.Call)
        else ""
    )
    if not desc and isinstance(kwargs.get("metadata"), ast.Dict):
        md = kwargs["metadata"]
        for k, v in zip(md.keys, md.values, strict=False):
            if _const(k) == "help":
                desc = _joined_str(v)
    entry["description"] = _docline(desc)
    return entry


def _aliases(name: str, kwargs: dict[str, ast.AST]) -> list[str]:
    out: list[str] = []
    for key in ("alias", "validation_alias"):
        node = kwargs.get(key)
        if node is None:
            continue
        if isinstance(node, ast.Call) and _name(node.func) == "AliasChoices":
            out += [a for a in (_const(x) for x in node.args) if isinstance(a, str)]
        elif isinstance(_const(node), str):
            out.append(_const(node))
    return sorted({a for a in out if a != name})


def _factory_default(node: ast.AST, mod: Module) -> Any:
    """What default_factory produces, where the source says it plainly (list -> [], KvCacheConfig -> {})."""
    if isinstance(node, ast.Lambda):
        value = _const(node.body, {"enums": mod.enums})
        if value is not _UNEVALUABLE:
            return value
        if isinstance(node.body, ast.Call) and _name(node.body.func) and mod.is_model(_name(node.body.func)):
            return {}
        return None
    name = _name(node)
    if name in ("list", "List"):
        return []
    if name in ("dict", "Dict"):
        return {}
    if name and mod.is_model(name):
        return {}
    return None


def _class_fields(info: ClassInfo, mod: Module) -> list[dict[str, Any]]:
    out = []
    for stmt in info.node.body:
        if isinstance(stmt, ast.AnnAssign):
            entry = _field_spec(stmt, mod)
            if entry is not None:
                out.append(entry)
    return out


def _class_extra(name: str, mod: Module) -> str | None:
    """pydantic `extra` setting (forbid/ignore/allow) from model_config or class Config, inherited."""
    for cls in reversed(mod.mro(name) or [name]):
        info = mod.classes.get(cls)
        if info is None:
            continue
        for stmt in info.node.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(
                _name(t) == "model_config"
                for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
            ):
                extra = None
                if isinstance(stmt.value, ast.Call):  # ConfigDict(extra="forbid", ...)
                    extra = _const(_kwargs(stmt.value).get("extra"))
                elif isinstance(stmt.value, ast.Dict):  # {"extra": "forbid", ...}
                    for k, v in zip(stmt.value.keys, stmt.value.values, strict=False):
                        if k is not None and _const(k) == "extra":
                            extra = _const(v)
                if isinstance(extra, str):
                    return extra
            if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
                for inner in stmt.body:
                    if isinstance(inner, ast.Assign) and any(_name(t) == "extra" for t in inner.targets):
                        extra = _const(inner.value)
                        if isinstance(extra, str):
                            return extra
    for base in mod.classes[name].bases if name in mod.classes else []:
        if base in mod.classes:
            inherited = _class_extra(base, mod)
            if inherited:
                return inherited
    return None


# --------------------------------------------------------------------------------------------- unions


def _class_attr(cls: str, attr: str, mod: Module) -> Any:
    """A class-level constant (ClassVar or Literal-typed default) looked up through the bases."""
    for name in reversed(mod.mro(cls) or [cls]):
        info = mod.classes.get(name)
        if info is None:
            continue
        for stmt in info.node.body:
            target = None
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                target, value = stmt.target.id, stmt.value
                if value is not None and target == attr:
                    v = _const(value)
                    if isinstance(value, ast.Call) and _name(value.func) in _FIELD_CALLS:
                        kw = _kwargs(value)
                        v = _const(value.args[0] if value.args else kw.get("default"))
                    if v is not _UNEVALUABLE:
                        return v
                    t = _type_of(stmt.annotation, mod)
                    if t.choices and len(t.choices) == 1:
                        return t.choices[0]
                elif value is None and target == attr:
                    t = _type_of(stmt.annotation, mod)
                    if t.choices and len(t.choices) == 1:
                        return t.choices[0]
            elif isinstance(stmt, ast.Assign):
                for t_node in stmt.targets:
                    if isinstance(t_node, ast.Name) and t_node.id == attr:
                        v = _const(stmt.value)
                        if v is not _UNEVALUABLE:
                            return v
    return None


def _method(cls: str, method: str, mod: Module) -> ast.FunctionDef | None:
    for name in reversed(mod.mro(cls) or [cls]):
        info = mod.classes.get(name)
        if info is None:
            continue
        for stmt in info.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == method:
                return stmt
    return None


def _supported_backends(cls: str, mod: Module) -> list[str] | None:
    """Backends a config class accepts, from its supports_backend(); None where the source is not plain."""
    fn = _method(cls, "supports_backend", mod)
    if fn is None:
        return list(BACKENDS)
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    if len(returns) != 1 or returns[0].value is None:
        return None
    arg = fn.args.args[-1].arg if fn.args.args else "backend"
    result = _eval_backend_expr(returns[0].value, arg)
    return sorted(result) if result is not None else None


def _eval_backend_expr(node: ast.AST, arg: str) -> set[str] | None:
    everything = set(BACKENDS)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return everything if node.value else set()
    if isinstance(node, ast.BoolOp):
        parts = [_eval_backend_expr(v, arg) for v in node.values]
        if any(p is None for p in parts):
            return None
        out = set(parts[0])
        for p in parts[1:]:
            out = out | p if isinstance(node.op, ast.Or) else out & p
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _eval_backend_expr(node.operand, arg)
        return None if inner is None else everything - inner
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and _name(node.left) == arg:
        values = _const(node.comparators[0])
        if values is _UNEVALUABLE:
            return None
        values = set(values) if isinstance(values, (list, tuple, set)) else {values}
        op = node.ops[0]
        if isinstance(op, (ast.Eq, ast.In)):
            return everything & values
        if isinstance(op, (ast.NotEq, ast.NotIn)):
            return everything - values
    return None


def _dispatch_table(cls: str, mod: Module) -> dict[str, str]:
    """tag -> class of a from_dict() dispatch dict (e.g. {'MTP': MTPDecodingConfig, ...})."""
    fn = _method(cls, "from_dict", mod)
    table: dict[str, str] = {}
    if fn is None:
        return table
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict) and node.keys and all(isinstance(k, ast.Constant) for k in node.keys):
            values = [_name(v) for v in node.values]
            if all(v and v in mod.classes for v in values):
                table.update({str(_const(k)): v for k, v in zip(node.keys, values, strict=False)})
    return table


def _union_spec(name: str, members: list[str], mod: Module) -> dict[str, Any]:
    """A tagged union (speculative_config, sparse_attention_config): discriminator, base fields, variants."""
    discriminator = None
    for candidate in ("decoding_type", "algorithm", "type"):
        if all(_class_attr(m, candidate, mod) is not None for m in members):
            discriminator = candidate
            break
    common_bases = [set(mod.mro(m)[:-1]) for m in members]
    shared = set.intersection(*common_bases) if common_bases else set()
    base_order = [b for b in mod.mro(members[0])[:-1] if b in shared] if members else []
    base_fields: dict[str, dict[str, Any]] = {}
    for b in base_order:
        for f in _class_fields(mod.classes[b], mod):
            base_fields[f["name"]] = f
    base_fields.pop(discriminator or "", None)
    dispatch: dict[str, str] = {}
    for b in base_order:
        dispatch.update(_dispatch_table(b, mod))
    variants: dict[str, Any] = {}
    for m in members:
        class_tag = _class_attr(m, discriminator, mod) if discriminator else m
        fields: dict[str, dict[str, Any]] = {}
        for cls in mod.mro(m):
            if cls in shared:
                continue
            for f in _class_fields(mod.classes[cls], mod):
                fields[f["name"]] = f
        fields.pop(discriminator or "", None)
        variant: dict[str, Any] = {
            "class": m,
            "class_tag": class_tag,
            "backends": _supported_backends(m, mod),
            "fields": list(fields.values()),
        }
        # With a from_dict() dispatch table, YAML reaches a class only through its keys, which need not
        # equal the class's own tag (e.g. "DraftTarget" -> DraftTargetDecodingConfig, tag "Draft_Target").
        keys = [k for k, cls in dispatch.items() if cls == m] if dispatch else [str(class_tag)]
        for key in keys:
            variants[key] = {**variant, "from_dict": True} if dispatch else variant
        if dispatch and not keys:
            variants[str(class_tag)] = {**variant, "from_dict": False}
    return {
        "discriminator": discriminator,
        "base_fields": list(base_fields.values()),
        "variants": variants,
        "dispatch": dispatch or None,
    }


# --------------------------------------------------------------------------------------------- LLM API


TOP_LEVEL = {"pytorch": "TorchLlmArgs", "tensorrt": "TrtLlmArgs"}


def extract_llm_api(source: Path) -> tuple[dict[str, Any], list[str]]:
    """LLM-API spec from llm_args.py and the modules it imports config classes from."""
    rel_paths = [LLM_ARGS]
    tree = _parse(source / LLM_ARGS, LLM_ARGS)
    for rel in _imported_modules(tree, LLM_ARGS):
        if (source / rel).is_file() and rel not in rel_paths:
            rel_paths.append(rel)
    mod, read = _load_modules(source, rel_paths)
    # llm_args.py last so its own definitions win over same-named imports
    mod.add(tree, LLM_ARGS)
    top_level: dict[str, list[str]] = {}
    for backend, cls in TOP_LEVEL.items():
        if cls in mod.classes:
            top_level[backend] = mod.mro(cls)
    if not top_level:
        raise ExtractError(f"{LLM_ARGS}: neither TorchLlmArgs nor TrtLlmArgs is defined")
    classes: dict[str, list[dict[str, Any]]] = {}
    unions: dict[str, Any] = {}
    todo = [c for chain in top_level.values() for c in chain]
    while todo:
        cls = todo.pop(0)
        if cls in classes or cls not in mod.classes:
            continue
        fields = _class_fields(mod.classes[cls], mod)
        classes[cls] = fields
        for f in fields:
            if f["kind"] == "model" and f.get("model"):
                todo += mod.mro(f["model"])
            elif f["kind"] == "union":
                members = f.get("union_members") or []
                uname = f.get("model") or f"{f['name']}_union"
                f["model"] = uname
                if uname not in unions and members:
                    unions[uname] = _union_spec(uname, members, mod)
                    for variant in unions[uname]["variants"].values():
                        for vf in variant["fields"]:
                            if vf["kind"] == "model" and vf.get("model"):
                                todo += mod.mro(vf["model"])
    spec = {
        "schema_version": 2,
        "top_level": top_level,
        "classes": {c: classes[c] for c in classes},
        # a nested model's fields are those of its whole chain of bases (base-most first)
        "class_bases": {c: mod.mro(c) for c in classes},
        "unions": unions,
        "extra": {c: _class_extra(c, mod) for c in classes},
    }
    return spec, read


# --------------------------------------------------------------------------------------------- trtllm-build


def _build_config_defaults(source: Path) -> tuple[dict[str, Any], list[str]]:
    for rel in (BUILDER_PY, "tensorrt_llm/llmapi/build_config.py"):
        if (source / rel).is_file():
            mod, read = _load_modules(source, [rel])
            info = mod.classes.get("BuildConfig")
            if info is None:
                continue
            return {f["name"]: f["default"] for f in _class_fields(info, mod)}, read
    return {}, []


def _choice_values(node: ast.AST, source: Path, read: list[str]) -> tuple[list[Any] | None, str | None]:
    """choices=[...] literal, or `<dict>.keys()` resolved from the file that defines the dict."""
    value = _const(node)
    if value is not _UNEVALUABLE:
        return list(value), None
    ref = ast.unparse(node)
    target = node
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr == "keys":
        target = target.func.value
    elif isinstance(target, ast.Call) and _name(target.func) in ("list", "tuple", "sorted") and target.args:
        inner = target.args[0]
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Attribute)
            and inner.func.attr == "keys"
        ):
            target = inner.func.value
    name = _name(target)
    for rel in CHOICE_HELPERS.get(name or "", []):
        path = source / rel
        if not path.is_file():
            continue
        tree = _parse(path, rel)
        for n in ast.walk(tree):
            if isinstance(n, (ast.Assign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(_name(t) == name for t in targets) and isinstance(n.value, ast.Dict):
                    keys = [_const(k) for k in n.value.keys]
                    if all(isinstance(k, str) for k in keys):
                        read.append(rel)
                        return keys, ref
    return None, ref


def _enum_choices(type_node: ast.AST, source: Path, read: list[str]) -> tuple[list[str] | None, str]:
    """Choices of `type=enum_type(X)` / `type=X.from_string`: X's member names, lower-cased."""
    enum_name = None
    if isinstance(type_node, ast.Call) and type_node.args:
        enum_name = _name(type_node.args[0])
    elif isinstance(type_node, ast.Attribute):
        enum_name = _name(type_node.value)
    ref = ast.unparse(type_node)
    for rel in CHOICE_HELPERS.get(enum_name or "", []):
        if (source / rel).is_file():
            mod, got = _load_modules(source, [rel])
            if enum_name in mod.enums:
                read += got
                return [m.lower() for m in mod.enums[enum_name]], ref
    return None, ref


def _default_of(node: ast.AST | None, build_defaults: dict[str, Any]) -> tuple[Any, str | None, bool]:
    """(default, default_from, suppressed) of an add_argument default= expression."""
    if node is None:
        return None, None, False
    text = ast.unparse(node)
    if text == "argparse.SUPPRESS":
        return None, None, True
    value = _const(node)
    if value is not _UNEVALUABLE:
        return _jsonable(value), None, False
    m = re.fullmatch(r"BuildConfig(?:\(\))?\.(?:model_fields\[['\"](\w+)['\"]\]\.default|(\w+))", text)
    if m:
        key = m.group(1) or m.group(2)
        if key in build_defaults:
            return build_defaults[key], f"BuildConfig.{key}", False
        return None, f"BuildConfig.{key} (not found in builder.py)", False
    return None, text, False


def _argparse_options(source: Path, build_defaults: dict[str, Any], read: list[str]) -> list[dict[str, Any]]:
    tree = _parse(source / BUILD_PY, BUILD_PY)
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "parse_arguments"), None
    )
    if fn is None:
        raise ExtractError(f"{BUILD_PY}: no parse_arguments() function")
    groups: dict[str, str] = {}
    options: list[dict[str, Any]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument_group":
                title = _const(call.args[0]) if call.args else None
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        groups[t.id] = str(title) if isinstance(title, str) else t.id
    calls = sorted(
        (
            n
            for n in ast.walk(fn)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_argument"
        ),
        key=lambda c: (c.lineno, c.col_offset),
    )
    for call in calls:
        names = [_const(a) for a in call.args]
        names = [n for n in names if isinstance(n, str)]
        if not names or not names[0].startswith("--"):
            continue
        kw = _kwargs(call)
        owner = _name(call.func.value) or "parser"
        default, default_from, suppressed = _default_of(kw.get("default"), build_defaults)
        action = _const(kw.get("action")) if "action" in kw else "store"
        option: dict[str, Any] = {
            "name": names[0],
            "aliases": names[1:],
            "dest": _const(kw["dest"]) if "dest" in kw else names[0].lstrip("-").replace("-", "_"),
            "type": "str",
            "action": action,
            "nargs": _const(kw["nargs"]) if "nargs" in kw else None,
            "default": default,
            "choices": None,
            "group": groups.get(owner, "general"),
            "help": _docline(_joined_str(kw.get("help"))),
            "source": "build.py",
        }
        if default_from:
            option["default_from"] = default_from
        if suppressed:
            option["suppress_default"] = True
        if action in ("store_true", "store_false"):
            option["type"] = "bool"
            if default is None:
                option["default"] = action == "store_false"
        elif "type" in kw:
            tname = _name(kw["type"])
            if tname in ("int", "float", "str"):
                option["type"] = tname
            else:
                choices, ref = _enum_choices(kw["type"], source, read)
                option["type"] = "enum"
                option["choices"] = choices
                option["choices_case_insensitive"] = True
                option["choices_ref"] = ref
        if "choices" in kw:
            choices, ref = _choice_values(kw["choices"], source, read)
            option["choices"] = choices
            if ref:
                option["choices_ref"] = ref
        if "deprecated" in option["help"].lower():
            option["deprecated"] = True
        options.append(option)
    calls_plugin = any(
        isinstance(n, ast.Call) and _name(n.func) == "add_plugin_argument" for n in ast.walk(fn)
    )
    if calls_plugin:
        options += _plugin_options(source, read)
    return options


def _plugin_options(source: Path, read: list[str]) -> list[dict[str, Any]]:
    """The flags add_plugin_argument() generates from PluginConfig (dataclass or pydantic era)."""
    if not (source / PLUGIN_PY).is_file():
        raise ExtractError(f"build.py calls add_plugin_argument but {PLUGIN_PY} is missing from the source")
    mod, got = _load_modules(source, [PLUGIN_PY])
    read += got
    cli = _const(mod.constants.get("cli_plugin_args"))
    if cli is _UNEVALUABLE or not isinstance(cli, list):
        raise ExtractError(f"{PLUGIN_PY}: cli_plugin_args is not a plain list")
    info = mod.classes.get("PluginConfig")
    if info is None:
        raise ExtractError(f"{PLUGIN_PY}: no PluginConfig class")
    default_dtypes = _const(mod.constants.get("DEFAULT_PLUGIN_DTYPE_OPTIONS"))
    dtype_map_node = mod.constants.get("PLUGIN_DTYPE_OPTIONS_MAP")
    dtype_map = {}
    if isinstance(dtype_map_node, ast.Dict):
        for k, v in zip(dtype_map_node.keys, dtype_map_node.values, strict=False):
            val = _const(v)
            if val is _UNEVALUABLE and _name(v) in mod.constants:
                val = _const(mod.constants[_name(v)])
            dtype_map[_const(k)] = val
    out = []
    for stmt in info.node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        raw = stmt.target.id
        name = raw.lstrip("_")
        if name not in cli:
            continue
        value = stmt.value
        kwargs = _kwargs(value) if isinstance(value, ast.Call) else {}
        default_node = (
            (value.args[0] if value.args else kwargs.get("default")) if isinstance(value, ast.Call) else value
        )
        default = _const(default_node) if default_node is not None else None
        default = None if default is _UNEVALUABLE else default
        help_text = _joined_str(kwargs.get("description"))
        if not help_text and isinstance(kwargs.get("metadata"), ast.Dict):
            md = kwargs["metadata"]
            for k, v in zip(md.keys, md.values, strict=False):
                if _const(k) == "help":
                    help_text = _joined_str(v)
        t = _type_of(stmt.annotation, mod)
        option = {
            "name": "--" + name,
            "aliases": [],
            "dest": name,
            "type": "str",
            "action": "store",
            "nargs": None,
            "default": None,
            "choices": None,
            "group": "plugin",
            "help": _docline(help_text) or f"Whether to enable/disable {name}.",
            "source": "plugin.py",
        }
        ann = ast.unparse(stmt.annotation)
        if t.choices is not None:  # pydantic era: Optional[Literal[...]] (None -> "disable")
            choices = list(t.choices) + ([None] if t.nullable else [])
            option["choices"] = [c if c else "disable" for c in choices]
            option["default"] = default if name == "gemm_plugin" else (default if default else "disable")
        elif ann in ("str", "Optional[str]"):  # dataclass era: dtype options from module tables
            choices = dtype_map.get(name) or default_dtypes
            if isinstance(choices, list):
                option["choices"] = [c if c else "disable" for c in choices]
            option["default"] = default if name == "gemm_plugin" else (default if default else "disable")
        elif ann in ("bool", "Optional[bool]"):
            option["choices"] = ["enable", "disable"]
            option["default"] = "enable" if default else "disable"
        else:
            option["type"] = t.kind if t.kind in ("int", "float") else "str"
            option["default"] = default
        if option["default"] is None and name == "gemm_plugin":
            option["default"] = None
        out.append(option)
    return out


def extract_build_options(source: Path) -> tuple[dict[str, Any], list[str]]:
    if not (source / BUILD_PY).is_file():
        return {
            "schema_version": 2,
            "tool": "trtllm-build",
            "engine_backend": False,
            "why": f"{BUILD_PY} does not exist at this tag: the TensorRT engine backend (trtllm-build) was "
            "removed",
            "options": [],
            "legacy_options": [],
        }, []
    build_defaults, read = _build_config_defaults(source)
    read = [BUILD_PY] + read
    options = _argparse_options(source, build_defaults, read)
    names = [o["name"] for o in options]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ExtractError(f"{BUILD_PY}: options defined twice: {', '.join(dupes)}")
    return {
        "schema_version": 2,
        "tool": "trtllm-build",
        "engine_backend": True,
        "build_config_defaults": _jsonable(build_defaults),
        "options": options,
        "legacy_options": [],
    }, sorted(set(read), key=read.index)


# ------------------------------------------------------------------------------------------- enums, MODEL_MAP


def _enum_list(node: ast.AST | None, enum: str, members: list[str]) -> list[str] | None:
    """Members named by a list/set expression over QuantAlgo (literals, set(QuantAlgo) - {...},
    sorted(...))."""
    if node is None:
        return None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for e in node.elts:
            if isinstance(e, ast.Attribute) and _name(e.value) == enum:
                out.append(e.attr)
            else:
                return None
        return out
    if isinstance(node, ast.Call):
        fn = _name(node.func)
        if fn in ("set", "list", "sorted", "tuple", "frozenset") and node.args:
            if _name(node.args[0]) == enum and isinstance(node.args[0], ast.Name):
                return list(members)
            return _enum_list(node.args[0], enum, members)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        left = _enum_list(node.left, enum, members)
        right = _enum_list(node.right, enum, members)
        if left is None or right is None:
            return None
        return [m for m in left if m not in right]
    if isinstance(node, ast.Name) and node.id == enum:
        return list(members)
    return None


def extract_quant_algos(source: Path) -> tuple[dict[str, Any] | None, list[str]]:
    if not (source / MODE_PY).is_file():
        return None, []
    mod, read = _load_modules(source, [MODE_PY])
    if "QuantAlgo" not in mod.enums:
        raise ExtractError(f"{MODE_PY}: no QuantAlgo enum")
    members = list(mod.enums["QuantAlgo"])
    kv = _enum_list(mod.constants.get("KV_CACHE_QUANT_ALGO_LIST"), "QuantAlgo", members)
    listed = _enum_list(mod.constants.get("QUANT_ALGO_LIST"), "QuantAlgo", members)
    return {
        "schema_version": 2,
        "quant_algo": members,
        "quant_algo_list": listed,
        "kv_cache_quant_algo": kv,
    }, read


def extract_model_map(source: Path) -> tuple[dict[str, Any] | None, list[str]]:
    if not (source / MODELS_INIT).is_file():
        return None, []
    tree = _parse(source / MODELS_INIT, MODELS_INIT)
    keys: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(_name(t) == "MODEL_MAP" for t in node.targets):
            if not isinstance(node.value, ast.Dict):
                raise ExtractError(f"{MODELS_INIT}: MODEL_MAP is not a dict literal")
            for k, v in zip(node.value.keys, node.value.values, strict=False):
                if k is None:  # **other_map
                    continue
                key = _const(k)
                if isinstance(key, str):
                    keys[key] = ast.unparse(v)
        # MODEL_MAP['X'] = Y / MODEL_MAP.update({...}) after the literal
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            sub = node.targets[0]
            if _name(sub.value) == "MODEL_MAP" and isinstance(_const(sub.slice), str):
                keys[_const(sub.slice)] = ast.unparse(node.value)
    if not keys:
        raise ExtractError(f"{MODELS_INIT}: no MODEL_MAP found")
    return {"schema_version": 2, "architectures": sorted(keys), "classes": dict(sorted(keys.items()))}, [
        MODELS_INIT
    ]


# --------------------------------------------------------------------------------------------- driver


def read_version(source: Path) -> str:
    path = source / VERSION_PY
    if not path.is_file():
        raise ExtractError(f"{VERSION_PY} is missing from {source}")
    tree = _parse(path, VERSION_PY)
    found = None
    for node in ast.walk(tree):  # the last plain string assigned to __version__ (1.3 has a C++ fallback)
        if isinstance(node, ast.Assign) and any(_name(t) == "__version__" for t in node.targets):
            value = _const(node.value)
            if isinstance(value, str):
                found = value
    if not found:
        raise ExtractError(f"{VERSION_PY}: no __version__ string")
    return found


def list_files(source: Path | None) -> list[str]:
    paths = REQUIRED + OPTIONAL + sorted({p for ps in CHOICE_HELPERS.values() for p in ps})
    if source is not None and (source / LLM_ARGS).is_file():
        tree = _parse(source / LLM_ARGS, LLM_ARGS)
        paths += [p for p in _imported_modules(tree, LLM_ARGS) if (source / p).is_file() and p not in paths]
    return paths


def _provenance(tag: str, commit: str, paths: list[str], today: str) -> dict[str, Any]:
    return {
        "repo": REPO,
        "tag": tag,
        "commit": commit,
        "paths": paths,
        "extracted_by": EXTRACTED_BY,
        "extracted_on": today,
    }


def extract(source: Path, tag: str, commit: str, out_root: Path, today: str | None = None) -> dict[str, Path]:
    """Write the spec files of one tag under out_root/<version>/; returns {kind: path written}."""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ExtractError(f"--commit must be a 40-hex commit id, got '{commit}'")
    if not source.is_dir():
        raise ExtractError(f"--source {source} is not a directory")
    for rel in REQUIRED:
        if not (source / rel).is_file():
            raise ExtractError(f"{rel} is missing from {source} (see --list-files)")
    version = read_version(source)
    if tag.lstrip("v") != version:
        raise ExtractError(f"--tag {tag} does not match {VERSION_PY} in the source ({version})")
    manifest_path = out_root / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else None
    entry = (manifest or {}).get("versions", {}).get(version)
    if entry and entry.get("commit") and entry["commit"] != commit:
        # the manifest's commit came from other evidence (e.g. a backend's submodule pin): a mismatch needs a
        # person
        raise ExtractError(
            f"--commit {commit[:12]} is not the commit {MANIFEST} records for {version} "
            f"({entry['commit'][:12]}); "
            f"check `git rev-parse {tag}^{{commit}}`, then correct the manifest entry and its commit_evidence"
        )
    today = today or _dt.date.today().isoformat()
    outputs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    llm, read = extract_llm_api(source)
    outputs["llm_api_args"] = (llm, read)
    outputs["trtllm_build_options"] = extract_build_options(source)
    quant, read_q = extract_quant_algos(source)
    if quant is not None:
        outputs["quant_algos"] = (quant, read_q)
    models, read_m = extract_model_map(source)
    if models is not None:
        outputs["model_map"] = (models, read_m)
    target = out_root / version
    target.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind, (data, paths) in outputs.items():
        if kind == "trtllm_build_options" and not data.get("engine_backend", True):
            paths = []
        doc = {"provenance": _provenance(tag, commit, [VERSION_PY, *paths], today), **data}
        path = target / f"{kind}.json"
        tmp = path.with_suffix(".json.tmp")  # never leave a half-written spec
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        written[kind] = path
    if manifest is not None and entry is not None:
        _mark_extracted(manifest, version, tag, commit, manifest_path)
    return written


def _mark_extracted(manifest: dict[str, Any], version: str, tag: str, commit: str, path: Path) -> None:
    """Record in the manifest that `version` now has an extracted spec (no longer interim, nothing
    missing)."""
    entry = manifest["versions"][version]
    if not entry.get("commit"):
        entry["commit"] = commit
        entry["commit_evidence"] = f"git rev-parse {tag}^{{commit}} in the clone the spec was extracted from"
    entry["extracted"] = True
    entry["interim"] = False
    entry.pop("missing", None)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="TensorRT-LLM checkout (or the needed files) at one tag")
    parser.add_argument("--tag", help="release tag checked out in --source, e.g. v1.2.1")
    parser.add_argument("--commit", help="40-hex commit of that tag (git rev-parse HEAD)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output root (default trtforge/data/trtllm)"
    )
    parser.add_argument("--list-files", action="store_true", help="print the repo paths this script reads")
    args = parser.parse_args(argv)
    try:
        if args.list_files:
            print("\n".join(list_files(args.source)))
            return 0
        if not (args.source and args.tag and args.commit):
            raise ExtractError("--source, --tag and --commit are required (or --list-files)")
        written = extract(args.source, args.tag, args.commit, args.out)
    except ExtractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
