"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.metrics``:
the zero-document case (a crash reported in issue 14) and the no-label error."""

import math

import numpy as np
import pytest

from mbrnn import metrics


def test_evaluate_on_zero_documents_is_defined():
    m = metrics.evaluate(np.zeros((0, 3), bool), np.zeros((0, 3)), ks=(1, 5))
    assert m["n_docs"] == 0 and m["n_labels"] == 3 and m["n_labels_present"] == 0 and m["n_auc_labels"] == 0
    for key in ("p@1", "r@1", "p@5", "r@5", "r_precision", "map", "exact_match", "micro_auc", "macro_auc",
                "macro_precision_present", "macro_recall_present", "macro_f1_present", "macro_f1_mean_present"):
        assert math.isnan(m[key]), key
    for key in ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1",
                "macro_f1_mean"):  # 0/0 := 0, as for a label never predicted
        assert m[key] == 0.0 and isinstance(m[key], float), key


def test_zero_documents_do_not_change_the_other_documents_scores():
    """Scoring in chunks that leave an empty remainder or none at all gives the same numbers."""
    rng = np.random.default_rng(0)
    y = rng.random((6, 4)) < 0.4
    p = rng.random((6, 4))
    whole = metrics.evaluate(y, p, chunk=6)
    for chunk in (1, 3, 4, 100):
        assert metrics.evaluate(y, p, chunk=chunk) == pytest.approx(whole, nan_ok=True)


def test_evaluate_without_labels_is_a_clear_error():
    with pytest.raises(ValueError, match="no label column"):
        metrics.evaluate(np.zeros((2, 0), bool), np.zeros((2, 0)))
