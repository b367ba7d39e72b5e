"""Training loop with early stopping and exact resume, prediction, and the per-model pipeline stage.

Checkpoints are plain dicts of tensors and Python values (``torch.load(..., weights_only=True)`` works):

* ``last.pt`` (each epoch): model, optimizer, grad scaler, epoch, early-stopping state, RNG states, curves.
  ``fit(resume=True)`` continues from it exactly (bitwise on CPU).
* ``best.pt`` / ``checkpoint.pt``: model weights of the best dev epoch + metadata (vocab hash, label codes,
  model config) checked by :func:`load_checkpoint`.

Unlike the reference code, the best checkpoint is restored before predicting dev and test.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from mbrnn import data as D
from mbrnn.io import atomic_dir, atomic_path, save_npz, write_csv, write_json

log = logging.getLogger(__name__)

LOSS_KEYS = ("loss", "gamma", "alpha", "ccs_weight")
CURVE_COLUMNS = ["epoch", "train_loss", "train_loss_icd", "train_loss_ccs", "dev_micro_f1", "dev_macro_f1", "seconds",
                 "dev_micro_auc", "lr"]
FORMAT = "mbrnn-checkpoint-v1"


# ---------------------------------------------------------------------------------------------- setup
def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def pick_device(pref: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. CPU runs use deterministic algorithms."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(pref)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available; set train.device: auto or cpu")
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def amp_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Autocast dtype: ``auto`` = bf16 on CUDA when supported, else fp16 on CUDA, fp32 (None) on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    table = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in table:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return table[precision]


def world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> torch.device:
    """Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment): join the process group (nccl on CUDA, gloo
    on CPU) once and return this rank's device (``cuda:LOCAL_RANK``). Without torchrun: ``device`` unchanged."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def vocab_hash(vocab: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()


def checkpoint_meta(vocab: Sequence[str], icd_codes: Sequence[str], ccs_codes: Sequence[str] | None,
                    model_cfg: dict | None = None) -> dict:
    """Metadata stored in checkpoints and checked by :func:`load_checkpoint`."""
    return {"vocab_sha256": vocab_hash(vocab), "vocab_size": len(vocab), "icd_codes": list(icd_codes),
            "ccs_codes": None if ccs_codes is None else list(ccs_codes), "model_cfg": dict(model_cfg or {})}


# ---------------------------------------------------------------------------------------------- checkpoints
def _save(obj: dict, path: Path) -> None:
    # Through a file object: torch names the archive after the file, and the temporary name is random.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {"key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(s: dict) -> None:
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))
    n = s["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": np.array(n["key"], dtype=np.uint32),
                         "pos": n["pos"]}, "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _diff_codes(kind: str, saved: list[str] | None, given: list[str] | None) -> str | None:
    if saved == given:
        return None
    if saved is None or given is None:
        return f"{kind} labels: checkpoint has {'none' if saved is None else len(saved)}, " \
               f"given {'none' if given is None else len(given)}"
    missing, extra = set(saved) - set(given), set(given) - set(saved)
    if not missing and not extra:
        return f"{kind} labels: same {len(saved)} codes in a different order"
    return (f"{kind} labels: checkpoint has {len(saved)}, given {len(given)}; {len(missing)} only in checkpoint "
            f"(e.g. {sorted(missing)[:3]}), {len(extra)} only given (e.g. {sorted(extra)[:3]})")


