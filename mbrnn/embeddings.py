"""Word2vec pre-training of word embeddings (the paper's setting: CBOW, 100 dims, window 5, 5 epochs).

The vocabulary follows CAML (Mullenbach et al. 2018): tokens that occur in at least ``min_doc_freq`` (3)
training documents, plus ``<pad>`` (row 0) and ``<unk>`` (row 1). Rows are L2-normalised as CAML's
``load_embeddings`` does; its ``<unk>`` row is a random Gaussian vector, which is our default too.

Determinism: gensim is run with one worker, a fixed seed and a hash function that does not depend on
``PYTHONHASHSEED`` (gensim's default ``hashfxn=hash`` does), so two processes give identical vectors.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mbrnn.io import atomic_dir, atomic_path, write_text
from mbrnn.splits import cohort_file

log = logging.getLogger(__name__)

PAD, UNK = "<pad>", "<unk>"
CORPORA = ("train", "all")


def stable_hash(s: str) -> int:
    """Hash for gensim's ``hashfxn``: unlike builtin ``hash``, identical in every process."""
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


def build_vocab(docs: Iterable[Sequence[str]], min_doc_freq: int = 3, progress: bool = False) -> list[str]:
    """``[<pad>, <unk>]`` + tokens found in >= ``min_doc_freq`` documents, by descending doc freq then token."""
    df = Counter()
    for doc in tqdm(docs, desc="vocab", unit="doc", disable=not progress):
        df.update(set(doc))
    for special in (PAD, UNK):
        df.pop(special, None)
    kept = sorted((t for t, n in df.items() if n >= min_doc_freq), key=lambda t: (-df[t], t))
    return [PAD, UNK] + kept


def train_word2vec(docs: Sequence[Sequence[str]], vector_size: int = 100, window: int = 5, epochs: int = 5,
                   sg: int = 0, min_count: int = 0, seed: int = 0, workers: int = 1, negative: int = 5,
                   sample: float = 1e-3, alpha: float = 0.025):
    """Train gensim Word2Vec (``sg=0``: CBOW). ``workers=1`` keeps it deterministic; CAML used ``min_count=0``."""
    from gensim.models import Word2Vec

    docs = [list(d) for d in docs]
    return Word2Vec(sentences=docs, vector_size=vector_size, window=window, epochs=epochs, sg=sg,
                    min_count=min_count, seed=seed, workers=workers, negative=negative, sample=sample,
                    alpha=alpha, hashfxn=stable_hash)


def embedding_matrix(model, vocab: Sequence[str], normalise: bool = True, unk: str = "random",
                     seed: int = 0) -> np.ndarray:
    """(V, d) float32 matrix, row i for ``vocab[i]``.

    Row 0 (``<pad>``) is zero. ``unk="random"`` gives ``<unk>`` a Gaussian vector from ``seed`` (as CAML);
    ``unk="mean"`` the mean of the known vectors; ``unk="zero"`` a zero row (MBRNN's reference code).
    Vocabulary tokens absent from word2vec get Gaussian vectors
    from ``seed`` too, scaled to the mean norm of the known vectors. ``normalise`` L2-normalises every row
    but the zero pad row.
    """
    if unk not in ("random", "mean", "zero"):
        raise ValueError(f"unk must be 'random', 'mean' or 'zero', got {unk!r} (params.yaml: embeddings.unk)")
    if len(vocab) < 2 or vocab[0] != PAD or vocab[1] != UNK:
        raise ValueError(f"vocab must start with {PAD!r}, {UNK!r}; got {list(vocab[:2])}")
    wv = getattr(model, "wv", model)  # Word2Vec or KeyedVectors
    rng = np.random.default_rng(seed)
    W = np.zeros((len(vocab), wv.vector_size), dtype=np.float32)   # (V, d)
    known = np.array([t in wv.key_to_index for t in vocab[2:]], dtype=bool)
    rows = np.flatnonzero(known) + 2
    if len(rows):
        W[rows] = wv[[vocab[i] for i in rows]]
    mean_norm = float(np.linalg.norm(W[rows], axis=1).mean()) if len(rows) else 1.0

    def gaussian(n: int) -> np.ndarray:
        v = rng.standard_normal((n, wv.vector_size))
        return (v / np.linalg.norm(v, axis=1, keepdims=True) * mean_norm).astype(np.float32)

    if unk == "mean" and len(rows):
        W[1] = W[rows].mean(axis=0)
    else:
        W[1] = gaussian(1)[0]  # drawn for "zero" too, so its other rows equal those of "random"
        if unk == "zero":
            W[1] = 0.0
    missing = np.flatnonzero(~known) + 2
    if len(missing):
        log.warning("%d of %d vocabulary tokens have no word2vec vector; random init", len(missing), len(vocab) - 2)
        W[missing] = gaussian(len(missing))
    if normalise:
        norms = np.linalg.norm(W[1:], axis=1, keepdims=True)
        W[1:] /= np.where(norms > 0, norms, 1.0)
    return W


def _read_docs(cohort_dir: Path, split: str) -> list[list[str]]:
    return [t.split() for t in pd.read_parquet(cohort_file(cohort_dir, f"{split}.parquet"), columns=["text"])["text"]]


