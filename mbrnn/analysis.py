"""Frequency-bucketed error analysis on SAVED predictions (never retrains).

Inputs are the contracts of docs/architecture.md: ``data/models/<name>/{dev,test}.npz``, the cohort's
``icd_labels.csv`` (training counts) and a split parquet (gold codes, note length). Every function is pure
on arrays / DataFrames and every choice that changes a number is an argument.

Conventions (used throughout):
- every score is computed by :mod:`mbrnn.metrics` (``label_metrics``, ``per_label_counts``, ``per_label_prf``,
  ``mean``): one metric name, one definition, in every table. In particular ``macro_f1`` is always CAML's
  (harmonic mean of macro-P and macro-R over all codes of the group) and ``macro_f1_mean`` the mean of the
  per-label F1; tables name them ``Macro-F1 (CAML)`` and ``Macro-F1 (per-label mean)``;
- a code is predicted when ``prob >= threshold``;
- the gold standard is the union of all codes of the test set (``gold``, from the split parquet) and the
  model's label set; a test code outside a model's label set is never predicted (score 0), so each of its
  occurrences is a false negative (this is what separates ``full`` from ``top50`` models); its constant score
  gives it a per-label AUC of 0.5;
- a group's macro scores average over every code of the group in the gold universe, as the main table does over
  the label set, so the ``all`` row of a bucket table equals ``metrics.evaluate`` on the saved predictions when
  the gold universe is the model's label set;
- frequency buckets and the McNemar rare/common groups are either absolute (the paper's edges, for MIMIC-scale
  runs) or ``auto``: quantiles of this cohort's training counts, so that every group holds codes;
- seeds: the primary seed (first of ``train.seeds``) is in ``<models_dir>/<name>/``, seed s in
  ``<models_dir>/<name>/seed-<s>/``; paired tests use the primary seed, tables over seeds give mean ± SD, and a
  difference within the spread over seeds (|Δ| <= SD_a + SD_b) is never called a finding;
- analysis frames hold fractions in [0, 1]; the paper-style tables (``results_table`` ...) are in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from mbrnn import metrics as M

# MBRNN on MIMIC-III as published by the authors, in percent: README "Main Results" of github.com/VRCMF/MARN
# (the model is called MARN there; Sun et al., ACM TIST 2022). Their macro-F1 follows CAML/MultiResCNN:
# harmonic mean of macro-precision and macro-recall (our ``macro_f1``), not the mean per-label F1.
PUBLISHED_MBRNN: dict[str, dict[str, float]] = {
    "MIMIC-III-full": {"macro_auc": 91.3, "micro_auc": 98.8, "macro_f1": 11.6, "micro_f1": 58.4, "p@8": 75.4, "p@15": 60.2},
    "MIMIC-III-50": {"macro_auc": 92.7, "micro_auc": 94.7, "macro_f1": 68.2, "micro_f1": 71.8, "p@5": 67.3},
}
PUBLISHED_MBRNN_CCS: dict[str, dict[str, float]] = {  # same source, CCS branch
    "MIMIC-III-full": {"macro_auc": 93.9, "micro_auc": 97.4, "macro_f1": 58.6, "micro_f1": 72.2, "p@8": 84.3, "p@15": 67.2},
    "MIMIC-III-50": {"macro_auc": 92.8, "micro_auc": 95.0, "macro_f1": 71.2, "micro_f1": 75.0, "p@5": 69.0},
}
METRIC_NAMES = {
    "macro_auc": "Macro-AUC", "micro_auc": "Micro-AUC", "macro_f1": "Macro-F1 (CAML)",
    "macro_f1_mean": "Macro-F1 (per-label mean)", "micro_f1": "Micro-F1", "p@5": "P@5", "p@8": "P@8", "p@15": "P@15",
}
PAPER_EDGES = (0, 10, 50, 100, 500, 1000)  # the paper's absolute buckets, for MIMIC-scale cohorts
DEFAULT_EDGES = PAPER_EDGES
PAPER_RARE_MAX, PAPER_COMMON_MIN = 100, 1000


# ----------------------------------------------------------------------------- loading

@dataclass
class Predictions:
    """One model's saved predictions on one split (see docs/architecture.md)."""

    hadm_id: np.ndarray  # (n,) int64
    icd_codes: np.ndarray  # (L,) str
    icd_prob: np.ndarray  # (n, L) float32
    icd_true: np.ndarray  # (n, L) bool
    ccs_codes: np.ndarray | None = None  # (K,) str
    ccs_prob: np.ndarray | None = None  # (n, K) float32
    ccs_true: np.ndarray | None = None  # (n, K) bool
    path: str | None = None


