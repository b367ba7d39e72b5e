"""Documented rules of the core that one-line bugs would break (issue 14's surviving mutants).

Each test checks a behaviour against an independent reference (hand-worked numbers, a closed-form gradient, the
paper's equations recomputed from the module's own submodules), not the line that implements it.
"""

import re
import warnings

import numpy as np
import pytest
import torch

from mbrnn import codes, metrics
from mbrnn.losses import FocalLoss, build_loss
from mbrnn.models import build_model
from mbrnn.models.mbrnn import RAM

torch.set_num_threads(1)


# --- metrics: the threshold convention (y_prob >= threshold) --------------------------------------------------

def test_probability_equal_to_the_threshold_is_a_prediction():
    """Hand-worked: at threshold 0.5 the two cells scored exactly 0.5 are predicted (tp 2, fp 1, fn 0)."""
    y_true = np.array([[1, 0], [0, 1]], dtype=bool)
    y_prob = np.array([[0.5, 0.49], [0.5, 0.7]])
    m = metrics.evaluate(y_true, y_prob, threshold=0.5)
    assert m["micro_precision"] == pytest.approx(2 / 3)
    assert m["micro_recall"] == 1.0
    assert m["micro_f1"] == pytest.approx(0.8)
    # per label: label 0 P 1/2 R 1, label 1 P 1 R 1 -> macro P 3/4, R 1, CAML macro-F1 = 6/7
    assert m["macro_precision"] == pytest.approx(0.75) and m["macro_f1"] == pytest.approx(6 / 7)
    assert m["exact_match"] == 0.5
    assert metrics.evaluate(y_true, y_prob, threshold=0.51)["micro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tune_threshold_counts_a_probability_on_a_grid_value_as_predicted(dtype):
    """Positives scored exactly 0.5, negatives exactly 0.25: only t = 0.5 separates them under y_prob >= t
    (under y_prob > t, t = 0.25 would)."""
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=bool)
    y_prob = np.where(y_true, 0.5, 0.25).astype(dtype)
    assert metrics.tune_threshold(y_true, y_prob, grid=np.array([0.25, 0.5, 0.75])) == 0.5
    assert metrics.evaluate(y_true, y_prob, threshold=0.5)["micro_f1"] == 1.0
    assert metrics.evaluate(y_true, y_prob, threshold=0.25)["micro_precision"] == pytest.approx(4 / 9)
    y_prob = np.where(y_true, 0.5, 0.4975)  # float64; between the default grid values 0.495 and 0.5
    assert metrics.tune_threshold(y_true, y_prob) == 0.5


def test_tune_threshold_is_the_best_grid_value_by_evaluate_when_scores_sit_on_the_grid():
    """Reference: evaluate's micro-F1 at every grid value, smallest best. Scores lie exactly on grid values."""
    grid = np.array([0.25, 0.5, 0.75])
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]], dtype=bool)
    y_prob = np.where(y_true, 0.75, 0.5)
    y_prob[0, 1] = y_prob[2, 1] = 0.25
    assert metrics.tune_threshold(y_true, y_prob, grid=grid) == 0.75
    rng = np.random.default_rng(0)
    for _ in range(20):
        y_true = rng.random((12, 5)) < 0.4
        y_prob = rng.choice(grid, size=(12, 5))
        f1 = [metrics.evaluate(y_true, y_prob, threshold=t)["micro_f1"] for t in grid]
        assert metrics.tune_threshold(y_true, y_prob, grid=grid) == grid[int(np.argmax(f1))]


def test_tune_threshold_prefers_the_smallest_on_ties():
    y_true = np.array([[1, 0]], dtype=bool)
    y_prob = np.array([[0.9, 0.1]])
    assert metrics.tune_threshold(y_true, y_prob, grid=np.array([0.5, 0.2, 0.8])) == 0.2


