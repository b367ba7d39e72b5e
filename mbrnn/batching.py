"""Batching: from cohort parquet to padded batches (token ids, multi-hot targets, length-bucketed batches)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .embeddings import UNK
from .splits import SPLITS, cohort_file



def load_split(cohort_dir, split: str) -> pd.DataFrame:
    """One cohort split (train/dev/test) as written by ``cohort.build_cohort``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = cohort_file(cohort_dir, f"{split}.parquet")
    df = pd.read_parquet(path)
    need = {"hadm_id", "text", "icd_codes", "ccs_codes"}
    if not need <= set(df.columns):
        raise ValueError(f"{path} lacks columns {sorted(need - set(df.columns))}; rebuild the cohort")
    return df


def load_label_vocab(cohort_dir) -> tuple[list[str], list[str]]:
    """ICD and CCS label codes in label-index order, from ``icd_labels.csv`` and ``ccs_labels.csv``."""
    out = []
    for name in ("icd_labels.csv", "ccs_labels.csv"):
        path = cohort_file(cohort_dir, name)
        # dtype=str: "401.10" must not become the float 401.1
        out.append(pd.read_csv(path, dtype={"code": str}, keep_default_na=False)["code"].tolist())
    return out[0], out[1]


def encode(texts: Sequence[str], vocab: Sequence[str] | dict, max_tokens: int | None) -> list[np.ndarray]:
    """Whitespace tokens -> int64 ids (``<unk>`` for unknown tokens), truncated to ``max_tokens``."""
    index = vocab if isinstance(vocab, dict) else {t: i for i, t in enumerate(vocab)}
    unk = index[UNK]
    return [np.fromiter((index.get(t, unk) for t in text.split()[:max_tokens]), dtype=np.int64) for text in texts]


def multi_hot(code_lists: Sequence[Sequence[str]], label_vocab: Sequence[str]) -> np.ndarray:
    """(n, L) bool; raises if a code is not in ``label_vocab``."""
    index = {c: j for j, c in enumerate(label_vocab)}
    Y = np.zeros((len(code_lists), len(label_vocab)), dtype=bool)
    unknown = set()
    for i, codes in enumerate(code_lists):
        for c in codes:
            j = index.get(c)
            if j is None:
                unknown.add(c)
            else:
                Y[i, j] = True
    if unknown:
        few = sorted(unknown)[:5]
        raise ValueError(f"{len(unknown)} codes are not in the label vocabulary (e.g. {few}); the cohort should "
                         f"restrict codes to icd_labels.csv/ccs_labels.csv — rebuild it (dvc repro cohort)")
    return Y


class CodingDataset(torch.utils.data.Dataset):
    """Token-id arrays plus multi-hot targets; item i is (tokens (T,), {task: (L,) bool}, i)."""

    def __init__(self, tokens: list[np.ndarray], targets: dict[str, np.ndarray], hadm_id: np.ndarray | None = None):
        for k, Y in targets.items():
            if len(Y) != len(tokens):
                raise ValueError(f"targets[{k!r}] has {len(Y)} rows for {len(tokens)} documents")
        self.tokens, self.targets = tokens, targets
        self.hadm_id = np.arange(len(tokens)) if hadm_id is None else np.asarray(hadm_id, dtype=np.int64)
        self.lengths = np.array([len(t) for t in tokens], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int):
        return self.tokens[i], {k: Y[i] for k, Y in self.targets.items()}, i

    @classmethod
    def from_frame(cls, df: pd.DataFrame, vocab, icd_codes, ccs_codes=None, max_tokens: int | None = None):
        """Dataset from a cohort split; ``ccs_codes=None`` leaves out the CCS targets."""
        targets = {"icd": multi_hot(df["icd_codes"], icd_codes)}
        if ccs_codes is not None:
            targets["ccs"] = multi_hot(df["ccs_codes"], ccs_codes)
        return cls(encode(df["text"], vocab, max_tokens), targets, df["hadm_id"].to_numpy())


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0,
                            chunk_batches: int = 50) -> list[np.ndarray]:
    """Batches of indices of similar length; every index exactly once.

    ``shuffle``: permute, sort by length within chunks of ``chunk_batches`` batches, cut into batches,
    shuffle the batch order — all from ``np.random.default_rng(seed)``. Otherwise: sort all by length.
    """
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(-lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches = []
    for s in range(0, len(perm), chunk):
        idx = perm[s:s + chunk]
        idx = idx[np.argsort(-lengths[idx], kind="stable")]
        batches += [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    return [batches[j] for j in rng.permutation(len(batches))]


def collate(items, pad_id: int = 0) -> dict:
    """Pad to the batch's longest document (at least 1): tokens (B, T) long, mask (B, T) bool, targets, index."""
    T = max(1, max(len(t) for t, _, _ in items))
    tokens = torch.full((len(items), T), pad_id, dtype=torch.long)   # (B, T)
    for b, (t, _, _) in enumerate(items):
        tokens[b, :len(t)] = torch.from_numpy(t)
    lengths = torch.tensor([len(t) for t, _, _ in items])
    mask = torch.arange(T)[None, :] < lengths[:, None]                 # (B, T), True on real tokens
    targets = {k: torch.from_numpy(np.stack([y[k] for _, y, _ in items])).float() for k in items[0][1]}
    index = torch.tensor([i for _, _, i in items], dtype=torch.long)
    return {"tokens": tokens, "mask": mask, "targets": targets, "index": index}


class Batches:
    """Iterable of collated batches over a dataset; call ``set_epoch`` to get a new (seeded) order."""

    def __init__(self, dataset: CodingDataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                 chunk_batches: int = 50):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.chunk_batches, self.epoch = seed, chunk_batches, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[np.ndarray]:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        return length_bucketed_batches(self.dataset.lengths, self.batch_size, self.shuffle, seed, self.chunk_batches)

    def __iter__(self):
        for idx in self.indices():
            yield collate([self.dataset[int(i)] for i in idx])

    def shard(self, rank: int, world: int):
        """This rank's part of every batch of the epoch (for DistributedDataParallel): batch ``idx`` of the
        seeded order, identical on every rank, gives rank ``r`` the rows ``idx[r::world]``. Yields
        ``(batch, weight)`` with ``weight = world * rows / len(idx)``: a batch-mean loss times ``weight``,
        averaged over the ranks by DDP, is the mean over the whole batch, so a step equals the one-process step
        of the same global batch. A rank left without rows gets one row with weight 0 (DDP needs every rank to
        step)."""
        for idx in self.indices():
            part, weight = idx[rank::world], world * len(idx[rank::world]) / len(idx)
            if len(part) == 0:
                part = idx[:1]
            yield collate([self.dataset[int(i)] for i in part]), weight

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)
