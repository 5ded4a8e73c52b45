"""scripts/extract_trtllm_spec.py on small synthetic TensorRT-LLM-shaped sources written here.

The snippets copy the *shapes* NVIDIA's files use (pydantic Field with a status keyword, Literal choices,
TypeAlias unions of decoding configs with ClassVar tags, supports_backend(), from_dict dispatch, argparse
defaults read from BuildConfig, PluginConfig flags from cli_plugin_args), with values chosen here, so every
assertion below can only pass if the parser reads the source — none of these values exist in trtforge's data.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from trtforge.errors import InvalidInput
from trtforge.toolchain import data, spec

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "extract_trtllm_spec.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

_spec = importlib.util.spec_from_file_location("extract_trtllm_spec", SCRIPT)
extractor = importlib.util.module_from_spec(_spec)
sys.modules["extract_trtllm_spec"] = extractor
_spec.loader.exec_module(extractor)

LLM_ARGS = """
from pathlib import Path
from typing import ClassVar, Dict, List, Literal, Optional, TypeAlias, Union
from pydantic import AliasChoices, BaseModel, NonNegativeInt, PositiveInt, PrivateAttr
from pydantic import Field as PydanticField
from strenum import StrEnum
from .extra_configs import MoeConfig


def Field(default=..., *, status=None, **kwargs):
    return PydanticField(default, **kwargs)


class StrictBaseModel(BaseModel):
    class Config:
        extra = "forbid"


class CapacitySchedulerPolicy(StrEnum):
    MAX_UTILIZATION = "MAX_UTILIZATION"
    GUARANTEED_NO_EVICT = "GUARANTEED_NO_EVICT"


class KvCacheConfig(StrictBaseModel):
    enable_block_reuse: bool = Field(default=False, description="Reuse " "blocks.")
    free_gpu_memory_fraction: Optional[float] = Field(default=0.77, ge=0, le=1)
    tokens_per_block: int = Field(default=48, status="prototype")
    host_cache_size: int = Field(default=3 * 1024**2)
    _hidden: int = PrivateAttr(default=0)


class SchedulerConfig(StrictBaseModel):
    capacity_scheduler_policy: CapacitySchedulerPolicy = Field(
        default=CapacitySchedulerPolicy.MAX_UTILIZATION)


class DecodingBaseConfig(StrictBaseModel):
    max_draft_len: Optional[int] = None
    speculative_model: Optional[Union[str, Path]] = Field(
        default=None, validation_alias=AliasChoices("speculative_model", "speculative_model_dir"))

    @classmethod
    def from_dict(cls, data: dict):
        config_classes = {"Eagle": EagleDecodingConfig, "Medusa": MedusaDecodingConfig,
                          "DraftTarget": DraftTargetDecodingConfig}
        return config_classes[data["decoding_type"]](**data)

    def supports_backend(self, backend: str) -> bool:
        return True


class EagleDecodingConfig(DecodingBaseConfig):
    decoding_type: ClassVar[str] = "Eagle"
    eagle_choices: Optional[List[List[int]]] = None


class MedusaDecodingConfig(DecodingBaseConfig):
    decoding_type: ClassVar[str] = "Medusa"
    num_medusa_heads: Optional[int] = None

    def supports_backend(self, backend: str) -> bool:
        return backend not in ("pytorch", "_autodeploy")


class MTPDecodingConfig(DecodingBaseConfig):
    decoding_type: ClassVar[str] = "MTP"
    num_nextn_predict_layers: int = 3

    def supports_backend(self, backend: str) -> bool:
        return backend == "pytorch"


class DraftTargetDecodingConfig(DecodingBaseConfig):
    decoding_type: ClassVar[str] = "Draft_Target"


SpeculativeConfig: TypeAlias = Optional[Union[EagleDecodingConfig, MedusaDecodingConfig, MTPDecodingConfig,
                                              DraftTargetDecodingConfig]]


