"""The serve tests use the same session fixtures as tests/triton (tiny Llama, FP8 export, CPU plan)."""

from tests.triton.conftest import cpu_plan, tiny_fp8, tiny_llama  # noqa: F401
