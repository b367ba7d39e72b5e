"""The GPU profile: every model of params.yaml at the paper's sizes on the embedded demo, side by side on one GPU.

    python benchmarks/gpu_profile.py [--overlay configs/gpu-paper-sizes.yaml] [--jobs 7] [--seeds 0 1 2]
                                     [--out data/gpu-profile] [--prepare-only] [--tiny]

The overlay is merged into params.yaml in memory (``mbrnn.overlays``; params.yaml is not touched) and every stage
notebook runs with those parameters, the way ``dvc.yaml`` calls it, but into ``--out``: the demo cohort is reused
from ``data/cohort`` (built first if missing), word2vec is retrained (the overlay sets the zero ``<unk>`` row),
then the models train as ``--jobs`` concurrent processes on the one GPU (at batch 16 a single model leaves the
GPU mostly idle), and the analysis notebook writes its tables. Prints the main and ablation tables, each model's
training time and the total wall time.

``--prepare-only`` stops before the first training job, i.e. before the first CUDA call: everything up to there
runs on CPU (this is how the check was verified without a GPU). ``--tiny`` shrinks sizes and epochs so the whole
flow can be smoke-tested on CPU in a few minutes (numbers meaningless).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mbrnn import overlays, runner  # noqa: E402
from mbrnn.config import load_params

TINY = {"train": {"max_tokens": 200, "epochs": 2, "patience": 1, "device": "cpu"},
        "by_arch": {"mbrnn": {"hidden": 8}, "laat": {"hidden": 8, "d_a": 8}, "caml": {"num_filters": 8}}}


def profile_params(overlay: Path, out: Path, seeds: list[int] | None, tiny: bool) -> dict:
    """params.yaml + overlay, with every output redirected under ``out`` (the demo cohort is shared)."""
    params = overlays.apply(load_params(ROOT / "params.yaml"), overlays.load(overlay), str(overlay))
    params["embeddings"]["embeddings_dir"] = str(out / "embeddings")
    params["train"].update(models_dir=str(out / "models"), state_dir=str(out / "checkpoints"),
                           curves_dir=str(out / "reports" / "curves"))
    params["reports"] = {"index": str(out / "reports" / "README.md"), "figures_dir": str(out / "reports" / "figures"),
                         "tables_dir": str(out / "reports" / "tables"), "metrics_dir": str(out / "reports" / "metrics")}
    if seeds and "seeds" in params["train"]:
        params["train"]["seeds"] = seeds
    elif seeds:  # params.yaml from before train.seeds: one seed
        params["train"]["seed"] = seeds[0]
    if tiny:
        params["train"].update(TINY["train"])
        for m in params["models"].values():
            m.update(TINY["by_arch"].get(m.get("arch"), {}))
    return params


def run_stage(params: dict, stage: str, key: str | None, nb_dir: Path) -> tuple[str, float]:
    """Execute one stage's notebook with ``params``; returns (label, seconds)."""
    name = f"{stage}@{key}" if key else stage
    t0 = time.perf_counter()
    runner.run_stage(name, params, ROOT, out=nb_dir / Path(runner.stage(name, params, ROOT).out).name)
    return name, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overlay", type=Path, default=ROOT / "configs" / "gpu-paper-sizes.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "gpu-profile")
    ap.add_argument("--jobs", type=int, default=0, help="concurrent training processes (0: one per model)")
    ap.add_argument("--seeds", type=int, nargs="+", help="train.seeds (default: params.yaml's)")
    ap.add_argument("--prepare-only", action="store_true", help="stop before the first training job (CPU check)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes and 2 epochs on CPU: a smoke test of the flow")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text("*\n")  # generated outputs, never committed
    params = profile_params(args.overlay, out, args.seeds, args.tiny)
    nb_dir = out / "notebooks"
    cohort = ROOT / params["cohort"]["cohort_dir"]
    if not (cohort / "icd_labels.csv").exists():
        print(run_stage(params, "cohort", None, nb_dir), flush=True)
    print(run_stage(params, "embeddings", None, nb_dir), flush=True)
    names = list(params["models"])
    print(f"models: {names}; train: " + ", ".join(f"{k}={params['train'][k]}" for k in
          ("max_tokens", "lr", "patience", "epochs", "batch_size", "eval_batch_size", "weight_decay", "device")),
          flush=True)
    if args.prepare_only:
        print("prepared; stopping before the first training job (--prepare-only)")
        return 0
    with ProcessPoolExecutor(max_workers=args.jobs or len(names)) as pool:
        times = dict(pool.map(run_stage, [params] * len(names), ["train"] * len(names), names, [nb_dir] * len(names)))
    times.update([run_stage(params, "analysis", None, nb_dir)])
    tables = Path(params["reports"]["tables_dir"])
    for t in ("main_results", "ablations"):
        print("\n" + (tables / f"{t}.md").read_text())
    print("\n".join(f"{k}: {v:.0f} s" for k, v in times.items()))
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
