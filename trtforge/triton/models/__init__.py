"""The python models trtforge ships into model repositories, as real files.

Each `<name>/model.py` is copied verbatim to `<repo>/<model>/1/model.py`. They import only the standard library,
numpy, transformers/torch (what the Triton TensorRT-LLM container provides) and Triton's
`triton_python_backend_utils` — never trtforge, which is not installed where ops run them. Their logic lives in
plain classes so tests import and exercise them outside Triton.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).parent


def model_file(name: str) -> Path:
    """Path of the shipped model.py for a model kind (preprocessing, postprocessing, tensorrt_llm_bls, ...)."""
    path = MODELS_DIR / name / "model.py"
    if not path.is_file():
        raise FileNotFoundError(path)
    return path
