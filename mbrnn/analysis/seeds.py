"""Seeds and convergence, read from a model's metrics file: which seeds it was trained with (primary first),
one metrics dict per seed, whether early stopping ended it, and when a difference over seeds is a finding.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mbrnn import metrics as M


def seeds_of(metrics_json: Mapping) -> list[int]:
    """The seeds a model was trained with, primary first (metrics JSON ``seeds``; old files: one, unnamed -> [0])."""
    return [int(s) for s in metrics_json.get("seeds", [0])]


def per_seed(metrics_json: Mapping, split: str, task: str = "icd") -> list[Mapping[str, float]]:
    """One metrics dict per seed (``by_seed``), primary first; a file without ``by_seed`` gives its top level."""
    by_seed = metrics_json.get("by_seed")
    if not by_seed:
        return [metrics_json[task][split]]
    missing = [s for s in seeds_of(metrics_json) if str(s) not in by_seed]
    if missing:
        raise ValueError(f"metrics file lists seeds {missing} in 'seeds' but not in 'by_seed'; rerun its train stage")
    return [by_seed[str(s)][task][split] for s in seeds_of(metrics_json)]


def convergence(metrics_json: Mapping, patience: int | None = None) -> bool | None:
    """True when early stopping ended training, not the epoch cap.

    Uses the file's ``converged`` when present (None for models without epochs, such as TF-IDF); for older files
    without it, the best epoch must lie at least ``patience`` (the file's, else the argument) before the last.
    """
    if "converged" in metrics_json:
        return metrics_json["converged"]
    epochs_run = int(metrics_json.get("epochs_run") or 0)
    if epochs_run == 0:
        return None
    patience = metrics_json.get("patience", patience)
    if patience is None:
        raise ValueError("metrics file has neither 'converged' nor 'patience'; pass train.patience")
    return int(metrics_json["best_epoch"]) <= epochs_run - int(patience)


def convergence_label(metrics_json: Mapping, patience: int | None = None) -> str:
    """``converged`` / ``not converged (best epoch b of e, patience p)`` / ``no epochs``, for tables and text."""
    c = convergence(metrics_json, patience)
    if c is None:
        return "no epochs"
    if c:
        return "converged"
    p = metrics_json.get("patience", patience)
    return f"not converged (best epoch {metrics_json['best_epoch']} of {metrics_json['epochs_run']}, patience {p})"


def beyond_spread(delta: float, sd_a: float, sd_b: float) -> bool | None:
    """Is a difference of means a finding? True iff |Δ| > SD_a + SD_b (the ±1 SD ranges over seeds do not
    overlap); None when either SD is unknown (one seed), so the difference stays descriptive."""
    if not (np.isfinite(sd_a) and np.isfinite(sd_b)):
        return None
    return bool(abs(delta) > sd_a + sd_b)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample SD over seeds (SD NaN for one value: the spread is unknown)."""
    v = np.asarray(values, dtype=np.float64)
    return M.mean(v), (float(np.std(v, ddof=1)) if v.size > 1 else float("nan"))
