"""Load a recipe file: safe YAML with line numbers, `extends:` overlays, `${ENV}` interpolation, validation.

Every problem becomes a `RecipeIssue(file, line, column, path, message)`; the loader never lets a YAML or
pydantic exception escape. Safety limits (size, nesting, alias expansion) keep hostile files from hanging us.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from trtforge import secrets
from trtforge.errors import InvalidInput
from trtforge.recipe.schema import INT32_MAX, Recipe

MAX_BYTES = 1 << 20  # recipes are small; a 50 MB "recipe" is a mistake or an attack
MAX_NODES = 20_000  # after alias expansion (billion-laughs guard)
MAX_DEPTH = 40
MAX_EXTENDS = 8
ENV_RE = re.compile(r"\$\{([^}]*)\}")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class RecipeIssue:
    file: str
    line: int
    column: int
    path: str
    message: str

    def one_line(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


class RecipeInvalid(InvalidInput):
    """One or more problems in a recipe; `issues` holds each with its location."""

    def __init__(self, issues: list[RecipeIssue]) -> None:
        self.issues = issues
        first = issues[0].one_line() if issues else "invalid recipe"
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first + more)


@dataclass
class LoadedRecipe:
    recipe: Recipe
    path: Path
    fingerprint: str  # sha256 of the validated recipe, secrets excluded
    locations: dict[Path_, tuple[str, int, int]] = field(default_factory=dict)


# --------------------------------------------------------------------------- YAML -> data + locations


class _Doc:
    """Converts a composed YAML node graph into plain data, remembering where each value came from."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.locations: dict[Path_, tuple[str, int, int]] = {}
        self.issues: list[RecipeIssue] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def issue(self, node: yaml.Node | None, path: Path_, message: str) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        self.issues.append(RecipeIssue(self.file, line, col, dotted(path), message))

    def to_data(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self.locations[path] = (self.file, node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in self._pairs(node, path):
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    self.issue(key_node, path, "keys must be plain strings")
                    continue
                key = key_node.value
                if key in out:
                    self.issue(key_node, path + (key,), f"duplicate key '{shown(key)}'")
                    continue
                out[key] = self.to_data(value_node, path + (key,))
                # point at the key, not the value, for errors about this entry
                self.locations[path + (key,)] = (
                    self.file,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.to_data(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.issue(node, path, f"bad value: {getattr(exc, 'problem', None) or exc}")
            return None

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> list[tuple[yaml.Node, yaml.Node]]:
        """Mapping entries with YAML merge keys (`<<: *base`) applied; explicit keys win."""
        explicit, merged = [], []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag == "tag:yaml.org,2002:merge":
                sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        merged.extend(self._pairs(src, path))
                    else:
                        self.issue(src, path, "a merge key '<<' must refer to a mapping")
            else:
                explicit.append((k, v))
        keys = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
        return explicit + [
            (k, v) for k, v in merged if not (isinstance(k, yaml.ScalarNode) and k.value in keys)
        ]


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """Node count after alias expansion; aliases share node objects, so memoising keeps this linear."""
    if depth > MAX_DEPTH:
        raise _TooDeep(node.start_mark)
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(
            _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1) for k, v in node.value
        )
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, depth + 1) for v in node.value)
    else:
        size = 1
    memo[key] = min(size, 10 * MAX_NODES)
    return memo[key]


class _Mark(Protocol):  # PyYAML's Mark, or libyaml's
    line: int
    column: int


class _TooDeep(Exception):
    def __init__(self, mark: _Mark | None) -> None:
        self.mark = mark  # where the limit was passed (composed nodes and events always carry one)


def _read_text(path: Path, display: str) -> str:
    def fail(message: str) -> RecipeInvalid:
        return RecipeInvalid([RecipeIssue(display, 1, 1, "", message)])

    try:
        st = path.stat()
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}") from None
    if not path.is_file():
        raise fail("not a regular file")
    if st.st_size > MAX_BYTES:
        raise fail(f"file is {st.st_size / 1e6:.1f} MB; recipes are limited to {MAX_BYTES // 1024} KiB")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}") from None
    if b"\x00" in raw:
        raise fail("binary data (NUL bytes): a recipe is a YAML text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (bad byte at offset {exc.start})") from None


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the composer (which recurses) sees it.

    With libyaml: PyYAML's own scanner keeps a possible simple key per open flow level and rescans them for
    every token, so 1,000 nested `[` cost 0.2 s before the first event; libyaml's scanner takes under a
    millisecond and refuses 1,000 levels itself. A syntax error it reports is left to the composer below,
    whose messages (and locations) are the ones users see.
    """
    depth = 0
    events = yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    try:
        for event in events:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _TooDeep(event.start_mark)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem) and exc.problem_mark is not None:
            raise _TooDeep(exc.problem_mark) from None
        return  # another syntax error: the composer reports it


def parse_yaml(text: str, display: str) -> tuple[Any, dict[Path_, tuple[str, int, int]]]:
    """Parse one YAML document into data + locations; raises RecipeInvalid with a located message."""

    def fail(line: int, col: int, message: str) -> RecipeInvalid:
        return RecipeInvalid([RecipeIssue(display, line, col, "", message)])

    try:
        _check_depth(text)  # the event parser is iterative; the composer recurses, so refuse deep input first
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        line, col = 1, 1
        where = exc.problem_mark or exc.context_mark
        if where is not None:
            line, col = where.line + 1, where.column + 1
        raise fail(line, col, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise fail(1, 1, f"YAML error: {exc}") from None
    except RecursionError:
        raise fail(1, 1, f"nesting is too deep (limit {MAX_DEPTH} levels)") from None
    except _TooDeep as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark is not None else (1, 1)
        raise fail(line, col, f"nesting is too deep (limit {MAX_DEPTH} levels)") from None
    if len(nodes) > 1:
        raise fail(
            nodes[1].start_mark.line + 1, 1, "more than one YAML document ('---'): a recipe is one document"
        )
    if not nodes or nodes[0] is None:
        raise fail(1, 1, "recipe is empty")
    root = nodes[0]
    try:
        size = _expanded_size(root, {})
    except _TooDeep as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark is not None else (1, 1)
        raise fail(line, col, f"nesting is too deep (limit {MAX_DEPTH} levels)") from None
    except RecursionError:
        raise fail(1, 1, f"nesting is too deep (limit {MAX_DEPTH} levels)") from None
    if size > MAX_NODES:
        raise fail(1, 1, f"too many values after expanding YAML aliases (over {MAX_NODES}): alias bomb?")
    doc = _Doc(display)
    data = doc.to_data(root)
    if doc.issues:
        raise RecipeInvalid(doc.issues)
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        raise fail(1, 1, f"a recipe must be a mapping of sections (name, model, target, ...), not a {kind}")
    return data, doc.locations


# --------------------------------------------------------------------------- extends, env


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _load_with_extends(path: Path, display: str, seen: tuple[Path, ...] = ()) -> tuple[dict, dict]:
    data, locs = parse_yaml(_read_text(path, display), display)
    base_ref = data.pop("extends", None)
    if base_ref is None:
        return data, locs
    where = locs.get(("extends",), (display, 1, 1))
    if not isinstance(base_ref, str) or not base_ref.strip():
        raise RecipeInvalid(
            [RecipeIssue(where[0], where[1], where[2], "extends", "must be a path to a base recipe")]
        )
    base_path = (path.parent / base_ref).resolve()
    if base_path in seen or base_path == path.resolve():
        raise RecipeInvalid(
            [RecipeIssue(where[0], where[1], where[2], "extends", f"'{base_ref}' extends itself (a cycle)")]
        )
    if len(seen) >= MAX_EXTENDS:
        raise RecipeInvalid(
            [
                RecipeIssue(
                    where[0], where[1], where[2], "extends", f"more than {MAX_EXTENDS} levels of extends"
                )
            ]
        )
    base_display = os.path.relpath(base_path) if not base_ref.startswith("/") else str(base_path)
    base_data, base_locs = _load_with_extends(base_path, base_display, seen + (path.resolve(),))
    merged = _deep_merge(base_data, data)
    return merged, {**base_locs, **locs}


def _interpolate(data: Any, locs: dict, path: Path_, issues: list[RecipeIssue], env: dict[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _interpolate(v, locs, path + (k,), issues, env) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, locs, path + (i,), issues, env) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def sub(m: re.Match) -> str:
        name, _, default = m.group(1).partition(":-")
        if not ENV_NAME_RE.match(name):
            bad = f"bad environment variable name '${{{shown(m.group(1), 40)}}}'"
            issues.append(_issue_at(locs, path, bad))
            return ""
        if name in env:
            value = env[name]
            if secrets.looks_secret(name) or path[-1:] == ("token",):
                secrets.register(value)
            return value
        if ":-" in m.group(1):
            return default
        issues.append(_issue_at(locs, path, f"environment variable {name} is not set"))
        return ""

    return ENV_RE.sub(sub, data.replace("$${", "\x00")).replace("\x00", "${")


# --------------------------------------------------------------------------- validation errors


def _issue_at(locs: dict, path: Path_, message: str) -> RecipeIssue:
    probe = path
    while probe and probe not in locs:
        probe = probe[:-1]
    file, line, col = locs.get(probe, ("<recipe>", 1, 1))
    return RecipeIssue(file, line, col, dotted(path), secrets.redact(message))


def shown(key: object, limit: int = 60) -> str:
    """A key as it can be shown on one line: control characters escaped, long keys cut."""
    text = str(key)
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{shown(p)}" if out else shown(p))
    return out


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _clean_loc(loc: tuple) -> tuple[Path_, type[BaseModel] | None]:
    """Keep the loc parts that name fields or list indexes; drop pydantic's union-member tags."""
    model: type[BaseModel] | None = Recipe
    annotation: Any = None
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            model = (
                _submodel(get_args(annotation)[0])
                if annotation is not None and get_origin(annotation) in (list,)
                else model
            )
            continue
        if model is not None and part in model.model_fields:
            out.append(part)
            annotation = model.model_fields[part].annotation
            inner = annotation
            while get_origin(inner) is Union and type(None) in get_args(inner):
                inner = next(a for a in get_args(inner) if a is not type(None))
            annotation = inner
            model = _submodel(inner) if get_origin(inner) is not list else None
            continue
        if model is not None and part not in model.model_fields:
            out.append(part)  # an unknown key: keep it so the message can name it
            return tuple(out), model
        break  # a union tag such as "literal['auto']" or "int"
    return tuple(out), model


