"""The train stage: every seed of one model trained, dev and test predicted, metrics and curves written.

:func:`run_stage` is what notebook 03 calls: it takes the stage's part of ``params.yaml``, validates the ``train``
section once (:class:`mbrnn.config.TrainConfig`) and derives every path. :func:`run` does the work for given paths;
which kind of model it trains is the fitter's business (:mod:`mbrnn.fitters`), never the stage's.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from mbrnn import batching as B
from mbrnn.config import TrainConfig
from mbrnn.device import init_distributed, launched_distributed, pick_device, set_seed, world
from mbrnn.fitters import SeedJob, fitter_for
from mbrnn.io import atomic_dir, write_csv, write_json
from mbrnn.metrics import evaluate, tune_threshold
from mbrnn.predictions import save_predictions

log = logging.getLogger(__name__)


def run_stage(name: str, params: dict, progress: bool = False, resume: bool = True) -> dict:
    """The ``train@<name>`` stage. ``params`` is the stage's part of ``params.yaml``: ``models.<name>``, ``train``,
    ``cohort.cohort_dir``, ``embeddings.embeddings_dir``, ``reports.metrics_dir``. Writes
    ``<models_dir>/<name>/``, ``<metrics_dir>/models/<name>.json`` and ``<curves_dir>/<name>.csv``, with resume
    state under ``state_dir``; returns the metrics."""
    config = TrainConfig.from_params(params)
    return run(name, params["models"][name], config, params["cohort"]["cohort_dir"],
               params["embeddings"]["embeddings_dir"], Path(config.models_dir) / name,
               Path(params["reports"]["metrics_dir"]) / "models" / f"{name}.json",
               Path(config.curves_dir) / f"{name}.csv", progress=progress, resume=resume,
               state_root=config.state_dir)


def run(name: str, model_cfg: dict, config: TrainConfig, cohort_dir, embeddings_dir, out_dir, metrics_path,
        curves_path, progress: bool = True, resume: bool = True, state_root=None) -> dict:
    """Train one model for every seed of ``config.seeds``, predict dev/test with the best weights of each.

    The primary (first) seed writes ``out_dir/{checkpoint.pt,dev.npz,test.npz}`` (``model.joblib`` for TF-IDF)
    and the curves; seed ``s`` of the others writes the same files under ``out_dir/seed-<s>/``. The metrics JSON
    describes the primary seed at its top level, every seed under ``by_seed``, and the parameters it was produced
    with under ``params``. ``state_root`` holds the per-epoch resume state (default: ``<seed's out dir>/train_state``).

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1): every rank trains (see :func:`mbrnn.fit.fit`); only rank 0
    writes the outputs, the others write theirs into a temporary folder that is removed (and return the same
    metrics)."""
    if launched_distributed():  # under torchrun: join the process group once
        init_distributed(pick_device(config.device))
    if world()[1] > 1 and state_root is None:
        raise ValueError("a distributed run needs state_root (train.state_dir), the resume state all ranks share")
    args = (name, model_cfg, config, cohort_dir, embeddings_dir)
    if world()[0] == 0:
        return _run(*args, Path(out_dir), metrics_path, curves_path, progress, resume, state_root)
    with tempfile.TemporaryDirectory(prefix="mbrnn-rank") as tmp:
        tmp = Path(tmp)
        return _run(*args, tmp / "out", tmp / "metrics.json", tmp / "curves.csv", False, resume, state_root)


def _run(name, model_cfg, config: TrainConfig, cohort_dir, embeddings_dir, out_dir: Path, metrics_path, curves_path,
         progress, resume, state_root) -> dict:
    """:func:`run`'s work for one process: every seed trained and predicted, the metrics and curves written."""
    frames, y, codes = _load_cohort(cohort_dir)
    results = {}
    # With the resume state outside it (the pipeline's case), the output folder is replaced in one step: an
    # interrupted stage leaves the old folder or the new one, never a mix of seeds or files.
    with (atomic_dir(out_dir) if state_root else contextlib.nullcontext(out_dir)) as target:
        for i, seed in enumerate(config.seeds):
            job = SeedJob(name, dict(model_cfg), config, seed, Path(cohort_dir), Path(embeddings_dir),
                          frames, y, codes, out_dir=target if i == 0 else target / f"seed-{seed}",
                          state_root=Path(state_root) if state_root else None, progress=progress, resume=resume)
            results[seed] = _run_seed(job)
    primary = results[config.seeds[0]]
    metrics = {k: v for k, v in primary.items() if k != "curves"}
    metrics.update(patience=config.patience, seeds=list(config.seeds),
                   params={"model": dict(model_cfg), "train": config.record()})
    metrics["by_seed"] = {str(s): {"icd": {k: r["icd"][k] for k in ("dev", "test")}, "best_epoch": r["best_epoch"],
                                   "epochs_run": r["epochs_run"], "converged": r["converged"]}
                          for s, r in results.items()}
    write_json(metrics_path, metrics)
    write_csv(curves_path, primary["curves"])
    metric = config.early_stop_metric
    log.info("%s: dev %s = %s, best epoch %s of %s", name, metric, metrics["icd"]["dev"].get(metric),
             metrics["best_epoch"], metrics["epochs_run"])
    return metrics


def _load_cohort(cohort_dir) -> tuple[dict, dict, tuple]:
    """The cohort splits, their multi-hot ICD and CCS targets, and the label codes (read once for every seed)."""
    icd_codes, ccs_codes = B.load_label_vocab(cohort_dir)
    frames = {s: B.load_split(cohort_dir, s) for s in B.SPLITS}
    y = {s: {"icd": B.multi_hot(f["icd_codes"], icd_codes), "ccs": B.multi_hot(f["ccs_codes"], ccs_codes)}
         for s, f in frames.items()}
    return frames, y, (icd_codes, ccs_codes)


def _run_seed(job: SeedJob) -> dict:
    """Train and evaluate one seed: the fitter writes ``out_dir``'s model file, this writes the dev/test npz;
    returns the seed's metrics dict plus its ``curves`` frame."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    set_seed(job.seed)
    frames, y, (icd_codes, ccs_codes) = job.frames, job.y, job.codes
    fitted = fitter_for(job.model_cfg.get("arch"))(job)
    probs, multitask = fitted.probs, "ccs" in fitted.probs["dev"]
    for s in ("dev", "test"):
        save_predictions(job.out_dir / f"{s}.npz", frames[s]["hadm_id"].to_numpy(), icd_codes, probs[s]["icd"],
                         y[s]["icd"], *((ccs_codes, probs[s]["ccs"], y[s]["ccs"]) if multitask else ()))
    threshold = job.config.threshold
    t = float(tune_threshold(y["dev"]["icd"], probs["dev"]["icd"]))
    metrics = {"icd": {"dev": evaluate(y["dev"]["icd"], probs["dev"]["icd"], threshold=threshold),
                       "test": evaluate(y["test"]["icd"], probs["test"]["icd"], threshold=threshold),
                       "test_tuned": evaluate(y["test"]["icd"], probs["test"]["icd"], threshold=t)},
               "threshold_tuned": t, **fitted.extra}
    if multitask:
        metrics["ccs"] = {s: evaluate(y[s]["ccs"], probs[s]["ccs"], threshold=threshold) for s in ("dev", "test")}
    return metrics | {"curves": fitted.curves}
