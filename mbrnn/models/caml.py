"""CAML: Convolutional Attention for Multi-Label classification (Mullenbach et al., NAACL 2018).

    E = dropout(embed(tokens))                 (B, L, 100)
    H = tanh(conv1d(E))                        (B, L, f)     f filters, kernel k, "same" padding
                                                             (the original pads k//2 both sides: L+1 outputs)
    A = softmax_L(U · Hᵀ)                      (B, n, L)     one attention distribution per label
    M = A · H                                  (B, n, f)     one document vector per label
    logit_j = <W_j, M_j> + b_j                 (B, n)

`LabelAttention` (the last three lines) is also the output layer of MBRNN's two branches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def pretrained_embedding(embeddings: np.ndarray, freeze: bool) -> nn.Embedding:
    """nn.Embedding initialised from the word2vec matrix (V, E); row 0 is PAD, row 1 UNK."""
    if not isinstance(embeddings, np.ndarray) or embeddings.ndim != 2 or embeddings.shape[0] < 2:
        raise ValueError(
            "embeddings must be a 2-D numpy array (V, E) with V >= 2 (row 0 <pad>, row 1 <unk>); "
            f"got {type(embeddings).__name__} {getattr(embeddings, 'shape', None)}. "
            "Load it from data/embeddings/embeddings.npy."
        )
    weight = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    return nn.Embedding.from_pretrained(weight, freeze=freeze, padding_idx=0)


def check_mask(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Validate a right-padded boolean mask and return the lengths (B,) (an empty document counts as length 1)."""
    if tokens.dim() != 2 or mask.shape != tokens.shape:
        raise ValueError(f"tokens and mask must both be (B, L); got {tuple(tokens.shape)} and {tuple(mask.shape)}")
    mask = mask.bool()
    lengths = mask.sum(1)
    positions = torch.arange(mask.size(1), device=mask.device)
    if not torch.equal(mask, positions[None, :] < lengths[:, None]):
        raise ValueError("mask must be right-padded (True on a prefix of each row, then False); see mbrnn/data.py")
    return lengths.clamp(min=1)


def prefix_mask(lengths: torch.Tensor, L: int) -> torch.Tensor:
    """(B,) lengths -> (B, L) bool, True on the first lengths[b] positions."""
    return torch.arange(L, device=lengths.device)[None, :] < lengths[:, None]


class LabelAttention(nn.Module):
    """Per-label attention and per-label linear output (CAML's output layer; MBRNN's branch head).

    Memory: `scores` and `A` are each (B, n, L) floats, i.e. 16 x 8,922 x 4,000 x 4 B = 2.3 GB apiece in
    fp32; autograd keeps A (softmax output) and the backward pass allocates two more of that size, so budget
    about 4 x B·n·L·4 bytes per branch. M is only (B, n, d) (16 x 8,922 x 600 x 4 B = 0.34 GB).
    """

    def __init__(self, d: int, n_labels: int):
        super().__init__()
        self.U = nn.Parameter(torch.empty(n_labels, d))  # attention queries, one per label
        self.W = nn.Parameter(torch.empty(n_labels, d))  # output weights, one per label
        self.b = nn.Parameter(torch.empty(n_labels))
        # as the reference (nn.Linear weights reset with xavier_uniform_, bias left at nn.Linear's default)
        nn.init.xavier_uniform_(self.U)
        nn.init.xavier_uniform_(self.W)
        nn.init.uniform_(self.b, -1 / math.sqrt(d), 1 / math.sqrt(d))

    def forward(self, H: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # H: (B, L, d); mask: (B, L) bool or None (None = attend to every position, as the reference)
        scores = self.U @ H.transpose(1, 2)  # (B, n, L)
        if mask is not None:
            # in place is safe: matmul does not keep its output for backward
            scores = scores.masked_fill_(~mask[:, None, :], float("-inf"))
        A = F.softmax(scores, dim=-1)  # (B, n, L)
        del scores
        M = A @ H  # (B, n, d)
        return (self.W * M).sum(-1) + self.b  # (B, n)


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