def _tidy(msg: str) -> str:
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg.replace("Input should be ", "")
    msg = msg.replace(
        f"less than or equal to {INT32_MAX}", f"at most {INT32_MAX} (TensorRT-LLM's int32 SizeType32)"
    )
    msg = re.sub(r"a valid dictionary or instance of \w+", "a mapping (section)", msg)
    # pydantic explains its parse failures after a comma; the expected type is what the user needs
    if msg.startswith("a valid "):
        msg = msg.split(",")[0]
    return msg


def _issues_from_validation(exc: ValidationError, locs: dict) -> list[RecipeIssue]:
    grouped: dict[Path_, list[ErrorDetails]] = {}
    extras: list[tuple[Path_, type[BaseModel] | None]] = []
    for err in exc.errors(include_url=False, include_input=False):
        path, model = _clean_loc(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            extras.append((path, model))
            continue
        grouped.setdefault(path, []).append(err)
    issues: list[RecipeIssue] = []
    for path, model in extras:
        key = shown(path[-1])
        parent = dotted(path[:-1]) or "the recipe"
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(path[-1]), list(model.model_fields), n=1, cutoff=0.6)
            hint = (
                f" (did you mean '{close[0]}'?)"
                if close
                else f" (known keys: {', '.join(model.model_fields)})"
            )
        issues.append(_issue_at(locs, path, f"unknown key '{key}' in {parent}{hint}"))
    for path, errs in grouped.items():
        if any(e["type"] == "missing" for e in errs):
            issues.append(_issue_at(locs, path[:-1], f"missing required key '{shown(path[-1])}'"))
            continue
        parts = list(dict.fromkeys(_tidy(e["msg"]) for e in errs))
        text = " or ".join(parts)
        if len(errs) > 1 or errs[0]["type"] in (
            "literal_error",
            "int_type",
            "int_parsing",
            "bool_type",
            "bool_parsing",
            "string_type",
            "float_type",
            "float_parsing",
            "dict_type",
            "list_type",
            "model_type",
            "greater_than_equal",
            "less_than_equal",
            "greater_than",
            "less_than",
            "int_from_float",
            "model_attributes_type",
        ):
            text = "must be " + text
        text = text.replace("a valid dictionary", "a mapping")
        issues.append(_issue_at(locs, path, text))
    return issues


