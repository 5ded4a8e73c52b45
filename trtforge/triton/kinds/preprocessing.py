"""`preprocessing`: python model that tokenizes the prompt and turns stop/bad words into token-id lists."""

from __future__ import annotations

from trtforge.triton.kinds.common import cpu_instances, dynamic_batching, set_nvidia_parameters
from trtforge.triton.pb import new_config
from trtforge.triton.settings import TOKENIZER_DIR, RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs, tensor_names

# What trtforge's preprocessing model produces (NVIDIA's also produces multimodal, encoder-decoder,
# embedding-bias and prompt-table tensors; requests that need them are refused by name there).
PRODUCED = (
    "INPUT_ID",
    "REQUEST_INPUT_LEN",
    "BAD_WORDS_IDS",
    "STOP_WORDS_IDS",
    "REQUEST_OUTPUT_LEN",
    "OUT_END_ID",
    "OUT_PAD_ID",
)


def produced_outputs(spec: str) -> list[str]:
    return [n for n in tensor_names(spec, "preprocessing", "outputs") if n in PRODUCED]


def build(s: RepoSettings):
    config = new_config(name="preprocessing", backend="python", max_batch_size=s.max_batch_size)
    dynamic_batching(config, s.max_batch_size, s.max_queue_delay_microseconds)
    config.input.extend(model_inputs(s.tensor_spec, "preprocessing"))
    config.output.extend(model_outputs(s.tensor_spec, "preprocessing", produced_outputs(s.tensor_spec)))
    set_nvidia_parameters(
        config,
        s.tensor_spec,
        "preprocessing",
        {
            "tokenizer_dir": TOKENIZER_DIR,
            "add_special_tokens": s.add_special_tokens,
            "trust_remote_code": s.trust_remote_code,
            # Defaults the request may override (END_ID / PAD_ID inputs); from generation_config.json +
            # tokenizer.
            "end_id": s.end_id,
            "pad_id": s.pad_id,
            # Further end-of-sequence ids (e.g. Llama-3 <|eot_id|>) become single-token stop words (P7).
            "stop_token_ids": list(s.stop_token_ids),
        },
    )
    cpu_instances(config, s.preprocessing_instances)
    return config