_REQUIRED = ("hadm_id", "icd_codes", "icd_prob", "icd_true")
_CCS = ("ccs_codes", "ccs_prob", "ccs_true")


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions npz; raise a ValueError naming the file when keys or shapes are wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: predictions file not found; run the training stage that writes it first")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle
        raise ValueError(f"{path}: could not read ({e}); save codes as fixed-width str arrays, not object arrays") from e
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (has {sorted(arrays)}); "
                         f"a predictions npz needs {list(_REQUIRED)} (+ optional {list(_CCS)})")
    has_ccs = [k in arrays for k in _CCS]
    if any(has_ccs) and not all(has_ccs):
        raise ValueError(f"{path}: has only some CCS keys {[k for k in _CCS if k in arrays]}; "
                         f"need all of {list(_CCS)} or none")
    p = Predictions(
        hadm_id=arrays["hadm_id"].astype(np.int64), icd_codes=arrays["icd_codes"].astype(str),
        icd_prob=arrays["icd_prob"].astype(np.float32), icd_true=arrays["icd_true"].astype(bool),
        path=str(path),
    )
    if all(has_ccs):
        p.ccs_codes, p.ccs_prob, p.ccs_true = (arrays["ccs_codes"].astype(str), arrays["ccs_prob"].astype(np.float32),
                                               arrays["ccs_true"].astype(bool))
    _check_shapes(p)
    return p


def _check_shapes(p: Predictions) -> None:
    n = len(p.hadm_id)
    for task in ("icd", "ccs"):
        codes, prob, true = getattr(p, f"{task}_codes"), getattr(p, f"{task}_prob"), getattr(p, f"{task}_true")
        if codes is None:
            continue
        want = (n, len(codes))
        if prob.shape != want or true.shape != want:
            raise ValueError(f"{p.path}: {task}_prob {prob.shape} / {task}_true {true.shape} should both be "
                             f"(n_hadm, n_{task}_codes) = {want}")
    if len(np.unique(p.hadm_id)) != n:
        raise ValueError(f"{p.path}: hadm_id has duplicates")


def load_train_counts(labels_csv: str | Path) -> pd.Series:
    """``icd_labels.csv`` (or ``ccs_labels.csv``) -> training counts, a Series indexed by code."""
    df = pd.read_csv(labels_csv, dtype={"code": str})
    if not {"code", "train_count"} <= set(df.columns):
        raise ValueError(f"{labels_csv}: needs columns 'code' and 'train_count' (has {list(df.columns)}); "
                         f"rebuild the cohort with cohort.build_cohort")
    return df.set_index("code")["train_count"].astype(np.int64)


# ----------------------------------------------------------------------------- buckets

def bucket_names(edges: Sequence[int] = DEFAULT_EDGES) -> list[str]:
    """(0, 10, 50) -> ['0', '1–10', '11–50', '>50']; a bucket of one count is named by it: (0, 1, 3) -> '1', '2–3'."""
    edges = [int(e) for e in edges]
    if not edges or edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bucket edges {edges} must start at 0 and increase strictly (e.g. {list(DEFAULT_EDGES)})")
    return ["0"] + [f"{a + 1}–{b}" if b > a + 1 else f"{b}" for a, b in zip(edges, edges[1:])] + [f">{edges[-1]}"]


def assign_buckets(train_counts, edges: Sequence[int] = DEFAULT_EDGES) -> pd.Categorical:
    """Training count -> ordered frequency bucket; edges are inclusive upper bounds, the first bucket is exactly 0."""
    names = bucket_names(edges)
    c = np.asarray(train_counts, dtype=float)
    if not np.all(np.isfinite(c) & (c >= 0) & (c == np.round(c))):
        raise ValueError("training counts must be non-negative integers (train_count of icd_labels.csv)")
    idx = np.searchsorted(np.asarray(edges), c, side="left")  # 0 -> 0, 1..10 -> 1, ..., >1000 -> len(edges)
    return pd.Categorical.from_codes(idx, categories=names, ordered=True)


