"""TF-IDF + one-vs-rest logistic regression: the non-neural floor.

One binary LogisticRegression per label on TF-IDF features. A label that is constant in training (never
or always present) cannot be fitted; it gets a constant probability (0 or 1). The fitted weights are kept
as one dense (n_features, n_labels) float32 matrix, so prediction is a single sparse x dense product.
Deterministic: liblinear with a fixed random_state, and the result does not depend on n_jobs.
Pickle the fitted object with joblib to save it.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm


def _fit_one(X, y: np.ndarray, C: float, solver: str, max_iter: int, seed: int) -> tuple[np.ndarray, float]:
    clf = LogisticRegression(C=C, solver=solver, max_iter=max_iter, random_state=seed)
    clf.fit(X, y)
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


class TfidfLogReg:
    def __init__(
        self,
        max_features: int = 20000,
        ngram_max: int = 1,
        C: float = 1.0,
        sublinear_tf: bool = True,
        seed: int = 0,
        n_jobs: int = 1,
        solver: str = "liblinear",
        max_iter: int = 1000,
        progress: bool = True,
    ):
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.C = C
        self.sublinear_tf = sublinear_tf
        self.seed = seed
        self.n_jobs = n_jobs
        self.solver = solver
        self.max_iter = max_iter
        self.progress = progress

    def fit(self, texts: list[str], Y: np.ndarray) -> "TfidfLogReg":
        """texts: n documents (space-separated tokens); Y: (n, n_labels) 0/1."""
        texts = _check_texts(texts)
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != len(texts):
            raise ValueError(f"Y must be (n_docs, n_labels) with n_docs = len(texts) = {len(texts)}; got {Y.shape}")
        Y = Y.astype(bool)
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            sublinear_tf=self.sublinear_tf,
            token_pattern=r"\S+",  # the cohort text is already tokenised
            lowercase=False,
            dtype=np.float32,
        )
        X = self.vectorizer_.fit_transform(texts)  # (n, F) sparse
        n_pos = Y.sum(0)
        fit_cols = np.flatnonzero((n_pos > 0) & (n_pos < Y.shape[0]))
        self.coef_ = np.zeros((X.shape[1], Y.shape[1]), dtype=np.float32)  # (F, n_labels)
        # constant labels: logit -inf (never seen) or +inf (always seen) -> probability 0 or 1
        self.intercept_ = np.where(n_pos > 0, np.inf, -np.inf).astype(np.float32)  # (n_labels,)
        jobs = (delayed(_fit_one)(X, Y[:, j], self.C, self.solver, self.max_iter, self.seed) for j in fit_cols)
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        for j, (w, b) in zip(fit_cols, tqdm(results, total=len(fit_cols), desc="tfidf-logreg", disable=not self.progress)):
            self.coef_[:, j] = w
            self.intercept_[j] = b
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(n, n_labels) float32 probabilities."""
        if not hasattr(self, "coef_"):
            raise ValueError("TfidfLogReg is not fitted; call fit(texts, Y) first")
        X = self.vectorizer_.transform(_check_texts(texts))  # (n, F)
        logits = np.asarray(X @ self.coef_) + self.intercept_  # (n, n_labels)
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def _check_texts(texts) -> list[str]:
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a list of str (the cohort's `text` column)")
    return texts
