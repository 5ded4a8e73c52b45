"""`tensorrt_llm_bls`: the python business-logic alternative to the ensemble (same public API).

Decoupled exactly when tensorrt_llm is (one recipe switch, P9); accumulates tokens before detokenizing so that
streamed text pieces concatenate to the non-streamed text.
"""

from __future__ import annotations

from trtforge.triton.kinds.common import cpu_instances, decoupled, dynamic_batching, set_parameters
from trtforge.triton.pb import new_config
from trtforge.triton.settings import RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs


def build(s: RepoSettings):
    config = new_config(name="tensorrt_llm_bls", backend="python", max_batch_size=s.max_batch_size)
    decoupled(config, s.streaming)
    dynamic_batching(config, s.max_batch_size, s.max_queue_delay_microseconds)
    config.input.extend(model_inputs("tensorrt_llm_bls"))
    config.output.extend(model_outputs("tensorrt_llm_bls"))
    set_parameters(
        config, {"accumulate_tokens": s.accumulate_tokens, "tensorrt_llm_model_name": "tensorrt_llm"}
    )
    cpu_instances(config, s.bls_instances)
    return config
