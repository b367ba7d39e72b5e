"""Cohort building at MIMIC-III scale, side by side with the I/O floor.

Generates the full-scale synthetic MIMIC-III (46,520 patients, 58,976 admissions, ~2.08 M notes) unless
``--raw`` points at an existing folder (real MIMIC-III works too), then measures, each in a fresh process:

  io_floor  decompress NOTEEVENTS.csv.gz and scan every byte for line breaks (nothing parsed)
  cohort    mbrnn.cohort.build_cohort, label setting ``full``

and prints wall time and peak RSS of both (for the cohort, the larger of the main process and its largest
worker process). Targets (2-core, 24 GB machine): cohort within 2x the I/O floor,
peak RSS under 6 GB. A second, stricter reference is printed beside the floor: ``arrow_gunzip``, pyarrow's
decompression of the same file (the one the cohort builder uses; faster than Python's gzip module). With
``--repeat N`` the measurements alternate N times (floor, reference, cohort, floor, ...) and the medians are
compared, so that a slow spell of a shared machine hits all of them.

    python benchmarks/cohort_scale.py                      # full scale, in a temporary folder
    python benchmarks/cohort_scale.py --scale 5000         # a quick look
    python benchmarks/cohort_scale.py --raw data/raw       # an existing folder
    python benchmarks/cohort_scale.py --repeat 3           # medians of three alternating rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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

ARROW = """
import resource, sys, time, json
import pyarrow as pa
t = time.perf_counter(); n = 0; size = 0
stream = pa.CompressedInputStream(pa.OSFile(sys.argv[1]), "gzip")
while chunk := stream.read(1 << 24):
    n += chunk.count(b"\\n"); size += len(chunk)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lines": n, "uncompressed_gb": size / 1e9}))
"""

COHORT = """
import resource, sys, time, json
from mbrnn.cohort import build_cohort
from mbrnn.config import CohortConfig, DataConfig
t = time.perf_counter()
s = build_cohort(CohortConfig(cohort_dir=sys.argv[2], label_setting="full"), DataConfig(raw_dir=sys.argv[1]), progress=False)
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": rss / 1024,
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
    ap.add_argument("--repeat", type=int, default=1, help="alternating rounds of the three measurements")
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
        rounds = []
        for i in range(args.repeat):
            rounds.append({"io_floor": measure(FLOOR, str(notes)), "arrow_gunzip": measure(ARROW, str(notes)),
                           "cohort": measure(COHORT, str(raw), str(tmp / "cohort"))})
            r = rounds[-1]
            print(f"round {i + 1}: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in r.items())
                  + f"; cohort / io_floor {r['cohort']['seconds'] / r['io_floor']['seconds']:.2f}x", flush=True)

    median = {k: statistics.median(r[k]["seconds"] for r in rounds) for k in rounds[0]}
    rss = {k: max(r[k]["peak_rss_mb"] for r in rounds) for k in rounds[0]}
    floor, cohort = rounds[0]["io_floor"], rounds[0]["cohort"]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    print(f"NOTEEVENTS: {floor['uncompressed_gb']:.2f} GB uncompressed, {floor['lines']:,} lines")
    print(f"{'':<13} {'median wall s':>14} {'peak RSS MB':>12}   ({args.repeat} round(s))")
    for k in median:
        print(f"{k:<13} {median[k]:>14.1f} {rss[k]:>12.0f}")
    ratio = median["cohort"] / median["io_floor"]
    per_round = statistics.median(r["cohort"]["seconds"] / r["io_floor"]["seconds"] for r in rounds)
    print(f"cohort / io_floor = {ratio:.2f}x (target <= 2x; median of the rounds' own ratios {per_round:.2f}x); cohort / arrow_gunzip = "
          f"{median['cohort'] / median['arrow_gunzip']:.2f}x; peak RSS {rss['cohort'] / 1024:.2f} GB (target < 6 GB)")
    print(f"cohort: {cohort['admissions']:,} admissions, {cohort['labels']:,} labels, median {cohort['median_tokens']:.0f} tokens")


if __name__ == "__main__":
    main()
