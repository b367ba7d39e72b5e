"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.metrics``:
the zero-document case (a crash reported in issue 14) and the no-label error."""

import math
import re
import warnings

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
    message = "y_true and y_prob have no label column: there is nothing to rank or score"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        metrics.evaluate(np.zeros((2, 0), bool), np.zeros((2, 0)))


def test_zero_documents_raise_no_numpy_warning():
    """Every undefined figure is set to nan on purpose, not left to numpy's mean of an empty slice."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics.evaluate(np.zeros((0, 3), bool), np.zeros((0, 3)), ks=(1,))
    assert math.isnan(m["exact_match"])


def test_exact_match_counts_a_probability_at_the_threshold_as_predicted():
    """Document 1 is matched only if 0.5 >= 0.5 predicts its code; document 2 is not (its 0.2 misses a code)."""
    y = np.array([[1, 0], [1, 1]], bool)
    p = np.array([[0.5, 0.1], [0.9, 0.2]])
    assert metrics.evaluate(y, p, ks=(1,))["exact_match"] == 0.5


def test_label_metrics_threshold_defaults_to_one_half():
    y = np.array([[1, 0], [0, 1]], bool)
    p = np.array([[0.6, 0.4], [0.3, 0.7]])
    assert metrics.label_metrics(y, p)["micro_f1"] == 1.0 == metrics.label_metrics(y, p, threshold=0.5)["micro_f1"]