def test_tied_scores_rank_by_label_index():
    """All 40 labels tied: the top-k cut keeps the lowest label indices (stable order), whatever the sort."""
    L = 40
    y_prob = np.full((2, L), 0.3)
    y_true = np.zeros((2, L), dtype=bool)
    y_true[0, :5] = True  # gold labels first in index order: all inside the top 5
    y_true[1, -5:] = True  # gold labels last: none inside the top 15
    m = metrics.evaluate(y_true, y_prob, ks=(5, 15))
    assert m["p@5"] == pytest.approx(0.5) and m["r@5"] == pytest.approx(0.5)
    assert m["p@15"] == pytest.approx((5 / 15) / 2)
    y_prob[1, -1] = 0.31  # one gold label of document 1 strictly ahead
    assert metrics.evaluate(y_true, y_prob, ks=(5,))["p@5"] == pytest.approx((1 + 1 / 5) / 2)


def test_top_k_cut_inside_ties_matches_pythons_stable_sort():
    """Heavily tied scores: precision and recall at k equal a brute force over Python's (stable) sorted order."""
    rng = np.random.default_rng(0)
    y_prob = rng.choice([0.1, 0.3, 0.5], size=(60, 20))
    y_true = rng.random((60, 20)) < 0.3
    y_true[0] = False  # a document without gold labels counts for p@k only
    ks = (1, 3, 5, 8)
    m = metrics.evaluate(y_true, y_prob, ks=ks)
    for k in ks:
        hits = [sum(t[j] for j in sorted(range(20), key=lambda j: -p[j])[:k]) for t, p in zip(y_true, y_prob)]
        gold = y_true.sum(1)
        assert m[f"p@{k}"] == pytest.approx(np.mean(hits) / k), k
        assert m[f"r@{k}"] == pytest.approx(np.mean([h / g for h, g in zip(hits, gold) if g])), k


def test_documents_without_gold_labels_give_documented_values_without_warnings():
    """No gold label at all: recall-type scores and AUCs are nan, precision-type scores 0, and no numpy warning."""
    y_true = np.zeros((2, 3), dtype=bool)
    y_prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics.evaluate(y_true, y_prob, ks=(1,))
    for key in ("macro_precision_present", "macro_recall_present", "macro_f1_present", "macro_f1_mean_present",
                "micro_auc", "macro_auc", "r@1", "r_precision", "map"):
        assert np.isnan(m[key]), key
    assert m["micro_precision"] == 0.0 and m["macro_precision"] == 0.0 and m["p@1"] == 0.0
    assert m["exact_match"] == 0.5 and m["n_labels_present"] == 0


def test_macro_f1_is_zero_when_nothing_is_right():
    y_true = np.array([[1, 0], [1, 0]], dtype=bool)
    m = metrics.evaluate(y_true, np.zeros((2, 2)))  # default threshold 0.5: nothing predicted
    assert m["macro_precision"] == 0.0 and m["macro_recall"] == 0.0 and m["macro_f1"] == 0.0
    assert m["micro_f1"] == 0.0 and np.isnan(m["macro_auc"])  # no label has both classes


def test_default_threshold_is_one_half():
    y_true = np.array([[1, 0], [0, 1]], dtype=bool)
    y_prob = np.array([[0.5, 0.49], [0.5, 0.7]])
    assert metrics.evaluate(y_true, y_prob) == metrics.evaluate(y_true, y_prob, threshold=0.5)
    assert metrics.evaluate(y_true, y_prob)["micro_f1"] == pytest.approx(0.8)


def test_last_ranked_gold_label_counts_for_recall_and_map():
    y_true = np.array([[0, 0, 1], [1, 0, 1]], dtype=bool)
    y_prob = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    m = metrics.evaluate(y_true, y_prob, ks=(1,))
    assert m["r@1"] == pytest.approx((0 + 1 / 2) / 2)
    assert m["r_precision"] == pytest.approx((0 + 1 / 2) / 2)
    assert m["map"] == pytest.approx((1 / 3 + (1 + 2 / 3) / 2) / 2)


def test_integer_labels_equal_boolean_labels():
    y_true = np.array([[1, 0, 1], [0, 0, 1]])
    y_prob = np.array([[0.9, 0.2, 0.4], [0.6, 0.1, 0.8]])
    assert metrics.evaluate(y_true, y_prob) == metrics.evaluate(y_true.astype(bool), y_prob)
    assert metrics.tune_threshold(y_true, y_prob) == metrics.tune_threshold(y_true.astype(bool), y_prob)


