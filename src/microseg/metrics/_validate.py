"""Input checks shared by the metric modules (private).

Every public metric validates its inputs here, so that the error messages name the
argument, say what came and what was expected, in one wording across the package.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microseg._util import InputError


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise :class:`InputError` naming both arguments and shapes when they differ."""
    if a.shape != b.shape:
        raise InputError(
            f"{names[0]} and {names[1]} must have the same shape; got {names[0]} "
            f"{a.shape} and {names[1]} {b.shape}"
        )


def _check_numeric(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a numeric or boolean array; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.size and np.isnan(arr).any():
        raise InputError(f"{name} contains NaN; replace or mask the NaN values first")


def as_mask(array: object, name: str, *, threshold: float | None = None) -> np.ndarray:
    """Return ``array`` as a boolean mask, checking that it is binary.

    Booleans pass through; numeric arrays must hold only 0 and 1 unless ``threshold``
    is given, in which case ``array >= threshold`` is the mask (a probability map).
    """
    arr = np.asarray(array)
    _check_numeric(arr, name)
    if threshold is not None:
        if not np.isfinite(threshold):
            raise InputError(f"threshold must be a finite number; got {threshold!r}")
        return arr >= threshold
    if arr.dtype.kind == "b":
        return arr
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > 1 or (arr.dtype.kind == "f" and not ((arr == 0) | (arr == 1)).all()):
            raise InputError(
                f"{name} must be a binary mask (bool, or only 0 and 1); got values in "
                f"[{lo}, {hi}]; pass threshold= to binarise a probability map"
            )
    return arr.astype(bool)


def as_mask_pair(pred: object, truth: object, *, threshold: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``(pred, truth)`` pair of masks of the same shape."""
    p = as_mask(pred, "pred", threshold=threshold)
    t = as_mask(truth, "truth", threshold=threshold)
    check_same_shape(p, t, ("pred", "truth"))
    return p, t


def apply_mask(p: np.ndarray, t: np.ndarray, mask: object | None) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the pixels of ``p`` and ``t`` inside the validity ``mask`` (None: all).

    Outside the mask nothing is known (e.g. no EBSD data there), so neither a predicted
    nor a true pixel there counts.
    """
    if mask is None:
        return p, t
    m = as_mask(mask, "mask")
    check_same_shape(p, m, ("pred", "mask"))
    return p & m, t & m


def as_labels(array: object, name: str) -> np.ndarray:
    """Return ``array`` as an integer label array (bool → 0/1; integral floats accepted)."""
    arr = np.asarray(array)
    _check_numeric(arr, name)
    if arr.dtype.kind == "b":
        return arr.view(np.uint8)
    if arr.dtype.kind == "f":
        if arr.size and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise InputError(f"{name} must hold integer labels; got non-integral or infinite floats")
        return arr.astype(np.int64)
    return arr


def as_grain_labels(array: object, name: str) -> np.ndarray:
    """Integer labels with no negative values (0 = boundary/background, 1..N grains)."""
    arr = as_labels(array, name)
    if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise InputError(
            f"{name} must hold non-negative grain labels (0 = background); got minimum {arr.min()}"
        )
    return arr


def as_spacing(spacing: float | Sequence[float], ndim: int, name: str = "spacing"
               ) -> tuple[float, ...]:
    """Return a per-axis tuple of positive finite lengths for an ``ndim``-D array."""
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.ndim != 1 or values.size not in (1, ndim):
        raise InputError(
            f"{name} must be a number or one value per axis ({ndim}); got {spacing!r}"
        )
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise InputError(f"{name} must be positive and finite; got {spacing!r}")
    if values.size == 1:
        values = np.repeat(values, ndim)
    return tuple(float(v) for v in values)


def as_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, checking it is finite and positive (or zero)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise InputError(f"{name} must be a finite {kind} number; got {value!r}")
    return v
