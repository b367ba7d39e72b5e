"""Multi-label evaluation for ICD coding: numpy in, plain Python numbers out.

Conventions (n documents, L labels; y_true bool (n, L), y_prob float (n, L)):

* Prediction: label l is predicted for a document iff y_prob >= threshold. (CAML's np.round(y_prob)
  differs only for a probability of exactly 0.5.)
* Per-label precision tp/(tp+fp) is 0 when a label is never predicted, per-label recall tp/(tp+fn) is 0
  when a label has no gold positive, per-label F1 = 2tp/(2tp+fp+fn) is 0 when that is 0/0 (CAML; sklearn's
  zero_division=0). Micro scores pool tp/fp/fn over all cells, also 0 on 0/0.
* macro_precision / macro_recall: mean of the per-label values over ALL L labels.
  macro_f1: harmonic mean of macro_precision and macro_recall (CAML's definition, the number papers report).
  macro_f1_mean: mean of the per-label F1 (sklearn's average="macro").
  *_present: the same four over the labels with >= 1 positive in y_true.
* micro_auc: ROC AUC of all n x L cells pooled. macro_auc: mean per-label ROC AUC over labels with at least
  one positive AND one negative document. Ties in scores count 1/2 (Mann-Whitney), as sklearn.
* Ranking metrics rank each document's labels by y_prob, descending; equal scores are ordered by label index
  (stable sort), which decides the membership of a top-k cut that falls inside a tie.
  p@k: mean over ALL documents of (gold labels in the top k) / k (CAML). k is capped at L.
  r@k: mean over documents with >= 1 gold label of (gold labels in the top k) / (number of gold labels).
  r_precision: as r@k with k = the document's number of gold labels R (= precision at R).
  map: mean over documents with >= 1 gold label of average precision
  AP = (1/R) sum over gold labels j of |gold with score >= s_j| / |labels with score >= s_j|,
  ties grouped (equal to sklearn's average_precision_score per document and to
  label_ranking_average_precision_score when every document has 1..L-1 gold labels).
* exact_match: fraction of documents whose predicted label set equals the gold set.
* Undefined values (e.g. an AUC with no positive, a recall over no documents) are float("nan"). Zero
  documents are scored, not refused: every mean over documents (ranking metrics, exact_match) and both AUCs are
  nan, the micro and macro P/R/F1 over all labels are 0 by the 0/0 convention, the *_present ones nan.
"""

from __future__ import annotations

import numpy as np

# Dev-tuned threshold grid: 199 points, 0.005 apart (Edin et al. 2023 search a fine grid too; 19 points were too coarse).
DEFAULT_GRID = np.round(np.arange(1, 200) * 0.005, 3)


