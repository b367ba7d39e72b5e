"""Probabilities of a trained model and the predictions file every model writes (``dev.npz``, ``test.npz``).

The npz format (docs/architecture.md) is the one contract between training and the analysis: ``hadm_id``
(int64), then per task (``icd``, optionally ``ccs``) ``<task>_codes`` (str), ``<task>_prob`` (float32, n x L)
and ``<task>_true`` (bool, n x L), rows in cohort order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mbrnn.device import amp_dtype
from mbrnn.io import save_npz


@torch.no_grad()
def predict(model: nn.Module, batches, device, precision: str = "auto", progress: bool = False) -> dict[str, np.ndarray]:
    """Sigmoid probabilities per head, float32 (n, L), in dataset order (uses each batch's ``index``)."""
    device = torch.device(device)
    dtype = amp_dtype(device, precision)
    model.eval()
    n, out = len(batches.dataset), {}
    for batch in tqdm(batches, desc="predict", leave=False, disable=not progress):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(batch["tokens"].to(device), batch["mask"].to(device))
        for k, v in logits.items():
            if k not in out:
                out[k] = np.zeros((n, v.shape[1]), dtype=np.float32)
            out[k][batch["index"].numpy()] = torch.sigmoid(v.float()).cpu().numpy()
    return out


def save_predictions(path, hadm_id, icd_codes, icd_prob, icd_true, ccs_codes=None, ccs_prob=None, ccs_true=None) -> None:
    """Write the predictions npz (see the module docstring); the CCS arrays only when ``ccs_prob`` is given."""
    arrays = {"hadm_id": np.asarray(hadm_id, dtype=np.int64)}
    for task, codes, prob, true in (("icd", icd_codes, icd_prob, icd_true), ("ccs", ccs_codes, ccs_prob, ccs_true)):
        if prob is None:
            continue
        codes, prob, true = np.asarray(codes, dtype=str), np.asarray(prob, dtype=np.float32), np.asarray(true, dtype=bool)
        if prob.shape != true.shape or prob.shape != (len(arrays["hadm_id"]), len(codes)):
            raise ValueError(f"{task}: prob {prob.shape}, true {true.shape}, expected "
                             f"({len(arrays['hadm_id'])}, {len(codes)})")
        arrays.update({f"{task}_codes": codes, f"{task}_prob": prob, f"{task}_true": true})
    save_npz(path, **arrays)
