"""`ensemble`: preprocessing -> tensorrt_llm -> postprocessing, wired as NVIDIA's template wires it.

Public inputs are all of NVIDIA's for the repository's version (a request that needs one the runtime cannot
honour is refused by the model that receives it, by name). Steps are NVIDIA's, restricted to the tensors each
trtforge model declares; public outputs are NVIDIA's that the restricted steps produce.
"""

from __future__ import annotations

from trtforge.triton.kinds.preprocessing import produced_outputs
from trtforge.triton.pb import model_config_pb2, new_config
from trtforge.triton.settings import RepoSettings
from trtforge.triton.specs import model_inputs, model_outputs, template, tensor_names

Step = tuple[str, dict[str, str], dict[str, str]]


def declared(spec: str, kind: str) -> tuple[set[str], set[str]]:
    """(inputs, outputs) a trtforge model of this kind declares."""
    inputs = set(tensor_names(spec, kind, "inputs"))
    if kind == "preprocessing":
        return inputs, set(produced_outputs(spec))
    if kind == "postprocessing":
        return inputs, {"OUTPUT"}
    return inputs, set(tensor_names(spec, kind, "outputs"))


def wiring(spec: str) -> list[Step]:
    """(model, input_map, output_map) per step; internal tensors start with '_'."""
    public_in = set(tensor_names(spec, "ensemble", "inputs"))
    public_out = set(tensor_names(spec, "ensemble", "outputs"))
    available = set(public_in)
    produced: list[Step] = []
    for step in template(spec, "ensemble")["ensemble_steps"]:
        kind = step["model_name"]
        model_in, model_out = declared(spec, kind)
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


def public_outputs(spec: str) -> list[str]:
    made = {v for _, _, out in wiring(spec) for v in out.values()}
    return [n for n in tensor_names(spec, "ensemble", "outputs") if n in made]


def build(s: RepoSettings):
    pb = model_config_pb2()
    spec = s.tensor_spec
    config = new_config(name="ensemble", platform="ensemble", max_batch_size=s.max_batch_size)
    config.input.extend(model_inputs(spec, "ensemble"))
    config.output.extend(model_outputs(spec, "ensemble", public_outputs(spec)))
    for kind, input_map, output_map in wiring(spec):
        step = pb.ModelEnsembling.Step(model_name=kind, model_version=-1)
        for key in sorted(input_map):
            step.input_map[key] = input_map[key]
        for key in sorted(output_map):
            step.output_map[key] = output_map[key]
        config.ensemble_scheduling.step.append(step)
    return config
