"""MBRNN: Multitask Balanced and Recalibrated Neural Network (Sun, Ji, Cambria, Marttinen; ACM TIST 2022).

    E = dropout(embed(tokens))                  (B, L, 100)   frozen word2vec
    H = BiGRU(E)                                (B, L, d)     d = 2 x hidden = 600
    X = RAM(Hᵀ)ᵀ                                (B, L, d)     recalibrated aggregation module (length preserved)
    icd = LabelAttention_icd(X)                 (B, n_icd)    per-label attention + per-label linear
    ccs = LabelAttention_ccs(X)                 (B, n_ccs)    the auxiliary CCS branch (multitask)

The "balanced" part is the focal loss (mbrnn/losses.py). Reference implementation: github.com/VRCMF/MARN
(RNNmodel_MTL + OutputLayer_MTL + RAM), which this module follows line by line.

Padding. With `mask_padding=True` (default) padding cannot reach a real position's output in eval mode:
the GRU never reads a pad (as on a packed sequence), padded positions are zeroed before every convolution
of the RAM (a k=3 convolution would otherwise read a pad next to the last real token, and BatchNorm's shift makes zeros
non-zero after the first block), and attention scores on pads are -inf. One leak remains by design: in
training mode BatchNorm's batch statistics are computed over all B x L positions, pads (zeros) included.
`mask_padding=False` reproduces the reference exactly: GRU over pads, no zeroing, no attention mask.
An empty document (all-False mask row) is treated as a single PAD token.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .layers import BiRNN, LabelAttention, check_mask, pretrained_embedding, prefix_mask


class ConvBlock(nn.Module):
    """conv(k, no bias) -> BatchNorm1d -> tanh -> conv(k, no bias) -> BatchNorm1d, length preserved.

    `transpose=True` uses ConvTranspose1d (the RAM's up path). Pads are re-zeroed before each conv when a
    mask is given.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, transpose: bool = False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"RAM kernel size must be odd to preserve length; got {kernel_size}")
        Conv = nn.ConvTranspose1d if transpose else nn.Conv1d
        pad = kernel_size // 2
        self.conv1 = Conv(c_in, c_out, kernel_size, stride=1, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = Conv(c_out, c_out, kernel_size, stride=1, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x: (B, c_in, L); mask: (B, 1, L) float or None
        if mask is not None:
            x = x * mask
        x = torch.tanh(self.bn1(self.conv1(x)))  # (B, c_out, L)
        if mask is not None:
            x = x * mask
        return self.bn2(self.conv2(x))  # (B, c_out, L)


class RAM(nn.Module):
    """Recalibrated aggregation module: an hourglass of conv blocks whose output gates the input.

    D1 = down1(X); D2 = down2(D1); T = lateral(D2); U1 = up1(T) + D1; U2 = up2(U1) ⊙ X;
    output = dropout(tanh(U2)). Channels d -> d/2 -> d/4 -> d/4 -> d/2 -> d; length L unchanged.
    """

    def __init__(self, d: int, kernel_size: int = 3, dropout: float = 0.2):
        super().__init__()
        c1, c2, c3 = d, d // 2, d // 4
        if c3 < 1:
            raise ValueError(f"RAM needs at least 4 feature channels; got d={d}")
        self.down1 = ConvBlock(c1, c2, kernel_size)
        self.down2 = ConvBlock(c2, c3, kernel_size)
        self.lateral = ConvBlock(c3, c3, kernel_size)
        self.up1 = ConvBlock(c3, c2, kernel_size, transpose=True)
        self.up2 = ConvBlock(c2, c1, kernel_size, transpose=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, X: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # X: (B, d, L); mask: (B, L) bool or None
        m = None if mask is None else mask[:, None, :].to(X.dtype)  # (B, 1, L)
        if m is not None:
            X = X * m
        D1 = self.down1(X, m)  # (B, d/2, L)
        D2 = self.down2(D1, m)  # (B, d/4, L)
        T = self.lateral(D2, m)  # (B, d/4, L)
        U1 = self.up1(T, m) + D1  # (B, d/2, L)
        U2 = self.up2(U1, m) * X  # (B, d, L)  recalibration: the module's output gates its input
        return self.dropout(torch.tanh(U2))  # (B, d, L)


class MBRNN(nn.Module):
    """BiGRU encoder -> RAM -> ICD and CCS label-attention branches.

    Ablations: `use_ram=False` (no RAM, attention directly on the GRU states), `use_ccs=False` (single task,
    returns only "icd"). `rnn_impl` (auto|exact|fused) picks the BiGRU's implementation (`layers.BiRNN`);
    auto = fused on CUDA, exact on CPU. The GRU always runs in fp32 (see `layers`).
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        n_icd: int,
        n_ccs: int = 0,
        hidden: int = 300,
        embed_dropout: float = 0.2,
        ram_dropout: float = 0.2,
        ram_kernel_size: int = 3,
        freeze_embeddings: bool = True,
        use_ram: bool = True,
        use_ccs: bool = True,
        mask_padding: bool = True,
        rnn_impl: str = "auto",
    ):
        super().__init__()
        if use_ccs and n_ccs < 1:
            raise ValueError(f"use_ccs=True needs n_ccs >= 1 (got {n_ccs}); pass the CCS label count or use_ccs=False")
        self.mask_padding = mask_padding
        self.embed = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.embed_drop = nn.Dropout(embed_dropout)
        self.gru = BiRNN("gru", self.embed.embedding_dim, hidden, rnn_impl)  # bidirectional, fp32, d = 2 * hidden
        d = 2 * hidden
        self.ram = RAM(d, ram_kernel_size, ram_dropout) if use_ram else None
        self.icd_head = LabelAttention(d, n_icd)
        self.ccs_head = LabelAttention(d, n_ccs) if use_ccs else None

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Shared features X (B, L, d) and the attention mask (B, L) (None when mask_padding=False)."""
        lengths = check_mask(tokens, mask)  # (B,)
        B, L = tokens.shape
        E = self.embed_drop(self.embed(tokens))  # (B, L, 100)
        if self.mask_padding:
            H = self.gru(E, lengths)  # (B, L, d), zeros on pads; pads never reach a real position
            mask = prefix_mask(lengths, L)
        else:
            H = self.gru(E)  # (B, L, d), reference: the GRU also reads the pads
            mask = None
        if self.ram is not None:
            H = self.ram(H.transpose(1, 2), mask).transpose(1, 2)  # (B, L, d)
        return H, mask

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        X, mask = self.encode(tokens, mask)
        out = {"icd": self.icd_head(X, mask)}  # (B, n_icd)
        if self.ccs_head is not None:
            out["ccs"] = self.ccs_head(X, mask)  # (B, n_ccs)
        return out