def load_checkpoint(path, vocab: Sequence[str], icd_codes: Sequence[str], ccs_codes: Sequence[str] | None = None) -> dict:
    """Load a best/final checkpoint; raise if its vocabulary or label sets differ from the given ones."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an mbrnn checkpoint ({FORMAT})")
    problems = []
    if meta["vocab_sha256"] != vocab_hash(vocab):
        problems.append(f"vocabulary: checkpoint has {meta['vocab_size']} tokens, given {len(vocab)}"
                        + (" (same size, different tokens or order)" if meta["vocab_size"] == len(vocab) else ""))
    for kind, saved, given in (("ICD", meta["icd_codes"], list(icd_codes)),
                               ("CCS", meta["ccs_codes"], None if ccs_codes is None else list(ccs_codes))):
        if kind == "CCS" and saved is not None and given is None:
            continue  # caller does not care about the CCS head
        if (p := _diff_codes(kind, saved, given)) is not None:
            problems.append(p)
    if problems:
        raise ValueError(f"{path} does not match the current data: " + "; ".join(problems)
                         + ". Re-train the model (dvc repro) or use the embeddings/cohort it was trained on.")
    return ckpt


# ---------------------------------------------------------------------------------------------- predict
@torch.no_grad()
def predict(model: nn.Module, batches, device, precision: str = "auto", progress: bool = False) -> dict[str, np.ndarray]:
    """Sigmoid probabilities per head, float32 (n, L), in dataset order (uses each batch's ``index``)."""
    device = torch.device(device)
    dtype = amp_dtype(device, precision)
    model.eval()
    n, out = len(batches.dataset), {}
    for batch in tqdm(batches, desc="predict", leave=False, disable=not progress):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(batch["tokens"].to(device), batch["mask"].to(device))
        for k, v in logits.items():
            if k not in out:
                out[k] = np.zeros((n, v.shape[1]), dtype=np.float32)
            out[k][batch["index"].numpy()] = torch.sigmoid(v.float()).cpu().numpy()
    return out


def save_predictions(path, hadm_id, icd_codes, icd_prob, icd_true, ccs_codes=None, ccs_prob=None, ccs_true=None) -> None:
    """Write the predictions npz of docs/architecture.md."""
    arrays = {"hadm_id": np.asarray(hadm_id, dtype=np.int64)}
    for task, codes, prob, true in (("icd", icd_codes, icd_prob, icd_true), ("ccs", ccs_codes, ccs_prob, ccs_true)):
        if prob is None:
            continue
        codes, prob, true = np.asarray(codes, dtype=str), np.asarray(prob, dtype=np.float32), np.asarray(true, dtype=bool)
        if prob.shape != true.shape or prob.shape != (len(arrays["hadm_id"]), len(codes)):
            raise ValueError(f"{task}: prob {prob.shape}, true {true.shape}, expected "
                             f"({len(arrays['hadm_id'])}, {len(codes)})")
        arrays.update({f"{task}_codes": codes, f"{task}_prob": prob, f"{task}_true": true})
    save_npz(path, **arrays)


# ---------------------------------------------------------------------------------------------- fit
@dataclass
class FitResult:
    curves: pd.DataFrame     # one row per epoch, CURVE_COLUMNS (+ dev_<early_stop_metric>)
    best_epoch: int
    best_score: float
    epochs_run: int
    train_seconds: float
    stopped_early: bool


def _default_evaluate(y_true, y_prob, threshold):
    from mbrnn.metrics import evaluate
    return evaluate(y_true, y_prob, threshold=threshold)


def _loss_parts(loss_fn, loss, out, targets) -> dict[str, float]:
    """Total and per-task loss terms for the curves: ``loss_fn.last_parts`` when the loss keeps them
    (mbrnn.losses), else the same loss applied to one head at a time."""
    parts = getattr(loss_fn, "last_parts", None)
    if parts and "icd" in parts:
        return {"loss": loss.item(), **{k: float(parts[k]) for k in targets if k in parts}}
    with torch.no_grad():
        return {"loss": loss.item(),
                **{k: loss_fn({"icd": out[k].detach()}, {"icd": targets[k]}).item() for k in targets}}


def _improved(score: float, tie: float, st: dict, min_delta: float) -> bool:
    """Did this epoch improve on the best so far? Yes if ``score`` beats the best epoch's by more than
    ``min_delta``, or if it lies within ``min_delta`` of the highest score seen (a tie: a difference the dev set
    cannot resolve) and the threshold-free ``tie`` figure beats the best epoch's. NaN ranks below every number.

    While the thresholded score sits on a plateau (macro-F1 exactly 0 while every probability is still below the
    threshold), a rising AUC still counts as progress, so patience does not freeze the model at epoch 1."""
    def key(v: float) -> float:
        return -math.inf if math.isnan(v) else v
    score, tie, best = key(score), key(tie), key(st["best_score"])
    top = max(best, key(st.get("max_score", best)))
    return score > best + min_delta or (score >= top - min_delta and tie > key(st["best_tie"]))


def _warmup(warmup_steps: int) -> Callable[[int], float]:
    """LR factor: linear warm-up from 1/warmup_steps to 1 over the first ``warmup_steps`` optimizer steps,
    then constant (the schedule does not depend on ``epochs``, so an extended run equals a longer one)."""
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _resume_state(last_path: Path, fit_args: dict, meta: dict, extend: bool) -> dict:
    """Load ``last.pt`` if it was written by this very run (or, with ``extend``, by the same run with fewer
    epochs); anything else is an error rather than a silent reuse of another run."""
    ck = torch.load(last_path, map_location="cpu", weights_only=True)
    saved = ck["fit_args"]
    changed = sorted(k for k in set(fit_args) | set(saved) if k != "epochs" and fit_args.get(k) != saved.get(k))
    changed += sorted(k for k in set(meta) | set(ck["meta"]) if meta.get(k) != ck["meta"].get(k))
    if changed:
        raise ValueError(f"{last_path} was written with different settings ({', '.join(changed)}); "
                         f"delete {last_path.parent} or pass resume=False to start over")
    if saved.get("epochs") != fit_args["epochs"] and not (extend and ck["epoch"] <= fit_args["epochs"]):
        raise ValueError(f"{last_path} belongs to a run of {saved.get('epochs')} epochs ({ck['epoch']} done), "
                         f"not {fit_args['epochs']}; set extend (train.extend: true) to continue a shorter run, "
                         f"or delete {last_path.parent} to start over")
    return ck


def _start(ckdir: Path, resume: bool, extend: bool, fit_args: dict, meta: dict, seed: int, objs) -> dict:
    """Fresh early-stopping state (seeded), or the state of ``ckdir/last.pt`` loaded into model, optimizer,
    scheduler and scaler (``objs``) with the RNG states restored."""
    model, opt, sched, scaler = objs
    st = {"epoch": 0, "best_score": -math.inf, "best_tie": -math.inf, "max_score": -math.inf, "max_tie": -math.inf,
          "best_epoch": 0, "bad_epochs": 0,
          "stopped_early": False, "curves": [], "train_seconds": 0.0}
    if resume and (ckdir / "last.pt").exists():
        ck = _resume_state(ckdir / "last.pt", fit_args, meta, extend)
        for obj, key in ((model, "model"), (opt, "optimizer"), (sched, "scheduler"), (scaler, "scaler")):
            obj.load_state_dict(ck[key])
        rngs = ck.get("rng_by_rank") or [ck["rng"]]  # a distributed run keeps each rank's RNG state
        rank = world()[0]
        _set_rng_state(rngs[rank] if rank < len(rngs) else ck["rng"])
        log.info("resumed from %s after epoch %d", ckdir / "last.pt", ck["epoch"])
        return {k: ck[k] for k in st}
    set_seed(seed)
    if world()[0] == 0:
        (ckdir / "best.pt").unlink(missing_ok=True)  # stale best of an earlier run
    return st


def _record_epoch(st: dict, epoch: int, dev_metrics: dict, losses: dict, seconds: float, fit_args: dict,
                  best: tuple[Path, nn.Module, dict]) -> dict:
    """Early-stopping bookkeeping after one epoch (saves ``best.pt`` on improvement); appends and returns the
    epoch's curves row. Patience counts epochs in which neither a new best epoch was found nor the tie-break
    figure reached a new high: a run stops once both its dev figures have stopped improving (an epoch-1 F1 of
    a model that still predicts p ~ 0.5 everywhere cannot end a run whose AUC is rising). ``best``: where the best weights go, the model, the checkpoint metadata."""
    best_path, model, meta = best
    metric = fit_args["early_stop_metric"]
    score = float(dev_metrics[metric])
    tie = float(dev_metrics.get(fit_args["tie_break_metric"], math.nan))
    tie_rose = not math.isnan(tie) and tie > st["max_tie"]  # the threshold-free figure still improves
    if st["best_epoch"] == 0 or _improved(score, tie, st, fit_args["min_delta"]):
        st.update(best_score=score, best_tie=tie, best_epoch=epoch, bad_epochs=0)
        if world()[0] == 0:  # only rank 0 of a distributed run writes
            _save({"format": FORMAT, "model": _cpu_state(model), "meta": meta, "epoch": epoch, "metric": metric,
                   "score": score}, best_path)
    else:
        st["bad_epochs"] = 0 if tie_rose else st["bad_epochs"] + 1
    if not math.isnan(score):
        st["max_score"] = max(st["max_score"], score)
    if tie_rose:
        st["max_tie"] = tie
    st["train_seconds"] += seconds
    losses = dict(losses)
    lr_used = losses.pop("lr")
    row = {"epoch": epoch, **losses, "dev_micro_f1": float(dev_metrics.get("micro_f1", math.nan)),
           "dev_macro_f1": float(dev_metrics.get("macro_f1", math.nan)), "seconds": seconds,
           "dev_micro_auc": float(dev_metrics.get("micro_auc", math.nan)), "lr": lr_used, f"dev_{metric}": score}
    st["curves"].append(row)
    st["epoch"] = epoch
    return row


def fit(model: nn.Module, loss_fn: Callable, train_batches, dev_data, *, lr: float = 1e-3,
        weight_decay: float = 0.01, grad_clip: float = 1.0, epochs: int = 50, patience: int = 10,
        early_stop_metric: str = "macro_f1", tie_break_metric: str = "micro_auc", min_delta: float = 0.0,
        warmup_epochs: float = 0.0, threshold: float = 0.5, checkpoint_dir, resume: bool = True, extend: bool = False, device="cpu",
        precision: str = "auto", progress: bool = True, seed: int = 0, meta: dict | None = None,
        evaluate_fn: Callable | None = None) -> FitResult:
    """AdamW (linear warm-up over ``warmup_epochs``) + gradient clipping; early stopping on the dev ICD
    ``early_stop_metric``, ties (differences within ``min_delta``) broken by ``tie_break_metric``; stops after
    ``patience`` epochs in which neither improved; restores the best weights.

    ``train_batches`` and ``dev_data`` are :class:`mbrnn.data.Batches` (``set_epoch`` gives each epoch its own
    seeded order). ``evaluate_fn(y_true, y_prob, threshold) -> dict`` defaults to ``mbrnn.metrics.evaluate``.
    ``resume`` continues an interrupted run from ``checkpoint_dir/last.pt``; a state written for a different
    number of epochs is refused unless ``extend`` (then a shorter finished run is continued).

    Inside a torch.distributed process group (see :func:`init_distributed`) the model trains as
    DistributedDataParallel, each rank on its rows of every batch (:meth:`mbrnn.data.Batches.shard`); every
    rank evaluates dev, rank 0's early-stopping state is broadcast, and only rank 0 writes checkpoints.
    """
    device = init_distributed(torch.device(device))
    rank, world_size = world()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    evaluate_fn = evaluate_fn or _default_evaluate
    ckdir = Path(checkpoint_dir)
    last_path, best_path = ckdir / "last.pt", ckdir / "best.pt"
    dtype = amp_dtype(device, precision)
    fit_args = {"lr": lr, "weight_decay": weight_decay, "grad_clip": grad_clip, "patience": patience,
                "early_stop_metric": early_stop_metric, "tie_break_metric": tie_break_metric, "min_delta": min_delta,
                "warmup_epochs": warmup_epochs, "threshold": threshold, "seed": seed, "epochs": epochs,
                "precision": str(dtype), "n_train": len(train_batches.dataset),
                **({"world_size": world_size} if world_size > 1 else {})}  # distributed: resume at the same size
    meta = dict(meta or {})

    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup(round(warmup_epochs * len(train_batches))))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    st = _start(ckdir, resume, extend, fit_args, meta, seed, (model, opt, sched, scaler))
    net = _ddp(model, device) if world_size > 1 else model

    dev_true = dev_data.dataset.targets["icd"]
    bar = tqdm(range(st["epoch"] + 1, epochs + 1), desc="epochs", initial=st["epoch"], total=epochs,
               disable=not progress or rank != 0)
    for epoch in bar:
        if st["stopped_early"]:
            break
        t0 = time.perf_counter()
        getattr(train_batches, "set_epoch", lambda e: None)(epoch)
        losses = _train_epoch(net, loss_fn, train_batches, opt, sched, scaler, device, dtype, grad_clip,
                              progress and rank == 0, epoch)
        dev_metrics = evaluate_fn(dev_true, predict(model, dev_data, device, precision)["icd"], threshold)
        row = _record_epoch(st, epoch, dev_metrics, losses, time.perf_counter() - t0, fit_args,
                            (best_path, model, meta))
        st["stopped_early"] = st["bad_epochs"] >= patience
        if world_size > 1:
            st = _sync_epoch(st)
        _save_last(last_path, {"format": FORMAT, "model": _cpu_state(model), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "rng": _rng_state(),
                               "fit_args": fit_args, "meta": meta, **st})
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", **{early_stop_metric: f"{st['best_score']:.4f}"},
                        best=st["best_epoch"])
    bar.close()
    return _finish(model, best_path, st)


