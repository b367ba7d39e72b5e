"""Frequency buckets: edges (the paper's absolute ones or ``auto`` quantiles of the cohort's training counts),
their names, and the scores of every (bucket, model) and of every code.

Every score comes from :mod:`mbrnn.metrics` (``label_metrics``, ``per_label_counts``, ``per_label_prf``), so
the ``all`` row of a bucket table equals the main table when the gold universe is the model's label set.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mbrnn import metrics as M
from mbrnn.analysis.predictions import Predictions, align, counts_for, make_gold

PAPER_EDGES = (0, 10, 50, 100, 500, 1000)  # the paper's absolute buckets, for MIMIC-scale cohorts
DEFAULT_EDGES = PAPER_EDGES


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


def resolve_edges(spec, train_counts, n_buckets: int = 5) -> list[int]:
    """``analysis.bucket_edges``: ``auto`` (:func:`auto_edges`) or an explicit list (checked)."""
    if isinstance(spec, str):
        if spec != "auto":
            raise ValueError(f"analysis.bucket_edges must be 'auto' or a list of counts, got {spec!r}")
        return auto_edges(train_counts, n_buckets)
    edges = [int(e) for e in spec]
    bucket_names(edges)  # validates
    return edges


def describe_edges(spec, edges: Sequence[int], n_buckets: int) -> str:
    """One clause for captions: which edges, and where they come from."""
    names = ", ".join(bucket_names(edges))
    if spec == "auto":
        return (f"buckets {names} (training occurrences; edges scaled to this cohort: the {n_buckets}-quantiles of "
                f"its codes' training counts)")
    return f"buckets {names} (training occurrences; fixed edges {list(edges)})"


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
    counts = counts_for(train_counts, g.codes)
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
    counts = counts_for(train_counts, g.codes)
    return pd.DataFrame(dict(
        code=g.codes, train_count=counts, bucket=assign_buckets(counts, edges), in_label_set=in_set,
        support=g.y.sum(0), tp=tp, fp=fp, fn=fn, precision=p, recall=r, f1=f,
    ))


def empty_buckets(buckets: pd.DataFrame) -> list[str]:
    """Buckets of a bucket table that hold no code (left out of the summary and named in its caption)."""
    d = buckets[buckets["bucket"] != "all"]
    held = d.groupby(d["bucket"].astype(str), sort=False)["n_codes"].max()
    return [b for b, n in held.items() if n == 0]
