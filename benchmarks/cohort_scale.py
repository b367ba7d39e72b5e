"""Cohort building at MIMIC-III scale, side by side with the I/O floor.

Generates the full-scale synthetic MIMIC-III (46,520 patients, 58,976 admissions, ~2.08 M notes) unless
``--raw`` points at an existing folder (real MIMIC-III works too), then measures, each in a fresh process:

  io_floor  decompress NOTEEVENTS.csv.gz and scan every byte for line breaks (nothing parsed)
  cohort    mbrnn.cohort.build_cohort, label setting ``full``

and prints wall time and peak RSS of both. Targets (2-core, 24 GB machine): cohort within 2x the I/O floor,
peak RSS under 6 GB.

    python benchmarks/cohort_scale.py                      # full scale, in a temporary folder
    python benchmarks/cohort_scale.py --scale 5000         # a quick look
    python benchmarks/cohort_scale.py --raw data/raw       # an existing folder
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import gzip, resource, sys, time, json
t = time.perf_counter(); n = 0; size = 0
with gzip.open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 24):
        n += chunk.count(b"\\n"); size += len(chunk)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lines": n, "uncompressed_gb": size / 1e9}))
"""

COHORT = """
import resource, sys, time, json
from mbrnn.cohort import build_cohort
t = time.perf_counter()
s = build_cohort(sys.argv[1], sys.argv[2], label_setting="full", progress=False)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "admissions": s["admissions"]["total"], "labels": s["n_icd_labels"],
                  "median_tokens": s["tokens_per_admission"]["median"]}))
"""


def measure(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="full", help="synthetic scale to generate (demo|full|<n>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--raw", help="use this raw folder instead of generating one")
    ap.add_argument("--workdir", help="where to generate (default: a temporary folder, removed afterwards)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        raw = Path(args.raw) if args.raw else tmp / "raw"
        if not args.raw:
            from mbrnn.synthetic import generate

            t = time.perf_counter()
            generate(raw, scale=args.scale, seed=args.seed)
            print(f"generated synthetic scale={args.scale} in {time.perf_counter() - t:.0f} s")
        notes = raw / "NOTEEVENTS.csv.gz"
        print(f"NOTEEVENTS.csv.gz: {notes.stat().st_size / 1e9:.2f} GB compressed")
        floor = measure(FLOOR, str(notes))
        cohort = measure(COHORT, str(raw), str(tmp / "cohort"))

    print(f"\nmachine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores")
    print(f"NOTEEVENTS: {floor['uncompressed_gb']:.2f} GB uncompressed, {floor['lines']:,} lines")
    print(f"{'':<10} {'wall s':>8} {'peak RSS MB':>12}")
    print(f"{'io_floor':<10} {floor['seconds']:>8.1f} {floor['peak_rss_mb']:>12.0f}")
    print(f"{'cohort':<10} {cohort['seconds']:>8.1f} {cohort['peak_rss_mb']:>12.0f}")
    ratio = cohort["seconds"] / floor["seconds"]
    print(f"cohort / io_floor = {ratio:.2f}x (target <= 2x); peak RSS {cohort['peak_rss_mb'] / 1024:.2f} GB (target < 6 GB)")
    print(f"cohort: {cohort['admissions']:,} admissions, {cohort['labels']:,} labels, median {cohort['median_tokens']:.0f} tokens")


if __name__ == "__main__":
    main()