def test_per_label_counts_are_int64():
    tp, fp, fn = metrics.per_label_counts(np.array([[1, 0], [1, 1]], dtype=bool), np.array([[1, 1], [0, 1]]))
    assert [a.dtype for a in (tp, fp, fn)] == [np.dtype(np.int64)] * 3
    assert tp.tolist() == [1, 1] and fp.tolist() == [0, 1] and fn.tolist() == [1, 0]


def test_bad_metric_input_is_rejected_with_its_message():
    y = np.array([[1, 0]], dtype=bool)
    with pytest.raises(ValueError, match="^y_true must be boolean or 0/1$"):
        metrics.evaluate(np.array([[2, 0]]), np.array([[0.1, 0.2]]))
    with pytest.raises(ValueError, match="^y_prob contains NaN or inf; check the model outputs"):
        metrics.evaluate(y, np.array([[np.nan, 0.2]]))
    with pytest.raises(ValueError, match="^y_true and y_pred must both be"):
        metrics.per_label_counts(y, np.array([[1, 0, 0]]))
    for ks in ((0,), (2.5,), (5, -1)):
        with pytest.raises(ValueError, match="^ks must be positive integers"):
            metrics.evaluate(y, np.array([[0.9, 0.2]]), ks=ks)
    with pytest.raises(ValueError, match="^threshold grid is empty$"):
        metrics.tune_threshold(y, np.array([[0.9, 0.2]]), grid=np.array([]))
    assert metrics.tune_threshold(y, np.array([[0.9, 0.2]]), grid=np.array([0.3])) == 0.3


# --- codes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,kind", [("40", "dx"), ("4", "dx"), ("401999", "dx"), ("V1", "dx"), ("V12345", "dx"),
                                      ("E12", "dx"), ("E12345", "dx"), ("4", "px"), ("12345", "px"), ("V12", "px")])
def test_codes_of_the_wrong_length_are_not_icd9(raw, kind):
    """A two-digit string is not a diagnosis (it would be dotted and then classified as a procedure)."""
    assert not codes.is_valid(raw, kind)
    with pytest.raises(codes.CodeError):
        codes.format_icd9(raw, kind)


@pytest.mark.parametrize("raw,kind", [("401", "dx"), ("40199", "dx"), ("V12", "dx"), ("V1234", "dx"), ("E123", "dx"),
                                      ("E1234", "dx"), ("12", "px"), ("1234", "px")])
def test_codes_of_every_valid_length_are_icd9(raw, kind):
    assert codes.is_valid(raw, kind)
    assert codes.kind_of(codes.format_icd9(raw, kind)) == kind


def test_descriptions_come_from_mimic_first_then_cms():
    """D_ICD tables (the data's own) win over CMS v32; CMS fills codes the tables lack; unknown codes get ''."""
    d_icd = {"dx": {"4019": "title from D_ICD_DIAGNOSES"}}  # no procedure table at all: CMS only
    table = codes.label_table(["401.9", "414.01", "38.93", "999.99"], d_icd, codes.CCSMapper()).set_index("code")
    assert table.loc["401.9", "description"] == "title from D_ICD_DIAGNOSES"
    assert table.loc["414.01", "description"] == codes.cms_descriptions("dx")["41401"] != ""
    assert table.loc["38.93", "description"] == codes.cms_descriptions("px")["3893"] != ""
    assert table.loc["999.99", "description"] == ""
    assert table.loc["38.93", "kind"] == "px" and table.loc["38.93", "ccs"] == "px:38"


def test_cms_descriptions_are_read_from_the_packaged_files_as_latin1():
    codes.cms_descriptions.cache_clear()  # read the files now, whatever an earlier test cached
    dx, px = codes.cms_descriptions("dx"), codes.cms_descriptions("px", long=True)
    assert dx["4019"] == "Unspecified essential hypertension"
    assert dx["0413"] == "Friedl\u00e4nder's bacillus infection in conditions classified elsewhere and of unspecified site"
    assert px["3893"] == "Venous catheterization, not elsewhere classified"
    assert codes.cms_descriptions("dx", long=False)["4019"] == "Hypertension NOS"
    assert len(dx) > 14000 and len(px) > 3800


