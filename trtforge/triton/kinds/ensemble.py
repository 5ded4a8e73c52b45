"""`ensemble`: preprocessing -> tensorrt_llm -> postprocessing, wired as upstream wires it.

The wiring is taken from the upstream ensemble template (data file) and restricted to the tensors trtforge
emits, so the names on every edge are NVIDIA's.
"""

from __future__ import annotations

from trtforge.triton.pb import model_config_pb2, new_config
from trtforge.triton.settings import RepoSettings
from trtforge.triton.specs import emitted, model_inputs, model_outputs, upstream_model


def wiring() -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(model, input_map, output_map) per step, restricted to emitted tensors; internal tensors start with '_'."""
    public_in = set(emitted("ensemble")["inputs"])
    public_out = set(emitted("ensemble")["outputs"])
    steps = upstream_model(emitted("ensemble")["upstream"])["ensemble_steps"]
    available = set(public_in)
    produced: list[tuple[str, dict[str, str], dict[str, str]]] = []
    for step in steps:
        kind = step["model_name"]
        model_in, model_out = set(emitted(kind)["inputs"]), set(emitted(kind)["outputs"])
        input_map = {k: v for k, v in step["input_map"].items() if k in model_in and v in available}
        output_map = {
            k: v
            for k, v in step["output_map"].items()
            if k in model_out and (v.startswith("_") or v in public_out)
        }
        available.update(output_map.values())
        produced.append((kind, input_map, output_map))
    # Drop internal tensors no later step reads (Triton rejects unused ensemble tensors).
    consumed = {v for _, input_map, _ in produced for v in input_map.values()}
    return [
        (kind, inp, {k: v for k, v in out.items() if not v.startswith("_") or v in consumed})
        for kind, inp, out in produced
    ]


def build(s: RepoSettings):
    pb = model_config_pb2()
    config = new_config(name="ensemble", platform="ensemble", max_batch_size=s.max_batch_size)
    config.input.extend(model_inputs("ensemble"))
    config.output.extend(model_outputs("ensemble"))
    for kind, input_map, output_map in wiring():
        step = pb.ModelEnsembling.Step(model_name=kind, model_version=-1)
        for key in sorted(input_map):
            step.input_map[key] = input_map[key]
        for key in sorted(output_map):
            step.output_map[key] = output_map[key]
        config.ensemble_scheduling.step.append(step)
    return config
