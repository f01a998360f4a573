"""The input forms every metric shares (private): a (pred, truth) pair of masks, a validity
mask, lengths per axis. The checks themselves are :mod:`microseg._validate`'s, so that the
metrics refuse what the other stages refuse, in the same words."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microseg._validate import as_mask, check_pixel_size, check_same_shape

#: Ends the message for a non-binary map: the metrics binarise probabilities themselves.
THRESHOLD_HINT = "pass threshold= to binarise a probability map"


def as_metric_mask(array: object, name: str, *, threshold: float | None = None) -> np.ndarray:
    """:func:`microseg._validate.as_mask` with the metrics' hint (``threshold=``)."""
    return as_mask(array, name, threshold=threshold, hint=THRESHOLD_HINT)


def as_mask_pair(pred: object, truth: object, *, threshold: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``(pred, truth)`` pair of masks of the same shape."""
    p = as_metric_mask(pred, "pred", threshold=threshold)
    t = as_metric_mask(truth, "truth", threshold=threshold)
    check_same_shape(p, t, ("pred", "truth"))
    return p, t


def apply_mask(p: np.ndarray, t: np.ndarray, mask: object | None) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the pixels of ``p`` and ``t`` inside the validity ``mask`` (None: all).

    Outside the mask nothing is known (e.g. no EBSD data there), so neither a predicted
    nor a true pixel there counts.
    """
    if mask is None:
        return p, t
    m = as_metric_mask(mask, "mask")
    check_same_shape(p, m, ("pred", "mask"))
    return p & m, t & m


def lengths(pixel_size: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Pixel size per axis for an ``ndim``-D array; ``None`` means pixels (1.0 per axis)."""
    size = check_pixel_size(pixel_size, "pixel_size", ndim=ndim)
    return (1.0,) * ndim if size is None else tuple(float(v) for v in size)
