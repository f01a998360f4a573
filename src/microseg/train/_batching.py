"""Batching of the training loop: the epoch order, collation, and mid-epoch restarts."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def final_output(out: Any) -> torch.Tensor:
    """The final logits of a model output (side-output models return a list, final last)."""
    return out[-1] if isinstance(out, (list, tuple)) else out


def _item(sample: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(sample, dict):
        x, y = sample["image"], sample["mask"]
    else:
        x, y = sample[0], sample[1]
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).float()
    if x.ndim == 2:
        x = x[None]
    if y.ndim == 2:
        y = y[None]
    return x, y


def collate(samples: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(image, mask)`` items (tuples or dicts) into ``(N, C, H, W)``, ``(N, 1, H, W)``."""
    pairs = [_item(s) for s in samples]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    """The item order of ``epoch``: a permutation that depends only on ``(seed, epoch)``."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch) * 7_919) % 2**63)
    return torch.randperm(n, generator=g).tolist()


def steps_per_epoch(n: int, batch: int) -> int:
    """Full batches per epoch (the remainder is dropped; a too-small set is one batch)."""
    return max(1, n // batch)


def batches(dataset: Any, *, batch: int, seed: int, epoch: int, start: int):
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    order = epoch_order(len(dataset), seed=seed, epoch=epoch)
    n_steps = steps_per_epoch(len(dataset), batch)
    for s in range(start, n_steps):
        yield collate([dataset[i] for i in order[s * batch:(s + 1) * batch]])
