"""Training losses: focal loss (the "balanced" in MBRNN) and the two-branch multitask weighting.

Focal loss (Lin et al. 2017) as in the MBRNN reference (github.com/VRCMF/MARN, class FocalLoss, run with
--reduce): FL = α · (1 − p_t)^γ · BCE, averaged over batch x labels, where p_t = exp(−BCE) is the
probability given to the true class. Note α is a single scalar that multiplies every term, positives and
negatives alike (not the class-balancing α_t of Lin et al.); with plain gradient steps it only rescales
the loss (≈ the learning rate). We implement exactly that.

Multitask: loss = (1 − λ) · L(ICD) + λ · L(CCS), λ = ccs_weight (reference default 0.3); L(ICD) alone when
the model has no CCS branch.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0, alpha: float = 0.999):
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # logits, targets: (B, n)
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, n), = −log p_t
        p_t = torch.exp(-bce)
        return (self.alpha * (1 - p_t) ** self.gamma * bce).mean()


class MultitaskLoss(nn.Module):
    """loss(outputs, targets) -> scalar; `last_parts` holds the latest {"icd", ["ccs",] "total"} as floats."""

    def __init__(self, base: nn.Module, ccs_weight: float = 0.3):
        super().__init__()
        if not 0.0 <= ccs_weight <= 1.0:
            raise ValueError(f"ccs_weight must lie in [0, 1]; got {ccs_weight}")
        self.base = base
        self.ccs_weight = ccs_weight
        self.last_parts: dict[str, float] = {}

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        loss_icd = self.base(outputs["icd"], targets["icd"].to(outputs["icd"].dtype))
        if "ccs" not in outputs:
            v = loss_icd.item()
            self.last_parts = {"icd": v, "total": v}
            return loss_icd
        if "ccs" not in targets:
            raise ValueError("the model returned 'ccs' logits but targets has no 'ccs' key; pass the CCS labels")
        loss_ccs = self.base(outputs["ccs"], targets["ccs"].to(outputs["ccs"].dtype))
        lam = self.ccs_weight
        total = (1 - lam) * loss_icd + lam * loss_ccs
        icd, ccs, tot = torch.stack([loss_icd.detach(), loss_ccs.detach(), total.detach()]).tolist()  # one sync
        self.last_parts = {"icd": icd, "ccs": ccs, "total": tot}
        return total


def build_loss(kind: str = "focal", gamma: float = 2.0, alpha: float = 0.999, ccs_weight: float = 0.3) -> MultitaskLoss:
    """kind "focal" (FocalLoss(gamma, alpha)) or "bce" (mean BCE with logits; gamma and alpha ignored)."""
    if kind == "focal":
        base: nn.Module = FocalLoss(gamma=gamma, alpha=alpha)
    elif kind == "bce":
        base = nn.BCEWithLogitsLoss()
    else:
        raise ValueError(f"loss kind must be 'focal' or 'bce'; got {kind!r} (fix the loss entry in params.yaml)")
    return MultitaskLoss(base, ccs_weight=ccs_weight)
