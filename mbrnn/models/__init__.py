"""One file per model; see docs/architecture.md for the shared forward() contract.

`build_model(cfg, embeddings, n_icd, n_ccs)` builds the model named by cfg["arch"]; every other key of cfg
is a keyword argument of that model's constructor (they come from params.yaml).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch.nn as nn

from .caml import CAML
from .laat import LAAT
from .mbrnn import MBRNN

ARCHS: dict[str, type[nn.Module]] = {"mbrnn": MBRNN, "caml": CAML, "laat": LAAT}
_DATA_ARGS = ("embeddings", "n_icd", "n_ccs")  # supplied by build_model, never by cfg


def model_kwargs(arch: str) -> dict[str, object]:
    """The hyperparameters an architecture accepts, with their defaults."""
    params = inspect.signature(ARCHS[arch].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and k not in _DATA_ARGS}


def build_model(cfg: dict, embeddings: np.ndarray, n_icd: int, n_ccs: int) -> nn.Module:
    """Build cfg["arch"] (one of mbrnn, caml, laat) with the remaining keys as constructor kwargs."""
    cfg = dict(cfg)
    arch = cfg.pop("arch", None)
    if arch not in ARCHS:
        raise ValueError(f"model config needs 'arch' in {sorted(ARCHS)}; got {arch!r} (fix the model entry in params.yaml)")
    allowed = model_kwargs(arch)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} for arch {arch!r} in the model config (params.yaml); "
            f"allowed: {sorted(allowed)}"
        )
    if arch == "mbrnn":
        return MBRNN(embeddings, n_icd, n_ccs, **cfg)
    return ARCHS[arch](embeddings, n_icd, **cfg)


__all__ = ["ARCHS", "CAML", "LAAT", "MBRNN", "build_model", "model_kwargs"]
