"""The checkpoint format, RNG capture and restore, and the folders that hold a run's resume state.

Checkpoints are plain dicts of tensors and Python values (``torch.load(..., weights_only=True)`` works):

* ``last.pt`` (each epoch): model, optimizer, scheduler, grad scaler, epoch, early-stopping state, RNG states,
  curves, and the settings it was written with (``fit_args``, ``meta``). :func:`mbrnn.fit.fit` continues from it
  exactly (bitwise on CPU), and refuses one written with other settings (:func:`load_resume_state`).
* ``best.pt`` / ``checkpoint.pt``: model weights of the best dev epoch + metadata (vocab hash, label codes,
  model config) checked by :func:`load_checkpoint`.

Resume state lives outside the stage's outputs (DVC deletes those before a run), in a folder keyed by everything
that defines the run (:func:`state_dir_for`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mbrnn.device import barrier, world
from mbrnn.io import atomic_path

log = logging.getLogger(__name__)

FORMAT = "mbrnn-checkpoint-v1"


def vocab_hash(vocab: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()


def checkpoint_meta(vocab: Sequence[str], icd_codes: Sequence[str], ccs_codes: Sequence[str] | None,
                    model_cfg: dict | None = None) -> dict:
    """Metadata stored in checkpoints and checked by :func:`load_checkpoint`."""
    return {"vocab_sha256": vocab_hash(vocab), "vocab_size": len(vocab), "icd_codes": list(icd_codes),
            "ccs_codes": None if ccs_codes is None else list(ccs_codes), "model_cfg": dict(model_cfg or {})}


def save(obj: dict, path: Path) -> None:
    """``torch.save`` atomically. Through a file object: torch names the archive after the file, and the
    temporary name is random, so the bytes would otherwise depend on it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def cpu_state(model: nn.Module) -> dict:
    """The model's weights, copied to the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def save_best(path: Path, model: nn.Module, meta: dict, epoch: int, metric: str, score: float) -> None:
    """The best epoch's weights (rank 0 only: the other ranks of a distributed run hold the same weights)."""
    if world()[0] == 0:
        save({"format": FORMAT, "model": cpu_state(model), "meta": meta, "epoch": epoch, "metric": metric,
              "score": score}, path)


def save_last(path: Path, state: dict) -> None:
    """Write the resume state ``state`` (``model``, ``rng`` and the rest) from rank 0; a distributed run adds
    every rank's RNG state and waits for the file before the next epoch."""
    rank, world_size = world()
    if world_size > 1:
        rngs = [None] * world_size
        torch.distributed.all_gather_object(rngs, state["rng"])
        state["rng_by_rank"] = rngs
    if rank == 0:
        save({"format": FORMAT, **state}, path)
    barrier()


def rng_state() -> dict:
    """Python, NumPy, torch and CUDA RNG states as plain values (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {"key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(s: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))
    n = s["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": np.array(n["key"], dtype=np.uint32),
                         "pos": n["pos"]}, "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def restore_rng(ck: dict) -> None:
    """This rank's RNG state from a resume checkpoint (a distributed run keeps each rank's)."""
    rngs = ck.get("rng_by_rank") or [ck["rng"]]
    rank = world()[0]
    set_rng_state(rngs[rank] if rank < len(rngs) else ck["rng"])


def _diff_codes(kind: str, saved: list[str] | None, given: list[str] | None) -> str | None:
    if saved == given:
        return None
    if saved is None or given is None:
        return f"{kind} labels: checkpoint has {'none' if saved is None else len(saved)}, " \
               f"given {'none' if given is None else len(given)}"
    missing, extra = set(saved) - set(given), set(given) - set(saved)
    if not missing and not extra:
        return f"{kind} labels: same {len(saved)} codes in a different order"
    return (f"{kind} labels: checkpoint has {len(saved)}, given {len(given)}; {len(missing)} only in checkpoint "
            f"(e.g. {sorted(missing)[:3]}), {len(extra)} only given (e.g. {sorted(extra)[:3]})")


def load_checkpoint(path, vocab: Sequence[str], icd_codes: Sequence[str], ccs_codes: Sequence[str] | None = None) -> dict:
    """Load a best/final checkpoint; raise if its vocabulary or label sets differ from the given ones."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an mbrnn checkpoint ({FORMAT})")
    problems = []
    if meta["vocab_sha256"] != vocab_hash(vocab):
        problems.append(f"vocabulary: checkpoint has {meta['vocab_size']} tokens, given {len(vocab)}"
                        + (" (same size, different tokens or order)" if meta["vocab_size"] == len(vocab) else ""))
    for kind, saved, given in (("ICD", meta["icd_codes"], list(icd_codes)),
                               ("CCS", meta["ccs_codes"], None if ccs_codes is None else list(ccs_codes))):
        if kind == "CCS" and saved is not None and given is None:
            continue  # caller does not care about the CCS head
        if (p := _diff_codes(kind, saved, given)) is not None:
            problems.append(p)
    if problems:
        raise ValueError(f"{path} does not match the current data: " + "; ".join(problems)
                         + ". Re-train the model (dvc repro) or use the embeddings/cohort it was trained on.")
    return ckpt


