import math

import pytest
import torch
import torch.nn.functional as F

from mbrnn.losses import FocalLoss, build_loss

torch.set_num_threads(1)


def _batch(seed=0, B=4, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, n, generator=g) * 3, (torch.rand(B, n, generator=g) < 0.4).float()


def test_focal_equals_bce_at_gamma0_alpha1():
    x, y = _batch()
    assert FocalLoss(gamma=0.0, alpha=1.0)(x, y).item() == pytest.approx(F.binary_cross_entropy_with_logits(x, y).item())


def test_focal_hand_value():
    # logit 0 -> p_t = 1/2 for either target: FL = alpha * (1/2)^2 * ln 2
    loss = FocalLoss(gamma=2.0, alpha=0.999)(torch.zeros(2, 3), torch.tensor([[1.0, 0, 1], [0, 0, 1]]))
    assert loss.item() == pytest.approx(0.999 * 0.25 * math.log(2))


def test_focal_down_weights_confident_correct_predictions():
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    x = torch.tensor([[4.0, -4.0, 3.0, -5.0]])  # confident and correct
    fl, bce = FocalLoss(2.0, 1.0)(x, y).item(), F.binary_cross_entropy_with_logits(x, y).item()
    assert fl < 0.05 * bce
    # a confidently wrong prediction keeps most of its BCE
    x_wrong = -x
    assert FocalLoss(2.0, 1.0)(x_wrong, y).item() > 0.9 * F.binary_cross_entropy_with_logits(x_wrong, y).item()


def test_scalar_alpha_scales_every_term():
    x, y = _batch(1)
    assert FocalLoss(2.0, 0.25)(x, y).item() == pytest.approx(0.25 * FocalLoss(2.0, 1.0)(x, y).item())


def test_focal_is_numerically_stable():
    x = torch.tensor([[100.0, -100.0, 100.0, -100.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    loss = FocalLoss()(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert loss.item() == pytest.approx(0.999 * 200 / 4, rel=1e-4)  # two terms of BCE 100 with (1-p_t) = 1


@pytest.mark.parametrize("kind", ["focal", "bce"])
def test_multitask_weighting(kind):
    xi, yi = _batch(2, n=7)
    xc, yc = _batch(3, n=3)
    loss = build_loss(kind, gamma=2.0, alpha=0.999, ccs_weight=0.3)
    base = FocalLoss(2.0, 0.999) if kind == "focal" else F.binary_cross_entropy_with_logits
    li, lc = base(xi, yi).item(), base(xc, yc).item()
    total = loss({"icd": xi, "ccs": xc}, {"icd": yi, "ccs": yc})
    assert total.item() == pytest.approx(0.7 * li + 0.3 * lc)
    assert loss.last_parts["icd"] == pytest.approx(li)
    assert loss.last_parts["ccs"] == pytest.approx(lc)
    assert loss.last_parts["total"] == pytest.approx(total.item())
    # a single-task model: the ICD loss alone, whatever ccs_weight is
    alone = loss({"icd": xi}, {"icd": yi, "ccs": yc})
    assert alone.item() == pytest.approx(li)
    assert "ccs" not in loss.last_parts


def test_gradient_reaches_both_branches():
    xi, yi = _batch(4)
    xc, yc = _batch(5, n=3)
    xi.requires_grad_(True)
    xc.requires_grad_(True)
    build_loss("focal")({"icd": xi, "ccs": xc}, {"icd": yi, "ccs": yc}).backward()
    assert xi.grad.abs().sum() > 0 and xc.grad.abs().sum() > 0


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="focal"):
        build_loss("hinge")
    with pytest.raises(ValueError, match="ccs_weight"):
        build_loss("focal", ccs_weight=1.5)
    xi, yi = _batch()
    with pytest.raises(ValueError, match="ccs"):
        build_loss("bce")({"icd": xi, "ccs": xi}, {"icd": yi})
