"""Facts of TensorRT-LLM's build options that are not recipe decisions: speculative-mode names, lookahead's
draft length, the GEMM plugin NVIDIA's builds use per weight format.

The recipe -> options mapping lives in trtforge.plan.resolve (the one place settings are decided); toolchain/
reads facts and does not map recipes.
"""

from __future__ import annotations

# Recipe speculative mode -> trtllm-build --speculative_decoding_mode
ENGINE_SPEC_MODE = {
    "eagle": "eagle",
    "medusa": "medusa",
    "lookahead": "lookahead_decoding",
    "draft_tokens_external": "draft_tokens_external",
}


def lookahead_max_draft_len(window: int, ngram: int, verification: int) -> int:
    """Draft tokens lookahead decoding needs (LookaheadDecodingConfig.calculate_speculative_resource)."""
    return (0 if ngram == 1 else ngram - 2) + (window - 1 + verification) * (ngram - 1)


def gemm_plugin_for(quant_algo: str | None) -> str | None:
    """GEMM plugin per weight format, as NVIDIA's own builds set it.

    Unquantized and FP8: none (TensorRT's own GEMMs with multiple profiles, as trtllm-bench builds them);
    NVFP4: nvfp4 (the FP4 GEMM plugin; builder.py turns it on anyway unless told 'disable');
    weight-only / AWQ / SmoothQuant: auto, so the remaining unquantized GEMMs use the plugin at the model
    dtype (TensorRT-LLM's Llama examples for these formats pass --gemm_plugin auto).
    """
    if quant_algo in (None, "FP8", "NO_QUANT"):
        return None
    if quant_algo == "NVFP4":
        return "nvfp4"
    return "auto"
