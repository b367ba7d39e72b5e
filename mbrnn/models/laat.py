"""LAAT: label attention model (Vu, Nguyen, Nguyen; IJCAI 2020), single task (ICD head only).

    E = dropout(embed(tokens))          (B, L, 100)
    H = BiLSTM(E)                       (B, L, 2u)    u = hidden size per direction
    Z = tanh(W · Hᵀ)                    (B, d_a, L)   W (d_a, 2u), no bias
    A = softmax_L(U · Z)                (B, n, L)     U (n, d_a)
    M = A · H                           (B, n, 2u)
    logit_j = <V_j, M_j> + b_j          (B, n)

Defaults are the paper's MIMIC-III-full setting as run by the reference code (github.com/aehrc/LAAT):
u = 512 per direction, d_a = 512, dropout 0.3 on the embeddings, weights ~ N(0, 0.03). Memory of the
(B, n, L) attention is as for `caml.LabelAttention`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .caml import check_mask, pretrained_embedding, prefix_mask
from .layers import BiRNN


class LAAT(nn.Module):
    def __init__(
        self,
        embeddings: np.ndarray,
        n_icd: int,
        hidden: int = 512,
        d_a: int = 512,
        dropout: float = 0.3,
        init_std: float = 0.03,
        freeze_embeddings: bool = False,
        mask_padding: bool = True,
    ):
        super().__init__()
        self.mask_padding = mask_padding
        self.embed = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.embed_drop = nn.Dropout(dropout)
        self.lstm = BiRNN("lstm", self.embed.embedding_dim, hidden)  # bidirectional, 2u features
        d = 2 * hidden
        self.W = nn.Parameter(torch.empty(d_a, d))
        self.U = nn.Parameter(torch.empty(n_icd, d_a))
        self.V = nn.Parameter(torch.empty(n_icd, d))
        self.b = nn.Parameter(torch.empty(n_icd))
        for p in (self.W, self.U, self.V):
            nn.init.normal_(p, 0.0, init_std)
        nn.init.uniform_(self.b, -1 / math.sqrt(d), 1 / math.sqrt(d))  # nn.Linear's default, as the reference

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = check_mask(tokens, mask)  # (B,)
        B, L = tokens.shape
        E = self.embed_drop(self.embed(tokens))  # (B, L, 100)
        if self.mask_padding:
            H = self.lstm(E, lengths)  # (B, L, 2u), zeros on pads; pads never reach a real position
            mask = prefix_mask(lengths, L)
        else:
            H = self.lstm(E)  # (B, L, 2u)
            mask = None
        Z = torch.tanh(self.W @ H.transpose(1, 2))  # (B, d_a, L)
        scores = self.U @ Z  # (B, n, L)
        if mask is not None:
            scores = scores.masked_fill_(~mask[:, None, :], float("-inf"))
        A = F.softmax(scores, dim=-1)  # (B, n, L)
        del scores
        M = A @ H  # (B, n, 2u)
        return {"icd": (self.V * M).sum(-1) + self.b}  # (B, n)
