"""Epochs to convergence and wall time per model on a built cohort + embeddings (no DVC, no notebooks).

Trains each model of ``params.yaml`` (or ``--models``) with the train settings of ``params.yaml`` (overridden by
``--set train.key=value`` / ``--set models.NAME.key=value``, values parsed as YAML) through ``mbrnn.train.run``,
one after the other, into a scratch folder, and prints per model: best epoch, last epoch, whether early stopping
ended it (converged: early stopping, not the epoch cap, ended it), train seconds, seconds per epoch, dev and test
micro-/macro-F1 of the primary seed. Nothing under ``data/`` or ``reports/`` is touched.

    python benchmarks/convergence.py                                   # every model of params.yaml
    python benchmarks/convergence.py --models mbrnn,laat --set train.lr=0.005 --set train.batch_size=32
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from mbrnn import runner, train
from mbrnn.config import TrainConfig, load_params

ROOT = runner.project_root(__file__)


def apply_set(params: dict, assignment: str) -> None:
    """``a.b.c=value``: set a nested key of ``params`` (value parsed as YAML); the key must exist or its parent
    must be a model entry."""
    path, _, raw = assignment.partition("=")
    *parents, leaf = path.split(".")
    node = params
    for p in parents:
        if p not in node:
            raise SystemExit(f"--set {assignment}: no key {p!r} under {'.'.join(parents)}")
        node = node[p]
    node[leaf] = yaml.safe_load(raw)


def bench(params: dict, names: list[str], scratch: Path) -> list[dict]:
    """Train each model once; one row of figures per model."""
    rows = []
    tc = TrainConfig.from_params(params)
    for name in names:
        t0 = time.perf_counter()
        m = train.run(name, params["models"][name], tc, params["cohort"]["cohort_dir"],
                      params["embeddings"]["embeddings_dir"], scratch / "models" / name,
                      scratch / "metrics" / f"{name}.json", scratch / "curves" / f"{name}.csv", progress=False,
                      state_root=scratch / "state")
        wall = time.perf_counter() - t0
        ep = max(m["epochs_run"], 1)
        rows.append({"model": name, "best_epoch": m["best_epoch"], "last_epoch": m["epochs_run"],
                     "converged": m["converged"], "train_s": round(m["train_seconds"], 1),
                     "s_per_epoch": round(m["train_seconds"] / ep, 1), "wall_s": round(wall, 1),
                     **{f"{s}_{k}": round(100 * m["icd"][s][k], 1) for s in ("dev", "test")
                        for k in ("micro_f1", "macro_f1")}})
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--models", help="comma-separated model names (default: every entry of models)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--scratch", help="folder for checkpoints and predictions (default: a temporary one)")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    for a in args.set:
        apply_set(params, a)
    names = args.models.split(",") if args.models else list(params["models"])
    print("train:", {k: v for k, v in params["train"].items() if not k.endswith("_dir")}, flush=True)
    with tempfile.TemporaryDirectory(prefix="mbrnn-conv-") as tmp:
        rows = bench(params, names, Path(args.scratch or tmp))
    import pandas as pd

    df = pd.DataFrame(rows).set_index("model")
    print(df.to_markdown() if hasattr(df, "to_markdown") else df.to_string())
    print(f"total wall: {df['wall_s'].sum():.0f} s; converged: {int((df['converged'] != False).sum())}/{len(df)}")  # noqa: E712


if __name__ == "__main__":
    main()