PRREF = (
    "\"Single Level CCS, procedures\"\n"
    "'ICD-9-CM CODE','CCS CATEGORY','CCS CATEGORY DESCRIPTION','ICD-9-CM CODE DESCRIPTION'\n"
    "'3893 ','54  ','Other vascular catheterization, not heart','VENOUS CATH NEC'\n"
    "'0066 ','45  ','Percutaneous transluminal coronary angioplasty (PTCA) type X'\n"
    "'short row'\n"
    "'0001 ','1   ','Incision and excision of CNS, Friedl\u00e4nder','X'\n"
    "'    ','2   ','no code','X'\n"
)


def test_prref_file_is_read_exactly(tmp_path):
    f = tmp_path / "prref.csv"
    f.write_text(PRREF, encoding="latin-1")
    code_to_ccs, names = codes.read_prref(f)
    assert code_to_ccs == {"3893": "54", "0066": "45", "0001": "1"}
    assert names == {"54": "Other vascular catheterization, not heart",
                     "45": "Percutaneous transluminal coronary angioplasty (PTCA) type X",
                     "1": "Incision and excision of CNS, Friedl\u00e4nder"}
    m = codes.CCSMapper(f)
    assert (m.map("0066", "px"), m.describe("px:45"), m.px_source) == ("px:45", names["45"], "hcup_prref")
    assert m.map("9999", "px") is None and m.describe("px:77") == ""


def test_prref_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.csv: HCUP procedure CCS file not found\. Download "
                                                r"'\$prref 2015\.csv' from HCUP's CCS for ICD-9-CM page \(Single Level CCS, "
                                                r"procedures\), or set cohort\.ccs_px_file to null"):
        codes.read_prref(tmp_path / "missing.csv")
    f = tmp_path / "other.csv"
    f.write_text("'a','b','c'\n'1','2','3'\n")
    with pytest.raises(ValueError, match=r"other\.csv: no header row with 'ICD-9-CM CODE' found; is this HCUP's"):
        codes.read_prref(f)


# --- focal loss ----------------------------------------------------------------------------------------------

def focal_reference_grad(x, y, gamma, alpha):
    """d mean(FL)/dx in closed form: s·α(1−p_t)^γ(γ·p_t·log p_t − (1 − p_t)) / N, s = +1 for y = 1, −1 for y = 0."""
    p = torch.sigmoid(x)
    p_t = torch.where(y > 0.5, p, 1 - p)
    s = 2 * y - 1
    return s * alpha * (1 - p_t) ** gamma * (gamma * p_t * torch.log(p_t) - (1 - p_t)) / x.numel()


@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.999), (1.0, 0.25), (0.0, 1.0), (3.5, 1.0)])
def test_focal_gradient_matches_the_closed_form(gamma, alpha):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 7, generator=g, dtype=torch.float64) * 3).requires_grad_()
    y = (torch.rand(6, 7, generator=g, dtype=torch.float64) < 0.4).double()
    loss = FocalLoss(gamma=gamma, alpha=alpha)
    torch.autograd.gradcheck(lambda z: loss(z, y), (x,))
    (grad,) = torch.autograd.grad(loss(x, y), x)
    torch.testing.assert_close(grad, focal_reference_grad(x.detach(), y, gamma, alpha), rtol=1e-10, atol=1e-12)


def test_multitask_focal_gradient_weights_each_branch():
    g = torch.Generator().manual_seed(1)
    x_icd = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    x_ccs = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y_icd, y_ccs = (torch.rand(4, 5, generator=g) < 0.5).double(), (torch.rand(4, 3, generator=g) < 0.5).double()
    loss = build_loss("focal", gamma=2.0, alpha=0.5, ccs_weight=0.3)({"icd": x_icd, "ccs": x_ccs},
                                                                     {"icd": y_icd, "ccs": y_ccs})
    gi, gc = torch.autograd.grad(loss, (x_icd, x_ccs))
    torch.testing.assert_close(gi, 0.7 * focal_reference_grad(x_icd.detach(), y_icd, 2.0, 0.5))
    torch.testing.assert_close(gc, 0.3 * focal_reference_grad(x_ccs.detach(), y_ccs, 2.0, 0.5))