class BaseLlmArgs(StrictBaseModel):
    model: Union[str, Path] = Field(description="The model.")
    tokenizer_mode: Literal['auto', 'slow', 'fast'] = Field(default='slow')
    kv_cache_config: KvCacheConfig = Field(default_factory=KvCacheConfig)
    scheduler_config: SchedulerConfig = Field(default_factory=SchedulerConfig, status="beta")
    speculative_config: SpeculativeConfig = Field(default=None)
    max_batch_size: Optional[int] = Field(default=4321)
    max_beam_width: PositiveInt = Field(default=3)
    num_postprocess_workers: NonNegativeInt = 0
    mpi_session: Optional[object] = Field(default=None, exclude=True)
    peft_targets: List[Literal["attn_q", "attn_k"]] = Field(default_factory=list)
    env: Dict[str, str] = Field(default_factory=dict)


class TorchLlmArgs(BaseLlmArgs):
    moe_config: MoeConfig = Field(default_factory=MoeConfig)
    cuda_graph_config: Optional[CudaGraphConfig] = Field(default_factory=lambda: CudaGraphConfig())
    max_batch_size: Optional[int] = Field(default=999)


class CudaGraphConfig(StrictBaseModel):
    batch_sizes: Optional[List[int]] = None
    max_batch_size: int = 0


class TrtLlmArgs(BaseLlmArgs):
    model_config = {"arbitrary_types_allowed": True, "extra": "ignore"}
    fast_build: bool = True
"""

EXTRA_CONFIGS = """
from typing import Literal
from pydantic import BaseModel, Field


class MoeConfig(BaseModel):
    backend: Literal["CUTLASS", "TRITON", "ZEBRA"] = Field(default="ZEBRA")
"""

BUILD_PY = """
import argparse
from tensorrt_llm.builder import BuildConfig
from tensorrt_llm.llmapi.kv_cache_type import KVCacheType
from tensorrt_llm.logger import severity_map
from tensorrt_llm.plugin import add_plugin_argument


def enum_type(enum_class):
    return lambda v: enum_class[v.upper()]


def parse_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument('--checkpoint_dir', type=str, default=None, help="Checkpoint " "dir.")
    parser.add_argument('--max_batch_size', type=int,
                        default=BuildConfig.model_fields['max_batch_size'].default, help="mbs")
    parser.add_argument('--max_seq_len', '--max_decoder_seq_len', dest='max_seq_len', type=int,
                        default=BuildConfig.max_seq_len, help="msl")
    parser.add_argument('--kv_cache_type', default=argparse.SUPPRESS, type=enum_type(KVCacheType), help="kv")
    parser.add_argument('--log_level', type=str, default='info', choices=severity_map.keys(), help="log")
    parser.add_argument('--strip_plan', default=False, action='store_true', help="strip")
    lora = parser.add_argument_group("LoRA arguments")
    lora.add_argument('--lora_dir', type=str, default=None, nargs="+", help="lora")
    plugins = parser.add_argument_group("Plugin config arguments")
    add_plugin_argument(plugins)
    return parser
"""

BUILDER_PY = """
from typing import Optional
from pydantic import BaseModel, Field


class BuildConfig(BaseModel):
    max_batch_size: int = Field(default=1536, description="x")
    max_seq_len: Optional[int] = Field(default=None)
"""

LOGGER_PY = """
severity_map = {"error": 1, "warning": 2, "info": 3, "chatty": 4}
"""

KV_CACHE_TYPE_PY = """
from strenum import StrEnum


class KVCacheType(StrEnum):
    CONTINUOUS = "continuous"
    PAGED = "paged"
    BLOCKY = "blocky"
"""

PLUGIN_PY = """
from typing import Literal, Optional
from pydantic import BaseModel, Field

DefaultPluginDtype = Literal["auto", "float16", None]


class PluginConfig(BaseModel):
    dtype: str = Field(default="float16", description="Base dtype")
    gemm_plugin: Optional[Literal["auto", "fp8", "nvfp4", None]] = Field(default=None, description="GEMM.")
    gpt_attention_plugin: Optional[DefaultPluginDtype] = Field(default="auto", description="Attention.")
    moe_plugin: Optional[DefaultPluginDtype] = Field(default=None, description="MoE.")
    use_paged_context_fmha: bool = Field(default=True, description="Paged context FMHA.")
    tokens_per_block: int = Field(default=48, description="Tokens per block.")
    dora_plugin: bool = Field(default=False, description="Not on the command line.")


