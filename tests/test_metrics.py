import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    label_ranking_average_precision_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mbrnn.metrics import (DEFAULT_GRID, evaluate, harmonic, label_metrics, per_label_counts, per_label_prf,
                           tune_threshold)

EXPECTED_KEYS = {
    "micro_precision", "micro_recall", "micro_f1",
    "macro_precision", "macro_recall", "macro_f1", "macro_f1_mean",
    "macro_precision_present", "macro_recall_present", "macro_f1_present", "macro_f1_mean_present",
    "micro_auc", "macro_auc", "p@5", "r@5", "p@8", "r@8", "p@15", "r@15",
    "r_precision", "map", "exact_match", "n_docs", "n_labels", "n_labels_present", "n_auc_labels",
}  # fmt: skip

# 3 documents x 4 labels; label 3 never gold, never predicted.
Y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
P = np.array([[0.9, 0.6, 0.4, 0.1], [0.2, 0.7, 0.8, 0.3], [0.6, 0.1, 0.2, 0.05]])


def test_hand_computed_tiny_example():
    m = evaluate(Y, P, threshold=0.5, ks=(1, 2, 3))
    # predictions: d0 {0,1}, d1 {1,2}, d2 {0}. Per label (tp, fp, fn): l0 (2,0,0) l1 (1,1,0) l2 (0,1,1) l3 (0,0,0)
    assert m["micro_precision"] == pytest.approx(3 / 5)
    assert m["micro_recall"] == pytest.approx(3 / 4)
    assert m["micro_f1"] == pytest.approx(2 / 3)
    # per-label P = (1, .5, 0, 0), R = (1, 1, 0, 0), F1 = (1, 2/3, 0, 0)
    assert m["macro_precision"] == pytest.approx(0.375)
    assert m["macro_recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(3 / 7)  # harmonic mean of .375 and .5
    assert m["macro_f1_mean"] == pytest.approx(5 / 12)
    assert m["macro_precision_present"] == pytest.approx(0.5)
    assert m["macro_recall_present"] == pytest.approx(2 / 3)
    assert m["macro_f1_present"] == pytest.approx(4 / 7)
    assert m["macro_f1_mean_present"] == pytest.approx(5 / 9)
    # AUC per label: l0 1, l1 1, l2 .5, l3 undefined; micro: 27.5 of 4 x 8 pairs (one tie at .6)
    assert m["macro_auc"] == pytest.approx(5 / 6)
    assert m["micro_auc"] == pytest.approx(27.5 / 32)
    # rankings: d0 0,1,2,3  d1 2,1,3,0  d2 0,2,1,3
    assert m["p@1"] == pytest.approx(2 / 3)
    assert m["p@2"] == pytest.approx(1 / 2)
    assert m["p@3"] == pytest.approx(4 / 9)
    assert m["r@1"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["r@2"] == pytest.approx(5 / 6)
    assert m["r@3"] == pytest.approx(1.0)
    assert m["r_precision"] == pytest.approx(0.5)
    assert m["map"] == pytest.approx(7 / 9)  # APs 5/6, 1/2, 1
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert (m["n_docs"], m["n_labels"], m["n_labels_present"]) == (3, 4, 3)


def test_keys_and_plain_types():
    m = evaluate(Y, P)
    assert set(m) == EXPECTED_KEYS
    for k, v in m.items():
        assert type(v) is (int if k.startswith("n_") else float), k
    assert m["p@15"] == pytest.approx((2 + 1 + 1) / 4 / 3)  # k capped at L = 4: every label is in the "top 15"


def test_docs_without_gold_count_for_precision_at_k_only():
    Y2 = np.vstack([Y, np.zeros((1, 4), bool)])
    P2 = np.vstack([P, [[0.1, 0.2, 0.3, 0.4]]])
    a, b = evaluate(Y, P, ks=(2,)), evaluate(Y2, P2, ks=(2,))
    assert b["p@2"] == pytest.approx(a["p@2"] * 3 / 4)
    for k in ("r@2", "r_precision", "map"):
        assert b[k] == pytest.approx(a[k])


def _random(seed, n=40, L=12, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random((n, L)) < 0.25
    y[:, 0] = False  # a label that never occurs
    y[:, 1] = True  # a label that always occurs (no negatives: excluded from macro AUC)
    y[0, 2:] = False
    y[0, 2] = True
    p = np.clip(rng.random((n, L)) * 0.7 + 0.3 * y, 0, 1)
    if ties:
        p = np.round(p, 1)
    return y, p


@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_metrics_match_sklearn(seed):
    y, p = _random(seed)
    m = evaluate(y, p, threshold=0.5)
    yp = p >= 0.5
    P_, R_, F_, _ = precision_recall_fscore_support(y, yp, average=None, zero_division=0)
    assert m["macro_precision"] == pytest.approx(P_.mean())
    assert m["macro_recall"] == pytest.approx(R_.mean())
    assert m["macro_f1_mean"] == pytest.approx(F_.mean())
    assert m["macro_f1"] == pytest.approx(2 * P_.mean() * R_.mean() / (P_.mean() + R_.mean()))
    present = np.flatnonzero(y.sum(0) > 0)
    Pp, Rp, Fp, _ = precision_recall_fscore_support(y, yp, labels=present, average="macro", zero_division=0)
    assert m["macro_precision_present"] == pytest.approx(Pp)
    assert m["macro_recall_present"] == pytest.approx(Rp)
    assert m["macro_f1_mean_present"] == pytest.approx(Fp)
    assert m["macro_f1_present"] == pytest.approx(2 * Pp * Rp / (Pp + Rp))
    Pm, Rm, Fm, _ = precision_recall_fscore_support(y, yp, average="micro", zero_division=0)
    assert (m["micro_precision"], m["micro_recall"], m["micro_f1"]) == pytest.approx((Pm, Rm, Fm))
    assert m["exact_match"] == pytest.approx(accuracy_score(y, yp))
    assert m["n_labels_present"] == len(present)


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_average_precision_match_sklearn(ties):
    y, p = _random(3, ties=ties)
    m = evaluate(y, p)
    assert m["micro_auc"] == pytest.approx(roc_auc_score(y.ravel(), p.ravel()))
    both = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    assert m["macro_auc"] == pytest.approx(np.mean([roc_auc_score(y[:, j], p[:, j]) for j in both]))
    docs = [i for i in range(len(y)) if y[i].any()]
    assert m["map"] == pytest.approx(np.mean([average_precision_score(y[i], p[i]) for i in docs]))
    # every document has 1..L-1 gold labels here, where LRAP is the same quantity
    assert all(0 < y[i].sum() < y.shape[1] for i in range(len(y)))
    assert m["map"] == pytest.approx(label_ranking_average_precision_score(y, p))


def test_ranking_metrics_match_brute_force():
    y, p = _random(4)
    m = evaluate(y, p, ks=(1, 3, 5))
    order = [sorted(range(y.shape[1]), key=lambda j: -p[i, j]) for i in range(len(y))]  # no ties in p
    for k in (1, 3, 5):
        hits = np.array([y[i, order[i][:k]].sum() for i in range(len(y))])
        assert m[f"p@{k}"] == pytest.approx(np.mean(hits / k))
        assert m[f"r@{k}"] == pytest.approx(np.mean(hits / y.sum(1)))
    rp = [y[i, order[i][: y[i].sum()]].sum() / y[i].sum() for i in range(len(y))]
    assert m["r_precision"] == pytest.approx(np.mean(rp))


def test_chunking_does_not_change_results():
    y, p = _random(5, n=37, ties=True)
    assert evaluate(y, p, chunk=4) == evaluate(y, p, chunk=1000)


def test_per_label_counts_match_sklearn():
    y, p = _random(6)
    tp, fp, fn = per_label_counts(y, p >= 0.5)
    mcm = multilabel_confusion_matrix(y, p >= 0.5)  # (L, 2, 2): [[tn, fp], [fn, tp]]
    np.testing.assert_array_equal(tp, mcm[:, 1, 1])
    np.testing.assert_array_equal(fp, mcm[:, 0, 1])
    np.testing.assert_array_equal(fn, mcm[:, 1, 0])
    assert tp.dtype == np.int64 and tp.shape == (y.shape[1],)


def test_tune_threshold_maximises_micro_f1():
    y, p = _random(7)
    best = tune_threshold(y, p)
    scores = {t: f1_score(y, p >= t, average="micro", zero_division=0) for t in DEFAULT_GRID}
    assert best in DEFAULT_GRID
    assert scores[best] == pytest.approx(max(scores.values()))
    assert best == min(t for t, s in scores.items() if s == pytest.approx(max(scores.values())))


def test_tune_threshold_finds_a_separating_threshold():
    y = np.array([[1, 0], [0, 1], [1, 1]], bool)
    p = np.where(y, 0.72, 0.68)
    assert tune_threshold(y, p) == 0.685  # the smallest grid point in (0.68, 0.72] separates the classes: micro-F1 1


def test_tune_threshold_grid_is_fine():
    """At least 100 grid points inside (0, 1), evenly spaced (Edin et al. 2023); a gap of 0.01 is found."""
    assert DEFAULT_GRID.size >= 100 and 0 < DEFAULT_GRID.min() and DEFAULT_GRID.max() < 1
    assert np.allclose(np.diff(DEFAULT_GRID), DEFAULT_GRID[1] - DEFAULT_GRID[0])
    y = np.array([[1, 0], [0, 1], [1, 1]], bool)
    assert tune_threshold(y, np.where(y, 0.415, 0.405)) == 0.41  # a 19-point grid (step 0.05) cannot separate these


def test_label_metrics_are_the_threshold_part_of_evaluate():
    y, p = _random(3)
    full, part = evaluate(y, p, threshold=0.4), label_metrics(y, p, threshold=0.4)
    assert {k: full[k] for k in part if k in full} == {k: part[k] for k in part if k in full}
    assert part["macro_f1"] == pytest.approx(harmonic(part["macro_precision"], part["macro_recall"]))
    prec, rec, f1 = per_label_prf(*per_label_counts(y, p >= 0.4))
    assert part["macro_f1_mean"] == pytest.approx(f1.mean()) and part["macro_precision"] == pytest.approx(prec.mean())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n_labels"):
        evaluate(Y, P[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        evaluate(Y, np.where(Y, np.nan, 0.1))
    with pytest.raises(ValueError, match="0/1"):
        evaluate(Y * 2, P)
