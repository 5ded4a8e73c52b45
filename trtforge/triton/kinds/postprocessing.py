"""`postprocessing`: python model that detokenizes output ids."""

from __future__ import annotations

from trtforge.triton.kinds.common import cpu_instances, set_nvidia_parameters
from trtforge.triton.pb import new_config
from trtforge.triton.settings import TOKENIZER_DIR, RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs


def build(s: RepoSettings):
    config = new_config(name="postprocessing", backend="python", max_batch_size=s.max_batch_size)
    config.dynamic_batching.SetInParent()  # upstream: `dynamic_batching {}`
    config.input.extend(model_inputs(s.tensor_spec, "postprocessing"))
    # trtforge's postprocessing detokenizes only (older NVIDIA templates also passed log probs through it).
    config.output.extend(model_outputs(s.tensor_spec, "postprocessing", ["OUTPUT"]))
    set_nvidia_parameters(
        config,
        s.tensor_spec,
        "postprocessing",
        {
            "tokenizer_dir": TOKENIZER_DIR,
            "skip_special_tokens": s.skip_special_tokens,
            "trust_remote_code": s.trust_remote_code,
        },
    )
    cpu_instances(config, s.postprocessing_instances)
    return config