cli_plugin_args = ["gemm_plugin", "gpt_attention_plugin", "moe_plugin", "use_paged_context_fmha", "tokens_per_block"]
"""  # noqa: E501 (fixture source in TensorRT-LLM's own layout)

MODE_PY = """
from enum import auto
from strenum import StrEnum


class QuantAlgo(StrEnum):
    W4A16 = auto()
    FP8 = auto()
    INT8 = auto()
    NVFP4 = auto()
    NO_QUANT = auto()


QUANT_ALGO_LIST = sorted(list(set(QuantAlgo) - {QuantAlgo.INT8}))
KV_CACHE_QUANT_ALGO_LIST = [QuantAlgo.FP8, QuantAlgo.INT8]
"""

MODELS_INIT = """
from .llama.model import LLaMAForCausalLM
MODEL_MAP = {
    "LlamaForCausalLM": LLaMAForCausalLM,
    "ZebraForCausalLM": LLaMAForCausalLM,
}
MODEL_MAP["LateAddedForCausalLM"] = LLaMAForCausalLM
"""


def _tree(root: Path, version: str, *, engine: bool = True) -> Path:
    files = {
        "tensorrt_llm/version.py": f'__version__ = "{version}"\n',
        "tensorrt_llm/llmapi/llm_args.py": LLM_ARGS,
        "tensorrt_llm/llmapi/extra_configs.py": EXTRA_CONFIGS,
        "tensorrt_llm/llmapi/kv_cache_type.py": KV_CACHE_TYPE_PY,
        "tensorrt_llm/logger.py": LOGGER_PY,
        "tensorrt_llm/quantization/mode.py": MODE_PY,
        "tensorrt_llm/models/__init__.py": MODELS_INIT,
    }
    if engine:
        files |= {
            "tensorrt_llm/commands/build.py": BUILD_PY,
            "tensorrt_llm/builder.py": BUILDER_PY,
            "tensorrt_llm/plugin/plugin.py": PLUGIN_PY,
        }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict[str, dict]:
    src = _tree(tmp_path_factory.mktemp("src"), "9.9.0")
    out = tmp_path_factory.mktemp("out")
    written = extractor.extract(src, "v9.9.0", COMMIT, out, today="2026-12-07")
    return {kind: json.loads(path.read_text()) for kind, path in written.items()}


def _field(doc: dict, cls: str, name: str) -> dict:
    return next(f for f in doc["classes"][cls] if f["name"] == name)


def test_provenance_names_tag_commit_and_paths(extracted) -> None:
    for kind, doc in extracted.items():
        prov = doc["provenance"]
        assert prov["tag"] == "v9.9.0" and prov["commit"] == COMMIT, kind
        assert prov["extracted_by"] == "scripts/extract_trtllm_spec.py"
        assert prov["paths"][0] == "tensorrt_llm/version.py"
    assert "tensorrt_llm/llmapi/extra_configs.py" in extracted["llm_api_args"]["provenance"]["paths"]


def test_top_level_classes_per_backend(extracted) -> None:
    llm = extracted["llm_api_args"]
    assert llm["top_level"] == {
        "pytorch": ["BaseLlmArgs", "TorchLlmArgs"],
        "tensorrt": ["BaseLlmArgs", "TrtLlmArgs"],
    }
    assert [f["name"] for f in llm["classes"]["TrtLlmArgs"]] == ["fast_build"]
    assert _field(llm, "TorchLlmArgs", "max_batch_size")["default"] == 999
    assert _field(llm, "BaseLlmArgs", "max_batch_size")["default"] == 4321


def test_literals_defaults_and_nullability(extracted) -> None:
    llm = extracted["llm_api_args"]
    mode = _field(llm, "BaseLlmArgs", "tokenizer_mode")
    assert mode["choices"] == ["auto", "slow", "fast"] and mode["default"] == "slow"
    assert _field(llm, "BaseLlmArgs", "model")["required"] is True
    assert "nullable" not in mode
    assert _field(llm, "BaseLlmArgs", "max_batch_size")["nullable"] is True
    sched = _field(llm, "SchedulerConfig", "capacity_scheduler_policy")
    assert sched["choices"] == ["MAX_UTILIZATION", "GUARANTEED_NO_EVICT"]
    assert sched["default"] == "MAX_UTILIZATION"
    frac = _field(llm, "KvCacheConfig", "free_gpu_memory_fraction")
    assert (frac["default"], frac["ge"], frac["le"]) == (0.77, 0, 1)
    reuse = _field(llm, "KvCacheConfig", "enable_block_reuse")
    assert reuse["default"] is False and reuse["description"] == "Reuse blocks."
    assert _field(llm, "KvCacheConfig", "tokens_per_block")["status"] == "prototype"
    assert _field(llm, "KvCacheConfig", "host_cache_size")["default"] == 3 * 1024**2
    assert "_hidden" not in [f["name"] for f in llm["classes"]["KvCacheConfig"]]
    targets = _field(llm, "BaseLlmArgs", "peft_targets")
    assert (targets["kind"], targets["choices"], targets["default"]) == ("list", ["attn_q", "attn_k"], [])
    assert _field(llm, "BaseLlmArgs", "env")["items"] == "str"
    assert _field(llm, "BaseLlmArgs", "mpi_session")["internal"] is True
    beams = _field(llm, "BaseLlmArgs", "max_beam_width")
    assert (beams["kind"], beams["gt"], beams["default"]) == ("int", 0, 3)
    assert _field(llm, "BaseLlmArgs", "num_postprocess_workers")["ge"] == 0


def test_nested_models_and_default_factories(extracted) -> None:
    llm = extracted["llm_api_args"]
    kv = _field(llm, "BaseLlmArgs", "kv_cache_config")
    assert (kv["kind"], kv["model"], kv["default"], kv["default_factory"]) == (
        "model",
        "KvCacheConfig",
        {},
        "KvCacheConfig",
    )
    cg = _field(llm, "TorchLlmArgs", "cuda_graph_config")
    assert cg["model"] == "CudaGraphConfig" and cg["nullable"] is True and cg["default"] == {}
    assert {"KvCacheConfig", "SchedulerConfig", "CudaGraphConfig", "MoeConfig"} <= set(llm["classes"])
    # MoeConfig comes from the module llm_args.py imports it from
    assert _field(llm, "MoeConfig", "backend")["choices"] == ["CUTLASS", "TRITON", "ZEBRA"]
    assert llm["extra"]["KvCacheConfig"] == "forbid"
    assert llm["extra"]["TrtLlmArgs"] == "ignore"  # model_config dict literal overrides the inherited Config


def test_speculative_union(extracted) -> None:
    union = extracted["llm_api_args"]["unions"]["SpeculativeConfig"]
    assert union["discriminator"] == "decoding_type"
    assert set(union["variants"]) == {"Eagle", "Medusa", "MTP", "DraftTarget"}
    # YAML reaches a class through from_dict's key, not its ClassVar tag
    assert union["variants"]["DraftTarget"]["class_tag"] == "Draft_Target"
    assert union["variants"]["DraftTarget"]["from_dict"] is True
    assert union["variants"]["Eagle"]["backends"] == ["pytorch", "tensorrt"]
    assert union["variants"]["Medusa"]["backends"] == ["tensorrt"]
    assert union["variants"]["MTP"]["backends"] == ["pytorch"]
    # from_dict only dispatches Eagle and Medusa: MTP cannot come from YAML in this source
    assert union["variants"]["MTP"]["from_dict"] is False
    base = {f["name"]: f for f in union["base_fields"]}
    assert base["speculative_model"]["aliases"] == ["speculative_model_dir"]
    assert [f["name"] for f in union["variants"]["MTP"]["fields"]] == ["num_nextn_predict_layers"]


def test_build_options(extracted) -> None:
    build = extracted["trtllm_build_options"]
    opts = {o["name"]: o for o in build["options"]}
    assert opts["--max_batch_size"]["default"] == 1536
    assert opts["--max_batch_size"]["default_from"] == "BuildConfig.max_batch_size"
    assert opts["--max_seq_len"]["aliases"] == ["--max_decoder_seq_len"]
    assert opts["--kv_cache_type"]["choices"] == ["continuous", "paged", "blocky"]
    assert opts["--kv_cache_type"]["suppress_default"] is True
    assert opts["--log_level"]["choices"] == ["error", "warning", "info", "chatty"]
    assert (opts["--strip_plan"]["type"], opts["--strip_plan"]["default"]) == ("bool", False)
    assert opts["--lora_dir"]["nargs"] == "+" and opts["--lora_dir"]["group"] == "LoRA arguments"
    assert opts["--checkpoint_dir"]["help"] == "Checkpoint dir."
    # plugin flags: only cli_plugin_args, enable/disable for bools, None -> "disable"
    assert opts["--gemm_plugin"]["choices"] == ["auto", "fp8", "nvfp4", "disable"]
    assert opts["--gemm_plugin"]["default"] is None
    assert opts["--gpt_attention_plugin"]["choices"] == ["auto", "float16", "disable"]
    assert opts["--moe_plugin"]["default"] == "disable"
    assert opts["--use_paged_context_fmha"]["choices"] == ["enable", "disable"]
    assert opts["--use_paged_context_fmha"]["default"] == "enable"
    assert (opts["--tokens_per_block"]["type"], opts["--tokens_per_block"]["default"]) == ("int", 48)
    assert "--dora_plugin" not in opts


def test_dataclass_era_plugin_config(tmp_path: Path) -> None:
    src = _tree(tmp_path, "9.8.0")
    (src / "tensorrt_llm/plugin/plugin.py").write_text("""