def load_resume_state(last_path: Path, fit_args: dict, meta: dict, extend: bool) -> dict:
    """Load ``last.pt`` if it was written by this very run (or, with ``extend``, by the same run with fewer
    epochs); anything else is an error rather than a silent reuse of another run."""
    ck = torch.load(last_path, map_location="cpu", weights_only=True)
    saved = ck["fit_args"]
    changed = sorted(k for k in set(fit_args) | set(saved) if k != "epochs" and fit_args.get(k) != saved.get(k))
    changed += sorted(k for k in set(meta) | set(ck["meta"]) if meta.get(k) != ck["meta"].get(k))
    if changed:
        raise ValueError(f"{last_path} was written with different settings ({', '.join(changed)}); "
                         f"delete {last_path.parent} or pass resume=False to start over")
    if saved.get("epochs") != fit_args["epochs"] and not (extend and ck["epoch"] <= fit_args["epochs"]):
        raise ValueError(f"{last_path} belongs to a run of {saved.get('epochs')} epochs ({ck['epoch']} done), "
                         f"not {fit_args['epochs']}; set extend (train.extend: true) to continue a shorter run, "
                         f"or delete {last_path.parent} to start over")
    return ck


def source_digest() -> str:
    """sha256 of the ``mbrnn`` package's Python sources: resume state written by other code (a changed model,
    loss or stopping rule) is not this run's, even with the same settings and data."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def state_dir_for(state_root, name: str, model_cfg: dict, run_key: dict, inputs_id: str, icd_codes,
                  ccs_codes) -> Path:
    """The resume-state folder of one run, keyed by everything that defines it: the model entry, the train
    settings that change results (``run_key``, ``epochs`` and the seed included), the embedding matrix and
    training data (``inputs_id``), the label sets and the package's code (:func:`source_digest`).
    ``<root>/<name>-<digest of all but epochs>/epochs-<n>``: runs that differ only in ``epochs`` are siblings,
    so :func:`extend_state` can continue a shorter one when asked to. Changed inputs or code start afresh (a
    finished run of the old code would otherwise be returned as the new one's); an interrupted run resumes."""
    key = {"model": model_cfg, "train": {k: v for k, v in run_key.items() if k != "epochs"},
           "inputs": inputs_id, "icd": list(icd_codes), "ccs": list(ccs_codes), "code": source_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(state_root) / f"{name}-{digest}" / f"epochs-{run_key.get('epochs')}"


def extend_state(state: Path) -> Path | None:
    """``train.extend``: seed an empty state folder with the resume state of the longest sibling run of fewer
    epochs (same everything else); returns the folder copied from, or None."""
    if (state / "last.pt").exists():
        return None
    own = int(state.name.removeprefix("epochs-"))
    shorter = sorted((int(d.name.removeprefix("epochs-")), d) for d in state.parent.glob("epochs-*")
                     if d.name.removeprefix("epochs-").isdigit() and (d / "last.pt").exists()
                     and int(d.name.removeprefix("epochs-")) < own)
    if not shorter:
        return None
    src = shorter[-1][1]
    state.mkdir(parents=True, exist_ok=True)
    for f in ("last.pt", "best.pt"):
        if (src / f).exists():
            shutil.copyfile(src / f, state / f)
    log.info("extending the %s-epoch run in %s", shorter[-1][0], src)
    return src