def auto_edges(train_counts, n_buckets: int = 5) -> list[int]:
    """Bucket edges scaled to the cohort: ``[0]`` + up to ``n_buckets - 1`` quantile edges of the positive
    training counts, so that the buckets above 0 hold about equally many codes.

    Edges are chosen one at a time: each is the 1/k quantile of the codes not yet bucketed (k buckets left), so a
    tie (e.g. most codes of a full label set seen once) fills one bucket and the rest are still split. Each edge
    is an observed count (inclusive upper bound), so every bucket above 0 holds codes. Bucket ``0`` (unseen in
    training) holds codes only when the label set has such codes. Used for ``bucket_edges: auto``.
    """
    if n_buckets < 1:
        raise ValueError(f"analysis.bucket_count must be >= 1, got {n_buckets}")
    c = np.asarray(train_counts, dtype=np.int64)
    rest = np.sort(c[c > 0])
    edges = [0]
    for k in range(n_buckets, 1, -1):  # k buckets still to fill
        if rest.size == 0:
            break
        edge = int(np.quantile(rest, 1 / k, method="inverted_cdf"))
        if edge >= rest[-1]:  # the last bucket (> edge) would be empty
            break
        edges.append(edge)
        rest = rest[rest > edge]
    return edges


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


def resolve_edges(spec, train_counts, n_buckets: int = 5) -> list[int]:
    """``analysis.bucket_edges``: ``auto`` (:func:`auto_edges`) or an explicit list (checked)."""
    if isinstance(spec, str):
        if spec != "auto":
            raise ValueError(f"analysis.bucket_edges must be 'auto' or a list of counts, got {spec!r}")
        return auto_edges(train_counts, n_buckets)
    edges = [int(e) for e in spec]
    bucket_names(edges)  # validates
    return edges


def resolve_groups(rare_max, common_min, train_counts) -> tuple[int, int]:
    """``analysis.rare_max`` / ``common_min``: each ``auto`` (:func:`auto_groups`) or a number."""
    auto = auto_groups(train_counts) if "auto" in (rare_max, common_min) else (None, None)
    for name, v in (("rare_max", rare_max), ("common_min", common_min)):
        if v != "auto" and not isinstance(v, (int, np.integer)):
            raise ValueError(f"analysis.{name} must be 'auto' or an integer, got {v!r}")
    return (auto[0] if rare_max == "auto" else int(rare_max), auto[1] if common_min == "auto" else int(common_min))


def describe_edges(spec, edges: Sequence[int], n_buckets: int) -> str:
    """One clause for captions: which edges, and where they come from."""
    names = ", ".join(bucket_names(edges))
    if spec == "auto":
        return (f"buckets {names} (training occurrences; edges scaled to this cohort: the {n_buckets}-quantiles of "
                f"its codes' training counts)")
    return f"buckets {names} (training occurrences; fixed edges {list(edges)})"


# ----------------------------------------------------------------------------- alignment

@dataclass
class Gold:
    """Gold labels over a code universe: y[i, j] is True when document hadm_id[i] has code codes[j]."""

    hadm_id: np.ndarray  # (n,)
    codes: np.ndarray  # (C,) str
    y: np.ndarray  # (n, C) bool


def make_gold(preds: Sequence[Predictions], gold: pd.DataFrame | None = None) -> Gold:
    """Gold over (test codes ∪ every model's label set).

    ``gold`` is a split frame (``hadm_id``, ``icd_codes`` list) — the reference for codes outside a model's
    label set. Without it, gold is the union of the models' own ``icd_true`` (all must cover the same admissions).
    """
    model_codes = [p.icd_codes for p in preds]
    if gold is not None:
        if not {"hadm_id", "icd_codes"} <= set(gold.columns):
            raise ValueError(f"gold frame needs columns hadm_id, icd_codes (has {list(gold.columns)}); "
                             f"pass the split parquet")
        g = gold.sort_values("hadm_id")
        hadm = g["hadm_id"].to_numpy(np.int64)
        lists = [list(map(str, c)) for c in g["icd_codes"]]
        codes = np.array(sorted(set().union(*lists, *map(set, model_codes))), dtype=str)
        col = {c: j for j, c in enumerate(codes)}
        y = np.zeros((len(hadm), len(codes)), dtype=bool)
        for i, cs in enumerate(lists):
            y[i, [col[c] for c in cs]] = True
    else:
        if not preds:
            raise ValueError("need at least one Predictions or a gold frame")
        hadm = np.sort(preds[0].hadm_id)
        codes = np.array(sorted(set().union(*map(set, model_codes))), dtype=str)
        y = np.zeros((len(hadm), len(codes)), dtype=bool)
    for p in preds:  # fill (no gold frame) or cross-check (gold frame) with each model's icd_true
        rows = _rows(p, hadm)
        cols = np.searchsorted(codes, p.icd_codes)
        if gold is None:
            y[:, cols] |= p.icd_true[rows]
        elif not np.array_equal(y[:, cols], p.icd_true[rows]):
            raise ValueError(f"{p.path}: icd_true disagrees with the gold split frame; was it predicted on this split?")
    return Gold(hadm, codes, y)


