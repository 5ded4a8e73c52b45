"""`trtforge validate-repo`: offline checks of a model repository, before any server sees it.

Each check targets a failure users hit at load time (NOTES.md / PEERS.md P2, P3, P8, P9, P10, P13): configs
that do not parse or still hold `${...}`, missing model.py / tokenizer / engine / model.yaml, decoupled set on
one model but not the other, batch size above the engine's, world size vs engine mapping, TensorRT-LLM version
vs image tag, parameter keys the backend would silently ignore, and absolute paths from the build machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from trtforge.errors import InvalidInput
from trtforge.triton.models import UTILS_FILE
from trtforge.triton.pb import parse_pbtxt
from trtforge.triton.specs import (
    SpecUnavailable,
    parameter_keys,
    required_parameters,
    source,
    spec_name,
    tensor_names,
)

ABS_PATH = re.compile(r"^/(?:[^/\s]+/)*[^/\s]*$")
BOOL_VALUES = {"true", "false", "True", "False", "TRUE", "FALSE", "1", "0"}
TOKENIZER_MARKERS = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "tiktoken.model",
)


@dataclass(frozen=True)
class Problem:
    path: str  # repository-relative
    message: str

    def one_line(self) -> str:
        return f"{self.path}: {self.message}"

    def to_json(self) -> dict:
        return {"path": self.path, "message": self.message}


class RepositoryInvalid(InvalidInput):
    def __init__(self, repo: Path, problems: list[Problem]) -> None:
        self.problems = problems
        more = (
            f" (+{len(problems) - 1} more; run `trtforge validate-repo {repo}`)" if len(problems) > 1 else ""
        )
        super().__init__(f"model repository {repo} is invalid: {problems[0].one_line()}{more}")


def _param(config, key: str) -> str | None:
    return config.parameters[key].string_value if key in config.parameters else None


class _Checker:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.problems: list[Problem] = []
        self.configs: dict[str, object] = {}
        self.manifest: dict | None = None
        self._spec: str | None | bool = False  # False: not decided yet

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # -- structure -----------------------------------------------------------------------------------------

    def parse_configs(self) -> None:
        from google.protobuf import text_format

        for model_dir in sorted(p for p in self.repo.iterdir() if p.is_dir() and not p.name.startswith(".")):
            rel = f"{model_dir.name}/config.pbtxt"
            path = model_dir / "config.pbtxt"
            if not path.is_file():
                self.add(rel, "missing (Triton would try to load this directory as a model and fail)")
                continue
            text = path.read_text(errors="replace")
            if "${" in text:
                line = next(i for i, ln in enumerate(text.splitlines(), 1) if "${" in ln)
                self.add(rel, f"unfilled placeholder at line {line}: {text.splitlines()[line - 1].strip()}")
            try:
                config = parse_pbtxt(text)
            except text_format.ParseError as exc:
                self.add(rel, f"does not parse as a Triton ModelConfig: {exc}")
                continue
            if config.name and config.name != model_dir.name:
                self.add(rel, f"name {config.name!r} differs from its directory {model_dir.name!r}")
            if not (model_dir / "1").is_dir():
                self.add(f"{model_dir.name}/1", "version directory missing")
            model_py = model_dir / "1" / "model.py"
            if config.backend == "python" and not model_py.is_file():
                self.add(f"{model_dir.name}/1/model.py", "missing (python backend model)")
            elif (
                config.backend == "python"
                and UTILS_FILE.stem in model_py.read_text(errors="replace")
                and not (model_dir / "1" / UTILS_FILE.name).is_file()
            ):
                self.add(f"{model_dir.name}/1/{UTILS_FILE.name}", "missing (model.py imports it)")
            self.configs[model_dir.name] = config

    def read_manifest(self) -> None:
        path = self.repo / "trtforge.json"
        if not path.is_file():
            self.add("trtforge.json", "missing: not written by trtforge (only generic checks were run)")
            return
        try:
            self.manifest = json.loads(path.read_text())
        except ValueError as exc:
            self.add("trtforge.json", f"not valid JSON: {exc}")

    def expected_models(self) -> None:
        if not self.manifest:
            return
        layout = self.manifest.get("layout")
        expected = (
            ["tensorrt_llm"]
            if layout == "llmapi"
            else ["preprocessing", "tensorrt_llm", "postprocessing", "ensemble", "tensorrt_llm_bls"]
        )
        for name in expected:
            if not (self.repo / name).is_dir():
                self.add(name, f"model missing (the {layout} layout needs it)")

    # -- files -----------------------------------------------------------------------------------------------

    def tokenizer(self) -> None:
        for name in ("preprocessing", "postprocessing"):
            config = self.configs.get(name)
            if config is None:
                continue
            tok = _param(config, "tokenizer_dir")
            if not tok:
                self.add(f"{name}/config.pbtxt", "parameter tokenizer_dir is empty")
                continue
            tok_dir = Path(tok) if tok.startswith("/") else self.repo / tok
            if tok.startswith("/"):
                continue  # reported by the absolute-path check; cannot be verified here
            if not tok_dir.is_dir() or not any((tok_dir / m).is_file() for m in TOKENIZER_MARKERS):
                self.add(f"{name}/config.pbtxt", f"tokenizer_dir {tok} holds no tokenizer files")

    def slot(self) -> None:
        config = self.configs.get("tensorrt_llm")
        if config is None:
            return
        if config.backend == "tensorrtllm":
            self.engine(config)
        elif config.backend == "python":
            checkpoint = _param(config, "checkpoint_dir")
            if _param(config, "runtime") and checkpoint and not checkpoint.startswith("/"):
                ck = self.repo / checkpoint
                if not (ck / "config.json").is_file():
                    self.add(
                        f"{checkpoint}/config.json", "missing (the reference runtime loads this checkpoint)"
                    )
                elif not list(ck.glob("*.safetensors")):
                    self.add(checkpoint, "no *.safetensors weights")
            if _param(config, "llm_config"):
                self.llmapi_yaml(config)

    def llmapi_yaml(self, config) -> None:
        import yaml

        rel = f"tensorrt_llm/1/{_param(config, 'llm_config')}"
        path = self.repo / rel
        if not path.is_file():
            self.add(rel, "missing (the LLM-API arguments of the llmapi model)")
            return
        try:
            args = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            self.add(rel, f"not valid YAML: {exc}")
            return
        model = args.get("model") if isinstance(args, dict) else None
        if not model:
            self.add(rel, "no `model:` entry")
        elif not str(model).startswith("/") and not (path.parent / str(model) / "config.json").is_file():
            self.add(rel, f"model {model} (relative to {path.parent.name}/) has no config.json")
        tc = (args.get("triton_config") or {}) if isinstance(args, dict) else {}
        decoupled = config.model_transaction_policy.decoupled
        if "decoupled" in tc and bool(tc["decoupled"]) != decoupled:
            self.add(
                rel, f"triton_config.decoupled {tc['decoupled']} disagrees with config.pbtxt ({decoupled})"
            )

    # -- NVIDIA's contract at the pinned version -----------------------------------------------------------

    def spec(self) -> str | None:
        """The extracted NVIDIA data this repository must follow (None: unknown, or reported as a problem)."""
        if self._spec is not False:
            return self._spec  # type: ignore[return-value]
        settings = (self.manifest or {}).get("settings", {})
        llm = self.configs.get("tensorrt_llm")
        runtime = (
            "tensorrtllm" if llm is not None and llm.backend == "tensorrtllm" else settings.get("runtime")
        )
        self._spec = None
        if runtime is None:
            return None
        try:
            self._spec = spec_name(runtime, str(settings.get("trtllm_version") or ""))
        except SpecUnavailable as exc:
            self.add("trtforge.json", exc.message)
        return self._spec

    def nvidia_contract(self) -> None:
        """Every parameter NVIDIA's code reads without a fallback is present (NVIDIA's C++ backend for an
        engine slot; the python models are drop-in replacements for NVIDIA's, so theirs count too), and every
        public
        input of NVIDIA's ensemble / BLS / llmapi model exists."""
        spec = self.spec()
        if spec is None:
            return
        src = source(spec)
        where = f"{src['repo']}@{src['commit'][:12]}" + (f" ({src['tag']})" if src.get("tag") else "")
        layout = (self.manifest or {}).get("layout")
        for name, config in self.configs.items():
            kind = "llmapi" if layout == "llmapi" and name == "tensorrt_llm" else name
            if kind == "tensorrt_llm" and config.backend != "tensorrtllm":
                continue  # a python model in the engine slot reads none of the C++ backend's parameters
            try:
                required = required_parameters(spec, kind)
            except InvalidInput:
                continue
            for key in required:
                if key not in config.parameters:
                    self.add(
                        f"{name}/config.pbtxt",
                        f"parameter {key!r} missing: NVIDIA's {kind} at {where} reads it without a fallback, "
                        "so the model fails to load (an empty string means unset)",
                    )
            if (
                kind == "tensorrt_llm_bls"
                and config.backend == "python"
                and "routes" not in config.parameters
            ):
                self.add(
                    f"{name}/config.pbtxt", "parameter 'routes' missing (trtforge's BLS routes inputs by it)"
                )
            if kind in ("ensemble", "tensorrt_llm_bls", "llmapi"):
                have = {i.name for i in config.input}
                for tensor in tensor_names(spec, kind, "inputs"):
                    if tensor not in have:
                        self.add(
                            f"{name}/config.pbtxt",
                            f"input {tensor!r} of NVIDIA's {kind} at {where} is missing (clients may send "
                            "it)",
                        )

    def engine(self, config) -> None:
        spec = self.spec()
        known = parameter_keys(spec, "tensorrt_llm") if spec else set(config.parameters)
        for key in config.parameters:
            if key not in known:
                self.add(
                    "tensorrt_llm/config.pbtxt",
                    f"parameter {key!r} is not read by the tensorrtllm backend "
                    "(typo? it would be silently ignored)",
                )
        strategy = _param(config, "gpt_model_type")
        if strategy not in ("inflight_fused_batching", "inflight_batching", "v1"):
            self.add(
                "tensorrt_llm/config.pbtxt",
                f"gpt_model_type {strategy!r} is not one of inflight_fused_batching, inflight_batching, v1",
            )
        for key in (
            "enable_chunked_context",
            "enable_kv_cache_reuse",
            "exclude_input_in_output",
            "normalize_log_probs",
        ):
            value = _param(config, key)
            if value is not None and value not in BOOL_VALUES:
                self.add("tensorrt_llm/config.pbtxt", f"parameter {key} = {value!r} is not a boolean")
        fraction = _param(config, "kv_cache_free_gpu_mem_fraction")
        if fraction is not None:
            try:
                if not 0.0 < float(fraction) <= 1.0:
                    raise ValueError
            except ValueError:
                self.add(
                    "tensorrt_llm/config.pbtxt",
                    f"kv_cache_free_gpu_mem_fraction {fraction!r} is not in (0, 1]",
                )
        for key in ("max_tokens_in_paged_kv_cache", "max_beam_width"):
            value = _param(config, key)
            if value is not None and not value.isdigit():
                self.add("tensorrt_llm/config.pbtxt", f"parameter {key} = {value!r} is not an integer")
        engine_dir = self.repo / "tensorrt_llm" / "1" / "engine"
        engine_cfg_path = engine_dir / "config.json"
        if not engine_cfg_path.is_file():
            self.add(
                "tensorrt_llm/1/engine/config.json", "missing (no TensorRT-LLM engine in the repository)"
            )
            return
        # Here, not at the top: from_plan loads the planner (~160 ms of -X importtime), and the CLI imports
        # this module for every command; only an engine repository needs it.
        from trtforge.triton.from_plan import engine_facts

        try:
            facts = engine_facts(json.loads(engine_cfg_path.read_text()))
        except ValueError as exc:
            self.add("tensorrt_llm/1/engine/config.json", f"not valid JSON: {exc}")
            return
        ranks = sorted(engine_dir.glob("rank*.engine"))
        if len(ranks) != facts["world_size"]:
            self.add(
                "tensorrt_llm/1/engine",
                f"{len(ranks)} rank*.engine file(s) for engine world size {facts['world_size']}",
            )
        if facts["max_batch_size"] and config.max_batch_size > int(facts["max_batch_size"]):
            self.add(
                "tensorrt_llm/config.pbtxt",
                f"max_batch_size {config.max_batch_size} exceeds the engine's "
                f"build_config.max_batch_size {facts['max_batch_size']}",
            )
        settings = (self.manifest or {}).get("settings", {})
        if settings.get("world_size") and int(settings["world_size"]) != facts["world_size"]:
            self.add(
                "trtforge.json",
                f"world_size {settings['world_size']} but the engine mapping says "
                f"{facts['world_size']} (tp {facts['tp']} x pp {facts['pp']})",
            )
        if (
            facts["version"]
            and settings.get("trtllm_version")
            and str(facts["version"]) != settings["trtllm_version"]
        ):
            self.add(
                "tensorrt_llm/1/engine/config.json",
                f"engine built with TensorRT-LLM {facts['version']}, "
                f"repository records {settings['trtllm_version']}",
            )
        root = settings.get("container_model_root", "/models").rstrip("/")
        path = _param(config, "gpt_model_path")
        if path != f"{root}/tensorrt_llm/1/engine":
            self.add(
                "tensorrt_llm/config.pbtxt",
                f"gpt_model_path {path!r} is not the engine inside the repository as mounted at {root}",
            )

    # -- consistency -----------------------------------------------------------------------------------------

    def consistency(self) -> None:
        llm, bls = self.configs.get("tensorrt_llm"), self.configs.get("tensorrt_llm_bls")
        if llm is not None and bls is not None:
            a, b = llm.model_transaction_policy.decoupled, bls.model_transaction_policy.decoupled
            if a != b:
                self.add(
                    "tensorrt_llm_bls/config.pbtxt",
                    f"decoupled {str(b).lower()} but tensorrt_llm has "
                    f"{str(a).lower()}: streaming would fail (P9)",
                )
        settings = (self.manifest or {}).get("settings", {})
        if (
            llm is not None
            and "streaming" in settings
            and llm.model_transaction_policy.decoupled != settings["streaming"]
        ):
            self.add("tensorrt_llm/config.pbtxt", "decoupled disagrees with the recipe's serving.streaming")
        sizes = {
            n: c.max_batch_size
            for n, c in self.configs.items()
            if n in ("preprocessing", "tensorrt_llm", "postprocessing", "ensemble", "tensorrt_llm_bls")
        }
        if len(set(sizes.values())) > 1:
            self.add(
                "ensemble/config.pbtxt",
                "max_batch_size differs between models: "
                + ", ".join(f"{n} {v}" for n, v in sorted(sizes.items())),
            )
        ens = self.configs.get("ensemble")
        if ens is not None:
            self.ensemble(ens)
        if ens is not None and bls is not None:
            # NVIDIA's BLS takes a few more (multimodal, draft tokens) than its ensemble, never fewer.
            missing = {i.name for i in ens.input} - {i.name for i in bls.input}
            if missing:
                self.add("tensorrt_llm_bls/config.pbtxt", f"lacks the ensemble's inputs {sorted(missing)}")
        image, version = settings.get("triton_image"), settings.get("trtllm_version")
        lock = self.lock_version()
        if lock and version and lock != version:
            self.add(
                "trtforge.lock.json", f"TensorRT-LLM {lock} in the lock file, {version} in trtforge.json"
            )
        if image and (lock or version) and settings.get("runtime") != "reference":
            # Here, not at the top: toolchain.versions reads its data tables on import (~12 ms), which the
            # commands that import this module for other checks do not need.
            from trtforge.toolchain.versions import check_image_matches

            try:
                check_image_matches(image, lock or version)
            except InvalidInput as exc:
                self.add("trtforge.json", exc.message)

    def lock_version(self) -> str | None:
        """TensorRT-LLM version in the build's lock file: inside the repository, or next to it (the build
        output directory, where `trtforge build` publishes it)."""
        for path, rel in (
            (self.repo / "trtforge.lock.json", "trtforge.lock.json"),
            (self.repo.parent / "trtforge.lock.json", "../trtforge.lock.json"),
        ):
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_text())
            except ValueError:
                self.add(rel, "not valid JSON")
                return None
            version = (
                ((data.get("plan") or {}).get("toolchain") or {}).get("trtllm_version")
                if isinstance(data, dict)
                else None
            )
            if version is None:
                found = re.search(r'"trtllm_version"\s*:\s*"([^"]+)"', json.dumps(data))
                version = found.group(1) if found else None
            return version
        return None

    def ensemble(self, ens) -> None:
        public_in = {i.name for i in ens.input}
        public_out = {o.name for o in ens.output}
        produced: set[str] = set()
        consumed: set[str] = set()
        for step in ens.ensemble_scheduling.step:
            model = self.configs.get(step.model_name)
            if model is None:
                self.add("ensemble/config.pbtxt", f"step model {step.model_name!r} is not in the repository")
                continue
            m_in, m_out = {i.name for i in model.input}, {o.name for o in model.output}
            for key, value in step.input_map.items():
                if key not in m_in:
                    self.add("ensemble/config.pbtxt", f"{step.model_name} has no input {key!r}")
                if value not in public_in and value not in produced:
                    self.add(
                        "ensemble/config.pbtxt",
                        f"{step.model_name}.{key} reads {value!r}, which nothing provides",
                    )
                consumed.add(value)
            for key, value in step.output_map.items():
                if key not in m_out:
                    self.add("ensemble/config.pbtxt", f"{step.model_name} has no output {key!r}")
                produced.add(value)
        for name in sorted(public_out - produced):
            self.add("ensemble/config.pbtxt", f"output {name!r} is produced by no step")
        required = {i.name for i in ens.input if not i.optional}
        for name in sorted(required - consumed):
            self.add("ensemble/config.pbtxt", f"required input {name!r} is used by no step")

    # -- portability -----------------------------------------------------------------------------------------

    def portability(self) -> None:
        root = ((self.manifest or {}).get("settings", {}).get("container_model_root") or "/models").rstrip(
            "/"
        )
        for name, config in self.configs.items():
            for key, value in config.parameters.items():
                text = value.string_value
                if (
                    text.startswith("/")
                    and ABS_PATH.match(text)
                    and not (text == root or text.startswith(root + "/"))
                ):
                    self.add(
                        f"{name}/config.pbtxt",
                        f"parameter {key} is an absolute path outside the mount point "
                        f"{root}: {text} (a build-machine path breaks on the server)",
                    )
        for path in self.repo.rglob("*"):
            if path.is_symlink():
                target = path.resolve()
                if not str(target).startswith(str(self.repo.resolve()) + "/"):
                    self.add(str(path.relative_to(self.repo)), f"symlink to {target}, outside the repository")


def validate_repository(repo: Path) -> list[Problem]:
    """Every problem found, in a stable order; [] means the repository is fit to serve."""
    repo = Path(repo)
    if not repo.is_dir():
        return [Problem(str(repo), "not a directory")]
    checker = _Checker(repo)
    checker.read_manifest()
    checker.parse_configs()
    if not checker.configs:
        checker.add(".", "no models (no */config.pbtxt)")
        return checker.problems
    checker.expected_models()
    checker.tokenizer()
    checker.slot()
    checker.nvidia_contract()
    checker.consistency()
    checker.portability()
    return checker.problems


def raise_if_invalid(repo: Path) -> None:
    problems = validate_repository(repo)
    if problems:
        raise RepositoryInvalid(repo, problems)
