"""Behaviour tests written for the survivors of the full mutation run of ``mbrnn.models`` (tests/README.md,
"Mutation testing"): the models' documented defaults, the RAM's shape and parts, the mask checks' messages,
the fused BiRNN on short batches, LAAT's initialisation and what the TF-IDF baseline computes."""

import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from sklearn.linear_model import LogisticRegression

from mbrnn.models import CAML, LAAT, MBRNN, model_kwargs
from mbrnn.models.layers import BiRNN, check_mask
from mbrnn.models.mbrnn import RAM, ConvBlock
from mbrnn.models.tfidf import TfidfLogReg

EMB = np.random.default_rng(0).normal(size=(12, 6)).astype(np.float32)


def padded(tokens: list[int], L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One document right-padded to L: (1, L) token ids and mask."""
    t = torch.zeros(1, L, dtype=torch.long)
    t[0, :len(tokens)] = torch.tensor(tokens)
    return t, torch.arange(L)[None, :] < len(tokens)


@pytest.mark.parametrize("build", [lambda: CAML(EMB, 5), lambda: LAAT(EMB, 5, hidden=8, d_a=8),
                                   lambda: MBRNN(EMB, 5, n_ccs=3, hidden=8)])
def test_models_mask_padding_by_default(build):
    """By default a document's prediction does not depend on how much padding follows it."""
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        short, long = model(*padded([3, 4, 5], 3))["icd"], model(*padded([3, 4, 5], 9))["icd"]
    torch.testing.assert_close(short, long, rtol=1e-5, atol=1e-6)


def test_model_defaults_are_the_papers():
    """CAML: 50 filters of width 10, fine-tuned embeddings. LAAT: 512 LSTM units per direction, d_a 512,
    fine-tuned embeddings. MBRNN: 300 GRU units per direction, frozen embeddings, and no auxiliary task unless
    its label count is given."""
    caml = CAML(EMB, 5)
    assert caml.conv.kernel_size == (10,) and caml.conv.out_channels == 50 and caml.embed.weight.requires_grad
    laat = LAAT(EMB, 5)
    assert laat.lstm.fwd.hidden_size == 512 and laat.W.shape == (512, 1024) and laat.embed.weight.requires_grad
    mbrnn = MBRNN(EMB, 5, n_ccs=3)
    assert mbrnn.gru.fwd.hidden_size == 300 and not mbrnn.embed.weight.requires_grad
    with pytest.raises(ValueError, match="use_ccs=True needs n_ccs >= 1"):
        MBRNN(EMB, 5)  # n_ccs defaults to 0: the multitask model needs it said
    assert model_kwargs("caml") == {"num_filters": 50, "kernel_size": 10, "dropout": 0.2,
                                    "freeze_embeddings": False, "mask_padding": True}


def test_check_mask_messages_name_both_shapes_and_the_padding_rule():
    tokens = torch.ones(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape("tokens and mask must both be (B, L); got (2, 3) and (2, 4)")):
        check_mask(tokens, torch.ones(2, 4, dtype=torch.bool))  # 2-D tokens, a mask of another shape
    with pytest.raises(ValueError, match=re.escape("got (3,) and (3,)")):
        check_mask(torch.ones(3, dtype=torch.long), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="^" + re.escape("mask must be right-padded (True on a prefix of each row, "
                                                         "then False); see mbrnn/batching.py") + "$"):
        check_mask(tokens, torch.tensor([[False, True, True], [True, True, True]]))


def test_ram_channels_parts_and_length():
    """d -> d/2 -> d/4 down by convolutions, back up by transposed convolutions, no conv bias; any odd kernel
    keeps the length; d = 4 is the smallest RAM, and its dropout is the one given."""
    ram = RAM(8, kernel_size=5, dropout=0.35)
    assert [b.conv1.out_channels for b in (ram.down1, ram.down2, ram.lateral, ram.up1, ram.up2)] == [4, 2, 2, 4, 8]
    assert all(type(b.conv1) is nn.Conv1d and type(b.conv2) is nn.Conv1d for b in (ram.down1, ram.down2, ram.lateral))
    assert all(type(b.conv1) is nn.ConvTranspose1d and type(b.conv2) is nn.ConvTranspose1d for b in (ram.up1, ram.up2))
    assert all(m.bias is None for m in ram.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)))
    assert ram.dropout.p == 0.35
    assert RAM(8, 5).eval()(torch.randn(2, 8, 7)).shape == (2, 8, 7)
    assert RAM(4).eval()(torch.randn(1, 4, 5)).shape == (1, 4, 5)
    with pytest.raises(ValueError, match=re.escape("RAM needs at least 4 feature channels; got d=3")):
        RAM(3)
    with pytest.raises(ValueError, match=re.escape("RAM kernel size must be odd to preserve length; got 4")):
        ConvBlock(4, 2, 4)
    assert type(ConvBlock(4, 2, 3).conv1) is nn.Conv1d  # the down path unless asked otherwise
    assert MBRNN(EMB, 5, n_ccs=3, hidden=4, ram_dropout=0.45).ram.dropout.p == 0.45


