"""A client that speaks NVIDIA's end-to-end gRPC client contract (tensorrtllm_backend
inflight_batcher_llm/client/end_to_end_grpc_client.py, read at v0.19.0; this is our own code).

The contract, as that client exercises it with its default flags:
- inputs shaped [batch=1, 1]: text_input (BYTES), max_tokens (INT32), stream (BOOL), beam_width (INT32),
  temperature (FP32) and exclude_input_in_output (BOOL, false unless --exclude-input-in-output);
- requested output: text_output only;
- always a gRPC bidirectional stream (start_stream, async_stream_infer, stop_stream waits for the server to
close
  it), for decoupled and non-decoupled models alike;
- each response: `result.as_numpy("text_output")[0].decode("utf-8")`, i.e. text_output is 1-D, one element per
  sequence; streamed pieces are concatenated; batch_index / sequence_index default to 0 when absent;
- an error response is collected, not raised.
"""

from __future__ import annotations

import queue
from functools import partial

import numpy as np


def nvidia_inputs(
    prompt: str, output_len: int, streaming: bool, exclude_input_in_output: bool = False
) -> dict:
    return {
        "text_input": np.array([[prompt]]).astype(object),
        "max_tokens": np.ones_like([[prompt]]).astype(np.int32) * output_len,
        "stream": np.array([[streaming]], dtype=bool),
        "beam_width": np.array([[1]], dtype=np.int32),
        "temperature": np.array([[1.0]], dtype=np.float32),
        "exclude_input_in_output": np.array([[exclude_input_in_output]], dtype=bool),
    }


def run(url: str, model: str, inputs: dict, streaming: bool, request_id: str = "1") -> tuple[str, list, list]:
    """(text, pieces, errors) exactly as NVIDIA's client assembles them."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException, np_to_triton_dtype

    tensors = []
    for name, value in inputs.items():
        tensor = grpcclient.InferInput(name, value.shape, np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    results: queue.Queue = queue.Queue()

    def callback(sink, result, error):
        sink.put(error if error else result)

    triton = grpcclient.InferenceServerClient(url=url)
    try:
        triton.start_stream(callback=partial(callback, results))
        triton.async_stream_infer(
            model, tensors, outputs=[grpcclient.InferRequestedOutput("text_output")], request_id=request_id
        )
        triton.stop_stream()
    finally:
        triton.close()
    text, pieces, errors = "", [], []
    while not results.empty():
        result = results.get()
        if isinstance(result, InferenceServerException):
            errors.append(result)
            continue
        output = result.as_numpy("text_output")
        assert result.as_numpy("batch_index") is None and result.as_numpy("sequence_index") is None
        piece = output[0].decode("utf-8")  # the line that crashed on a (1, 1) array
        if streaming:
            pieces.append(piece)
            text += piece
        else:
            text = piece
    return text, pieces, errors