def _rows(p: Predictions, hadm: np.ndarray) -> np.ndarray:
    """Row order of p matching ``hadm``; error when the admissions differ."""
    if len(p.hadm_id) != len(hadm) or not np.array_equal(np.sort(p.hadm_id), hadm):
        raise ValueError(f"{p.path or 'predictions'}: its {len(p.hadm_id)} hadm_ids differ from the reference "
                         f"{len(hadm)}; compare predictions of the same split")
    return np.argsort(p.hadm_id)  # p.hadm_id[order] == hadm


def align(p: Predictions, g: Gold) -> tuple[np.ndarray, np.ndarray]:
    """Model scores on the gold universe: prob (n, C) with 0 for codes outside its label set, in_set (C,)."""
    prob = np.zeros(g.y.shape, dtype=np.float32)
    cols = np.searchsorted(g.codes, p.icd_codes)
    prob[:, cols] = p.icd_prob[_rows(p, g.hadm_id)]
    in_set = np.zeros(len(g.codes), dtype=bool)
    in_set[cols] = True
    return prob, in_set


def _decisions(p: Predictions, g: Gold, threshold: float) -> np.ndarray:
    prob, in_set = align(p, g)
    return (prob >= threshold) & in_set  # (n, C) bool


def _counts_for(train_counts: pd.Series, codes: np.ndarray) -> np.ndarray:
    missing = [c for c in codes if c not in train_counts.index]
    if missing:
        raise ValueError(f"{len(missing)} codes have no training count (e.g. {missing[:5]}); pass train_counts for "
                         f"every code, i.e. the train_count column of the cohort's icd_labels.csv")
    return train_counts.reindex(codes).to_numpy(np.int64)


# ----------------------------------------------------------------------------- group scores

SCORE_KEYS = ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1",
              "macro_f1_mean", "macro_auc")


def _group_scores(y: np.ndarray, prob: np.ndarray, threshold: float, mask: np.ndarray) -> dict:
    """Scores of the codes selected by ``mask`` (C,) from ``metrics.label_metrics``; NaN for an empty group."""
    if not mask.any():
        return dict(tp=0, fp=0, fn=0, **{k: float("nan") for k in SCORE_KEYS}, n_auc_codes=0)
    yg, pg = y[:, mask], prob[:, mask]
    tp, fp, fn = M.per_label_counts(yg, pg >= np.float64(threshold))
    m = M.label_metrics(yg, pg, threshold)
    return dict(tp=int(tp.sum()), fp=int(fp.sum()), fn=int(fn.sum()), **{k: m[k] for k in SCORE_KEYS},
                n_auc_codes=m["n_auc_labels"])


