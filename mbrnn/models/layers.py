"""Building blocks shared by the neural models: embeddings, mask helpers, the bidirectional RNN encoder and
label attention.

Precision (decided here, for every recurrent model). The GRU/LSTM always runs in fp32 with autocast switched
off inside `BiRNN`, whatever the surrounding autocast dtype: PyTorch's autocast casts cuDNN RNNs to fp16 even
under bf16 autocast, and without loss scaling the gradients reaching the recurrence (about 1e-7 to 1e-9 at the
paper's shape) underflow in fp16. On CUDA the fp32 RNN may use TF32 tensor cores (PyTorch's default
``torch.backends.cudnn.allow_tf32 = True``), which keeps fp32's exponent range. Everything after the encoder
(RAM, attention) runs in the autocast dtype as before.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.checkpoint import checkpoint

RNN_IMPLS = ("auto", "exact", "fused")
# Label attention works on at most this many (batch x label x token) cells at a time: 2**26 cells are 128 MB
# in bf16 and 256 MB in fp32 per (B, n, L) tensor. The demo (16 x 50 x 600) stays far below it (one pass).
ATTN_MAX_CELLS = 2**26


def pretrained_embedding(embeddings: np.ndarray, freeze: bool) -> nn.Embedding:
    """nn.Embedding initialised from the word2vec matrix (V, E); row 0 is PAD, row 1 UNK."""
    if not isinstance(embeddings, np.ndarray) or embeddings.ndim != 2 or embeddings.shape[0] < 2:
        raise ValueError(
            "embeddings must be a 2-D numpy array (V, E) with V >= 2 (row 0 <pad>, row 1 <unk>); "
            f"got {type(embeddings).__name__} {getattr(embeddings, 'shape', None)}. "
            "Load it from data/embeddings/embeddings.npy."
        )
    # a copy: training trainable embeddings must not rewrite the caller's matrix (shared by models built from it)
    weight = torch.tensor(embeddings, dtype=torch.float32)
    return nn.Embedding.from_pretrained(weight, freeze=freeze, padding_idx=0)


def check_mask(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Validate a right-padded boolean mask and return the lengths (B,) (an empty document counts as length 1)."""
    if tokens.dim() != 2 or mask.shape != tokens.shape:
        raise ValueError(f"tokens and mask must both be (B, L); got {tuple(tokens.shape)} and {tuple(mask.shape)}")
    mask = mask.bool()
    lengths = mask.sum(1)
    positions = torch.arange(mask.size(1), device=mask.device)
    if not torch.equal(mask, positions[None, :] < lengths[:, None]):
        raise ValueError("mask must be right-padded (True on a prefix of each row, then False); see mbrnn/batching.py")
    return lengths.clamp(min=1)