def _check(y_true: np.ndarray, y_score: np.ndarray, name: str = "y_prob") -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(f"y_true and {name} must both be (n_docs, n_labels); got {y_true.shape} and {y_score.shape}")
    if y_true.dtype != bool:
        if not np.isin(y_true, (0, 1)).all():
            raise ValueError("y_true must be boolean or 0/1")
        y_true = y_true.astype(bool)
    if name == "y_prob" and not np.isfinite(y_score).all():
        raise ValueError("y_prob contains NaN or inf; check the model outputs (sigmoid of the logits)")
    return y_true, y_score


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0 where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def mean(x) -> float:
    """Arithmetic mean as a float; nan for an empty array (no label to average over)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x)) if x.size else float("nan")


def harmonic(p: float, r: float) -> float:
    """Harmonic mean of two rates (CAML's macro-F1 from macro-P and macro-R); 0 when both are 0, nan if either is."""
    if np.isnan(p) or np.isnan(r):
        return float("nan")
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def per_label_prf(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall and F1 from counts, with this module's 0/0 := 0 conventions."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    return _div(tp, tp + fp), _div(tp, tp + fn), _div(2 * tp, 2 * tp + fp + fn)


_mean, _harmonic = mean, harmonic


def per_label_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label true positives, false positives and false negatives, each int64 (n_labels,)."""
    y_true, y_pred = _check(y_true, y_pred, "y_pred")
    y_pred = y_pred.astype(bool)
    tp = np.count_nonzero(y_true & y_pred, axis=0).astype(np.int64)
    fp = np.count_nonzero(y_pred, axis=0).astype(np.int64) - tp
    fn = np.count_nonzero(y_true, axis=0).astype(np.int64) - tp
    return tp, fp, fn


def _auc_sorted(sorted_all: np.ndarray, pos: np.ndarray) -> float:
    """ROC AUC from all scores (sorted ascending) and the positives' scores: P(pos > neg) + P(pos = neg) / 2."""
    P, N = pos.size, sorted_all.size - pos.size
    if P == 0 or N == 0:
        return float("nan")
    pos_sorted = np.sort(pos)
    lt_all = np.searchsorted(sorted_all, pos, side="left")  # scores below each positive
    le_all = np.searchsorted(sorted_all, pos, side="right")
    lt_pos = np.searchsorted(pos_sorted, pos, side="left")  # ... of which positives
    le_pos = np.searchsorted(pos_sorted, pos, side="right")
    neg_lt = (lt_all - lt_pos).sum(dtype=np.float64)  # negatives strictly below
    neg_eq = ((le_all - lt_all) - (le_pos - lt_pos)).sum(dtype=np.float64)  # negatives tied
    return float((neg_lt + 0.5 * neg_eq) / (float(P) * float(N)))


def micro_auc(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """ROC AUC of all cells pooled (nan without both classes)."""
    return _auc_sorted(np.sort(y_prob, axis=None), y_prob[y_true])


def label_auc(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """ROC AUC of every label (n_labels,); nan for a label without positives or without negatives."""
    sorted_cols = np.sort(y_prob.T, axis=1)  # (L, n)
    auc = np.full(y_true.shape[1], np.nan)
    n_pos = y_true.sum(0)
    for l in np.flatnonzero((n_pos > 0) & (n_pos < y_true.shape[0])):
        auc[l] = _auc_sorted(sorted_cols[l], y_prob[y_true[:, l], l])
    return auc


def _ranking(y_true: np.ndarray, y_prob: np.ndarray, ks: tuple[int, ...], chunk: int) -> dict[str, float]:
    n, L = y_true.shape
    ks_capped = [min(k, L) for k in ks]
    hits_at = {k: [] for k in ks}  # gold labels in the top k, per document
    r_hits, ap, n_gold = [], [], []
    cols = np.arange(L)
    for s in range(0, n, chunk):
        t, p = y_true[s : s + chunk], y_prob[s : s + chunk]
        order = np.argsort(-p, axis=1, kind="stable")  # (c, L) labels by decreasing score
        g = np.take_along_axis(t, order, axis=1)  # (c, L) gold flags in rank order
        sc = np.take_along_axis(p, order, axis=1)  # (c, L) sorted scores
        cum = np.cumsum(g, axis=1)  # (c, L) gold labels within the top i+1
        R = cum[:, -1]  # (c,) gold labels per document
        rows = np.arange(len(t))
        for k, kc in zip(ks, ks_capped):
            hits_at[k].append(cum[:, kc - 1])
        r_hits.append(cum[rows, np.maximum(R, 1) - 1])
        # average precision with ties grouped: each position looks at the end of its tie group
        is_end = np.ones_like(g)
        is_end[:, :-1] = sc[:, :-1] != sc[:, 1:]
        end = np.where(is_end, cols, L)
        end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]  # (c, L) last index of the tie group
        prec = np.take_along_axis(cum, end, axis=1) / (end + 1.0)  # precision at the group's cut
        ap.append(np.where(g, prec, 0.0).sum(1) / np.maximum(R, 1))
        n_gold.append(R)
    R = _cat(n_gold)
    has = R > 0
    out = {}
    for k, kc in zip(ks, ks_capped):
        hits = _cat(hits_at[k]).astype(np.float64)
        out[f"p@{k}"] = _mean(hits / kc)
        out[f"r@{k}"] = _mean(hits[has] / R[has])
    out["r_precision"] = _mean(_cat(r_hits)[has] / R[has])
    out["map"] = _mean(_cat(ap)[has])
    return out


def _cat(chunks: list[np.ndarray]) -> np.ndarray:
    """The per-chunk values in one array; empty for zero documents (no chunk), so that every mean over
    documents is nan there instead of ``np.concatenate`` failing on an empty list."""
    return np.concatenate(chunks) if chunks else np.zeros(0)


def evaluate(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float = 0.5,
    ks: tuple[int, ...] = (5, 8, 15),
    chunk: int = 512,
) -> dict[str, float]:
    """All metrics of the study (see the module docstring for every convention).

    `chunk` is the number of documents ranked at once (memory only; results do not depend on it).
    Counts (n_docs, n_labels, n_labels_present) are ints, everything else a float.
    """
    y_true, y_prob = _check(y_true, y_prob)
    if any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers; got {ks}")
    n, L = y_true.shape
    if L == 0:
        raise ValueError("y_true and y_prob have no label column: there is nothing to rank or score")
    m = label_metrics(y_true, y_prob, threshold)
    m.update(_ranking(y_true, y_prob, tuple(int(k) for k in ks), chunk))
    m["exact_match"] = float(np.mean(np.all((y_prob >= np.float64(threshold)) == y_true, axis=1))) if n else float("nan")
    m["n_docs"] = int(n)
    m["n_labels"] = int(L)
    return m


def label_metrics(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The threshold and AUC metrics of :func:`evaluate` (micro/macro P/R/F1 in both macro-F1 definitions,
    micro/macro AUC, n_labels_present), without the ranking metrics.

    ``mbrnn.analysis`` scores each frequency bucket with this very function, so a bucket table's ``all`` row
    and the main table are one computation, not two.
    """
    y_true, y_prob = _check(y_true, y_prob)
    y_pred = y_prob >= np.float64(threshold)  # compared in float64, as tune_threshold does
    tp, fp, fn = per_label_counts(y_true, y_pred)
    prec, rec, f1 = per_label_prf(tp, fp, fn)
    present = (tp + fn) > 0
    m = {"micro_precision": float(_div(tp.sum(), tp.sum() + fp.sum())),
         "micro_recall": float(_div(tp.sum(), tp.sum() + fn.sum())),
         "micro_f1": float(_div(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum()))}
    for suffix, sel in (("", slice(None)), ("_present", present)):
        P, R = mean(prec[sel]), mean(rec[sel])
        m[f"macro_precision{suffix}"] = P
        m[f"macro_recall{suffix}"] = R
        m[f"macro_f1{suffix}"] = harmonic(P, R)
        m[f"macro_f1_mean{suffix}"] = mean(f1[sel])
    m["micro_auc"] = micro_auc(y_true, y_prob)
    aucs = label_auc(y_true, y_prob)  # (L,), nan where a label lacks positives or negatives
    m["macro_auc"] = mean(aucs[~np.isnan(aucs)])
    m["n_labels_present"] = int(present.sum())
    m["n_auc_labels"] = int((~np.isnan(aucs)).sum())
    return m


def tune_threshold(y_true: np.ndarray, y_prob: np.ndarray, grid: np.ndarray = DEFAULT_GRID) -> float:
    """The grid threshold with the highest micro-F1 (prediction: y_prob >= t); the smallest on ties. Dev only."""
    y_true, y_prob = _check(y_true, y_prob)
    grid = np.sort(np.asarray(grid, dtype=np.float64))
    if grid.size == 0:
        raise ValueError("threshold grid is empty")
    # bucket[i] = number of grid values <= prob, so prob >= grid[j]  <=>  bucket > j
    bucket_all = np.searchsorted(grid, y_prob.ravel(), side="right")
    bucket_pos = np.searchsorted(grid, y_prob[y_true], side="right")
    G = grid.size
    n_pred = np.cumsum(np.bincount(bucket_all, minlength=G + 1)[::-1])[::-1][1:]  # (G,) predicted at grid[j]
    tp = np.cumsum(np.bincount(bucket_pos, minlength=G + 1)[::-1])[::-1][1:]  # (G,) true positives at grid[j]
    n_gold = int(y_true.sum())
    f1 = _div(2 * tp, n_pred + n_gold)  # 2tp / (2tp + fp + fn)
    return float(grid[int(np.argmax(f1))])
