import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbrnn import embeddings as E

ROOT = Path(__file__).resolve().parents[1]


def tiny_corpus(n_docs=20, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    return [list(rng.choice(words, size=rng.integers(20, 40))) for _ in range(n_docs)]


def test_build_vocab_min_doc_freq_and_order():
    docs = [
        ["fever", "fever", "fever", "cough"],   # fever: 3 occurrences but 1 document
        ["cough", "rash", "sepsis"],
        ["cough", "rash", "sepsis"],
        ["cough", "sepsis", "<unk>"],
        ["rash"],
    ]
    vocab = E.build_vocab(docs, min_doc_freq=3)
    # doc freq: cough 4, rash 3, sepsis 3, fever 1; ties broken alphabetically; specials not duplicated
    assert vocab == ["<pad>", "<unk>", "cough", "rash", "sepsis"]
    assert E.build_vocab(docs, min_doc_freq=1)[-1] == "fever"


def test_embedding_matrix_pad_zero_rows_unit_norm_and_missing_tokens():
    docs = tiny_corpus()
    model = E.train_word2vec(docs, vector_size=16, epochs=2, seed=3)
    vocab = E.build_vocab(docs, min_doc_freq=3) + ["never_seen"]
    W = E.embedding_matrix(model, vocab, normalise=True, seed=3)
    assert W.dtype == np.float32 and W.shape == (len(vocab), 16)
    assert np.all(W[0] == 0)
    np.testing.assert_allclose(np.linalg.norm(W[1:], axis=1), 1.0, rtol=1e-5)
    # known rows are the word2vec vectors, rescaled
    w = vocab[5]
    np.testing.assert_allclose(W[5], model.wv[w] / np.linalg.norm(model.wv[w]), rtol=1e-5)
    # the same seed gives the same random rows, another seed other ones
    np.testing.assert_array_equal(W, E.embedding_matrix(model, vocab, seed=3))
    other = E.embedding_matrix(model, vocab, seed=4)
    assert not np.allclose(W[1], other[1]) and not np.allclose(W[-1], other[-1])
    np.testing.assert_array_equal(W[2:-1], other[2:-1])

    raw = E.embedding_matrix(model, vocab, normalise=False, unk="mean")
    np.testing.assert_array_equal(raw[2], model.wv[vocab[2]])
    np.testing.assert_allclose(raw[1], np.mean([model.wv[t] for t in vocab[2:-1]], axis=0), rtol=1e-5, atol=1e-7)
    zero = E.embedding_matrix(model, vocab, seed=3, unk="zero")  # the MBRNN reference's <unk> row
    assert not zero[1].any() and np.array_equal(zero[2:], W[2:])
    with pytest.raises(ValueError, match="unk"):
        E.embedding_matrix(model, vocab, unk="zeros")


def test_word2vec_identical_across_pythonhashseed(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from mbrnn import embeddings as E
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(30)]
        docs = [list(rng.choice(words, size=30)) for _ in range(20)]
        vocab = E.build_vocab(docs, min_doc_freq=3)
        m = E.train_word2vec(docs, vector_size=16, epochs=3, seed=7)
        np.save(sys.argv[1], E.embedding_matrix(m, vocab, seed=7))
        open(sys.argv[2], "w").write("\\n".join(vocab))
    """)
    outs = []
    for hs in ("1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hs, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        npy, txt = tmp_path / f"w{hs}.npy", tmp_path / f"v{hs}.txt"
        subprocess.run([sys.executable, "-c", script, str(npy), str(txt)], check=True, env=env, timeout=120)
        outs.append((np.load(npy), txt.read_text()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]
    assert E.stable_hash("abc") == E.stable_hash("abc") != E.stable_hash("abd")


def write_cohort(d: Path):
    docs = tiny_corpus(30, seed=1)
    for split, sl in (("train", slice(0, 20)), ("dev", slice(20, 25)), ("test", slice(25, 30))):
        texts = [" ".join(t) for t in docs[sl]]
        if split == "dev":
            texts = [t + " devonly devonly" for t in texts]  # in 5 dev docs, never in train
        pd.DataFrame({"hadm_id": np.arange(len(texts)), "text": texts}).to_parquet(d / f"{split}.parquet")


@pytest.mark.parametrize("corpus", ["train", "all"])
def test_pretrain_writes_artifacts_and_load_roundtrip(tmp_path, corpus):
    write_cohort(tmp_path)
    out = tmp_path / "emb"
    summary = E.pretrain(tmp_path, out, corpus=corpus, vector_size=12, epochs=1, seed=0, progress=False)
    assert {p.name for p in out.iterdir()} == {"vocab.txt", "embeddings.npy", "word2vec.model"}
    vocab, W = E.load(out)
    assert vocab[:2] == ["<pad>", "<unk>"] and W.shape == (len(vocab), 12) and W.dtype == np.float32
    assert summary["vocab_size"] == len(vocab)
    assert summary["n_documents"] == (20 if corpus == "train" else 30)
    assert "devonly" not in vocab  # the vocabulary comes from train only, whatever the corpus
    from gensim.models import Word2Vec
    m = Word2Vec.load(str(out / "word2vec.model"))
    assert ("devonly" in m.wv.key_to_index) == (corpus == "all")
    np.testing.assert_allclose(W[2], m.wv[vocab[2]] / np.linalg.norm(m.wv[vocab[2]]), rtol=1e-5)


def test_load_rejects_mismatched_files(tmp_path):
    (tmp_path / "vocab.txt").write_text("<pad>\n<unk>\nfoo\n")
    np.save(tmp_path / "embeddings.npy", np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="3 lines"):
        E.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="embeddings stage"):
        E.load(tmp_path / "nowhere")


def test_nearest_neighbours_and_projection():
    docs = tiny_corpus()
    model = E.train_word2vec(docs, vector_size=16, epochs=2, seed=0)
    df = E.nearest_neighbours(model, ["w1", "notaword", "w2"], topn=3)
    assert df["term"].tolist() == ["w1"] * 3 + ["w2"] * 3
    assert df.attrs["missing"] == ["notaword"]
    assert (df["neighbour"] != df["term"]).all() and df.groupby("term")["similarity"].is_monotonic_decreasing.all()
    vocab = E.build_vocab(docs, min_doc_freq=1)
    W = E.embedding_matrix(model, vocab)
    xy = E.project_2d(W, vocab, ["w1", "w2", "w3", "nope", "w4"])
    assert xy["word"].tolist() == ["w1", "w2", "w3", "w4"]
    pd.testing.assert_frame_equal(xy, E.project_2d(W, vocab, ["w1", "w2", "w3", "w4"]))
    np.testing.assert_allclose(xy[["x", "y"]].mean(), 0, atol=1e-6)  # PCA centres the points


def test_pretrain_outputs_are_byte_identical_across_runs(tmp_path):
    """Same params and seed give the same files, so DVC sees unchanged embeddings and retrains nothing."""
    write_cohort(tmp_path)
    files = []
    for run in ("a", "b"):
        E.pretrain(tmp_path, tmp_path / run, vector_size=12, epochs=1, seed=0, progress=False)
        files.append({p.name: p.read_bytes() for p in (tmp_path / run).iterdir()})
    assert files[0] == files[1]
