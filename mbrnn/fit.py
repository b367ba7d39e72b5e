"""The training loop of the neural models: epoch, evaluation and stopping steps, with exact resume.

:func:`fit` trains with AdamW (linear warm-up, then constant), gradient clipping and early stopping on a dev
figure, writes ``best.pt`` and ``last.pt`` every epoch (:mod:`mbrnn.checkpoints`) and, unlike the reference code,
restores the best epoch's weights before it returns. Under torch.distributed it trains as DistributedDataParallel
(:mod:`mbrnn.device`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from mbrnn import checkpoints as C
from mbrnn.config import TrainConfig
from mbrnn.device import amp_dtype, broadcast, ddp, init_distributed, pick_device, set_seed, world
from mbrnn.metrics import evaluate
from mbrnn.predictions import predict

CURVE_COLUMNS = ["epoch", "train_loss", "train_loss_icd", "train_loss_ccs", "dev_micro_f1", "dev_macro_f1", "seconds",
                 "dev_micro_auc", "lr"]


@dataclass
class FitResult:
    curves: pd.DataFrame     # one row per epoch, CURVE_COLUMNS (+ dev_<early_stop_metric>)
    best_epoch: int
    best_score: float
    epochs_run: int
    train_seconds: float
    stopped_early: bool


@dataclass
class _Run:
    """The moving parts of one :func:`fit`: the model (``net``: the same, DDP-wrapped in a distributed run),
    its optimizer, schedule and grad scaler, where and how it computes, and the settings it checkpoints."""
    model: nn.Module
    net: nn.Module
    loss_fn: Callable
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    dtype: torch.dtype | None
    config: TrainConfig
    fit_args: dict
    ckdir: Path
    meta: dict


def fit(model: nn.Module, loss_fn: Callable, train_batches, dev_data, config: TrainConfig = TrainConfig(), *,
        checkpoint_dir, seed: int = 0, resume: bool = True, progress: bool = True, meta: dict | None = None,
        evaluate_fn: Callable | None = None) -> FitResult:
    """Train ``model`` with ``config``'s settings (lr, epochs, patience, ...); early stopping on the dev ICD
    ``early_stop_metric``, ties (differences within ``min_delta``) broken by ``tie_break_metric``; stops after
    ``patience`` epochs in which neither improved; restores the best weights.

    ``train_batches`` and ``dev_data`` are :class:`mbrnn.batching.Batches` (``set_epoch`` gives each epoch its own
    seeded order). ``evaluate_fn(y_true, y_prob, threshold) -> dict`` defaults to ``mbrnn.metrics.evaluate``.
    ``resume`` continues an interrupted run from ``checkpoint_dir/last.pt``; a state written for a different
    number of epochs is refused unless ``config.extend`` (then a shorter finished run is continued).

    Inside a torch.distributed process group (see :func:`mbrnn.device.init_distributed`) the model trains as
    DistributedDataParallel, each rank on its rows of every batch (:meth:`mbrnn.batching.Batches.shard`); every
    rank evaluates dev, rank 0's early-stopping state is broadcast, and only rank 0 writes checkpoints.
    """
    run = _setup(model, loss_fn, len(train_batches), len(train_batches.dataset), config, seed, checkpoint_dir, meta)
    st = _start(run, resume, seed)
    rank = world()[0]
    bar = tqdm(range(st["epoch"] + 1, config.epochs + 1), desc="epochs", initial=st["epoch"], total=config.epochs,
               disable=not progress or rank != 0)
    for epoch in bar:
        if st["stopped_early"]:
            break
        t0 = time.perf_counter()
        getattr(train_batches, "set_epoch", lambda e: None)(epoch)
        losses = _train_epoch(run, train_batches, progress and rank == 0, epoch)
        dev_metrics = _evaluate(run, dev_data, evaluate_fn or evaluate)
        row = _stopping_step(run, st, epoch, dev_metrics, losses, time.perf_counter() - t0)
        if world()[1] > 1:
            st = broadcast(st)  # every rank continues with rank 0's early-stopping state
        C.save_last(run.ckdir / "last.pt", {
            "model": C.cpu_state(model), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(),
            "scaler": run.scaler.state_dict(), "rng": C.rng_state(), "fit_args": run.fit_args, "meta": run.meta, **st})
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", **{config.early_stop_metric: f"{st['best_score']:.4f}"},
                        best=st["best_epoch"])
    bar.close()
    return _finish(model, run.ckdir / "best.pt", st)


def _setup(model, loss_fn, steps_per_epoch: int, n_train: int, config: TrainConfig, seed: int, checkpoint_dir,
           meta) -> _Run:
    """Device, precision, optimizer, warm-up schedule, grad scaler, and the settings a resume must match
    (``fit_args``; a distributed run resumes only at the same world size)."""
    device = init_distributed(pick_device(config.device))
    world_size = world()[1]
    dtype = amp_dtype(device, config.precision)
    fit_args = {"lr": config.lr, "weight_decay": config.weight_decay, "grad_clip": config.grad_clip,
                "patience": config.patience, "early_stop_metric": config.early_stop_metric,
                "tie_break_metric": config.tie_break_metric, "min_delta": config.min_delta,
                "warmup_epochs": config.warmup_epochs, "threshold": config.threshold, "seed": seed,
                "epochs": config.epochs, "precision": str(dtype), "n_train": n_train,
                **({"world_size": world_size} if world_size > 1 else {})}
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup(round(config.warmup_epochs * steps_per_epoch)))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return _Run(model, model, loss_fn, opt, sched, scaler, device, dtype, config, fit_args, Path(checkpoint_dir),
                dict(meta or {}))


def _warmup(warmup_steps: int) -> Callable[[int], float]:
    """LR factor: linear warm-up from 1/warmup_steps to 1 over the first ``warmup_steps`` optimizer steps,
    then constant (the schedule does not depend on ``epochs``, so an extended run equals a longer one)."""
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _start(run: _Run, resume: bool, seed: int) -> dict:
    """Fresh early-stopping state (seeded), or the state of ``last.pt`` loaded into model, optimizer, scheduler
    and scaler with the RNG states restored. Wraps the model for DDP in a distributed run."""
    st = {"epoch": 0, "best_score": -math.inf, "best_tie": -math.inf, "max_score": -math.inf, "max_tie": -math.inf,
          "best_epoch": 0, "bad_epochs": 0, "stopped_early": False, "curves": [], "train_seconds": 0.0}
    last = run.ckdir / "last.pt"
    if resume and last.exists():
        ck = C.load_resume_state(last, run.fit_args, run.meta, run.config.extend)
        for obj, key in ((run.model, "model"), (run.opt, "optimizer"), (run.sched, "scheduler"),
                         (run.scaler, "scaler")):
            obj.load_state_dict(ck[key])
        C.restore_rng(ck)
        st = {k: ck[k] for k in st}
    else:
        set_seed(seed)
        if world()[0] == 0:
            (run.ckdir / "best.pt").unlink(missing_ok=True)  # stale best of an earlier run
    if world()[1] > 1:
        run.net = ddp(run.model, run.device)
    return st


def _train_epoch(run: _Run, train_batches, progress: bool, epoch: int) -> dict[str, float]:
    """The epoch step: one pass over the training batches; returns the example-weighted mean loss terms of the
    curves and the learning rate of the epoch's last step. In a distributed run each rank takes its rows of
    every batch, its loss weighted so that DDP's gradient average is the whole batch's (``Batches.shard``)."""
    run.net.train()
    rank, world_size = world()
    parts = train_batches.shard(rank, world_size) if world_size > 1 else ((b, 1.0) for b in train_batches)
    sums, n_seen, multitask, lr = {"loss": 0.0, "icd": 0.0, "ccs": 0.0}, 0, False, math.nan
    for batch, weight in tqdm(parts, desc=f"epoch {epoch}", leave=False, disable=not progress,
                              total=len(train_batches)):
        out, targets, loss = _step(run, batch, weight if world_size > 1 else None)
        lr = run.opt.param_groups[0]["lr"]  # the rate this step used
        run.sched.step()
        B = batch["tokens"].shape[0] if weight else 0  # a weight-0 stand-in row is not counted
        for k, v in _loss_parts(run.loss_fn, loss, out, targets).items():
            sums[k] += v * B
        n_seen += B
        multitask = "ccs" in out
    if world_size > 1:
        sums, n_seen = _sum_ranks(sums, n_seen, run.device)
    return {"train_loss": sums["loss"] / n_seen, "train_loss_icd": sums["icd"] / n_seen,
            "train_loss_ccs": sums["ccs"] / n_seen if multitask else math.nan, "lr": lr}


def _step(run: _Run, batch: dict, weight: float | None):
    """One optimizer step on ``batch`` (loss scaled by ``weight`` in a distributed run); returns the float32
    outputs, the targets and the loss."""
    tokens, mask = batch["tokens"].to(run.device), batch["mask"].to(run.device)
    with torch.autocast(run.device.type, dtype=run.dtype, enabled=run.dtype is not None):
        out = run.net(tokens, mask)
    out = {k: v.float() for k, v in out.items()}
    targets = {k: v.to(run.device) for k, v in batch["targets"].items() if k in out}
    loss = run.loss_fn(out, targets)
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss * weight if weight is not None else loss).backward()
    run.scaler.unscale_(run.opt)
    if run.config.grad_clip:
        nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip)
    run.scaler.step(run.opt)
    run.scaler.update()
    return out, targets, loss


def _loss_parts(loss_fn, loss, out, targets) -> dict[str, float]:
    """Total and per-task loss terms for the curves: ``loss_fn.last_parts`` when the loss keeps them
    (mbrnn.losses), else the same loss applied to one head at a time."""
    parts = getattr(loss_fn, "last_parts", None)
    if parts and "icd" in parts:
        return {"loss": loss.item(), **{k: float(parts[k]) for k in targets if k in parts}}
    with torch.no_grad():
        return {"loss": loss.item(),
                **{k: loss_fn({"icd": out[k].detach()}, {"icd": targets[k]}).item() for k in targets}}


def _sum_ranks(sums: dict, n_seen: int, device) -> tuple[dict, int]:
    """The loss sums and example counts of all ranks added up (the curves describe the whole epoch)."""
    t = torch.tensor([*sums.values(), float(n_seen)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return dict(zip(sums, t[:-1].tolist())), int(t[-1].item())


def _evaluate(run: _Run, dev_data, evaluate_fn: Callable) -> dict:
    """The evaluation step: the dev ICD figures of the current weights (every rank computes them)."""
    probs = predict(run.model, dev_data, run.device, run.config.precision)["icd"]
    return evaluate_fn(dev_data.dataset.targets["icd"], probs, run.config.threshold)


def _nan_low(v: float) -> float:
    """NaN ranks below every number."""
    return -math.inf if math.isnan(v) else v


# A difference counts as a tie up to min_delta, but never beyond this share of the score it is measured from:
# a model just leaving the prior plateau (macro-F1 0.006 -> 0.012 -> 0.016 while its micro-F1 doubles) is
# improving although each step is below min_delta. Only scores under min_delta / REL_DELTA (0.04) are affected.
REL_DELTA = 0.25


def _tolerance(score: float, min_delta: float) -> float:
    return min(min_delta, REL_DELTA * max(score, 0.0))


def _improved(score: float, tie: float, st: dict, min_delta: float) -> bool:
    """Did this epoch improve on the best so far? Yes if ``score`` beats the best epoch's by more than the
    tolerance (``min_delta``, or a quarter of a best score under 4 ``min_delta``), or if it lies within the
    tolerance of the highest score seen (a tie: a difference the dev set cannot resolve) and the threshold-free
    ``tie`` figure beats the best epoch's.

    While the thresholded score sits on a plateau (macro-F1 exactly 0 while every probability is still below the
    threshold), a rising AUC still counts as progress, so patience does not freeze the model at epoch 1."""
    score, tie, best = _nan_low(score), _nan_low(tie), _nan_low(st["best_score"])
    top = max(best, _nan_low(st.get("max_score", best)))
    return (score > best + _tolerance(best, min_delta)
            or (score >= top - _tolerance(top, min_delta) and tie > _nan_low(st["best_tie"])))


def _stopping_step(run: _Run, st: dict, epoch: int, dev_metrics: dict, losses: dict, seconds: float) -> dict:
    """Early-stopping bookkeeping after one epoch (saves ``best.pt`` on improvement, sets ``stopped_early``);
    appends and returns the epoch's curves row. Patience counts epochs in which neither a new best epoch was
    found nor the tie-break figure reached a new high: a run stops once both its dev figures have stopped
    improving (an epoch-1 F1 of a model that still predicts p ~ 0.5 everywhere cannot end a run whose AUC is
    rising).

    Patience starts once the model has left the prior plateau: until some epoch's score exceeds ``min_delta``,
    the model predicts (nearly) no code on dev, and flat figures there mean "not started", not "converged"
    (on the demos a model sits there for 2 to 26 epochs, LAAT longest, while the noisy AUC stays nearly flat). A
    model that never leaves it runs to the epoch cap and is reported not converged."""
    cfg, metric = run.config, run.config.early_stop_metric
    score = float(dev_metrics[metric])
    tie = float(dev_metrics.get(cfg.tie_break_metric, math.nan))
    tie_rose = not math.isnan(tie) and tie > st["max_tie"]  # the threshold-free figure still improves
    if st["best_epoch"] == 0 or _improved(score, tie, st, cfg.min_delta):
        st.update(best_score=score, best_tie=tie, best_epoch=epoch, bad_epochs=0)
        C.save_best(run.ckdir / "best.pt", run.model, run.meta, epoch, metric, score)
    else:
        started = max(st["max_score"], _nan_low(score)) > cfg.min_delta  # left the prior plateau
        st["bad_epochs"] = 0 if tie_rose else st["bad_epochs"] + started
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
    st["stopped_early"] = st["bad_epochs"] >= cfg.patience
    return row


def _finish(model: nn.Module, best_path: Path, st: dict) -> FitResult:
    """Restore the best epoch's weights (unlike the reference code) and summarise the run."""
    if best_path.exists():
        model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True)["model"])
    return FitResult(curves=pd.DataFrame(st["curves"]), best_epoch=st["best_epoch"], best_score=st["best_score"],
                     epochs_run=st["epoch"], train_seconds=st["train_seconds"], stopped_early=st["stopped_early"])
