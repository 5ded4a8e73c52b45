"""The python models trtforge ships into model repositories, as real files.

Each `<name>/model.py` is copied verbatim to `<repo>/<model>/1/model.py`, with `trtforge_model_utils.py` (the
helpers they share) beside it. They import only the standard library,
numpy, transformers/torch (what the Triton TensorRT-LLM container provides) and Triton's
`triton_python_backend_utils` — never trtforge, which is not installed where ops run them. Their logic lives
in plain classes so tests import and exercise them outside Triton.
"""

import shutil
from pathlib import Path

MODELS_DIR = Path(__file__).parent
UTILS_FILE = MODELS_DIR / "trtforge_model_utils.py"


def model_file(name: str) -> Path:
    """Path of the shipped model.py for a model kind (preprocessing, postprocessing, tensorrt_llm_bls,
    ...)."""
    path = MODELS_DIR / name / "model.py"
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def install_model(name: str, version_dir: Path) -> list[Path]:
    """Copy the model.py of `name` and the shared helpers into a model's version directory; returns what it
    wrote."""
    version_dir.mkdir(parents=True, exist_ok=True)
    written = [version_dir / "model.py", version_dir / UTILS_FILE.name]
    shutil.copyfile(model_file(name), written[0])
    shutil.copyfile(UTILS_FILE, written[1])
    return written