def _finish(model: nn.Module, best_path: Path, st: dict) -> FitResult:
    """Restore the best epoch's weights (unlike the reference code) and summarise the run."""
    if best_path.exists():
        model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True)["model"])
    return FitResult(curves=pd.DataFrame(st["curves"]), best_epoch=st["best_epoch"], best_score=st["best_score"],
                     epochs_run=st["epoch"], train_seconds=st["train_seconds"], stopped_early=st["stopped_early"])


def _ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """The model wrapped for a distributed run (gradients averaged over the ranks in backward); the heads a
    variant leaves unused in a step are allowed."""
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def _sync_epoch(st: dict) -> dict:
    """Distributed run: every rank continues with rank 0's early-stopping state (the same decision everywhere,
    even where the ranks' dev figures differ in the last bit)."""
    box = [st]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _save_last(last_path: Path, state: dict) -> None:
    """Write the resume state (rank 0 only); a distributed run adds every rank's RNG state and waits for
    the file before the next epoch."""
    rank, world_size = world()
    if world_size > 1:
        rngs = [None] * world_size
        torch.distributed.all_gather_object(rngs, state["rng"])
        state["rng_by_rank"] = rngs
    if rank == 0:
        _save(state, last_path)
    if world_size > 1:
        torch.distributed.barrier()


