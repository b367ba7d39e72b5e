"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.models``:
what the TF-IDF baseline passes to scikit-learn, its default vocabulary cap, and LAAT's old-checkpoint hook."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from mbrnn.models.laat import LAAT
from mbrnn.models.tfidf import TfidfLogReg

RNG = np.random.default_rng(0)
WORDS = [f"w{i}" for i in range(30)]
TEXTS = [" ".join(RNG.choice(WORDS, size=12)) for _ in range(40)]
Y = RNG.random((40, 3)) < 0.4


def test_tfidf_weights_are_liblinear_fits_with_the_given_settings(seed=7):
    """Each label's weights are scikit-learn's LogisticRegression with this C, solver, max_iter and seed
    (max_iter=2: unconverged, so the iteration cap shows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TfidfLogReg(C=7.0, max_iter=2, seed=seed, progress=False).fit(TEXTS, Y)
        X = model.vectorizer_.transform(TEXTS)
        for j in range(Y.shape[1]):
            ref = LogisticRegression(C=7.0, solver="liblinear", max_iter=2, random_state=seed).fit(X, Y[:, j])
            np.testing.assert_array_equal(model.coef_[:, j], ref.coef_[0].astype(np.float32))
            assert model.intercept_[j] == np.float32(ref.intercept_[0])
    assert model.coef_.dtype == np.float32 and model.intercept_.dtype == np.float32


def test_tfidf_keeps_the_20000_most_frequent_terms_by_default():
    texts = [" ".join(f"t{i}" for i in range(20005)), "t0 t1 t2"]
    model = TfidfLogReg(progress=False).fit(texts, np.array([[1], [0]]))
    assert len(model.vectorizer_.vocabulary_) == 20000
    assert {"t0", "t1", "t2"} <= set(model.vectorizer_.vocabulary_)  # the terms of both documents are kept


def test_laat_loads_a_partial_state_dict_without_attention_weights():
    """The hook renames pre-shared-attention keys (U, V, b) only where they are present: a partial state dict
    (strict=False) holding neither the old nor the new names loads and leaves the attention untouched."""
    torch.manual_seed(0)
    model = LAAT(torch.randn(20, 6).numpy(), 4, hidden=4, d_a=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    partial = {k: v for k, v in before.items() if not k.startswith("attn.")}
    result = model.load_state_dict(partial, strict=False)
    assert sorted(result.missing_keys) == sorted(k for k in before if k.startswith("attn."))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_laat_keeps_new_keys_when_a_state_dict_holds_both_names():
    torch.manual_seed(0)
    model = LAAT(torch.randn(20, 6).numpy(), 4, hidden=4, d_a=3)
    sd = model.state_dict()
    both = dict(sd, U=torch.zeros_like(sd["attn.U"]))
    result = model.load_state_dict(both, strict=False)
    assert result.unexpected_keys == ["U"]
    torch.testing.assert_close(model.state_dict()["attn.U"], sd["attn.U"], rtol=0, atol=0)


def test_tfidf_defaults_unigrams_with_sublinear_term_frequency():
    """By default the features are single tokens weighted 1 + log(tf) (sublinear), then L2-normalised."""
    model = TfidfLogReg(progress=False).fit(["a a a a b", "b c"], np.array([[1], [0]]))
    vocab = model.vectorizer_.vocabulary_
    assert sorted(vocab) == ["a", "b", "c"]  # no "a b" bigram
    row = model.vectorizer_.transform(["a a a a b"]).toarray()[0]
    idf = model.vectorizer_.idf_
    expected = np.array([(1 + np.log(4)) * idf[vocab["a"]], idf[vocab["b"]]])
    np.testing.assert_allclose(row[[vocab["a"], vocab["b"]]], expected / np.linalg.norm(expected), rtol=1e-6)


def test_tfidf_shows_a_progress_bar_unless_told_not_to(capsys):
    TfidfLogReg().fit(TEXTS, Y)
    assert "tfidf-logreg" in capsys.readouterr().err
    TfidfLogReg(progress=False).fit(TEXTS, Y)
    assert "tfidf-logreg" not in capsys.readouterr().err


def test_tfidf_accepts_more_labels_than_documents():
    model = TfidfLogReg(progress=False).fit(TEXTS[:3], np.eye(3, 5, dtype=bool))
    assert model.predict_proba(TEXTS[:2]).shape == (2, 5)


def test_tfidf_refuses_texts_that_are_not_strings_naming_the_column():
    with pytest.raises(ValueError) as err:
        TfidfLogReg(progress=False).fit([["a", "b"], "c"], np.array([[1], [0]]))
    assert str(err.value) == "texts must be a list of str (the cohort's `text` column)"


def test_caml_defaults_to_the_papers_50_filters():
    from mbrnn.models.caml import CAML

    model = CAML(torch.randn(20, 6).numpy(), 4)
    assert {p.shape[0] for name, p in model.named_parameters() if name.endswith("weight") and p.dim() == 3} == {50}


def test_mbrnn_takes_a_single_auxiliary_label_and_refuses_none():
    """One CCS label is a valid auxiliary task (n_ccs >= 1); zero with use_ccs=True is a clear error."""
    from mbrnn.models.mbrnn import MBRNN

    W = RNG.standard_normal((12, 8)).astype(np.float32)
    model = MBRNN(W, n_icd=3, n_ccs=1, hidden=4)
    out = model(torch.tensor([[2, 3, 4, 0]]), torch.tensor([[True, True, True, False]]))
    assert out["ccs"].shape == (1, 1) and out["icd"].shape == (1, 3)
    with pytest.raises(ValueError, match="use_ccs=True needs n_ccs >= 1"):
        MBRNN(W, n_icd=3, n_ccs=0, hidden=4)
