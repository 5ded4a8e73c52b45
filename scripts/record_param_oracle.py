#!/usr/bin/env python3
"""Record transformers' parameter count of every bundled model config (tests/models/data/param_oracle.json).

tests/models/test_oracle.py compares trtforge's analytic counts with this recording, and fails when a bundled
config's SHA-256 no longer matches the one recorded (a config was added or changed): run this script then.
Building every model on the meta device takes minutes (DeepSeek-V3 alone ~2.5 min on one core), which is why
the suite reads the recording instead. Needs the `ml` extra (torch, transformers).

    python scripts/record_param_oracle.py            # rewrite the recording
    python scripts/record_param_oracle.py --check    # exit 1 if the recording is stale or wrong
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trtforge.models.source import bundled_ids  # noqa: E402
from trtforge.testing.param_oracle import RECORDING, config_sha256, transformers_param_count  # noqa: E402


def record() -> dict:
    import torch
    import transformers

    models = {}
    for repo in bundled_ids():
        start = time.perf_counter()
        models[repo] = {"config_sha256": config_sha256(repo), "params": transformers_param_count(repo)}
        print(f"{repo}: {models[repo]['params']:,} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return {
        "about": "transformers' parameter count of each bundled config, built on the meta device "
        "(scripts/record_param_oracle.py; DeepSeek-V3 adds its e_score_correction_bias buffers)",
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "recorded": datetime.date.today().isoformat(),
        "models": models,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the recording, do not write it")
    args = parser.parse_args()
    fresh = record()
    if args.check:
        old = json.loads(RECORDING.read_text())
        if old["models"] != fresh["models"]:
            print(f"{RECORDING} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    RECORDING.parent.mkdir(parents=True, exist_ok=True)
    RECORDING.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORDING}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
