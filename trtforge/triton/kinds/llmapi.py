"""`tensorrt_llm` of the llmapi layout: one python model running TensorRT-LLM's LLM API from model.yaml.

max_batch_size and decoupled are written both here and in model.yaml's triton_config (NVIDIA's own llmapi
model.py injects them from model.yaml; trtforge's reads config.pbtxt) and always agree.
"""

from __future__ import annotations

from trtforge.triton.kinds.common import cpu_instances, decoupled, set_parameters
from trtforge.triton.kinds.tensorrt_llm import to_reference
from trtforge.triton.pb import new_config
from trtforge.triton.settings import RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs


def build(s: RepoSettings):
    # max_batch_size 0: one prompt per request; the LLM API batches in flight by itself (upstream JIRA-4496).
    config = new_config(name="tensorrt_llm", backend="python", max_batch_size=0)
    decoupled(config, s.streaming)
    config.input.extend(model_inputs(s.tensor_spec, "llmapi"))
    config.output.extend(model_outputs(s.tensor_spec, "llmapi"))
    set_parameters(config, {"llm_config": "model.yaml", "exclude_input_in_output": s.exclude_input_in_output})
    cpu_instances(config, 1)
    return to_reference(config, s) if s.runtime == "reference" else config
