"""F1 against training frequency (per code) and against the document (note length, gold codes): binned
means with percentile-bootstrap confidence intervals, and Spearman's rank correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mbrnn import metrics as M
from mbrnn.analysis.predictions import Predictions, decisions, make_gold


def spearman(x, y) -> dict:
    """Spearman rank correlation (scipy) as plain numbers: rho, p_value, n."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return dict(rho=float("nan"), p_value=float("nan"), n=int(len(x)))
    res = stats.spearmanr(x, y)
    return dict(rho=float(res.statistic), p_value=float(res.pvalue), n=int(len(x)))


def binned_mean_sd(x, y, n_bins: int = 10, log: bool = True, ci: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> pd.DataFrame:
    """Mean of y in bins of x with a bootstrap confidence interval of that mean, plus SD and quartiles.

    Bins are log-spaced over x >= 1 when ``log`` (x == 0 gets its own bin), else linear; [lo, hi), the last one
    closed; empty bins are dropped. Figures draw mean and CI: a percentile bootstrap interval of the mean lies
    inside [min(y), max(y)], so an F1 interval never leaves 0-100 as mean ± SD did. The CI is NaN for a bin of
    one value. Deterministic: bin b resamples with ``default_rng([seed, b])``.
    Columns: bin_lo, bin_hi, x_median, n, mean, sd, ci_lo, ci_hi, q25, median, q75.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if log and (x < 0).any():
        raise ValueError("log-spaced bins need non-negative x")
    groups = []  # (lo, hi, member mask)
    if log and (x == 0).any():
        groups.append((0.0, 0.0, x == 0))
    rest = x > 0 if log else np.ones(len(x), dtype=bool)
    if rest.any():
        lo, hi = x[rest].min(), x[rest].max()
        if log:
            lo = max(lo, 1.0)
        hi = max(hi, lo + 1e-9)
        edges = np.geomspace(lo, hi, n_bins + 1) if log else np.linspace(lo, hi, n_bins + 1)
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
        groups += [(edges[b], edges[b + 1], rest & (idx == b)) for b in range(n_bins)]
    rows = [dict(bin_lo=lo, bin_hi=hi, x_median=float(np.median(x[m])), n=int(m.sum()),
                 **_summary(y[m], ci, n_boot, np.random.default_rng([seed, b])))
            for b, (lo, hi, m) in enumerate(groups) if m.any()]
    return pd.DataFrame(rows, columns=["bin_lo", "bin_hi", "x_median", "n", "mean", "sd", "ci_lo", "ci_hi",
                                       "q25", "median", "q75"])


def _summary(v: np.ndarray, ci: float, n_boot: int, rng: np.random.Generator) -> dict:
    """Mean, SD, percentile-bootstrap CI of the mean (NaN for one value) and quartiles of one bin's values."""
    if len(v) > 1:
        means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)
        lo, hi = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    else:
        lo = hi = float("nan")
    q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return dict(mean=float(v.mean()), sd=float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                ci_lo=float(lo), ci_hi=float(hi), q25=float(q25), median=float(med), q75=float(q75))


def f1_vs_frequency(per_code: pd.DataFrame, n_bins: int = 10, min_support: int = 1) -> tuple[pd.DataFrame, dict]:
    """Per-code F1 against training count: binned mean with its 95% bootstrap CI (log-spaced bins) and Spearman rho.

    Only codes with test support >= min_support enter.
    """
    d = per_code[per_code["support"] >= min_support]
    return binned_mean_sd(d["train_count"], d["f1"], n_bins=n_bins, log=True), spearman(d["train_count"], d["f1"])


def per_document_f1(pred: Predictions, split: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """One row per admission: hadm_id, n_tokens, n_gold, tp, fp, fn, precision, recall, f1.

    f1 is NaN for a document with neither gold codes nor predictions.

    Gold codes come from the split frame, so codes outside the model's label set count as false negatives.
    """
    if "n_tokens" not in split.columns:
        raise ValueError(f"split frame needs n_tokens (has {list(split.columns)}); pass the cohort's split parquet")
    g = make_gold([pred], split)
    yhat = decisions(pred, g, threshold)
    tp, fp, fn = (yhat & g.y).sum(1), (yhat & ~g.y).sum(1), (~yhat & g.y).sum(1)  # (n,)
    p, r, f = M.per_label_prf(tp, fp, fn)  # per document here: the same 0/0 conventions
    f = np.where(tp + fp + fn > 0, f, np.nan)
    n_tokens = split.set_index("hadm_id")["n_tokens"].reindex(g.hadm_id).to_numpy()
    return pd.DataFrame(dict(hadm_id=g.hadm_id, n_tokens=n_tokens, n_gold=g.y.sum(1), tp=tp, fp=fp, fn=fn,
                             precision=p, recall=r, f1=f))


def f1_vs_document(per_doc: pd.DataFrame, by: str = "n_tokens", n_bins: int = 8,
                   log: bool = True) -> tuple[pd.DataFrame, dict]:
    """Document F1 against ``by`` (n_tokens or n_gold): binned mean with its 95% bootstrap CI and Spearman rho."""
    d = per_doc.dropna(subset=["f1"])
    return binned_mean_sd(d[by], d["f1"], n_bins=n_bins, log=log), spearman(d[by], d["f1"])