def test_loss_defaults_are_the_references():
    """FocalLoss and build_loss default to the MBRNN reference: focal, gamma 2, alpha 0.999, CCS weight 0.3."""
    x, y = torch.zeros(2, 3), torch.tensor([[1.0, 0, 1], [0, 0, 1]])  # logit 0: FL = alpha * (1/2)^gamma * ln 2
    assert FocalLoss()(x, y).item() == pytest.approx(0.999 * 0.5 ** 2 * np.log(2))
    loss = build_loss()
    assert isinstance(loss.base, FocalLoss) and (loss.base.gamma, loss.base.alpha, loss.ccs_weight) == (2.0, 0.999, 0.3)
    xc, yc = torch.full((2, 1), 2.0), torch.ones(2, 1)
    total = loss({"icd": x, "ccs": xc}, {"icd": y, "ccs": yc})
    assert total.item() == pytest.approx(0.7 * FocalLoss()(x, y).item() + 0.3 * FocalLoss()(xc, yc).item())


def test_bce_loss_ignores_focal_settings_and_takes_integer_targets():
    x = torch.tensor([[0.3, -1.2], [2.0, 0.1]])
    y = torch.tensor([[1, 0], [1, 1]])  # integer targets, as multi-hot arrays may come
    loss = build_loss("bce", gamma=5.0, alpha=0.1, ccs_weight=0.0)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(x, y.float())
    assert loss({"icd": x}, {"icd": y}).item() == pytest.approx(expected.item())
    both = loss({"icd": x, "ccs": x}, {"icd": y, "ccs": 1 - y})
    assert both.item() == pytest.approx(expected.item())  # weight 0: the CCS branch does not count
    assert loss.last_parts["total"] == pytest.approx(expected.item()) and set(loss.last_parts) == {"icd", "ccs", "total"}
    assert build_loss("focal", ccs_weight=1.0)({"icd": x, "ccs": x}, {"icd": y, "ccs": y}).item() > 0


def test_multitask_loss_defaults_and_parts():
    from mbrnn.losses import MultitaskLoss

    x, y = torch.tensor([[0.3, -1.2]]), torch.tensor([[1.0, 0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, y).item()
    loss = MultitaskLoss(torch.nn.BCEWithLogitsLoss())
    assert loss.ccs_weight == 0.3 and loss.last_parts == {}
    assert loss({"icd": x}, {"icd": y}).item() == pytest.approx(bce)
    assert loss.last_parts == pytest.approx({"icd": bce, "total": bce})
    # gamma reaches the focal loss: gamma 0, alpha 1 is plain BCE
    assert build_loss("focal", gamma=0.0, alpha=1.0)({"icd": x}, {"icd": y}).item() == pytest.approx(bce)


@pytest.mark.parametrize("w", [-0.01, 1.01])
def test_ccs_weight_outside_the_unit_interval_is_rejected(w):
    with pytest.raises(ValueError, match=r"^ccs_weight must lie in \[0, 1\]; got "):
        build_loss("focal", ccs_weight=w)


def test_loss_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"^loss kind must be 'focal' or 'bce'; got 'hinge' \(fix the loss entry"):
        build_loss("hinge")
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="^the model returned 'ccs' logits but targets has no 'ccs' key; pass the CCS labels$"):
        build_loss("bce")({"icd": x, "ccs": x}, {"icd": x})


# --- RAM: the paper's equations --------------------------------------------------------------------------------

def _block(b, x, m=None):
    """ConvBlock by its documented definition: conv -> BN -> tanh -> conv -> BN, pads zeroed before each conv."""
    if m is not None:
        x = x * m
    x = torch.tanh(b.bn1(b.conv1(x)))
    if m is not None:
        x = x * m
    return b.bn2(b.conv2(x))


