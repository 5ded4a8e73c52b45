"""`tensorrt_llm_bls`: the python business-logic alternative to the ensemble (same public API as NVIDIA's
BLS).

Decoupled exactly when tensorrt_llm is (one recipe switch, P9); accumulates tokens before detokenizing so that
streamed text pieces concatenate to the non-streamed text. Where each public input goes (preprocessing or
tensorrt_llm, under which name) is NVIDIA's ensemble wiring for the repository's version, handed to the model
as the `routes` parameter, so BLS and ensemble treat every input alike.
"""

from __future__ import annotations

from trtforge.triton.kinds.common import cpu_instances, decoupled, dynamic_batching, set_nvidia_parameters
from trtforge.triton.kinds.ensemble import wiring
from trtforge.triton.pb import new_config
from trtforge.triton.settings import RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs, tensor_names


def routes(spec: str) -> dict[str, dict[str, list[str] | str]]:
    """{"inputs": {public: [model, input]}, "pre_to_llm": {preprocessing output: tensorrt_llm input}}."""
    public = set(tensor_names(spec, "tensorrt_llm_bls", "inputs"))
    inputs: dict[str, list[str] | str] = {}
    pre_out: dict[str, str] = {}
    llm_in: dict[str, str] = {}
    for kind, input_map, output_map in wiring(spec):
        for tensor, source in input_map.items():
            if source in public and kind in ("preprocessing", "tensorrt_llm"):
                inputs.setdefault(source, [kind, tensor])
            if kind == "tensorrt_llm" and source.startswith("_"):
                llm_in[source] = tensor
        if kind == "preprocessing":
            pre_out.update({v: k for k, v in output_map.items()})
    pre_to_llm = {pre_out[v]: llm for v, llm in llm_in.items() if v in pre_out}
    return {"inputs": dict(sorted(inputs.items())), "pre_to_llm": dict(sorted(pre_to_llm.items()))}


def build(s: RepoSettings):
    spec = s.tensor_spec
    config = new_config(name="tensorrt_llm_bls", backend="python", max_batch_size=s.max_batch_size)
    decoupled(config, s.streaming)
    dynamic_batching(config, s.max_batch_size, s.max_queue_delay_microseconds)
    config.input.extend(model_inputs(spec, "tensorrt_llm_bls"))
    config.output.extend(model_outputs(spec, "tensorrt_llm_bls"))
    set_nvidia_parameters(
        config,
        spec,
        "tensorrt_llm_bls",
        {
            "accumulate_tokens": s.accumulate_tokens,
            "tensorrt_llm_model_name": "tensorrt_llm",
            "routes": routes(spec),
        },
    )
    cpu_instances(config, s.bls_instances)
    return config