# --------------------------------------------------------------------------- entry point


def load_recipe(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> LoadedRecipe:
    """Load, interpolate and validate a recipe file. Raises RecipeInvalid (exit 2) listing every problem."""
    p = Path(path)
    display = str(path)
    data, locs = _load_with_extends(p, display)
    issues: list[RecipeIssue] = []
    data = _interpolate(data, locs, (), issues, dict(os.environ) if env is None else env)
    if issues:
        raise RecipeInvalid(issues)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeInvalid(
            _issues_from_validation(exc, locs) or [RecipeIssue(display, 1, 1, "", "invalid recipe")]
        ) from None
    except RecursionError:
        raise RecipeInvalid([RecipeIssue(display, 1, 1, "", "nesting is too deep")]) from None
    if recipe.model.path is not None and not os.path.isabs(recipe.model.path):
        resolved = str((p.parent / recipe.model.path).resolve())
        recipe = recipe.model_copy(update={"model": recipe.model.model_copy(update={"path": resolved})})
    g = recipe.model.gguf
    if (
        g is not None
        and not (g.package or recipe.model.repo)
        and not os.path.isabs(os.path.expanduser(g.file))
    ):
        resolved = str((p.parent / g.file).resolve())  # a local GGUF file: relative to the recipe, like path
        gguf = g.model_copy(update={"file": resolved})
        recipe = recipe.model_copy(update={"model": recipe.model.model_copy(update={"gguf": gguf})})
    return LoadedRecipe(recipe=recipe, path=p, fingerprint=recipe_fingerprint(recipe), locations=locs)


def recipe_fingerprint(recipe: Recipe) -> str:
    """sha256 of the validated recipe with secrets left out (the token never reaches a hash or a lock
    file)."""
    data = recipe.model_dump(mode="json")
    data["model"].pop("token", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
