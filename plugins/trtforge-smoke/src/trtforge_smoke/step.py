"""The `smoke` step: run `check_checkpoint` on the checkpoint step's output."""

from __future__ import annotations

import json
from typing import Any

from trtforge.errors import StepFailed
from trtforge.pipeline.step import Step, StepContext
from trtforge.pipeline.versions import tool_versions
from trtforge_smoke import SmokeOptions, __version__


class SmokeStep(Step):
    """Checkpoint smoke test: structure and NaN/Inf/zero weights."""

    kind = "smoke"
    version = __version__  # our own code shapes the report: a new release re-runs the check

    @property
    def options(self) -> SmokeOptions:
        return SmokeOptions.model_validate(self.loaded.recipe.steps.get(self.kind) or {})

    def _require_quantized(self) -> bool:
        opt = self.options.require_quantized
        return opt if opt is not None else self.plan.quantization.source == "modelopt"

    def params(self) -> dict[str, Any]:
        return {**self.options.model_dump(mode="json"), "require_quantized": self._require_quantized()}

    def tool_versions(self) -> dict[str, str]:
        return tool_versions("numpy")

    def run(self, ctx: StepContext) -> dict[str, Any]:
        upstream = ctx.inputs[self.needs[0]]
        # The quantize step nests its unified HF checkpoint under hf/ (next to trtllm/ and its report).
        ckpt = upstream / "hf" if (upstream / "hf" / "config.json").is_file() else upstream
        opts = self.options
        ctx.progress(f"checking the {self.needs[0]} checkpoint")
        # imported here: the checks import numpy (~50 ms), and every trtforge start registers this plugin
        from trtforge_smoke.checks import check_checkpoint

        report = check_checkpoint(ckpt, scan_values=opts.scan_values)
        if opts.fail_on_zero_tensors:
            report.problems.extend(f"{name}: all zeros" for name in report.zero_tensors)
        if self._require_quantized() and report.quantization is None:
            report.problems.append(
                "the plan quantizes this model but the checkpoint has no quantization config"
            )
        (ctx.out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        if report.problems:
            more = f" (+{len(report.problems) - 1} more, see report.json)" if len(report.problems) > 1 else ""
            raise StepFailed(f"checkpoint smoke test failed: {report.problems[0]}{more}")
        ctx.log(
            f"{report.tensors} tensors in {report.files} files look sane"
            + (f" (quantization: {report.quantization})" if report.quantization else "")
        )
        return {
            "tensors": report.tensors,
            "files": report.files,
            "quantization": report.quantization,
            "zero_tensors": len(report.zero_tensors),
        }
