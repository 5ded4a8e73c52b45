"""Build step `deploy`: the hand-off files of `trtforge deploy`, published in the build output under deploy/.

Same renderers and checks as the command (trtforge/deploy); a target that cannot run this plan (one-node
targets for a multi-node plan, Kubernetes without a claim for a checkpoint only the build has) is left out
and named in the lock record. Rendering is pure, so the parameters are the rendered files themselves.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from trtforge import deploy
from trtforge.errors import InvalidInput
from trtforge.pipeline.step import Step, StepContext
from trtforge.plan.model import Plan

PUBLISH_DIR = "deploy"


class DeployFilesStep(Step):
    kind: ClassVar[str] = "deploy"

    def __init__(self, name: str, loaded, plan: Plan, needs: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name, loaded, plan, needs)
        ctx = deploy.make_context(loaded.recipe, plan)
        self.bundles, self.skipped = [], {}
        for target in deploy.TARGETS:
            try:
                self.bundles.append(deploy.render(ctx, target))
            except InvalidInput as exc:
                self.skipped[target] = exc.one_line()

    def params(self) -> dict[str, Any]:
        files = {
            f"{b.target}/{rel}": hashlib.sha256(text.encode()).hexdigest()
            for b in self.bundles
            for rel, text in sorted(b.files.items())
        }
        return {"files": files, "skipped": self.skipped}

    def run(self, ctx: StepContext) -> dict[str, Any]:
        for b in self.bundles:
            deploy.check(b)
        for b in self.bundles:
            dest = ctx.out_dir / b.target
            for rel, text in sorted(b.files.items()):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_text(text, encoding="utf-8")
                if text.startswith("#!"):
                    (dest / rel).chmod(0o755)
        ctx.progress(f"deploy files for {', '.join(b.target for b in self.bundles)}")
        return {"targets": [b.target for b in self.bundles], "skipped": self.skipped}