from dataclasses import dataclass, field
from typing import Optional

DEFAULT_PLUGIN_DTYPE_OPTIONS = ["auto", "float16", None]
PLUGIN_DTYPE_OPTIONS_MAP = {"gemm_plugin": ["auto", "fp8", None]}


@dataclass
class PluginConfig:
    _gemm_plugin: Optional[str] = field(default=None, init=False, metadata={"help": "GEMM."})
    _moe_plugin: Optional[str] = field(default="auto", init=False, metadata={"help": "MoE."})
    _context_fmha: bool = field(default=True, init=False, metadata={"help": "FMHA."})


cli_plugin_args = ["gemm_plugin", "moe_plugin", "context_fmha"]
""")
    # dataclass-era BuildConfig, read as BuildConfig.<field> by build.py
    (src / "tensorrt_llm/builder.py").write_text("""
from dataclasses import dataclass


@dataclass
class BuildConfig:
    max_batch_size: int = 640
    max_seq_len: int = None
""")
    build = (src / "tensorrt_llm/commands/build.py").read_text()
    (src / "tensorrt_llm/commands/build.py").write_text(
        build.replace("BuildConfig.model_fields['max_batch_size'].default", "BuildConfig.max_batch_size")
    )
    written = extractor.extract(src, "v9.8.0", COMMIT, tmp_path / "out")
    opts = {o["name"]: o for o in json.loads(written["trtllm_build_options"].read_text())["options"]}
    assert opts["--max_batch_size"]["default"] == 640
    assert opts["--gemm_plugin"]["choices"] == ["auto", "fp8", "disable"]
    assert opts["--moe_plugin"]["choices"] == ["auto", "float16", "disable"]
    assert opts["--moe_plugin"]["default"] == "auto"
    assert opts["--context_fmha"]["default"] == "enable"


def test_quant_algos_and_model_map(extracted) -> None:
    quant = extracted["quant_algos"]
    assert quant["quant_algo"] == ["W4A16", "FP8", "INT8", "NVFP4", "NO_QUANT"]
    assert quant["quant_algo_list"] == ["W4A16", "FP8", "NVFP4", "NO_QUANT"]
    assert quant["kv_cache_quant_algo"] == ["FP8", "INT8"]
    assert extracted["model_map"]["architectures"] == [
        "LateAddedForCausalLM",
        "LlamaForCausalLM",
        "ZebraForCausalLM",
    ]


def test_no_build_py_is_marked(tmp_path: Path) -> None:
    src = _tree(tmp_path, "9.9.1rc3", engine=False)
    written = extractor.extract(src, "v9.9.1rc3", COMMIT, tmp_path / "out")
    build = json.loads(written["trtllm_build_options"].read_text())
    assert build["engine_backend"] is False and build["options"] == []
    assert "does not exist" in build["why"]


def _manifest(out: Path, commit: str | None) -> Path:
    """A spec manifest listing 9.9.0 as not extracted yet (as specs.json lists a version before
    extraction)."""
    entry = {
        "tag": "v9.9.0",
        "commit": commit,
        "commit_evidence": "a backend's submodule pin",
        "extracted": False,
        "missing": "nothing readable",
        "interim": True,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "specs.json"
    path.write_text(json.dumps({"versions": {"9.9.0": entry, "9.8.0": dict(entry, tag="v9.8.0")}}))
    return path


@pytest.mark.parametrize("recorded", [COMMIT, None])
def test_extraction_marks_the_manifest_entry(tmp_path: Path, recorded: str | None) -> None:
    path = _manifest(tmp_path / "out", recorded)
    extractor.extract(_tree(tmp_path / "src", "9.9.0"), "v9.9.0", COMMIT, tmp_path / "out")
    versions = json.loads(path.read_text())["versions"]
    entry = versions["9.9.0"]
    assert entry["extracted"] is True and entry["interim"] is False and "missing" not in entry
    assert entry["commit"] == COMMIT
    assert entry["commit_evidence"] == (
        "a backend's submodule pin"
        if recorded
        else "git rev-parse v9.9.0^{commit} in the clone the spec was extracted from"
    )
    assert versions["9.8.0"]["extracted"] is False  # other versions untouched


def test_commit_other_than_the_manifests_is_refused(tmp_path: Path) -> None:
    path = _manifest(tmp_path / "out", "f" * 40)
    before = path.read_text()
    src = _tree(tmp_path / "src", "9.9.0")
    res = _run("--source", str(src), "--tag", "v9.9.0", "--commit", COMMIT, "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "is not the commit specs.json records for 9.9.0 (ffffffffffff)" in res.stderr
    assert path.read_text() == before and not (tmp_path / "out" / "9.9.0").exists()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_refuses_bad_input_with_one_line(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", "9.9.0")
    out = tmp_path / "out"
    wrong_tag = _run("--source", str(src), "--tag", "v1.2.1", "--commit", COMMIT, "--out", str(out))
    assert wrong_tag.returncode == 2 and "does not match" in wrong_tag.stderr
    assert len(wrong_tag.stderr.strip().splitlines()) == 1 and not out.exists()
    short = _run("--source", str(src), "--tag", "v9.9.0", "--commit", "abc123", "--out", str(out))
    assert short.returncode == 2 and "40-hex" in short.stderr
    (src / "tensorrt_llm/llmapi/llm_args.py").unlink()
    missing = _run("--source", str(src), "--tag", "v9.9.0", "--commit", COMMIT, "--out", str(out))
    assert missing.returncode == 2 and "llm_args.py is missing" in missing.stderr


def test_list_files(tmp_path: Path) -> None:
    with_source = _run("--list-files", "--source", str(_tree(tmp_path, "9.9.0")))
    assert "tensorrt_llm/llmapi/extra_configs.py" in with_source.stdout.split()  # imported by llm_args.py
    listed = _run("--list-files")
    assert listed.returncode == 0
    paths = listed.stdout.split()
    assert {
        "tensorrt_llm/llmapi/llm_args.py",
        "tensorrt_llm/commands/build.py",
        "tensorrt_llm/plugin/plugin.py",
        "tensorrt_llm/builder.py",
        "tensorrt_llm/quantization/mode.py",
        "tensorrt_llm/models/__init__.py",
        "tensorrt_llm/version.py",
    } <= set(paths)


# ------------------------------------------------------------------------ the extracted files drive trtforge


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    """trtforge's data folder with one extracted synthetic version (9.9.0) beside the real manifest."""
    root = tmp_path / "data"
    (root / "trtllm").mkdir(parents=True)
    real = data.DATA_DIR
    for name in (
        "trtllm_versions.json",
        "llm_api_args.json",
        "trtllm_build_options.json",
        "trtllm_model_map.json",
        "quant_algos.json",
    ):
        (root / name).write_text((real / name).read_text())
    (root / "trtllm" / "specs.json").write_text((real / "trtllm" / "specs.json").read_text())
    extractor.extract(_tree(tmp_path / "src", "9.9.0"), "v9.9.0", COMMIT, root / "trtllm")
    monkeypatch.setattr(data, "DATA_DIR", root)
    data.load.cache_clear()
    yield root
    data.load.cache_clear()


