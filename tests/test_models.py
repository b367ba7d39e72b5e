import numpy as np
import pytest
import torch

from mbrnn.losses import build_loss
from mbrnn.models import build_model
from mbrnn.models.caml import CAML
from mbrnn.models.laat import LAAT
from mbrnn.models.mbrnn import MBRNN, RAM
from mbrnn.models.tfidf import TfidfLogReg

torch.set_num_threads(1)
V, E, N_ICD, N_CCS = 40, 12, 5, 3


def _emb(seed=0):
    e = np.random.default_rng(seed).normal(size=(V, E)).astype(np.float32)
    e[0] = 0.0  # <pad>
    return e


def _tiny(arch, **kw):
    torch.manual_seed(0)
    if arch == "mbrnn":
        return MBRNN(_emb(), N_ICD, N_CCS, **{"hidden": 8, **kw})
    if arch == "caml":
        return CAML(_emb(), N_ICD, **{"num_filters": 8, "kernel_size": 4, **kw})
    return LAAT(_emb(), N_ICD, **{"hidden": 8, "d_a": 6, **kw})


def _batch(lengths, L, seed=0, pad_id=0):
    """Right-padded (B, L) tokens and mask; pads hold pad_id (or random ids when pad_id is None)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, V, (len(lengths), L), generator=g)
    mask = torch.arange(L)[None, :] < torch.tensor(lengths)[:, None]
    fill = torch.randint(1, V, tokens.shape, generator=g) if pad_id is None else torch.full_like(tokens, pad_id)
    return torch.where(mask, tokens, fill), mask


def _warm_batchnorm(model):
    """Give BatchNorm non-trivial running statistics so the eval-mode padding test is not vacuous."""
    model.train()
    with torch.no_grad():
        for s in range(3):
            model(*_batch([20, 13, 7], 20, seed=10 + s))
    model.eval()


@pytest.mark.parametrize("L", [1, 2, 7, 10, 33])
def test_ram_preserves_shape(L):
    ram = RAM(16, kernel_size=3, dropout=0.2)
    x = torch.randn(3, 16, L)
    assert ram(x).shape == (3, 16, L)
    assert ram(x, torch.ones(3, L, dtype=torch.bool)).shape == (3, 16, L)
    # channel plan of the hourglass: d -> d/2 -> d/4 -> d/4 -> d/2 -> d
    assert ram.down1.conv1.in_channels == 16 and ram.down2.conv2.out_channels == 4
    assert ram.up2.conv2.out_channels == 16 and isinstance(ram.up1.conv1, torch.nn.ConvTranspose1d)


def test_ram_output_is_recalibrated_input():
    ram = RAM(8).eval()
    x = torch.randn(2, 8, 9)
    x[:, :, 4] = 0.0
    assert torch.all(ram(x)[:, :, 4] == 0)  # output = tanh(up2(.) * X): zero where X is zero


@pytest.mark.parametrize("arch", ["mbrnn", "caml", "laat"])
def test_forward_contract(arch):
    model = _tiny(arch).eval()
    out = model(*_batch([11, 6], 11))
    assert out["icd"].shape == (2, N_ICD)
    assert ("ccs" in out) == (arch == "mbrnn")
    if arch == "mbrnn":
        assert out["ccs"].shape == (2, N_CCS)


def test_mbrnn_ablations_remove_their_parameters():
    full = _tiny("mbrnn")
    assert any(n.startswith("ram.") for n, _ in full.named_parameters())
    no_ram = _tiny("mbrnn", use_ram=False)
    assert no_ram.ram is None and not any("ram" in n for n, _ in no_ram.named_parameters())
    n_ram = sum(p.numel() for n, p in full.named_parameters() if n.startswith("ram."))
    assert sum(p.numel() for p in full.parameters()) - sum(p.numel() for p in no_ram.parameters()) == n_ram
    no_ccs = _tiny("mbrnn", use_ccs=False).eval()
    assert not any("ccs" in n for n, _ in no_ccs.named_parameters())
    out = no_ccs(*_batch([9], 9))
    assert set(out) == {"icd"}
    assert set(_tiny("mbrnn", use_ram=False).eval()(*_batch([9], 9))) == {"icd", "ccs"}


def test_mbrnn_defaults_follow_the_paper():
    m = MBRNN(_emb(), N_ICD, N_CCS)
    assert m.gru.hidden_size == 300 and m.gru.bidirectional and m.icd_head.U.shape == (N_ICD, 600)
    assert not m.embed.weight.requires_grad  # frozen word2vec
    assert m.embed_drop.p == 0.2 and m.ram.dropout.p == 0.2
    assert m.ram.down1.conv1.bias is None and m.ram.down2.conv1.out_channels == 150


@pytest.mark.parametrize("arch", ["mbrnn", "caml", "laat"])
@pytest.mark.parametrize("pad_id", [0, None])
def test_padding_does_not_change_logits_in_eval(arch, pad_id):
    model = _tiny(arch, mask_padding=True)
    _warm_batchnorm(model)
    lengths = [17, 9, 4]
    with torch.no_grad():
        padded = model(*_batch(lengths, 50, seed=1, pad_id=pad_id))
        for i, n in enumerate(lengths):
            tokens, mask = _batch(lengths, 50, seed=1, pad_id=pad_id)
            alone = model(tokens[i : i + 1, :n], mask[i : i + 1, :n])  # the same document, no padding at all
            for key in alone:
                torch.testing.assert_close(padded[key][i : i + 1], alone[key], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["mbrnn", "caml", "laat"])
def test_without_masking_padding_leaks(arch):
    """The reference behaviour (mask_padding=False): the same document scores differently once padded."""
    model = _tiny(arch, mask_padding=False)
    _warm_batchnorm(model)
    with torch.no_grad():
        tokens, mask = _batch([9], 30, seed=2)
        assert not torch.allclose(model(tokens, mask)["icd"], model(tokens[:, :9], mask[:, :9])["icd"], atol=1e-5)


def test_empty_document_and_bad_mask():
    model = _tiny("mbrnn").eval()
    tokens, mask = _batch([8, 0], 8)
    assert torch.isfinite(model(tokens, mask)["icd"]).all()
    holed = mask.clone()
    holed[0, 3] = False  # a gap inside the document: not right-padded
    with pytest.raises(ValueError, match="right-padded"):
        model(tokens, holed)


@pytest.mark.parametrize("arch", ["mbrnn", "caml", "laat"])
def test_tiny_model_overfits_a_tiny_batch(arch):
    model = _tiny(arch, **({"freeze_embeddings": False} if arch == "mbrnn" else {}))
    tokens, mask = _batch([20, 16, 12, 8], 20, seed=3)
    g = torch.Generator().manual_seed(4)
    targets = {"icd": (torch.rand(4, N_ICD, generator=g) < 0.4).float(), "ccs": (torch.rand(4, N_CCS, generator=g) < 0.4).float()}
    loss_fn = build_loss("focal", gamma=2.0, alpha=0.999, ccs_weight=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return loss_fn(model(tokens, mask), targets).item()

    start = eval_loss()
    for _ in range(200):
        model.train()
        opt.zero_grad()
        loss_fn(model(tokens, mask), targets).backward()
        opt.step()
    assert eval_loss() < 0.1 * start


def test_build_model():
    m = build_model({"arch": "mbrnn", "hidden": 8, "use_ccs": True}, _emb(), N_ICD, N_CCS)
    assert isinstance(m, MBRNN) and m.gru.hidden_size == 8 and m.ccs_head.U.shape == (N_CCS, 16)
    cfg = {"arch": "caml", "num_filters": 6}
    assert isinstance(build_model(cfg, _emb(), N_ICD, N_CCS), CAML) and cfg == {"arch": "caml", "num_filters": 6}
    assert build_model({"arch": "laat", "hidden": 4, "d_a": 3}, _emb(), N_ICD, N_CCS).U.shape == (N_ICD, 3)
    with pytest.raises(ValueError, match="hiden"):
        build_model({"arch": "mbrnn", "hiden": 8}, _emb(), N_ICD, N_CCS)
    with pytest.raises(ValueError, match="use_ram"):
        build_model({"arch": "caml", "use_ram": False}, _emb(), N_ICD, N_CCS)  # an MBRNN-only key
    with pytest.raises(ValueError, match="arch"):
        build_model({"arch": "bert"}, _emb(), N_ICD, N_CCS)
    with pytest.raises(ValueError, match="arch"):
        build_model({"hidden": 8}, _emb(), N_ICD, N_CCS)


TEXTS = ["chest pain troponin", "chest pain ecg", "fracture femur cast", "fracture wrist cast", "chest fracture pain"]
Y_TFIDF = np.array([[1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1], [1, 1, 0, 1]])  # col 2 never, col 3 always


def test_tfidf_handles_constant_label_columns_and_learns():
    model = TfidfLogReg(C=10.0, progress=False).fit(TEXTS, Y_TFIDF)
    prob = model.predict_proba(["chest pain", "femur cast", "unseen words"])
    assert prob.dtype == np.float32 and prob.shape == (3, 4)
    assert np.all(prob[:, 2] == 0.0) and np.all(prob[:, 3] == 1.0)
    assert prob[0, 0] > 0.5 > prob[1, 0] and prob[1, 1] > 0.5 > prob[0, 1]


def test_tfidf_is_deterministic():
    a = TfidfLogReg(progress=False, seed=1).fit(TEXTS, Y_TFIDF).predict_proba(TEXTS)
    b = TfidfLogReg(progress=False, seed=1).fit(TEXTS, Y_TFIDF).predict_proba(TEXTS)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="n_docs"):
        TfidfLogReg(progress=False).fit(TEXTS, Y_TFIDF[:3])


def test_birnn_masked_equals_packed_sequences():
    """The fast within-length reversal computes exactly what pack_padded_sequence would."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from mbrnn.models.layers import BiRNN, reverse_within_length

    torch.manual_seed(0)
    for cell, RNN in (("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM)):
        ours = BiRNN(cell, 5, 4)
        ref = RNN(5, 4, batch_first=True, bidirectional=True)
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(ref, name).copy_(getattr(ours.fwd, name))
                getattr(ref, name + "_reverse").copy_(getattr(ours.bwd, name))
        x = torch.randn(3, 7, 5)
        lengths = torch.tensor([7, 4, 1])
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        expected, _ = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=7)
        torch.testing.assert_close(ours(x, lengths), expected, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ours(x), ref(x)[0], atol=1e-6, rtol=1e-5)  # unmasked = reference behaviour
    y = torch.arange(8.0).view(2, 4, 1)
    assert reverse_within_length(y, torch.tensor([3, 4]))[:, :, 0].tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]


def test_params_yaml_has_both_single_task_ablations():
    """The study trains the reference's own single-task model (VRCMF/MARN: BiGRU + label attention, no CCS head,
    no RAM) beside ours without the CCS head only (RAM kept); they differ exactly in the RAM."""
    from mbrnn import runner
    from mbrnn.config import load_params
    from mbrnn.fitters import LOSS_KEYS

    models = load_params(runner.project_root(__file__) / "params.yaml")["models"]
    built = {}
    for name in ("mbrnn_no_ccs", "mbrnn_no_ccs_no_ram"):
        cfg = {k: v for k, v in models[name].items() if k not in LOSS_KEYS}
        built[name] = build_model({**cfg, "hidden": 8}, _emb(), N_ICD, N_CCS)
        assert built[name].ccs_head is None
        tokens, mask = _batch([6, 3], 6)
        assert set(built[name](tokens, mask)) == {"icd"}
    assert built["mbrnn_no_ccs"].ram is not None and built["mbrnn_no_ccs_no_ram"].ram is None
    ref = {k: v for k, v in models["mbrnn_no_ccs_no_ram"].items() if k != "use_ram"}
    assert ref == {k: v for k, v in models["mbrnn_no_ccs"].items() if k != "use_ram"}  # nothing else differs
