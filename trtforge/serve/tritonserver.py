"""Find a tritonserver binary and prepare what its python backend needs on this machine.

Two sources: a `tritonserver` on PATH / under /opt/tritonserver (a Triton install or container), and the one
the `nvidia-pytriton` wheel bundles (2.51, python backend, no GPU needed). For the bundled one (see
/work/shared/triton/CPU-SERVER-NOTES.md): the python-backend stub for the running Python must sit next to
libtriton_python.so (a private directory of symlinks, never writing into site-packages); the stub needs this
interpreter's shared libpython (LIBDIR first on LD_LIBRARY_PATH, else it hangs or mixes stdlibs); the
environment's bin/ must come first on PATH (the stub's embedded Python finds its packages through it); numpy
must be < 2 (BYTES tensors are mis-read otherwise).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from trtforge.errors import ToolMissing


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backend_dir: Path  # directory holding python/ (and other backends)
    cache_dir: Path | None
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the server process
    source: str = ""  # "nvidia-pytriton 0.7.0 (tritonserver 2.51.0)", "PATH", ...
    bundled: bool = False  # the nvidia-pytriton server, whose log lines trtforge has seen


def _pytriton_root() -> Path | None:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tritonserver"


def _pytriton_version() -> str:
    try:
        from importlib.metadata import version

        return version("nvidia-pytriton")
    except Exception:  # noqa: BLE001
        return "?"


def python_env() -> dict[str, str]:
    """PATH and LD_LIBRARY_PATH so the stub embeds *this* interpreter with *this* environment's packages."""
    bin_dir = str(Path(sys.executable).parent)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    path = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    ld = [libdir] if libdir else []
    return {
        "PATH": path,
        "LD_LIBRARY_PATH": os.pathsep.join(ld + [os.environ.get("LD_LIBRARY_PATH", "")]).strip(os.pathsep),
    }


def private_backend_dir(root: Path, cache: Path) -> Path:
    """<cache>/triton-backends/py3.X/python/{libtriton_python.so, utils, stub} as symlinks (idempotent)."""
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / minor / "triton_python_backend_stub"
    if not stub.is_file():
        raise ToolMissing(f"nvidia-pytriton has no python-backend stub for Python {minor} ({stub})")
    target = cache / "triton-backends" / f"py{minor}"
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    links = {
        "libtriton_python.so": root / "backends" / "python" / "libtriton_python.so",
        "triton_python_backend_utils.py": root / "backends" / "python" / "triton_python_backend_utils.py",
        "triton_python_backend_stub": stub,
    }
    for name, src in links.items():
        link = python_dir / name
        if link.is_symlink() and Path(os.readlink(link)) == src:
            continue
        tmp = python_dir / f".{name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(src)
        os.replace(tmp, link)  # atomic: a concurrent server never sees a missing link
    return target


def check_stub_links(stub: Path, env: dict[str, str]) -> None:
    """A stub with an unresolved libpython makes the server hang instead of failing: refuse up front."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return
    out = subprocess.run(
        [ldd, str(stub)], capture_output=True, text=True, env={**os.environ, **env}, timeout=30, check=False
    )
    missing = [line.split()[0] for line in out.stdout.splitlines() if "not found" in line]
    if missing:
        raise ToolMissing(
            f"the Triton python-backend stub cannot load {', '.join(missing)}",
            hint="this Python must be built with a shared libpython (--enable-shared; pyenv, setup-python "
            "and "
            "python:3.x images are)",
        )


def check_numpy() -> None:
    try:
        from importlib.metadata import version

        numpy_version = version("numpy")
    except Exception:  # noqa: BLE001
        raise ToolMissing(
            "numpy is not installed in this environment", hint="pip install 'numpy<2'"
        ) from None
    if int(numpy_version.split(".")[0]) >= 2:
        raise ToolMissing(
            f"numpy {numpy_version}: Triton 2.51's python backend mis-reads text tensors with numpy 2",
            hint="pip install 'numpy<2'",
        )


def find_bundled(cache: Path) -> TritonInstall:
    """The tritonserver inside the nvidia-pytriton wheel, ready for python-backend models of this
    interpreter."""
    root = _pytriton_root()
    if root is None or not (root / "bin" / "tritonserver").is_file():
        raise ToolMissing(
            "no tritonserver: the nvidia-pytriton wheel is not installed",
            hint="pip install 'trtforge[serve]' (bundles tritonserver 2.51 with the python backend)",
        )
    check_numpy()
    backends = private_backend_dir(root, cache)
    env = python_env()
    libs = root.parent.parent / "nvidia_pytriton.libs"
    if libs.is_dir():
        env["LD_LIBRARY_PATH"] = os.pathsep.join([env["LD_LIBRARY_PATH"], str(libs)]).strip(os.pathsep)
    check_stub_links(backends / "python" / "triton_python_backend_stub", env)
    caches = root / "caches"
    return TritonInstall(
        binary=root / "bin" / "tritonserver",
        backend_dir=backends,
        cache_dir=caches if caches.is_dir() else None,
        env=env,
        source=f"nvidia-pytriton {_pytriton_version()} (bundled tritonserver)",
        bundled=True,
    )


def find_on_path() -> TritonInstall | None:
    """A regular Triton install: `tritonserver` on PATH or /opt/tritonserver/bin (its own backends)."""
    found = shutil.which("tritonserver")
    candidates = [Path(found)] if found else []
    candidates.append(Path("/opt/tritonserver/bin/tritonserver"))
    for binary in candidates:
        if binary.is_file() and os.access(binary, os.X_OK):
            backends = binary.parent.parent / "backends"
            return TritonInstall(
                binary=binary, backend_dir=backends, cache_dir=None, env=python_env(), source=str(binary)
            )
    return None


def find_tritonserver(cache: Path, prefer_bundled: bool = True) -> TritonInstall:
    """The server `--runtime local` / `reference` use: the bundled one first (known to work on CPU)."""
    if prefer_bundled:
        try:
            return find_bundled(cache)
        except ToolMissing:
            found = find_on_path()
            if found is None:
                raise
            return found
    found = find_on_path()
    return found if found is not None else find_bundled(cache)
