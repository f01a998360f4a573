"""Reduced precision only where it is fast and changes nothing that matters.

``precision="auto"`` (the default of :func:`microseg.tasks.predict`) runs fp32 unless the
hardware has fast reduced-precision arithmetic: a CUDA GPU (bf16 where supported, else
fp16) or a CPU with AMX or AVX512-BF16 (bf16; :func:`fast_reduced_dtype`). There it is
*calibrated* on the image itself before use (:func:`calibrate`): the models predict a probe
region (the first tile) in fp32 and in the reduced dtype, and the reduced dtype is kept only
when the two thresholded masks agree to :data:`TOLERANCE` — one minus their IoU and one minus
their F1 (Dice) at most 0.002, so a score against any truth moves by no more than that.
Otherwise prediction stays fp32, and the log says why. On a CPU without bf16 units (AVX2
only, as the development machine) bf16 is emulated and ~40x slower: ``auto`` is fp32.

Examples
--------
>>> import torch
>>> fast_reduced_dtype(torch.device("cpu")) in (None, torch.bfloat16)
True
>>> mask_disagreement(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
0.5
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["TOLERANCE", "fast_reduced_dtype", "mask_disagreement", "calibrate"]

#: Largest 1 - IoU (and 1 - F1) between the fp32 and reduced-precision masks of the probe.
TOLERANCE = 0.002

_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def fast_reduced_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced-precision dtype that is fast on ``device``, or None (stay fp32).

    CUDA: bf16 where the GPU supports it, else fp16. CPU: bf16 with AMX (``amx_bf16``) or
    AVX512-BF16 (``avx512_bf16``) in the CPU flags, else None.
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    flags = _cpu_flags()
    return torch.bfloat16 if {"amx_bf16", "avx512_bf16"} & flags else None


def mask_disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """The larger of 1 - IoU and 1 - F1 of two masks (0: identical; two empty masks agree)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    inter = int(np.count_nonzero(a & b))
    union = int(np.count_nonzero(a | b))
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if union == 0:
        return 0.0
    return max(1.0 - inter / union, 1.0 - 2.0 * inter / total)


def calibrate(predict: Callable[[str], Callable[[np.ndarray], np.ndarray]], probe: np.ndarray, *,
              device: torch.device, threshold: float = 0.5, tolerance: float = TOLERANCE,
              name: str = "model") -> str:
    """The precision to predict with under ``precision="auto"``: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Parameters
    ----------
    predict : callable
        ``predict(precision)`` gives a batch predictor ``(B, C, h, w) -> (B, M, h, w)``
        probabilities running at that precision.
    probe : ndarray, (B, C, h, w)
        What the models see first (a tile of the image, pre-processed).
    device : torch.device
    threshold : float
        Of the masks compared.
    tolerance : float
        Largest :func:`mask_disagreement` of any model's masks that keeps the reduced dtype.
    """
    dtype = fast_reduced_dtype(device)
    if dtype is None:
        return "fp32"
    reduced = _NAMES[dtype]
    full = np.asarray(predict("fp32")(probe))
    low = np.asarray(predict(reduced)(probe))
    worst = max(mask_disagreement(full[:, m] >= threshold, low[:, m] >= threshold) for m in range(full.shape[1]))
    if worst <= tolerance:
        logger.info("%s: %s on %s (its masks differ from fp32's by %.2g <= %.2g on a probe tile)", name, reduced,
                    device.type, worst, tolerance)
        return reduced
    logger.info("%s: fp32 (%s changes the mask of a probe tile by %.2g > %.2g)", name, reduced, worst, tolerance)
    return "fp32"
