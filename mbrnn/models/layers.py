"""Building blocks shared by the recurrent models."""

from __future__ import annotations

import torch
from torch import nn


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of (B, L, ...) inside its own length; padding stays where it is.

    ``[a b c PAD] -> [c b a PAD]``. Applying it twice is the identity.
    """
    B, L = x.shape[:2]
    pos = torch.arange(L, device=x.device)[None, :].expand(B, L)  # (B, L)
    rev = lengths[:, None] - 1 - pos  # (B, L)
    index = torch.where(rev >= 0, rev, pos)  # pads map to themselves
    return x.gather(1, index.view(B, L, *([1] * (x.dim() - 2))).expand_as(x))


class BiRNN(nn.Module):
    """Bidirectional GRU/LSTM (one layer) that never reads padding when given lengths.

    The forward direction runs over the padded batch as is (pads come after the last real token, so they
    cannot reach it); the backward direction runs over each sequence reversed within its length. This is
    exactly what ``pack_padded_sequence`` computes, but uses the fused unpacked kernels, which on CPU are
    3-10x faster than packed sequences. Without lengths it equals ``nn.GRU(bidirectional=True)`` on the
    padded batch (the reference behaviour: the backward direction starts on the pads).
    """

    def __init__(self, cell: str, input_size: int, hidden: int):
        super().__init__()
        RNN = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.hidden_size, self.bidirectional = hidden, True
        self.fwd = RNN(input_size, hidden, batch_first=True)
        self.bwd = RNN(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, L, input_size) -> (B, L, 2 * hidden)
        if lengths is None:
            h_f, _ = self.fwd(x)
            h_b, _ = self.bwd(x.flip(1))
            return torch.cat([h_f, h_b.flip(1)], dim=-1)
        h_f, _ = self.fwd(x)  # (B, L, h)
        h_b, _ = self.bwd(reverse_within_length(x, lengths))  # (B, L, h), in reversed order
        h = torch.cat([h_f, reverse_within_length(h_b, lengths)], dim=-1)  # (B, L, 2h)
        mask = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]  # (B, L)
        return h * mask[..., None]  # zeros on pads, as pad_packed_sequence gives
