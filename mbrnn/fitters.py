"""One seam for every kind of model: a fitter trains one seed of one model and returns its dev/test predictions.

The stage (:mod:`mbrnn.train`) prepares a :class:`SeedJob` (cohort frames, targets, label codes, settings) and calls
``fitter_for(arch)(job)``; it never asks which architecture it is running. Neural models (every ``arch`` of
:data:`mbrnn.models.ARCHS`) go through :func:`fit_neural` (word2vec inputs, :func:`mbrnn.fit.fit` with resume state,
``checkpoint.pt``); TF-IDF + logistic regression through :func:`fit_tfidf` (``model.joblib``, no epochs).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import joblib
import numpy as np
import pandas as pd

from mbrnn import batching as B
from mbrnn.checkpoints import checkpoint_meta, extend_state, state_dir_for
from mbrnn.config import TrainConfig
from mbrnn.device import barrier, init_distributed, pick_device, set_seed, world
from mbrnn.embeddings import load as load_embeddings
from mbrnn.fit import CURVE_COLUMNS, fit
from mbrnn.io import atomic_path
from mbrnn.losses import build_loss
from mbrnn.models import ARCHS, build_model
from mbrnn.models.tfidf import TfidfLogReg
from mbrnn.predictions import predict

LOSS_KEYS = ("loss", "gamma", "alpha", "ccs_weight")
"""Keys of a model entry that configure its loss (:func:`mbrnn.losses.build_loss`), not its architecture."""


@dataclass(frozen=True)
class SeedJob:
    """Everything one seed of one model needs: ``frames`` and ``y`` per split (``y[split]["icd"|"ccs"]``
    multi-hot), ``codes`` = (ICD codes, CCS codes) in label-index order; outputs go to ``out_dir``, resume state
    under ``state_root`` (None: ``out_dir/train_state``)."""
    name: str
    model_cfg: dict
    config: TrainConfig
    seed: int
    cohort_dir: Path
    embeddings_dir: Path
    frames: dict
    y: dict
    codes: tuple
    out_dir: Path
    state_root: Path | None
    progress: bool
    resume: bool


@dataclass
class Fitted:
    """What a fitter returns: ``probs[split][head]`` (float32, n x L) for dev and test, the per-epoch curves
    (empty without epochs) and the seed's summary fields of the metrics file."""
    probs: dict
    curves: pd.DataFrame
    extra: dict


def fit_tfidf(job: SeedJob) -> Fitted:
    """TF-IDF + logistic regression: fit on train (notes cut to ``max_tokens``), save ``model.joblib``, predict
    dev and test. The stage's seed unless the model entry sets one."""
    t0 = time.perf_counter()
    kwargs = {"seed": job.seed, "progress": job.progress} | {k: v for k, v in job.model_cfg.items() if k != "arch"}
    clf = TfidfLogReg(**kwargs)
    clf.fit(_truncate(job.frames["train"]["text"], job.config.max_tokens), job.y["train"]["icd"])
    train_seconds = time.perf_counter() - t0
    with atomic_path(job.out_dir / "model.joblib") as tmp:
        joblib.dump(clf, tmp)
    probs = {s: {"icd": np.asarray(clf.predict_proba(_truncate(job.frames[s]["text"], job.config.max_tokens)),
                                   dtype=np.float32)} for s in ("dev", "test")}
    extra = {"epochs_run": 0, "best_epoch": 0, "train_seconds": train_seconds, "converged": None,
             "n_params": int(np.size(clf.coef_) + np.size(clf.intercept_))}
    return Fitted(probs, pd.DataFrame(columns=CURVE_COLUMNS), extra)


def _truncate(texts, max_tokens: int | None) -> list[str]:
    return [" ".join(t.split()[:max_tokens]) for t in texts]


def fit_neural(job: SeedJob) -> Fitted:
    """Build the model and loss, :func:`mbrnn.fit.fit` it with resume state keyed by the run, copy its best
    weights to ``checkpoint.pt`` and predict dev and test with them."""
    cfg = dict(job.model_cfg)
    loss_cfg = {k: cfg.pop(k) for k in LOSS_KEYS if k in cfg}
    icd_codes, ccs_codes = job.codes
    tc = job.config
    vocab, W = load_embeddings(job.embeddings_dir)
    index = {t: i for i, t in enumerate(vocab)}
    sets = {s: B.CodingDataset.from_frame(f, index, icd_codes, ccs_codes, tc.max_tokens) for s, f in job.frames.items()}
    train_b = B.Batches(sets["train"], tc.batch_size, shuffle=True, seed=job.seed)
    dev_b, test_b = (B.Batches(sets[s], tc.eval_batch) for s in ("dev", "test"))
    set_seed(job.seed)
    model = build_model(cfg, W, len(icd_codes), len(ccs_codes))
    loss_fn = build_loss(kind=loss_cfg.get("loss", "bce"), **{k: v for k, v in loss_cfg.items() if k != "loss"})
    meta = checkpoint_meta(vocab, icd_codes, ccs_codes, job.model_cfg) | {"name": job.name}
    state = _state_dir(job, W)
    if tc.extend and job.state_root and world()[0] == 0:
        extend_state(state)
    barrier()  # the state folder as rank 0 left it
    res = fit(model, loss_fn, train_b, dev_b, tc, checkpoint_dir=state, seed=job.seed, resume=job.resume,
              progress=job.progress, meta=meta)
    with atomic_path(job.out_dir / "checkpoint.pt") as tmp:
        shutil.copyfile(state / "best.pt", tmp)
    device = init_distributed(pick_device(tc.device))
    probs = {s: predict(model, b, device, tc.precision, job.progress) for s, b in (("dev", dev_b), ("test", test_b))}
    extra = {"epochs_run": res.epochs_run, "best_epoch": res.best_epoch, "train_seconds": res.train_seconds,
             "converged": res.stopped_early,  # early stopping ended it, not the epoch cap
             "n_params": sum(p.numel() for p in model.parameters()),
             "n_trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    return Fitted(probs, res.curves, extra)


def _state_dir(job: SeedJob, W: np.ndarray) -> Path:
    """The seed's resume-state folder: keyed by the run (:func:`mbrnn.checkpoints.state_dir_for`; resume only
    onto the very same embeddings and training data) under ``state_root``, else ``out_dir/train_state``."""
    if not job.state_root:
        return job.out_dir / "train_state"
    inputs = hashlib.sha256(W.tobytes())
    for split in ("train", "dev"):
        inputs.update((Path(job.cohort_dir) / f"{split}.parquet").read_bytes())
    return state_dir_for(job.state_root, job.name, job.model_cfg, job.config.run_key() | {"seed": job.seed},
                         inputs.hexdigest(), *job.codes)


FITTERS: dict[str, Callable[[SeedJob], Fitted]] = {"tfidf": fit_tfidf, **{arch: fit_neural for arch in ARCHS}}


def fitter_for(arch) -> Callable[[SeedJob], Fitted]:
    """The fitter of a model entry's ``arch``."""
    if arch not in FITTERS:
        raise ValueError(f"model config needs 'arch' in {sorted(FITTERS)}; got {arch!r} (fix the model entry in "
                         "params.yaml)")
    return FITTERS[arch]
