#!/usr/bin/env python3
"""Make tiny seeded random models for tests/CI: `--kind llama|moe|gptoss --out DIR [--hidden 256]` or `--all`.

Thin wrapper over trtforge.testing.tiny_models (import that from tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from trtforge.testing.tiny_models import KINDS, make_default_models, make_tiny_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=KINDS)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--all", action="store_true", help="make models/tiny-llama and models/tiny-moe at the repo root"
    )
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    if args.all:
        paths = make_default_models()
    elif args.kind and args.out:
        paths = [
            make_tiny_model(
                args.kind,
                args.out,
                args.hidden,
                layers=args.layers,
                intermediate=args.intermediate,
                seed=args.seed,
            )
        ]
    else:
        ap.error("give --kind and --out, or --all")
    for p in paths:
        print(p)
    print(f"done in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