def bucket_table(
    preds_by_model: Mapping[str, Predictions],
    train_counts: pd.Series,
    edges: Sequence[int] = DEFAULT_EDGES,
    threshold: float = 0.5,
    gold: pd.DataFrame | None = None,
    include_total: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Scores per (frequency bucket, model); one row each, plus an ``all`` row per model.

    Columns: n_codes (codes of the gold universe in the bucket), n_codes_in_test (of those, occurring in the
    test set), n_codes_in_model (in the model's label set), test_occurrences and share_test_occurrences (gold
    (doc, code) pairs), tp/fp/fn, and the ``metrics.label_metrics`` scores of the bucket's codes: micro P/R/F1,
    macro P/R, macro_f1 (CAML), macro_f1_mean (per-label mean), macro_auc over n_auc_codes codes. Fractions.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0 (got {threshold}): codes outside a label set score 0")
    g = make_gold(list(preds_by_model.values()), gold)
    counts = _counts_for(train_counts, g.codes)
    buckets = assign_buckets(counts, edges)
    support = g.y.sum(0)  # (C,)
    groups = [(name, np.asarray(buckets == name)) for name in buckets.categories]
    if include_total:
        groups.append(("all", np.ones(len(g.codes), dtype=bool)))
    rows = []
    for model, p in tqdm(preds_by_model.items(), desc="bucket table", disable=not progress):
        prob, in_set = align(p, g)
        for name, mask in groups:
            rows.append(dict(
                bucket=name, model=model, n_codes=int(mask.sum()), n_codes_in_test=int((support[mask] > 0).sum()),
                n_codes_in_model=int(in_set[mask].sum()), test_occurrences=int(support[mask].sum()),
                share_test_occurrences=float(support[mask].sum() / max(support.sum(), 1)),
                **_group_scores(g.y, prob, threshold, mask),
            ))
        del prob
    df = pd.DataFrame(rows)
    order = list(buckets.categories) + (["all"] if include_total else [])
    df["bucket"] = pd.Categorical(df["bucket"], categories=order, ordered=True)
    return df.sort_values(["bucket", "model"], kind="stable").reset_index(drop=True)


def per_code_f1(
    pred: Predictions,
    train_counts: pd.Series,
    threshold: float = 0.5,
    gold: pd.DataFrame | None = None,
    edges: Sequence[int] = DEFAULT_EDGES,
) -> pd.DataFrame:
    """One row per code of the gold universe.

    Columns: code, train_count, bucket, in_label_set, support, tp, fp, fn, precision, recall, f1.
    """
    g = make_gold([pred], gold)
    prob, in_set = align(pred, g)
    tp, fp, fn = M.per_label_counts(g.y, (prob >= threshold) & in_set)
    p, r, f = M.per_label_prf(tp, fp, fn)
    counts = _counts_for(train_counts, g.codes)
    return pd.DataFrame(dict(
        code=g.codes, train_count=counts, bucket=assign_buckets(counts, edges), in_label_set=in_set,
        support=g.y.sum(0), tp=tp, fp=fp, fn=fn, precision=p, recall=r, f1=f,
    ))


# ----------------------------------------------------------------------------- binned trends

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
    yhat = _decisions(pred, g, threshold)
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


# ----------------------------------------------------------------------------- significance

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
    counts = _counts_for(train_counts, g.codes)
    ok_a = _decisions(pred_a, g, threshold) == g.y  # (n, C) correct decisions
    ok_b = _decisions(pred_b, g, threshold) == g.y
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


# ----------------------------------------------------------------------------- seeds and convergence

def seeds_of(metrics_json: Mapping) -> list[int]:
    """The seeds a model was trained with, primary first (metrics JSON ``seeds``; old files: one, unnamed -> [0])."""
    return [int(s) for s in metrics_json.get("seeds", [0])]


def predictions_path(models_dir: str | Path, name: str, split: str, seed: int, primary: int) -> Path:
    """Where the train stage wrote seed ``seed``'s predictions: the primary seed at the model's top level."""
    base = Path(models_dir) / name
    return base / f"{split}.npz" if seed == primary else base / f"seed-{seed}" / f"{split}.npz"


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
    """True when early stopping ended training (best epoch at least ``patience`` epochs before the last).

    Uses the file's ``converged`` when present (None for models without epochs, such as TF-IDF); for older files
    it is derived from ``best_epoch``, ``epochs_run`` and the file's ``patience`` (else the argument).
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


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return M.mean(v), (float(np.std(v, ddof=1)) if v.size > 1 else float("nan"))


# ----------------------------------------------------------------------------- focal vs BCE

def _bucket_deltas(bucket_df: pd.DataFrame, focal: str, bce: str) -> pd.DataFrame:
    """One seed: per non-empty bucket, focal and BCE F1 (points) and their difference."""
    for m in (focal, bce):
        if m not in set(bucket_df["model"]):
            raise ValueError(f"model {m!r} not in the bucket table (has {sorted(set(bucket_df['model']))})")
    d = bucket_df[bucket_df["bucket"] != "all"]
    wide = {m: d[d["model"] == m].set_index("bucket") for m in (focal, bce)}
    out = pd.DataFrame({"n_codes": wide[focal]["n_codes"]})
    for k in ("micro_f1", "macro_f1"):
        out[f"{k}_focal"] = 100 * wide[focal][k]
        out[f"{k}_bce"] = 100 * wide[bce][k]
        out[f"delta_{k}"] = out[f"{k}_focal"] - out[f"{k}_bce"]
    out = out[out["n_codes"] > 0].reset_index()
    out["bucket"] = out["bucket"].astype(str)
    return out


def focal_vs_bce(
    bucket_dfs: pd.DataFrame | Sequence[pd.DataFrame],
    focal: str = "mbrnn",
    bce: str = "mbrnn_bce",
    metric: str = "macro_f1",
    rare_buckets: Sequence[str] | None = None,
    frequent_buckets: Sequence[str] | None = None,
    tol: float = 0.0,
) -> tuple[pd.DataFrame, str]:
    """Per-bucket F1 of focal vs BCE (points, mean over seeds) and a one-sentence verdict on
    "does focal loss move F1 from frequent to rare codes?".

    ``bucket_dfs``: one bucket table per seed (seed s of the focal model paired with seed s of the BCE model).
    Columns ``delta_*_sd`` hold the SD over seeds (NaN for one seed). Default rare/frequent buckets: the first /
    second half of the non-empty buckets. A group's mean delta counts as a change only when it exceeds ``tol``
    and the SD of that group delta over seeds; with one seed the verdict says the spread is unknown.
    """
    tables = [bucket_dfs] if isinstance(bucket_dfs, pd.DataFrame) else list(bucket_dfs)
    per = [_bucket_deltas(d, focal, bce) for d in tables]
    stacked = pd.concat(per, keys=range(len(per)), names=["seed_index"]).reset_index(level=0)
    agg = stacked.groupby("bucket", sort=False)
    out = agg.mean(numeric_only=True).drop(columns="seed_index").reset_index()
    for k in ("micro_f1", "macro_f1"):
        out[f"delta_{k}_sd"] = agg[f"delta_{k}"].std(ddof=1).to_numpy() if len(per) > 1 else np.nan
    names = list(out["bucket"])
    half = (len(names) + 1) // 2
    rare = list(rare_buckets) if rare_buckets is not None else names[:half]
    freq = list(frequent_buckets) if frequent_buckets is not None else names[half:]
    group = {g: [float(p.set_index("bucket")[f"delta_{metric}"].reindex(bs).mean()) for p in per]
             for g, bs in (("rare", rare), ("freq", freq))}
    (d_rare, sd_rare), (d_freq, sd_freq) = _mean_sd(group["rare"]), _mean_sd(group["freq"])
    up_rare = d_rare > max(tol, np.nan_to_num(sd_rare))
    down_freq = d_freq < -max(tol, np.nan_to_num(sd_freq))
    if up_rare and down_freq:
        answer = "yes, focal loss moves F1 from frequent to rare codes"
    elif up_rare:
        answer = "no trade-off: focal loss raises rare-code F1 without lowering frequent-code F1"
    elif down_freq:
        answer = "no: focal loss lowers frequent-code F1 without raising rare-code F1"
    else:
        answer = "no: focal loss does not raise rare-code F1 beyond the spread over seeds" if len(per) > 1 \
            else "no: focal loss does not raise rare-code F1"
    label = METRIC_NAMES.get(metric, metric)
    spread = (f" (mean over {len(per)} seeds; SD {sd_rare:.1f} and {sd_freq:.1f}; a change within the SD is "
              "not counted)" if len(per) > 1 else " (one seed: the spread over seeds is unknown, so this is "
              "descriptive)")
    verdict = (f"Focal loss vs BCE changes {label} by {d_rare:+.1f} points on rare buckets ({', '.join(rare)}) "
               f"and by {d_freq:+.1f} points on frequent buckets ({', '.join(freq)}){spread}: {answer}.")
    return out, verdict


# ----------------------------------------------------------------------------- paper-style tables (percent)

def results_table(
    metrics_by_model: Mapping[str, Mapping[str, float]],
    published: Mapping[str, Mapping[str, float]] | None = None,
    data_label: str | Mapping[str, str] = "synthetic demo",
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5", "p@8", "p@15"),
    scale: float = 100.0,
    published_model: str = "MBRNN",
    training: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Our models' metrics (fractions × scale) next to published numbers (already percent); NaN where not reported.

    ``data_label``: one label for all our rows, or a mapping model -> label (e.g. "synthetic demo, full").
    ``published`` defaults to PUBLISHED_MBRNN (pass {} for none). ``training`` (model -> convergence_label)
    adds a ``Training`` column, so a model that was not converged is marked in the table itself.
    """
    published = PUBLISHED_MBRNN if published is None else published
    rows = []
    for model, m in metrics_by_model.items():
        label = data_label if isinstance(data_label, str) else data_label.get(model, "ours")
        rows.append({"Data": f"{label} (ours)", "Model": model,
                     **{METRIC_NAMES.get(k, k): scale * m[k] if k in m else np.nan for k in metrics}})
        if training is not None:
            rows[-1]["Training"] = training.get(model, "")
    for dataset, m in published.items():
        rows.append({"Data": f"{dataset} (published)", "Model": published_model,
                     **{METRIC_NAMES.get(k, k): m.get(k, np.nan) for k in metrics}})
        if training is not None:
            rows[-1]["Training"] = "published"
    extra = ["Training"] if training is not None else []
    return pd.DataFrame(rows, columns=["Data", "Model"] + [METRIC_NAMES.get(k, k) for k in metrics] + extra)


def ablation_table(
    metrics_by_model: Mapping[str, Mapping[str, float] | Sequence[Mapping[str, float]]],
    reference: str = "mbrnn",
    descriptions: Mapping[str, str] | None = None,
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5"),
    delta_metrics: Sequence[str] = ("macro_f1", "micro_f1"),
    data_label: str = "synthetic demo",
    scale: float = 100.0,
    training: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Ablation variants (rows, in the given order): metrics in percent, mean over seeds, and Δ (points) against
    ``reference``.

    A value of ``metrics_by_model`` is one metrics dict or a list of them, one per seed (:func:`per_seed`). With
    several seeds each metric gets an ``SD`` column and ``Finding`` says which Δ exceed the spread over seeds
    (:func:`beyond_spread`); a Δ within it, or with one seed, is not a finding.
    """
    if reference not in metrics_by_model:
        raise ValueError(f"reference model {reference!r} not among {list(metrics_by_model)}")
    runs = {m: [v] if isinstance(v, Mapping) else list(v) for m, v in metrics_by_model.items()}
    stats_ = {m: {k: _mean_sd([scale * r[k] for r in rs]) if all(k in r for r in rs) else (np.nan, np.nan)
                  for k in set(metrics) | set(delta_metrics)} for m, rs in runs.items()}
    several = any(len(rs) > 1 for rs in runs.values())
    rows = []
    for model, st in stats_.items():
        row = {"Data": data_label, "Variant": model, "Seeds": len(runs[model])}
        if descriptions is not None:
            row["Description"] = descriptions.get(model, "")
        for k in metrics:
            row[METRIC_NAMES.get(k, k)] = st[k][0]
            if several:
                row[f"{METRIC_NAMES.get(k, k)} SD"] = st[k][1]
        deltas = {k: st[k][0] - stats_[reference][k][0] for k in delta_metrics}
        row.update({f"Δ {METRIC_NAMES.get(k, k)}": d for k, d in deltas.items()})
        if model != reference:
            row["Finding"] = _finding(deltas, st, stats_[reference])
        else:
            row["Finding"] = "reference"
        if training is not None:
            row["Training"] = training.get(model, "")
        rows.append(row)
    return pd.DataFrame(rows)


def _finding(deltas: Mapping[str, float], st: Mapping, ref: Mapping) -> str:
    """Which Δ exceed the spread over seeds: 'Δ Micro-F1 beyond seed spread', 'within seed spread', 'one seed'."""
    verdicts = {k: beyond_spread(d, st[k][1], ref[k][1]) for k, d in deltas.items()}
    if any(v is None for v in verdicts.values()):
        return "one seed: spread unknown, not a finding"
    hits = [f"Δ {METRIC_NAMES.get(k, k)}" for k, v in verdicts.items() if v]
    return f"{', '.join(hits)} beyond seed spread" if hits else "within seed spread: not a finding"


def task_table(
    metrics_by_model: Mapping[str, Mapping[str, Mapping[str, float]]],
    tasks: Mapping[str, str] | None = None,
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5"),
    data_label: str = "synthetic demo",
    scale: float = 100.0,
) -> pd.DataFrame:
    """CCS-branch results beside ICD results: ``{model: {"icd": metrics, "ccs": metrics}}`` -> one row per model.

    ``tasks`` maps the inner key to its column prefix (default {"icd": "ICD-9", "ccs": "CCS"}); a model
    without a task (single-task models have no CCS branch) gets NaN there.
    """
    tasks = dict(tasks or {"icd": "ICD-9", "ccs": "CCS"})
    rows = []
    for model, by_task in metrics_by_model.items():
        row = {"Data": data_label, "Model": model}
        for key, prefix in tasks.items():
            m = by_task.get(key) or {}
            row.update({f"{prefix} {METRIC_NAMES.get(k, k)}": scale * m[k] if k in m else np.nan for k in metrics})
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- display helpers

BUCKET_COLUMNS = {"n_codes": "codes", "n_codes_in_test": "codes in test",
                  "share_test_occurrences": "share of test occurrences (%)",
                  "micro_precision": "Micro-P", "micro_recall": "Micro-R", "micro_f1": "Micro-F1",
                  "macro_precision": "Macro-P", "macro_recall": "Macro-R", "macro_f1": METRIC_NAMES["macro_f1"],
                  "macro_f1_mean": METRIC_NAMES["macro_f1_mean"], "macro_auc": "Macro-AUC", "fn": "FN", "fp": "FP"}
_COUNT_COLUMNS = ("n_codes", "n_codes_in_test", "fn", "fp")


def focal_summary(delta: pd.DataFrame) -> pd.DataFrame:
    """The focal-vs-BCE frame with headers that name each metric's definition (points; SD over seeds)."""
    names = {"bucket": "bucket", "n_codes": "codes"}
    for k in ("micro_f1", "macro_f1"):
        label = METRIC_NAMES[k]
        names.update({f"{k}_focal": f"{label} focal", f"{k}_bce": f"{label} BCE", f"delta_{k}": f"Δ {label}",
                      f"delta_{k}_sd": f"Δ {label} SD"})
    out = delta[[c for c in names if c in delta.columns]].rename(columns=names)
    out["codes"] = out["codes"].round().astype(int)
    return out


def spearman_table(stats_by_model: Mapping[str, dict]) -> pd.DataFrame:
    """Spearman results per model for display: rho, p-value as a two-significant-digit string, n as an integer."""
    df = pd.DataFrame(stats_by_model).T.reset_index(names="model")
    df["n"] = df["n"].astype(int)
    df["p_value"] = df["p_value"].map(lambda p: "–" if pd.isna(p) else f"{p:.2g}")
    return df


def empty_buckets(buckets: pd.DataFrame) -> list[str]:
    """Buckets of a bucket table that hold no code (left out of the summary and named in its caption)."""
    d = buckets[buckets["bucket"] != "all"]
    held = d.groupby(d["bucket"].astype(str), sort=False)["n_codes"].max()
    return [b for b, n in held.items() if n == 0]


def bucket_summary(buckets: pd.DataFrame) -> pd.DataFrame:
    """The bucket table as a reader wants it: percent, named columns, empty buckets dropped (see empty_buckets)."""
    df = buckets[buckets["n_codes"] > 0].copy()
    cols = [c for c in BUCKET_COLUMNS if c in df.columns]
    for c in cols:
        if c not in _COUNT_COLUMNS:
            df[c] = 100 * df[c]
    df["bucket"] = df["bucket"].astype(str)
    return df[["bucket", "model", *cols]].rename(columns=BUCKET_COLUMNS).reset_index(drop=True)


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
    df["p_value"] = df["p_value"].map(lambda p: "–" if pd.isna(p) else f"{p:.2g}")  # readable at any magnitude
    lead = ["reference", "comparator"] + (["seed"] if seed is not None else [])
    if seed is not None:
        df["seed"] = int(seed)
    return df[[*lead, *[c for c in df.columns if c not in lead]]]