def test_extracted_version_selects_its_spec(data_dir: Path) -> None:
    from trtforge.toolchain import versions

    assert versions.spec_versions() == ["9.9.0"]
    prov = spec.spec_provenance("9.9.0")
    assert prov["extracted"] is True and prov["tag"] == "v9.9.0" and prov["commit"] == COMMIT
    assert spec.llm_api_default("kv_cache_config.free_gpu_memory_fraction", version="9.9.0") == 0.77
    assert spec.llm_api_default("max_batch_size", version="9.9.0") == 999
    assert spec.llm_api_default("max_batch_size", "tensorrt", version="9.9.0") == 4321
    assert spec.build_option_default("--max_batch_size", "9.9.0") == 1536
    ok = {
        "model": "/m",
        "moe_config": {"backend": "ZEBRA"},
        "speculative_config": {"decoding_type": "Eagle", "max_draft_len": 3, "speculative_model_dir": "/d"},
    }
    assert spec.validate_llm_api_config(ok, version="9.9.0") == []
    problems = spec.validate_llm_api_config(
        {"speculative_config": {"decoding_type": "MTP"}, "kv_cache_config": {"dtype": "fp8"}}, version="9.9.0"
    )
    label = f"llm_args.py @ v9.9.0 {COMMIT[:12]}"
    assert (
        f"speculative_config.decoding_type: 'MTP' is not accepted by TensorRT-LLM 9.9.0 ({label})"
        in problems[0]
    )
    assert problems[1].startswith("kv_cache_config.dtype: unknown field: TensorRT-LLM 9.9.0 rejects it")
    medusa = spec.validate_llm_api_config(
        {"speculative_config": {"decoding_type": "Medusa"}}, version="9.9.0"
    )
    assert medusa and "not supported by the pytorch backend" in medusa[0]
    argv = ["trtllm-build", "--checkpoint_dir", "/c", "--kv_cache_type", "BLOCKY", "--gemm_plugin", "nvfp4"]
    assert spec.validate_build_command(argv, "9.9.0") == []
    bad = spec.validate_build_command(argv + ["--max_num_tokens=8"], "9.9.0")
    assert bad == [f"trtllm-build 9.9.0 has no option --max_num_tokens (build.py @ v9.9.0 {COMMIT[:12]})"]


