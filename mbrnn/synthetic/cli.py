"""``python -m mbrnn.synthetic``: generate the synthetic cohort from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from .stream import FORMATS, generate


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, generate, print the summary as JSON; a bad scale or seed is a usage error."""
    ap = argparse.ArgumentParser(prog="python -m mbrnn.synthetic", description=sys.modules[__package__].__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (e.g. data/raw)")
    ap.add_argument("--scale", default="demo", help="demo | full | <number of admissions> (default: demo)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", default="mimic3", choices=FORMATS,
                    help="mimic3: MIMIC-III v1.4 tables | mimic4: MIMIC-IV hosp/ and note/ tables (default: mimic3)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        summary = generate(args.out, scale=args.scale, seed=args.seed, progress=not args.no_progress,
                           format=args.format)
    except ValueError as e:
        ap.error(str(e))
    print(json.dumps(summary, indent=2))
    return 0
