"""CAML: Convolutional Attention for Multi-Label classification (Mullenbach et al., NAACL 2018).

    E = dropout(embed(tokens))                 (B, L, 100)
    H = tanh(conv1d(E))                        (B, L, f)     f filters, kernel k, "same" padding
                                                             (the original pads k//2 both sides: L+1 outputs)
    A = softmax_L(U · Hᵀ)                      (B, n, L)     one attention distribution per label
    M = A · H                                  (B, n, f)     one document vector per label
    logit_j = <W_j, M_j> + b_j                 (B, n)

The last three lines are `layers.LabelAttention`, shared with MBRNN's two branches and LAAT.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# re-exported: these lived here before moving to layers.py
from .layers import LabelAttention, check_mask, pretrained_embedding, prefix_mask

__all__ = ["CAML", "LabelAttention", "check_mask", "pretrained_embedding", "prefix_mask"]


class CAML(nn.Module):
    """CAML with the paper's defaults (50 filters, kernel 10, embedding dropout 0.2); ICD head only."""

    def __init__(
        self,
        embeddings: np.ndarray,
        n_icd: int,
        num_filters: int = 50,
        kernel_size: int = 10,
        dropout: float = 0.2,
        freeze_embeddings: bool = False,
        mask_padding: bool = True,
    ):
        super().__init__()
        self.mask_padding = mask_padding
        self.embed = pretrained_embedding(embeddings, freeze=freeze_embeddings)  # CAML fine-tunes embeddings
        self.embed_drop = nn.Dropout(dropout)
        # "same" padding, asymmetric for even kernels (left (k-1)//2, right k//2, as torch's padding="same")
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv = nn.Conv1d(self.embed.embedding_dim, num_filters, kernel_size)
        nn.init.xavier_uniform_(self.conv.weight)
        self.attn = LabelAttention(num_filters, n_icd)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = check_mask(tokens, mask)
        mask = prefix_mask(lengths, tokens.size(1)) if self.mask_padding else None
        E = self.embed_drop(self.embed(tokens))  # (B, L, E)
        if mask is not None:
            E = E * mask[..., None]  # pads read as the conv's zero padding, whatever the PAD row holds
        H = torch.tanh(self.conv(F.pad(E.transpose(1, 2), self.pad))).transpose(1, 2)  # (B, L, f)
        return {"icd": self.attn(H, mask)}  # (B, n_icd)
