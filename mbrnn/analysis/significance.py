"""McNemar tests of paired (document, code) decisions on rare and common codes.

The rare/common groups are the paper's absolute thresholds (< 100, >= 1000 training occurrences, for
MIMIC-scale runs) or ``auto``: the lower and upper third of the codes by training count, so both hold codes.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from mbrnn import metrics as M
from mbrnn.analysis.predictions import Predictions, counts_for, decisions, make_gold
from mbrnn.tables import p_value_text

PAPER_RARE_MAX, PAPER_COMMON_MIN = 100, 1000


def auto_groups(train_counts) -> tuple[int, int]:
    """McNemar rare/common thresholds scaled to the cohort: rare = count <= the lower tercile, common = count >=
    the upper tercile, returned as (rare_max, common_min) for ``count < rare_max`` / ``count >= common_min``.

    Both groups hold codes whenever the counts take at least two values; the groups never overlap.
    """
    c = np.sort(np.asarray(train_counts, dtype=np.int64))
    if c.size == 0 or c[0] == c[-1]:
        raise ValueError("cannot split codes into rare and common: every code has the same training count; "
                         "set analysis.rare_max and analysis.common_min explicitly")
    lo, hi = (int(np.quantile(c, q, method="inverted_cdf")) for q in (1 / 3, 2 / 3))
    rare_max = lo + 1
    common_min = max(hi, rare_max)
    if common_min > c[-1]:  # heavy ties at the top: the rare group is what is left below the largest count
        rare_max, common_min = int(c[-1]), int(c[-1])
    return rare_max, common_min


def resolve_groups(rare_max, common_min, train_counts) -> tuple[int, int]:
    """``analysis.rare_max`` / ``common_min``: each ``auto`` (:func:`auto_groups`) or a number."""
    auto = auto_groups(train_counts) if "auto" in (rare_max, common_min) else (None, None)
    for name, v in (("rare_max", rare_max), ("common_min", common_min)):
        if v != "auto" and not isinstance(v, (int, np.integer)):
            raise ValueError(f"analysis.{name} must be 'auto' or an integer, got {v!r}")
    return (auto[0] if rare_max == "auto" else int(rare_max), auto[1] if common_min == "auto" else int(common_min))


def mcnemar(correct_a, correct_b, exact_below: int = 25) -> dict:
    """McNemar's test on paired correctness: b = A right & B wrong, c = A wrong & B right.

    Exact two-sided binomial test when b + c < exact_below (statistic = min(b, c)); otherwise the
    chi-square test with continuity correction, (|b - c| - 1)^2 / (b + c), 1 degree of freedom.
    """
    a, b_ = np.asarray(correct_a, bool).ravel(), np.asarray(correct_b, bool).ravel()
    if a.shape != b_.shape:
        raise ValueError(f"correct_a {a.shape} and correct_b {b_.shape} must pair the same decisions")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    n = b + c
    if n < exact_below:
        p = 1.0 if n == 0 else min(1.0, 2 * stats.binom.cdf(min(b, c), n, 0.5))
        return dict(b=b, c=c, statistic=float(min(b, c)), p_value=float(p), method="exact binomial")
    chi2 = (abs(b - c) - 1) ** 2 / n
    return dict(b=b, c=c, statistic=float(chi2), p_value=float(stats.chi2.sf(chi2, 1)),
                method="chi-square with continuity correction")


def mcnemar_by_frequency(
    pred_a: Predictions,
    pred_b: Predictions,
    train_counts: pd.Series,
    rare_max: int = PAPER_RARE_MAX,
    common_min: int = PAPER_COMMON_MIN,
    threshold: float = 0.5,
    gold: pd.DataFrame | None = None,
    exact_below: int = 25,
) -> pd.DataFrame:
    """McNemar on per-(document, code) decision correctness for rare (train count < rare_max) and common
    (train count >= common_min) codes.

    Every (document, code) pair of the gold universe is one paired decision; pairs of one document are not
    independent, so read the p-values as descriptive.
    """
    g = make_gold([pred_a, pred_b], gold)
    counts = counts_for(train_counts, g.codes)
    ok_a = decisions(pred_a, g, threshold) == g.y  # (n, C) correct decisions
    ok_b = decisions(pred_b, g, threshold) == g.y
    rows = []
    for group, mask in ((f"rare (<{rare_max})", counts < rare_max), (f"common (≥{common_min})", counts >= common_min)):
        if not mask.any():  # e.g. no code reaches common_min training occurrences on a small cohort
            rows.append(dict(group=group, n_codes=0, n_decisions=0, accuracy_a=np.nan, accuracy_b=np.nan, b=0, c=0,
                             statistic=np.nan, p_value=np.nan, method="no codes in this group"))
            continue
        res = mcnemar(ok_a[:, mask], ok_b[:, mask], exact_below)
        rows.append(dict(group=group, n_codes=int(mask.sum()), n_decisions=int(ok_a[:, mask].size),
                         accuracy_a=M.mean(ok_a[:, mask]), accuracy_b=M.mean(ok_b[:, mask]), **res))
    return pd.DataFrame(rows)


def mcnemar_table(preds_by_model: Mapping[str, Predictions], reference: str, train_counts: pd.Series,
                  rare_max: int = PAPER_RARE_MAX, common_min: int = PAPER_COMMON_MIN, threshold: float = 0.5,
                  gold: pd.DataFrame | None = None, seed: int | None = None) -> pd.DataFrame:
    """McNemar of ``reference`` against every other model, on rare and common codes (accuracy in percent,
    p-values as strings with two significant digits, for display). ``seed`` (the primary seed whose predictions
    are paired) is written in a ``seed`` column so the table says which run it tested."""
    if reference not in preds_by_model:
        raise ValueError(f"reference model {reference!r} not among {list(preds_by_model)}")
    rows = [mcnemar_by_frequency(preds_by_model[reference], p, train_counts, rare_max, common_min, threshold, gold)
            .assign(reference=reference, comparator=m)
            for m, p in preds_by_model.items() if m != reference]
    if not rows:
        return pd.DataFrame()
    df = pd.concat(rows, ignore_index=True)
    df[["accuracy_a", "accuracy_b"]] *= 100  # percent, like every other table
    df["p_value"] = df["p_value"].map(p_value_text)
    lead = ["reference", "comparator"] + (["seed"] if seed is not None else [])
    if seed is not None:
        df["seed"] = int(seed)
    return df[[*lead, *[c for c in df.columns if c not in lead]]]