def _train_epoch(model, loss_fn, train_batches, opt, sched, scaler, device, dtype, grad_clip, progress,
                 epoch) -> dict[str, float]:
    """One pass over the training batches; returns the example-weighted mean loss terms of the curves and the
    learning rate of the epoch's last step. In a distributed run each rank takes its rows of every batch,
    its loss weighted so that DDP's gradient average is the whole batch's (see ``Batches.shard``)."""
    model.train()
    rank, world_size = world()
    parts = train_batches.shard(rank, world_size) if world_size > 1 else ((b, 1.0) for b in train_batches)
    sums, n_seen, multitask, lr = {"loss": 0.0, "icd": 0.0, "ccs": 0.0}, 0, False, math.nan
    for batch, weight in tqdm(parts, desc=f"epoch {epoch}", leave=False, disable=not progress,
                              total=len(train_batches)):
        tokens, mask = batch["tokens"].to(device), batch["mask"].to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(tokens, mask)
        out = {k: v.float() for k, v in out.items()}
        targets = {k: v.to(device) for k, v in batch["targets"].items() if k in out}
        loss = loss_fn(out, targets)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss * weight if world_size > 1 else loss).backward()
        scaler.unscale_(opt)
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(opt)
        scaler.update()
        lr = opt.param_groups[0]["lr"]  # the rate this step used
        sched.step()
        B = tokens.shape[0] if weight else 0  # a weight-0 stand-in row is not counted
        for k, v in _loss_parts(loss_fn, loss, out, targets).items():
            sums[k] += v * B
        n_seen += B
        multitask = "ccs" in out
    if world_size > 1:
        sums, n_seen = _sum_ranks(sums, n_seen, device)
    return {"train_loss": sums["loss"] / n_seen, "train_loss_icd": sums["icd"] / n_seen,
            "train_loss_ccs": sums["ccs"] / n_seen if multitask else math.nan, "lr": lr}


