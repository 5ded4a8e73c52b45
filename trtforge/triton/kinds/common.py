"""Small helpers shared by the config builders."""

from __future__ import annotations

import json
from typing import Any

from trtforge.triton.pb import model_config_pb2
from trtforge.triton.specs import required_parameters


def bool_str(value: bool) -> str:
    # Both the C++ backend and the python models accept "true"/"false"; never "True" (issue #365 confusion).
    return "true" if value else "false"


def set_parameters(config, values: dict[str, Any]) -> None:
    """Config parameters are strings on the wire; booleans become true/false, containers JSON."""
    for key, value in values.items():
        if isinstance(value, bool):
            text = bool_str(value)
        elif isinstance(value, (list, tuple, dict)):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value)
        config.parameters[key].string_value = text


def cpu_instances(config, count: int) -> None:
    pb = model_config_pb2()
    config.instance_group.append(pb.ModelInstanceGroup(count=count, kind=pb.ModelInstanceGroup.KIND_CPU))


def dynamic_batching(config, max_batch_size: int, delay_us: int) -> None:
    config.dynamic_batching.preferred_batch_size.append(max_batch_size)
    config.dynamic_batching.max_queue_delay_microseconds = delay_us


def decoupled(config, value: bool) -> None:
    config.model_transaction_policy.decoupled = value


def set_nvidia_parameters(config, spec: str, kind: str, values: dict[str, Any]) -> None:
    """`values`, plus every parameter NVIDIA's code for this model reads without a fallback at the
    repository's
    version, as an empty string (which NVIDIA's code treats as unset) where trtforge decides no value."""
    set_parameters(config, {**{key: "" for key in required_parameters(spec, kind)}, **values})