def pretrain(cohort_dir, out_dir, corpus: str = "train", min_doc_freq: int = 3, normalise: bool = True,
             unk: str = "random", progress: bool = True, **w2v) -> dict:
    """Build the vocabulary on train, train word2vec, write ``vocab.txt``, ``embeddings.npy``, ``word2vec.model``.

    ``corpus="all"`` trains word2vec on train+dev+test text, as the paper (and CAML) did. This LEAKS dev/test
    text into the embeddings (no labels); ``"train"`` is the leak-free choice. ``w2v`` goes to
    :func:`train_word2vec` (``seed`` also seeds the random rows of the matrix).
    """
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {corpus!r} (params.yaml: embeddings.corpus)")
    cohort_dir, out_dir = Path(cohort_dir), Path(out_dir)
    train_docs = _read_docs(cohort_dir, "train")
    vocab = build_vocab(train_docs, min_doc_freq=min_doc_freq, progress=progress)
    docs = list(train_docs)
    if corpus == "all":
        log.warning("word2vec corpus='all': dev and test text are used for embeddings (the paper's choice; leaks)")
        docs += _read_docs(cohort_dir, "dev") + _read_docs(cohort_dir, "test")
    log.info("word2vec on %d documents (%s), vocab %d", len(docs), corpus, len(vocab))
    model = train_word2vec(docs, **w2v)
    W = embedding_matrix(model, vocab, normalise=normalise, unk=unk, seed=w2v.get("seed", 0))

    # gensim stores wall-clock facts (event timestamps, platform, training time): drop them so that the same
    # params and seed give the same bytes, and DVC sees unchanged embeddings.
    model.lifecycle_events = None
    model.total_train_time = 0.0
    with atomic_dir(out_dir) as tmp_dir:  # the folder is replaced whole: never old and new files mixed
        write_text(tmp_dir / "vocab.txt", "\n".join(vocab) + "\n")
        with atomic_path(tmp_dir / "embeddings.npy") as tmp:
            np.save(tmp, W)
        with atomic_path(tmp_dir / "word2vec.model") as tmp:
            model.save(str(tmp), separately=[])  # one file, so the atomic rename moves everything

    index = {t: i for i, t in enumerate(vocab)}
    n_tok = sum(len(d) for d in train_docs)
    n_known = sum(t in index for d in train_docs for t in d)
    return {
        "corpus": corpus,
        "n_documents": len(docs),
        "vocab_size": len(vocab),
        "dim": int(W.shape[1]),
        "w2v_vocab_size": len(model.wv),
        "vocab_in_w2v": float(np.mean([t in model.wv.key_to_index for t in vocab[2:]])) if len(vocab) > 2 else 0.0,
        "train_token_coverage": n_known / max(n_tok, 1),  # share of train tokens that are not <unk>
    }


def load(emb_dir) -> tuple[list[str], np.ndarray]:
    """Read ``vocab.txt`` and ``embeddings.npy`` written by :func:`pretrain`."""
    emb_dir = Path(emb_dir)
    vocab_path, mat_path = emb_dir / "vocab.txt", emb_dir / "embeddings.npy"
    for p in (vocab_path, mat_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} not found; run the embeddings stage first (dvc repro embeddings)")
    vocab = vocab_path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    W = np.load(mat_path)
    if W.shape[0] != len(vocab) or vocab[:2] != [PAD, UNK]:
        raise ValueError(f"{emb_dir}: vocab.txt has {len(vocab)} lines starting {vocab[:2]}, embeddings.npy has "
                         f"{W.shape[0]} rows; they must match and start with {PAD}, {UNK}. Re-run the embeddings stage.")
    return vocab, W.astype(np.float32, copy=False)


def load_word2vec(emb_dir):
    """The gensim model written by :func:`pretrain`."""
    from gensim.models import Word2Vec

    path = Path(emb_dir) / "word2vec.model"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run the embeddings stage first (dvc repro embeddings)")
    return Word2Vec.load(str(path))


def nearest_neighbours(model, terms: Sequence[str], topn: int = 10) -> pd.DataFrame:
    """Cosine nearest neighbours per term: columns term, rank, neighbour, similarity.

    Terms missing from the model are skipped, logged, and listed in ``df.attrs["missing"]``.
    """
    wv = getattr(model, "wv", model)
    rows, missing = [], []
    for term in terms:
        if term not in wv.key_to_index:
            missing.append(term)
            continue
        for rank, (nb, sim) in enumerate(wv.most_similar(term, topn=topn), start=1):
            rows.append({"term": term, "rank": rank, "neighbour": nb, "similarity": float(sim)})
    if missing:
        log.warning("not in the word2vec vocabulary, skipped: %s", ", ".join(missing))
    df = pd.DataFrame(rows, columns=["term", "rank", "neighbour", "similarity"])
    df.attrs["missing"] = missing
    return df


def project_2d(matrix: np.ndarray, vocab: Sequence[str], words: Sequence[str]) -> pd.DataFrame:
    """PCA of the given words' rows to 2-D (columns word, x, y); words not in ``vocab`` are skipped."""
    from sklearn.decomposition import PCA

    index = {t: i for i, t in enumerate(vocab)}
    kept = [w for w in words if w in index]
    if len(kept) < 2:
        raise ValueError(f"need at least 2 words in the vocabulary to project, found {kept}")
    xy = PCA(n_components=2, svd_solver="full").fit_transform(matrix[[index[w] for w in kept]])
    return pd.DataFrame({"word": kept, "x": xy[:, 0], "y": xy[:, 1]})