def test_extracted_enums_model_map_and_extra(data_dir: Path) -> None:
    from trtforge.toolchain import archs

    assert spec.quant_algos("9.9.0") == {
        "quant_algo": ["W4A16", "FP8", "INT8", "NVFP4", "NO_QUANT"],
        "kv_cache_quant_algo": ["FP8", "INT8"],
    }
    assert "ZebraForCausalLM" in spec.model_map_architectures("9.9.0")
    assert archs.engine_supports("ZebraForCausalLM", "9.9.0")
    assert not archs.engine_supports("ZebraForCausalLM")  # the hand-made table does not know it
    # TrtLlmArgs here has extra="ignore": an unknown key is dropped, not refused
    assert spec.validate_llm_api_config({"bogus": 1}, "tensorrt", version="9.9.0") == [
        f"bogus: unknown field: TensorRT-LLM 9.9.0 ignores it (llm_args.py @ v9.9.0 {COMMIT[:12]})"
    ]


def test_version_without_spec_is_refused(data_dir: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        spec.validate_llm_api_config({}, version="0.21.0")
    assert "0.21.0 has no option spec" in err.value.one_line() and "9.9.0" in err.value.one_line()
    with pytest.raises(InvalidInput, match="1.3.0rc29"):
        spec.llm_api_fields("pytorch", "1.3.0rc29")