def _sum_ranks(sums: dict, n_seen: int, device) -> tuple[dict, int]:
    """The loss sums and example counts of all ranks added up (the curves describe the whole epoch)."""
    t = torch.tensor([*sums.values(), float(n_seen)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return dict(zip(sums, t[:-1].tolist())), int(t[-1].item())


# ---------------------------------------------------------------------------------------------- stage
def _truncate(texts, max_tokens):
    return [" ".join(t.split()[:max_tokens]) for t in texts]


# Train settings that do not change a run's result (where files go, whether a shorter run may be extended).
NOT_IN_RUN_KEY = ("seeds", "extend", "models_dir", "state_dir", "curves_dir")


def state_dir_for(state_root, name: str, model_cfg: dict, train_cfg: dict, inputs_id: str, icd_codes, ccs_codes) -> Path:
    """Resume state lives outside the stage's outputs (DVC deletes those before a run), in a folder keyed by
    everything that defines the run: params (``epochs`` included), the embedding matrix and training data
    (``inputs_id``), the label sets. ``<root>/<name>-<digest of all but epochs>/epochs-<n>``: runs that differ
    only in ``epochs`` are siblings, so :func:`extend_state` can continue a shorter one when asked to.
    Changed inputs start afresh; an interrupted run with the same inputs resumes."""
    tc = {k: v for k, v in train_cfg.items() if k not in NOT_IN_RUN_KEY}
    key = {"model": model_cfg, "train": {k: v for k, v in tc.items() if k != "epochs"},
           "inputs": inputs_id, "icd": list(icd_codes), "ccs": list(ccs_codes)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(state_root) / f"{name}-{digest}" / f"epochs-{tc.get('epochs')}"


def extend_state(state: Path) -> Path | None:
    """``train.extend``: seed an empty state folder with the resume state of the longest sibling run of fewer
    epochs (same everything else); returns the folder copied from, or None."""
    if (state / "last.pt").exists():
        return None
    own = int(state.name.removeprefix("epochs-"))
    shorter = sorted((int(d.name.removeprefix("epochs-")), d) for d in state.parent.glob("epochs-*")
                     if d.name.removeprefix("epochs-").isdigit() and (d / "last.pt").exists()
                     and int(d.name.removeprefix("epochs-")) < own)
    if not shorter:
        return None
    src = shorter[-1][1]
    state.mkdir(parents=True, exist_ok=True)
    for f in ("last.pt", "best.pt"):
        if (src / f).exists():
            shutil.copyfile(src / f, state / f)
    log.info("extending the %s-epoch run in %s", shorter[-1][0], src)
    return src


def seeds_of(train_cfg: dict) -> list[int]:
    """``train.seeds``: a non-empty list of distinct integers, the first one the primary seed."""
    if "seed" in train_cfg:
        raise ValueError("train.seed was replaced by train.seeds (a list, the first one the primary); "
                         "fix params.yaml or the train config")
    seeds = train_cfg.get("seeds")
    if (not isinstance(seeds, (list, tuple)) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)):
        raise ValueError(f"train.seeds must be a non-empty list of distinct integers; got {seeds!r}")
    return list(seeds)


def converged(best_epoch: int, epochs_run: int, patience: int, epochs: bool = True) -> bool | None:
    """Stopped by early stopping: the best epoch lies at least ``patience`` epochs before the last one.
    None for models trained without epochs (TF-IDF)."""
    if not epochs:
        return None
    return bool(best_epoch >= 1 and best_epoch <= epochs_run - patience)


def run(name: str, model_cfg: dict, train_cfg: dict, cohort_dir, embeddings_dir, out_dir, metrics_path, curves_path,
        progress: bool = True, resume: bool = True, state_root=None) -> dict:
    """Train one model for every seed of ``train_cfg["seeds"]``, predict dev/test with the best weights of each.

    The primary (first) seed writes ``out_dir/{checkpoint.pt,dev.npz,test.npz}`` and the curves; seed ``s`` of
    the others writes the same files under ``out_dir/seed-<s>/``. The metrics JSON describes the primary seed at
    its top level, every seed under ``by_seed``, and the parameters it was produced with under ``params``.
    ``state_root`` holds the per-epoch resume state (default: ``<seed's out dir>/train_state``).

    Launched by ``torchrun`` (``WORLD_SIZE`` > 1): every rank trains (see :func:`fit`); only rank 0 writes the
    outputs, the others write theirs into a temporary folder that is removed (and return the same metrics)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun: join the process group once
        init_distributed(pick_device(train_cfg.get("device", "auto")))
    if world()[1] > 1 and state_root is None:
        raise ValueError("a distributed run needs state_root (train.state_dir), the resume state all ranks share")
    args = (name, model_cfg, train_cfg, cohort_dir, embeddings_dir)
    if world()[0] == 0:
        return _run(*args, Path(out_dir), metrics_path, curves_path, progress, resume, state_root)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="mbrnn-rank") as tmp:
        tmp = Path(tmp)
        return _run(*args, tmp / "out", tmp / "metrics.json", tmp / "curves.csv", False, resume, state_root)


def _run(name, model_cfg, train_cfg, cohort_dir, embeddings_dir, out_dir: Path, metrics_path, curves_path, progress,
         resume, state_root) -> dict:
    """:func:`run`'s work for one process: every seed trained and predicted, the metrics and curves written."""
    seeds = seeds_of(train_cfg)
    results = {}
    # With the resume state outside it (the pipeline's case), the output folder is replaced in one step: an
    # interrupted stage leaves the old folder or the new one, never a mix of seeds or files.
    with (atomic_dir(out_dir) if state_root else contextlib.nullcontext(out_dir)) as target:
        for i, seed in enumerate(seeds):
            seed_dir = target if i == 0 else target / f"seed-{seed}"
            results[seed] = _run_seed(name, model_cfg, train_cfg, seed, cohort_dir, embeddings_dir, seed_dir,
                                      progress, resume, state_root)
    primary = results[seeds[0]]
    metrics = {k: v for k, v in primary.items() if k != "curves"}
    metrics.update(patience=train_cfg["patience"], seeds=seeds, params={"model": dict(model_cfg),
                                                                        "train": dict(train_cfg)})
    metrics["by_seed"] = {str(s): {"icd": {k: r["icd"][k] for k in ("dev", "test")}, "best_epoch": r["best_epoch"],
                                   "epochs_run": r["epochs_run"], "converged": r["converged"]}
                          for s, r in results.items()}
    write_json(metrics_path, metrics)
    write_csv(curves_path, primary["curves"])
    log.info("%s: dev %s = %s, best epoch %s of %s", name, train_cfg.get("early_stop_metric", "macro_f1"),
             metrics["icd"]["dev"].get(train_cfg.get("early_stop_metric", "macro_f1")), metrics["best_epoch"],
             metrics["epochs_run"])
    return metrics


def _fit_tfidf(cfg: dict, seed: int, frames: dict, y: dict, max_tokens, out_dir: Path, progress: bool):
    """TF-IDF + logistic regression: fit on train, save ``model.joblib``, predict dev and test."""
    import joblib
    from mbrnn.models.tfidf import TfidfLogReg

    t0 = time.perf_counter()
    kwargs = {k: v for k, v in cfg.items() if k != "arch"}
    accepted = inspect.signature(TfidfLogReg).parameters
    for k, v in (("seed", seed), ("progress", progress)):  # the stage's seed unless model_cfg sets one
        if k in accepted:
            kwargs.setdefault(k, v)
    clf = TfidfLogReg(**kwargs)
    clf.fit(_truncate(frames["train"]["text"], max_tokens), y["train"]["icd"])
    train_seconds = time.perf_counter() - t0
    with atomic_path(out_dir / "model.joblib") as tmp:
        joblib.dump(clf, tmp)
    probs = {s: {"icd": np.asarray(clf.predict_proba(_truncate(frames[s]["text"], max_tokens)), dtype=np.float32)}
             for s in ("dev", "test")}
    extra = {"epochs_run": 0, "best_epoch": 0, "train_seconds": train_seconds, "converged": None,
             "n_params": int(np.size(getattr(clf, "coef_", 0)) + np.size(getattr(clf, "intercept_", 0)))}
    return probs, pd.DataFrame(columns=CURVE_COLUMNS), extra


def _fit_neural(name, model_cfg, cfg, loss_cfg, tc, seed, cohort_dir, embeddings_dir, frames, y, codes, out_dir,
                progress, resume, state_root):
    """Build the model and loss, :func:`fit` it with resume state keyed by the run, predict dev and test."""
    from mbrnn.embeddings import load as load_embeddings
    from mbrnn.losses import build_loss
    from mbrnn.models import build_model

    icd_codes, ccs_codes = codes
    device, precision = pick_device(tc.get("device", "auto")), tc.get("precision", "auto")
    vocab, W = load_embeddings(embeddings_dir)
    index = {t: i for i, t in enumerate(vocab)}
    sets = {s: D.CodingDataset(D.encode(f["text"], index, tc.get("max_tokens")), y[s], f["hadm_id"].to_numpy())
            for s, f in frames.items()}
    train_b = D.Batches(sets["train"], tc["batch_size"], shuffle=True, seed=seed)
    dev_b, test_b = (D.Batches(sets[s], tc.get("eval_batch_size", tc["batch_size"])) for s in ("dev", "test"))
    set_seed(seed)
    model = build_model(cfg, W, len(icd_codes), len(ccs_codes))
    loss_fn = build_loss(kind=loss_cfg.get("loss", "bce"), **{k: v for k, v in loss_cfg.items() if k != "loss"})
    meta = checkpoint_meta(vocab, icd_codes, ccs_codes, model_cfg) | {"name": name}
    inputs = hashlib.sha256(W.tobytes())  # resume only onto the very same embeddings and training data
    for split in ("train", "dev"):
        inputs.update((Path(cohort_dir) / f"{split}.parquet").read_bytes())
    run_cfg = {k: v for k, v in tc.items() if k not in NOT_IN_RUN_KEY} | {"seed": seed}
    state = (state_dir_for(state_root, name, model_cfg, run_cfg, inputs.hexdigest(), icd_codes, ccs_codes)
             if state_root else out_dir / "train_state")
    if tc.get("extend") and state_root and world()[0] == 0:
        extend_state(state)
    if world()[1] > 1:
        torch.distributed.barrier()  # the state folder as rank 0 left it
    res = fit(model, loss_fn, train_b, dev_b, lr=tc["lr"], weight_decay=tc["weight_decay"], grad_clip=tc["grad_clip"],
              epochs=tc["epochs"], patience=tc["patience"], early_stop_metric=tc.get("early_stop_metric", "macro_f1"),
              tie_break_metric=tc.get("tie_break_metric", "micro_auc"), min_delta=tc.get("min_delta", 0.0),
              warmup_epochs=tc.get("warmup_epochs", 0.0),
              threshold=tc.get("threshold", 0.5), checkpoint_dir=state, resume=resume, extend=bool(tc.get("extend")),
              device=device, precision=precision, progress=progress, seed=seed, meta=meta)
    with atomic_path(out_dir / "checkpoint.pt") as tmp:
        shutil.copyfile(state / "best.pt", tmp)
    probs = {s: predict(model, b, device, precision, progress) for s, b in (("dev", dev_b), ("test", test_b))}
    extra = {"epochs_run": res.epochs_run, "best_epoch": res.best_epoch, "train_seconds": res.train_seconds,
             "converged": converged(res.best_epoch, res.epochs_run, tc["patience"]),
             "n_params": sum(p.numel() for p in model.parameters()),
             "n_trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    return probs, res.curves, extra


def _run_seed(name, model_cfg, train_cfg, seed, cohort_dir, embeddings_dir, out_dir: Path, progress, resume,
              state_root) -> dict:
    """Train and evaluate one seed: writes ``out_dir``'s checkpoint (or model.joblib) and dev/test npz;
    returns its metrics dict plus its ``curves`` frame."""
    from mbrnn.metrics import evaluate, tune_threshold

    cfg = dict(model_cfg)
    loss_cfg = {k: cfg.pop(k) for k in LOSS_KEYS if k in cfg}
    threshold = train_cfg.get("threshold", 0.5)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    icd_codes, ccs_codes = D.load_label_vocab(cohort_dir)
    frames = {s: D.load_split(cohort_dir, s) for s in D.SPLITS}
    y = {s: {"icd": D.multi_hot(f["icd_codes"], icd_codes), "ccs": D.multi_hot(f["ccs_codes"], ccs_codes)}
         for s, f in frames.items()}
    if cfg["arch"] == "tfidf":
        probs, curves, extra = _fit_tfidf(cfg, seed, frames, y, train_cfg.get("max_tokens"), out_dir, progress)
    else:
        probs, curves, extra = _fit_neural(name, model_cfg, cfg, loss_cfg, train_cfg, seed, cohort_dir,
                                           embeddings_dir, frames, y, (icd_codes, ccs_codes), out_dir, progress,
                                           resume, state_root)
    multitask = "ccs" in probs["dev"]
    for s in ("dev", "test"):
        p = probs[s]
        save_predictions(out_dir / f"{s}.npz", frames[s]["hadm_id"].to_numpy(), icd_codes, p["icd"], y[s]["icd"],
                         *((ccs_codes, p["ccs"], y[s]["ccs"]) if multitask else ()))
    t = float(tune_threshold(y["dev"]["icd"], probs["dev"]["icd"]))
    metrics = {"icd": {"dev": evaluate(y["dev"]["icd"], probs["dev"]["icd"], threshold=threshold),
                       "test": evaluate(y["test"]["icd"], probs["test"]["icd"], threshold=threshold),
                       "test_tuned": evaluate(y["test"]["icd"], probs["test"]["icd"], threshold=t)},
               "threshold_tuned": t, **extra}
    if multitask:
        metrics["ccs"] = {s: evaluate(y[s]["ccs"], probs[s]["ccs"], threshold=threshold) for s in ("dev", "test")}
    return metrics | {"curves": curves}