def test_fused_birnn_on_a_batch_shorter_than_its_padding():
    """The fused implementation pads its output back to the input's length even when every document is shorter,
    and equals the exact one."""
    torch.manual_seed(0)
    rnn = BiRNN("gru", 3, 4, impl="fused")
    x, lengths = torch.randn(2, 6, 3), torch.tensor([4, 2])
    fused = rnn(x, lengths)
    rnn.impl = "exact"
    assert fused.shape == (2, 6, 8)
    torch.testing.assert_close(fused, rnn(x, lengths), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("cell must be 'gru' or 'lstm'; got 'rnn'")):
        BiRNN("rnn", 3, 4)


def test_laat_parameters_are_drawn_around_zero_with_the_given_spread():
    """W, the label queries U and the output weights V ~ N(0, init_std), as in the LAAT paper."""
    torch.manual_seed(0)
    laat = LAAT(EMB, 64, hidden=64, d_a=64, init_std=0.03)
    for P in (laat.W, laat.U, laat.V):
        assert abs(P.mean().item()) < 0.002 and P.std().item() == pytest.approx(0.03, rel=0.05)


RNG = np.random.default_rng(1)
WORDS = [f"w{i}" for i in range(20)]
TEXTS = [" ".join(RNG.choice(WORDS, size=10)) for _ in range(30)]


def test_tfidf_probabilities_are_the_logistic_of_each_labels_fit():
    """predict_proba is each label's own logistic regression on the TF-IDF features; a label with a single
    positive document is fitted too, like every label that is not constant."""
    Y = np.zeros((30, 3), dtype=int)
    Y[:12, 0], Y[5, 1], Y[::2, 2] = 1, 1, 1
    model = TfidfLogReg(progress=False).fit(TEXTS, Y)
    X = model.vectorizer_.transform(TEXTS)
    assert X.dtype == np.float32  # the feature matrix of the full cohort stays half the size of float64
    for j in range(3):
        ref = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, random_state=0).fit(X, Y[:, j])
        np.testing.assert_allclose(model.predict_proba(TEXTS)[:, j], ref.predict_proba(X)[:, 1], rtol=1e-4)
    assert np.isfinite(model.intercept_[1]) and np.abs(model.coef_[:, 1]).sum() > 0


def test_tfidf_constant_labels_and_features():
    """A label present in every training document predicts 1 (even with one document), one never present 0;
    features are case-sensitive tokens, with n-grams up to ngram_max."""
    one = TfidfLogReg(progress=False).fit(["a b"], np.array([[1, 0]]))
    np.testing.assert_array_equal(one.predict_proba(["a", "c"]), [[1, 0], [1, 0]])
    model = TfidfLogReg(ngram_max=2, progress=False).fit(["Na na b", "na b c"], np.array([[1], [0]]))
    assert {"Na", "na", "Na na", "na b"} <= set(model.vectorizer_.vocabulary_)
    with pytest.raises(ValueError, match=r"^TfidfLogReg is not fitted; call fit\(texts, Y\) first$"):
        TfidfLogReg().predict_proba(["a"])


def test_pretrained_embedding_checks_copies_and_keeps_the_pad_row():
    """V >= 2 rows (PAD, UNK) of any width are accepted and stored as float32; anything else is refused with the
    documented message; the PAD row (0) gets no gradient."""
    from mbrnn.models.layers import pretrained_embedding

    emb = pretrained_embedding(np.ones((2, 1)), freeze=False)  # the smallest vocabulary, float64, one dimension
    assert emb.weight.dtype == torch.float32 and emb.weight.shape == (2, 1)
    emb(torch.tensor([[0, 1]])).sum().backward()
    assert emb.weight.grad[0].abs().sum() == 0 and emb.weight.grad[1].abs().sum() > 0
    message = ("embeddings must be a 2-D numpy array (V, E) with V >= 2 (row 0 <pad>, row 1 <unk>); got {} {}. "
               "Load it from data/embeddings/embeddings.npy.")
    with pytest.raises(ValueError, match="^" + re.escape(message.format("list", None)) + "$"):
        pretrained_embedding([[0.0], [1.0]], freeze=True)
    with pytest.raises(ValueError, match="^" + re.escape(message.format("ndarray", (1, 3))) + "$"):
        pretrained_embedding(np.ones((1, 3)), freeze=True)


def test_label_attention_in_label_chunks_equals_all_labels_at_once():
    from mbrnn.models.layers import LabelAttention

    torch.manual_seed(0)
    whole = LabelAttention(4, 5)
    chunked = LabelAttention(4, 5, max_cells=4 * 2)  # B * L = 8 cells a label: 1 label a chunk
    chunked.load_state_dict(whole.state_dict())
    H, mask = torch.randn(4, 2, 4), torch.tensor([[True, True], [True, False], [True, True], [True, True]])
    torch.testing.assert_close(chunked(H, mask), whole(H, mask))
    b = LabelAttention(4, 200).b  # biases ~ U(-1/sqrt(d), 1/sqrt(d)), as nn.Linear's
    assert -0.5 <= b.min() < -0.4 and 0.4 < b.max() <= 0.5