def prefix_mask(lengths: torch.Tensor, L: int) -> torch.Tensor:
    """(B,) lengths -> (B, L) bool, True on the first lengths[b] positions."""
    return torch.arange(L, device=lengths.device)[None, :] < lengths[:, None]


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
    """Bidirectional GRU/LSTM (one layer) in fp32 that never reads padding when given lengths.

    Two implementations of the same function, same parameters (``fwd``/``bwd``, one per direction):
    ``exact`` runs the forward direction over the padded batch as is (pads come after the last real token, so
    they cannot reach it) and the backward direction over each sequence reversed within its length, with the
    unpacked kernels, which on CPU are 3-10x faster than packed sequences; ``fused`` packs the batch and runs one
    ``bidirectional=True`` RNN, so cuDNN computes both directions in one fused kernel. ``auto`` picks fused on
    CUDA and exact elsewhere, so CPU results do not depend on this option. Without lengths both equal
    ``nn.GRU(bidirectional=True)`` on the padded batch (the reference behaviour: the backward direction starts
    on the pads).
    """

    def __init__(self, cell: str, input_size: int, hidden: int, impl: str = "auto"):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm'; got {cell!r}")
        if impl not in RNN_IMPLS:
            raise ValueError(f"rnn_impl must be one of {RNN_IMPLS}; got {impl!r} (fix the model entry in params.yaml)")
        RNN = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.cell, self.impl = cell, impl
        self.hidden_size, self.bidirectional = hidden, True
        self.fwd = RNN(input_size, hidden, batch_first=True)
        self.bwd = RNN(input_size, hidden, batch_first=True)
        # parameter-free (meta) template of the fused module; functional_call runs it on fwd's and bwd's weights
        object.__setattr__(self, "_fused", RNN(input_size, hidden, batch_first=True, bidirectional=True, device="meta"))

    def resolve_impl(self, device: torch.device) -> str:
        """The implementation used on `device`: fused or exact."""
        if self.impl != "auto":
            return self.impl
        return "fused" if device.type == "cuda" else "exact"

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, L, input_size) -> (B, L, 2 * hidden) fp32, zeros on pads when lengths are given
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if self.resolve_impl(x.device) == "fused":
                return self._forward_fused(x, lengths)
            return self._forward_exact(x, lengths)

    def _forward_exact(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            h_f, _ = self.fwd(x)
            h_b, _ = self.bwd(x.flip(1))
            return torch.cat([h_f, h_b.flip(1)], dim=-1)
        h_f, _ = self.fwd(x)  # (B, L, h)
        h_b, _ = self.bwd(reverse_within_length(x, lengths))  # (B, L, h), in reversed order
        h = torch.cat([h_f, reverse_within_length(h_b, lengths)], dim=-1)  # (B, L, 2h)
        return h * prefix_mask(lengths, x.size(1))[..., None]  # zeros on pads, as pad_packed_sequence gives

    def _forward_fused(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        params = {name + suffix: p for suffix, rnn in (("", self.fwd), ("_reverse", self.bwd))
                  for name, p in rnn.named_parameters()}
        inp = x if lengths is None else pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        with warnings.catch_warnings():  # cuDNN compacts the two directions' weights into one buffer per call
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
            out, _ = functional_call(self._fused, params, (inp,))
        if lengths is None:
            return out
        return pad_packed_sequence(out, batch_first=True, total_length=x.size(1))[0]  # (B, L, 2h), zeros on pads


def _attend(H: torch.Tensor, K: torch.Tensor, mask: torch.Tensor | None, U: torch.Tensor, W: torch.Tensor,
            b: torch.Tensor) -> torch.Tensor:
    """Logits (B, n) of n labels: softmax_L(U Kᵀ) over unmasked positions, M = A H, logit = <W_j, M_j> + b_j."""
    scores = U @ K.transpose(1, 2)  # (B, n, L)
    if mask is not None:
        # in place is safe: matmul does not keep its output for backward
        scores = scores.masked_fill_(~mask[:, None, :], float("-inf"))
    A = F.softmax(scores, dim=-1)  # (B, n, L)
    del scores
    M = A @ H  # (B, n, d)
    return (W * M).sum(-1) + b  # (B, n)


class LabelAttention(nn.Module):
    """Per-label attention and per-label linear output (CAML's output layer; MBRNN's branch heads; LAAT's with
    its own keys).

    Memory. Whole, the step materialises (B, n, L) scores and attention weights: 16 x 8,922 x 4,000 cells are
    2.3 GB apiece in fp32, and autograd keeps the softmax output plus its bf16 copy for the matmul. When
    B x n x L exceeds `max_cells`, the labels are processed in chunks of at most `max_cells` cells, and in
    training each chunk is checkpointed (its forward is recomputed during backward), so only one chunk's
    (B, n_chunk, L) tensors are alive at a time: about 1 GB at the default budget. Each label's computation is
    independent, so chunking changes the logits by float rounding at most (the gradient w.r.t. H sums the
    chunks' contributions in a different order). Below the budget the computation is exactly the unchunked one.
    """

    def __init__(self, d: int, n_labels: int, d_query: int | None = None, init_std: float | None = None,
                 max_cells: int | None = ATTN_MAX_CELLS):
        super().__init__()
        self.max_cells = max_cells
        self.U = nn.Parameter(torch.empty(n_labels, d_query or d))  # attention queries, one per label
        self.W = nn.Parameter(torch.empty(n_labels, d))  # output weights, one per label
        self.b = nn.Parameter(torch.empty(n_labels))
        if init_std is None:
            # as the reference (nn.Linear weights reset with xavier_uniform_, bias left at nn.Linear's default)
            nn.init.xavier_uniform_(self.U)
            nn.init.xavier_uniform_(self.W)
        else:  # LAAT: N(0, init_std)
            nn.init.normal_(self.U, 0.0, init_std)
            nn.init.normal_(self.W, 0.0, init_std)
        nn.init.uniform_(self.b, -1 / math.sqrt(d), 1 / math.sqrt(d))

    def forward(self, H: torch.Tensor, mask: torch.Tensor | None = None,
                keys: torch.Tensor | None = None) -> torch.Tensor:
        # H: (B, L, d) values; keys: (B, L, d_query), default H; mask: (B, L) bool or None (None = attend to
        # every position, as the reference)
        K = H if keys is None else keys
        B, L = H.shape[:2]
        n = self.U.size(0)
        per = n if self.max_cells is None else max(1, self.max_cells // max(1, B * L))
        if per >= n:
            return _attend(H, K, mask, self.U, self.W, self.b)
        out = []
        for s in range(0, n, per):
            args = (H, K, mask, self.U[s:s + per], self.W[s:s + per], self.b[s:s + per])
            if torch.is_grad_enabled():
                out.append(checkpoint(_attend, *args, use_reentrant=False, preserve_rng_state=False))
            else:
                out.append(_attend(*args))
        return torch.cat(out, dim=1)  # (B, n)
