"""LAAT: label attention model (Vu, Nguyen, Nguyen; IJCAI 2020), single task (ICD head only).

    E = dropout(embed(tokens))          (B, L, 100)
    H = BiLSTM(E)                       (B, L, 2u)    u = hidden size per direction
    Z = tanh(W · Hᵀ)                    (B, d_a, L)   W (d_a, 2u), no bias
    A = softmax_L(U · Z)                (B, n, L)     U (n, d_a)
    M = A · H                           (B, n, 2u)
    logit_j = <V_j, M_j> + b_j          (B, n)

The last three lines are the shared `layers.LabelAttention` with Z as its keys (V is its `W`), so LAAT's
attention is chunked over labels within the same memory budget. Defaults are the paper's MIMIC-III-full
setting as run by the reference code (github.com/aehrc/LAAT): u = 512 per direction, d_a = 512, dropout 0.3
on the embeddings, weights ~ N(0, 0.03).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .layers import BiRNN, LabelAttention, check_mask, pretrained_embedding, prefix_mask

# parameter names before LAAT used the shared LabelAttention (old checkpoints still load)
_OLD_KEYS = {"U": "attn.U", "V": "attn.W", "b": "attn.b"}


class LAAT(nn.Module):
    """LAAT; `rnn_impl` (auto|exact|fused) picks the BiLSTM's implementation (`layers.BiRNN`), always fp32."""

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
        rnn_impl: str = "auto",
    ):
        super().__init__()
        self.mask_padding = mask_padding
        self.embed = pretrained_embedding(embeddings, freeze=freeze_embeddings)
        self.embed_drop = nn.Dropout(dropout)
        self.lstm = BiRNN("lstm", self.embed.embedding_dim, hidden, rnn_impl)  # bidirectional, 2u features
        d = 2 * hidden
        self.W = nn.Parameter(torch.empty(d_a, d))
        nn.init.normal_(self.W, 0.0, init_std)
        # U (n, d_a) queries and V (n, 2u) outputs ("attn.W") ~ N(0, init_std); bias as nn.Linear's default
        self.attn = LabelAttention(d, n_icd, d_query=d_a, init_std=init_std)
        self.register_load_state_dict_pre_hook(_rename_old_keys)

    # the attention's parameters under their names in the LAAT paper (and in this class before the shared head)
    U = property(lambda self: self.attn.U, doc="label queries (n, d_a)")
    V = property(lambda self: self.attn.W, doc="per-label output weights (n, 2u)")
    b = property(lambda self: self.attn.b, doc="per-label biases (n,)")

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
        return {"icd": self.attn(H, mask, keys=Z.transpose(1, 2))}  # (B, n)


def _rename_old_keys(module, state_dict, prefix, *args) -> None:
    """Map a checkpoint written before the shared attention (U, V, b) onto attn.U, attn.W, attn.b."""
    for old, new in _OLD_KEYS.items():
        if prefix + old in state_dict and prefix + new not in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)