def ram_reference(ram, X, mask=None):
    """D1 = down1(X); D2 = down2(D1); T = lateral(D2); U1 = up1(T) + D1; U2 = up2(U1) ⊙ X; tanh(U2) (eval)."""
    m = None if mask is None else mask[:, None, :].to(X.dtype)
    if m is not None:
        X = X * m
    D1 = _block(ram.down1, X, m)
    D2 = _block(ram.down2, D1, m)
    T = _block(ram.lateral, D2, m)
    U1 = _block(ram.up1, T, m) + D1
    U2 = _block(ram.up2, U1, m) * X
    return torch.tanh(U2)


@pytest.mark.parametrize("masked", [False, True])
def test_ram_forward_follows_the_documented_equations(masked):
    torch.manual_seed(0)
    ram = RAM(16, kernel_size=3, dropout=0.5)
    ram.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for _ in range(3):
            ram(torch.randn(4, 16, 11) * 2)
    ram.eval()
    X = torch.randn(3, 16, 11) * 2
    mask = (torch.arange(11)[None, :] < torch.tensor([11, 6, 2])[:, None]) if masked else None
    with torch.no_grad():
        out = ram(X, mask)
        ref = ram_reference(ram, X, mask)
    assert out.shape == X.shape
    torch.testing.assert_close(out, ref)
    assert out.abs().max() < 1  # the final tanh
    assert (out.abs() > 1e-3).float().mean() > 0.5  # not a degenerate comparison


# --- embeddings: trainable when the config says so -----------------------------------------------------------

@pytest.mark.parametrize("cfg", [{"arch": "mbrnn", "hidden": 4}, {"arch": "caml", "num_filters": 4, "kernel_size": 3},
                                 {"arch": "laat", "hidden": 4, "d_a": 4}])
@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_embeddings_setting_is_obeyed(cfg, freeze):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(12, 6)).astype(np.float32)
    W[0] = 0
    W0 = W.copy()
    torch.manual_seed(0)
    model = build_model({**cfg, "freeze_embeddings": freeze}, W, 3, 2)
    emb = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    assert len(emb) == 1 and emb[0].weight.requires_grad is not freeze
    tokens = torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0]])
    mask = tokens > 0
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    out = model(tokens, mask)
    sum(v.sum() for v in out.values()).backward()
    opt.step()
    moved = not np.allclose(emb[0].weight.detach().numpy()[2:8], W0[2:8])
    assert moved is not freeze


# --- CAML, LAAT, label attention: the documented equations ---------------------------------------------------

def _label_attention_reference(head, H, mask):
    """A = softmax_L(U · Hᵀ) over real positions; M = A · H; logit_j = <W_j, M_j> + b_j."""
    scores = torch.einsum("nd,bld->bnl", head.U, H)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    A = torch.softmax(scores, dim=-1)
    return torch.einsum("nd,bnd->bn", head.W, torch.einsum("bnl,bld->bnd", A, H)) + head.b


def _emb_matrix(V=30, E=6, seed=0):
    W = np.random.default_rng(seed).normal(size=(V, E)).astype(np.float32)
    W[0] = 0
    return W


def _tokens():
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 0, 0, 0, 0], [15, 0, 0, 0, 0, 0, 0]])
    return tokens, tokens > 0


@pytest.mark.parametrize("masked", [True, False])
def test_caml_forward_follows_the_documented_equations(masked):
    from mbrnn.models.caml import CAML

    torch.manual_seed(0)
    model = CAML(_emb_matrix(), 4, num_filters=5, kernel_size=4, mask_padding=masked).eval()
    tokens, mask = _tokens()
    with torch.no_grad():
        E = model.embed(tokens) * (mask[..., None] if masked else 1)
        H = torch.tanh(model.conv(torch.nn.functional.pad(E.transpose(1, 2), (1, 2)))).transpose(1, 2)
        ref = _label_attention_reference(model.attn, H, mask if masked else None)
        out = model(tokens, mask)["icd"]
    torch.testing.assert_close(out, ref)
    assert H.shape[1] == tokens.shape[1]  # "same" padding: left (k-1)//2 = 1, right k//2 = 2


