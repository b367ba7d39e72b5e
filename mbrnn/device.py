"""Where and how a model computes: seeding, device and autocast precision, and the torch.distributed process group.

Kept apart from the training loop because the loop, prediction and checkpointing all ask the same questions
(which device, which autocast dtype, which rank am I) and must get the same answers.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (every CUDA device too)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(pref: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. CPU runs use deterministic algorithms."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(pref)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available; set train.device: auto or cpu")
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def amp_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Autocast dtype: ``auto`` = bf16 on CUDA when supported, else fp16 on CUDA, fp32 (None) on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    table = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in table:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return table[precision]


def world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def launched_distributed() -> bool:
    """Started by ``torchrun`` with more than one process (``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> torch.device:
    """Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment): join the process group (nccl on CUDA, gloo
    on CPU) once and return this rank's device (``cuda:LOCAL_RANK``). Without torchrun: ``device`` unchanged."""
    if not launched_distributed():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """The model wrapped for a distributed run (gradients averaged over the ranks in backward); the heads a
    variant leaves unused in a step are allowed."""
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (the same decision everywhere, even where the ranks' figures differ in
    the last bit)."""
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank; nothing to wait for without a process group."""
    if world()[1] > 1:
        torch.distributed.barrier()
