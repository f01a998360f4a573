"""Input checks shared by the grain functions (errors name the argument)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from microseg._util import InputError


def check_ndim(array: np.ndarray, name: str, ndims: Sequence[int] = (2, 3)) -> None:
    """Raise :class:`InputError` unless ``array.ndim`` is one of ``ndims`` and it is non-empty."""
    if array.ndim not in ndims:
        layouts = " or ".join({2: "2D (Y, X)", 3: "3D (Z, Y, X)"}.get(n, f"{n}D") for n in ndims)
        raise InputError(f"{name}: expected a {layouts} array, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{name}: the array is empty (shape {array.shape})")


def check_boundaries(boundaries: object) -> tuple[np.ndarray, bool]:
    """Validate a boundary map or probability; return (array, is_probability).

    Binary maps are bool or integer arrays holding only 0 and 1; probabilities are
    floating-point arrays in [0, 1] without NaN.
    """
    arr = np.asarray(boundaries)
    check_ndim(arr, "boundaries")
    if arr.dtype == bool:
        return arr, False
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 1:
            raise InputError(
                f"boundaries: an integer boundary map must hold only 0 and 1 (1 = boundary), "
                f"got values in [{arr.min()}, {arr.max()}]; for a 0/255 image pass image > 127"
            )
        return arr, False
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if math.isnan(lo) or math.isnan(hi):
            raise InputError("boundaries: the probability map contains NaN; fill or mask it first")
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"boundaries: a probability map must lie in [0, 1], got values in [{lo:g}, {hi:g}]"
            )
        return arr, True
    raise InputError(f"boundaries: expected a bool, integer or float array, got dtype {arr.dtype}")


def check_labels(labels: object, *, ndims: Sequence[int] = (2, 3)) -> np.ndarray:
    """Validate a grain label image (non-negative integers); return it as an array."""
    arr = np.asarray(labels)
    check_ndim(arr, "labels", ndims)
    if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        raise InputError(f"labels: expected an integer label image, got dtype {arr.dtype}")
    if arr.dtype == bool:
        arr = arr.astype(np.int32)
    elif arr.min() < 0:
        raise InputError(f"labels: labels must be >= 0 (0 = no grain), got minimum {arr.min()}")
    return arr


def check_pixel_size(pixel_size: object, ndim: int, *, name: str = "pixel_size") -> np.ndarray | None:
    """Return the pixel size as a float array of length ``ndim`` (µm per pixel), or None.

    A scalar means isotropic pixels; a sequence gives one size per axis, e.g. ``(dz, dy, dx)``.
    """
    if pixel_size is None:
        return None
    size = np.atleast_1d(np.asarray(pixel_size, dtype=float))
    if size.ndim != 1 or size.size not in (1, ndim):
        raise InputError(f"{name}: expected a number or {ndim} numbers (µm per pixel), got {pixel_size!r}")
    if not np.all(np.isfinite(size)) or np.any(size <= 0):
        raise InputError(f"{name}: must be positive and finite (µm per pixel), got {pixel_size!r}")
    return np.broadcast_to(size, (ndim,)).copy()


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, raising :class:`InputError` unless it is positive and finite."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        raise InputError(f"{name}: expected a positive number, got {value!r}")
    return out