@pytest.mark.parametrize("masked", [True, False])
def test_laat_forward_follows_the_documented_equations(masked):
    from mbrnn.models.laat import LAAT

    torch.manual_seed(0)
    model = LAAT(_emb_matrix(), 4, hidden=3, d_a=5, mask_padding=masked).eval()
    tokens, mask = _tokens()
    with torch.no_grad():
        E = model.embed(tokens)
        H = model.lstm(E, mask.sum(1)) if masked else model.lstm(E)
        Z = torch.tanh(torch.einsum("ad,bld->bal", model.W, H))
        scores = torch.einsum("na,bal->bnl", model.U, Z)
        if masked:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        M = torch.einsum("bnl,bld->bnd", torch.softmax(scores, dim=-1), H)
        ref = (model.V * M).sum(-1) + model.b
        out = model(tokens, mask)["icd"]
    torch.testing.assert_close(out, ref)


def test_model_defaults_and_initialisation_follow_their_papers():
    from mbrnn.models import model_kwargs

    assert {k: model_kwargs("caml")[k] for k in ("num_filters", "kernel_size", "dropout", "freeze_embeddings")} == \
        {"num_filters": 50, "kernel_size": 10, "dropout": 0.2, "freeze_embeddings": False}
    assert {k: model_kwargs("laat")[k] for k in ("hidden", "d_a", "dropout", "init_std", "freeze_embeddings")} == \
        {"hidden": 512, "d_a": 512, "dropout": 0.3, "init_std": 0.03, "freeze_embeddings": False}
    assert model_kwargs("mbrnn")["mask_padding"] and model_kwargs("caml")["mask_padding"]
    torch.manual_seed(0)
    W = _emb_matrix(V=30, E=64)
    laat = build_model({"arch": "laat", "hidden": 32, "d_a": 40}, W, 300, 0)
    assert 0.02 < float(laat.U.detach().std()) < 0.04 and abs(float(laat.U.detach().mean())) < 0.01
    assert float(laat.b.detach().abs().max()) <= 1 / np.sqrt(64) and float(laat.b.detach().abs().max()) > 0.5 / np.sqrt(64)
    caml = build_model({"arch": "caml", "num_filters": 64, "kernel_size": 3}, W, 300, 0)
    bound = np.sqrt(6 / (300 + 64))  # xavier uniform of the (n, d) label matrices
    for p in (caml.attn.U, caml.attn.W):
        assert float(p.detach().abs().max()) <= bound and float(p.detach().abs().max()) > 0.9 * bound
    assert 0.5 / np.sqrt(64) < float(caml.attn.b.detach().abs().max()) <= 1 / np.sqrt(64)


# --- text: defaults, progress, when to fork -------------------------------------------------------------------

def test_text_functions_default_to_the_papers_caml_scheme():
    from mbrnn import text

    note = "Pt_ID 12 x_ray at 10 30"
    assert text.normalise(note) == text.normalise(note, "caml") == "pt_id x_ray at"
    assert text.tokenize(note) == ["pt_id", "x_ray", "at"]
    assert text.normalise_many([note, "B 2"]) == [("pt_id x_ray at", 3), ("b", 1)]


def test_normalise_many_progress_bar_only_when_asked(capsys):
    from mbrnn import text

    notes = ["a b", "c", "d e f"]
    text.normalise_many(notes, workers=1)
    assert capsys.readouterr().err == ""
    text.normalise_many(notes, workers=1, progress=True)
    err = capsys.readouterr().err
    assert re.search(r"(^|\r)normalising text: 100%", err) and "3/3" in err and "note/s" in err


@pytest.mark.parametrize("n,forks", [(499, False), (500, True)])
def test_normalise_many_forks_workers_from_min_parallel_notes(monkeypatch, n, forks):
    from mbrnn import text

    forked = []
    real = text.get_context

    def spy(method):
        forked.append(method)
        return real(method)

    monkeypatch.setattr(text, "get_context", spy)
    notes = [f"note {i} x" for i in range(n)]
    assert text.normalise_many(notes, workers=2) == [("note x", 2)] * n
    assert bool(forked) is forks
