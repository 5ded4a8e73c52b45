"""A stand-in for Triton's `triton_python_backend_utils`, enough to drive the shipped models' glue in tests.

Only the calls our model.py files make exist here; the real module is exercised by the server tests.
"""

from __future__ import annotations

import numpy as np

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1


class TritonModelException(Exception):
    pass


class TritonError:
    def __init__(self, msg: str) -> None:
        self._msg = msg

    def message(self) -> str:
        return self._msg


class Tensor:
    def __init__(self, name: str, array) -> None:
        self._name = name
        self._array = np.asarray(array)

    def name(self) -> str:
        return self._name

    def as_numpy(self):
        return self._array


class InferenceResponse:
    def __init__(self, output_tensors=None, error=None) -> None:
        self.output_tensors = list(output_tensors or [])
        self.error_ = error

    def has_error(self) -> bool:
        return self.error_ is not None

    def error(self):
        return self.error_


class ResponseSender:
    def __init__(self) -> None:
        self.sent: list[tuple[InferenceResponse | None, int]] = []

    def send(self, response=None, flags: int = 0) -> None:
        self.sent.append((response, flags))


class InferenceRequest:
    def __init__(self, inputs, model_name: str = "", requested_output_names=None) -> None:
        self._inputs = list(inputs)
        self.model_name = model_name
        self.sender = ResponseSender()

    def inputs(self):
        return self._inputs

    def get_response_sender(self) -> ResponseSender:
        return self.sender


class Logger:
    lines: list[str] = []

    @classmethod
    def log_info(cls, msg: str) -> None:
        cls.lines.append(msg)

    log_warn = log_error = log_verbose = log_info


def get_input_tensor_by_name(request, name):
    for t in request.inputs():
        if t.name() == name:
            return t
    return None


def get_output_tensor_by_name(response, name):
    for t in response.output_tensors:
        if t.name() == name:
            return t
    return None


def request(**arrays) -> InferenceRequest:
    return InferenceRequest([Tensor(k, v) for k, v in arrays.items()])


def outputs(response: InferenceResponse) -> dict:
    return {t.name(): t.as_numpy() for t in response.output_tensors}
