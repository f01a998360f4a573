"""Checks of user input against the data contracts of DESIGN.md, shared by every stage.

One function per contract, so that every stage refuses the same things with the same
words: each raises :class:`~microseg._util.InputError` with a one-line message that starts
with the parameter's ``name``, says what came and what is expected, and returns the value
in the form the stage computes with.

=============================  ===========================================================
contract                       check
=============================  ===========================================================
positive number                :func:`check_positive` (finite, > 0 or >= 0)
integer option                 :func:`check_int` (an integer in a range, not a bool)
pixel size                     :func:`check_pixel_size` (positive finite µm, per axis, or None)
image dimensions               :func:`check_ndim` (2D (Y, X) / 3D (Z, Y, X))
same shape                     :func:`check_same_shape`
binary mask                    :func:`as_mask` (bool, or only 0 and 1; or a threshold)
area mask                      :func:`as_area_mask` (nonzero = analysed; not empty)
boundary labels                :func:`as_boundaries` (uint8, 1 = boundary, 0 = interior)
boundary map or probability    :func:`as_boundary_map` (binary, or float in [0, 1])
probability map                :func:`as_prob` (float32 in [0, 1], no NaN)
boundary classes               :func:`as_classes` (uint8, 0 none, 1 HAGB, 2 LAGB, 3 Σ3)
grain labels                   :func:`as_labels` (integers >= 0, 0 = boundary/background)
=============================  ===========================================================

Labels: integer arrays, booleans (0/1) and *integral-valued* floats (``2.0``, as a float
TIFF or an arithmetic result holds them) are labels; non-integral or NaN floats are not.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from microseg._util import InputError

__all__ = [
    "check_positive", "check_int", "check_pixel_size", "check_ndim", "check_same_shape",
    "as_mask", "as_area_mask", "as_boundaries", "as_boundary_map", "as_prob", "as_classes", "as_labels",
    "N_CLASSES",
]

#: Boundary classes of a class map (DESIGN.md): 0 none, 1 HAGB, 2 LAGB, 3 Σ3 twin.
N_CLASSES = 4

_LAYOUTS = {2: "2D (Y, X)", 3: "3D (Z, Y, X)"}


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


# ---------------------------------------------------------------------------- numbers
def _real(value: Any, message: str) -> float:
    """``value`` as a float if it is one real number (not a bool, a string or an array), else ``InputError(message)``."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0:
        raise InputError(message)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(message) from None


def check_positive(value: Any, name: str, *, allow_zero: bool = False, unit: str = "",
                   what: str | None = None, hint: str = "") -> float:
    """``value`` as a float, if it is a finite number > 0 (>= 0 with ``allow_zero``).

    Booleans, strings and arrays are refused (``True`` is not a length). ``unit`` and
    ``what`` word the message: ``check_positive(s, "step_um", unit="µm", what="EBSD step")``
    says ``step_um must be a finite EBSD step > 0 µm; got 0``; ``hint`` ends it (what the
    value means, how to fix it).

    Examples
    --------
    >>> check_positive(2, "sigma")
    2.0
    >>> check_positive(0, "sigma", unit="px")
    Traceback (most recent call last):
    ...
    microseg._util.InputError: sigma must be > 0 px (a finite number); got 0
    >>> check_positive(-1, "t", what="threshold", hint="e.g. 128 for 8-bit masks")
    Traceback (most recent call last):
    ...
    microseg._util.InputError: t must be a finite threshold > 0; got -1; e.g. 128 for 8-bit masks
    """
    bound = (">= 0" if allow_zero else "> 0") + (f" {unit}" if unit else "")
    message = (f"{name} must be a finite {what} {bound}; got {value!r}" if what
               else f"{name} must be {bound} (a finite number); got {value!r}")
    if hint:
        message += f"; {hint}"
    out = _real(value, message)
    if not math.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        raise InputError(message)
    return out


def check_fraction(value: Any, name: str, *, what: str = "") -> float:
    """``value`` as a float, if it is a finite number in [0, 1] (a fraction, a probability).

    Examples
    --------
    >>> check_fraction(0.25, "overlap")
    0.25
    >>> check_fraction(1.5, "threshold", what="a probability")
    Traceback (most recent call last):
    ...
    microseg._util.InputError: threshold must be a probability in [0, 1]; got 1.5
    """
    message = f"{name} must be {what + ' ' if what else ''}in [0, 1]; got {value!r}"
    out = _real(value, message)
    if not 0.0 <= out <= 1.0:   # NaN fails too
        raise InputError(message)
    return out


def check_int(value: Any, name: str, *, low: int = 0, high: int | None = None,
              unit: str = "") -> int:
    """``value`` as an int, if it is an integer (not a bool, not a float) in ``[low, high]``.

    Examples
    --------
    >>> check_int(3, "batch", low=1)
    3
    >>> check_int(0, "batch", low=1)
    Traceback (most recent call last):
    ...
    microseg._util.InputError: batch must be a positive integer; got 0
    """
    if high is not None:
        what = f"an integer in {low}..{high}"
    else:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not ok or value < low or (high is not None and value > high):
        raise InputError(f"{name} must be {what}{f' ({unit})' if unit else ''}; got {value!r}")
    return int(value)


def check_pixel_size(value: Any, name: str = "pixel_size", *, ndim: int | None = None,
                     optional: bool = True) -> float | np.ndarray | None:
    """A pixel size: positive finite µm per pixel, or ``None`` (unknown: lengths in pixels).

    Parameters
    ----------
    value : float, sequence of float or None
        One size for square pixels (cubic voxels) or, with ``ndim``, one per axis, e.g.
        ``(dz, dy, dx)``.
    name : str
        Parameter name for the messages.
    ndim : int, optional
        Dimensions of the array the pixel size belongs to. With it the result is a float64
        array of ``ndim`` sizes (a scalar repeated); without it only a number is accepted
        and returned as a float.
    optional : bool, default True
        Accept ``None``; with False a pixel size is required (a synthetic image in µm).

    Examples
    --------
    >>> check_pixel_size(0.5)
    0.5
    >>> check_pixel_size(0.5, ndim=3)
    array([0.5, 0.5, 0.5])
    >>> check_pixel_size(None, ndim=2) is None
    True
    >>> check_pixel_size(0, optional=False)
    Traceback (most recent call last):
    ...
    microseg._util.InputError: pixel_size must be positive and finite (µm per pixel); got 0
    """
    what = "µm per pixel" if ndim is None else f"µm per pixel: one number or {ndim}, one per axis"
    or_none = " or None" if optional else ""
    if value is None:
        if optional:
            return None
        raise InputError(f"{name} must be a positive finite length ({what}); got None")
    if isinstance(value, (bool, np.bool_, str)):
        raise InputError(f"{name} must be a positive finite length ({what}){or_none}; got {value!r}")
    try:
        size = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive finite length ({what}){or_none}; "
                         f"got {value!r}") from None
    if size.ndim != 1 or size.size not in ((1,) if ndim is None else (1, ndim)):
        raise InputError(f"{name} must be a number or one value per axis ({what}); got {value!r}")
    if not (np.isfinite(size).all() and (size > 0).all()):
        raise InputError(f"{name} must be positive and finite ({what}){or_none}; got {value!r}")
    if ndim is None:
        return float(size[0])
    return np.broadcast_to(size, (ndim,)).astype(float)


# ---------------------------------------------------------------------------- arrays
def check_ndim(array: Any, ndims: Sequence[int] = (2, 3), name: str = "array", *,
               allow_empty: bool = True) -> np.ndarray:
    """``array`` as an ndarray, if its dimensionality is one of ``ndims``.

    With ``allow_empty=False`` an array without pixels is refused too.

    Examples
    --------
    >>> check_ndim(np.zeros(4), (2, 3), "image")
    Traceback (most recent call last):
    ...
    microseg._util.InputError: image must be a 2D (Y, X) or 3D (Z, Y, X) array; got shape (4,)
    """
    arr = np.asarray(array)
    if arr.ndim not in tuple(ndims):
        layouts = " or ".join(_LAYOUTS.get(n, f"{n}D") for n in ndims)
        raise InputError(f"{name} must be a {layouts} array; got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); expected at least one pixel")
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise :class:`InputError` naming both arrays and shapes when they differ."""
    if np.shape(a) != np.shape(b):
        raise InputError(f"{names[0]} and {names[1]} must have the same shape; got {names[0]} "
                         f"{np.shape(a)} and {names[1]} {np.shape(b)}")


def _numeric(array: Any, name: str, what: str) -> np.ndarray:
    """``array`` as a bool or numeric ndarray without NaN."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a numeric or boolean array ({what}); got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.size and np.isnan(arr).any():
        raise InputError(f"{name} contains NaN; replace or mask the NaN values first")
    return arr


def as_mask(array: Any, name: str, *, threshold: float | None = None,
            hint: str = "threshold a probability map first (prob >= 0.5)") -> np.ndarray:
    """``array`` as a boolean mask: booleans, or numbers that are only 0 and 1.

    With ``threshold`` the mask is ``array >= threshold`` (a probability map). ``hint``
    ends the message for a non-binary array.

    Examples
    --------
    >>> as_mask([0, 1, 1], "mask")
    array([False,  True,  True])
    >>> as_mask([0.2, 0.7], "mask", threshold=0.5)
    array([False,  True])
    """
    arr = _numeric(array, name, "a mask: bool, or only 0 and 1")
    if threshold is not None:
        if not _is_number(threshold) or not math.isfinite(threshold):
            raise InputError(f"threshold must be a finite number; got {threshold!r}")
        return arr >= threshold
    if arr.dtype.kind == "b":
        return arr
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > 1 or (arr.dtype.kind == "f" and not ((arr == 0) | (arr == 1)).all()):
            raise InputError(f"{name} must be a binary mask (bool, or only 0 and 1); got values in "
                             f"[{lo}, {hi}]; {hint}")
    return arr.astype(bool)


def as_area_mask(mask: Any, name: str = "mask", *, shape: Sequence[int] | None = None) -> np.ndarray:
    """An area mask as bool: nonzero (True) = analysed; it may not be empty.

    With ``shape`` (the map the mask belongs to) it must cover the same pixels, and a
    colour image ``shape + (3|4,)`` counts any non-black pixel. ``name`` starts the
    messages, e.g. ``"scan.tif: the mask"``.

    Examples
    --------
    >>> as_area_mask([[0, 3], [1, 0]])
    array([[False,  True],
           [ True, False]])
    >>> as_area_mask(np.zeros((2, 2)), "scan.tif: the mask")
    Traceback (most recent call last):
    ...
    microseg._util.InputError: scan.tif: the mask is empty (no nonzero pixel); nonzero marks the area to analyse
    """
    arr = np.asarray(mask)
    if shape is not None and arr.ndim == len(shape) + 1 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].any(axis=-1)
    if shape is not None and arr.shape != tuple(shape):
        raise InputError(f"{name} has shape {arr.shape} but the map has shape {tuple(shape)}; "
                         "the mask must cover the same pixels (True/nonzero = analysed)")
    arr = arr.astype(bool)
    if not arr.any():
        raise InputError(f"{name} is empty (no nonzero pixel); nonzero marks the area to analyse")
    return arr


def as_boundaries(array: Any, name: str = "boundaries") -> np.ndarray:
    """Boundary labels in the contract's form: uint8, 1 = boundary, 0 = grain interior.

    Accepts what :func:`as_mask` accepts (bool, or only 0 and 1).

    Examples
    --------
    >>> as_boundaries([[True, False]])
    array([[1, 0]], dtype=uint8)
    """
    return as_mask(array, name, hint="1 = boundary; for a 0/255 image pass image > 127").view(np.uint8)


def as_prob(array: Any, name: str = "prob") -> np.ndarray:
    """A probability map in the contract's form: float32 in [0, 1] without NaN.

    Floats must lie in [0, 1]; booleans become 0.0 / 1.0; integer arrays are refused
    (scale an 8-bit map with ``/ 255`` first).

    Examples
    --------
    >>> as_prob([0.0, 0.25, 1.0])
    array([0.  , 0.25, 1.  ], dtype=float32)
    """
    arr = np.asarray(array)
    if arr.dtype.kind == "b":
        return arr.astype(np.float32)
    if arr.dtype.kind != "f":
        raise InputError(f"{name} must be a float probability map in [0, 1]; got dtype {arr.dtype}"
                         + ("; divide an 8-bit map by 255" if arr.dtype.kind in "iu" else ""))
    if arr.size:
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if math.isnan(lo) or math.isnan(hi):
            raise InputError(f"{name} contains NaN; a probability map must lie in [0, 1] "
                             "(fill or mask the NaN values first)")
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"{name} must be a probability map in [0, 1]; got values in [{lo:g}, {hi:g}]")
    return arr.astype(np.float32, copy=False)


def as_boundary_map(array: Any, name: str = "boundaries") -> tuple[np.ndarray, bool]:
    """A boundary map or a boundary probability; returns ``(array, is_probability)``.

    Bool and integer arrays are binary maps (only 0 and 1, 1 = boundary); float arrays
    are probabilities in [0, 1] (:func:`as_prob`, kept in their float dtype).
    """
    arr = np.asarray(array)
    if arr.dtype.kind == "b":
        return arr, False
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise InputError(f"{name} must hold only 0 and 1 (1 = boundary) as an integer map; got values "
                             f"in [{arr.min()}, {arr.max()}]; for a 0/255 image pass image > 127")
        return arr, False
    if arr.dtype.kind == "f":
        as_prob(arr, name)
        return arr, True
    raise InputError(f"{name} must be a bool or 0/1 integer boundary map or a float probability; "
                     f"got dtype {arr.dtype}")


def as_classes(array: Any, name: str = "classes") -> np.ndarray:
    """A boundary-class map: uint8 with 0 = none, 1 = HAGB, 2 = LAGB, 3 = Σ3 twin.

    Examples
    --------
    >>> as_classes([[0, 1, 3]])
    array([[0, 1, 3]], dtype=uint8)
    """
    arr = as_labels(array, name, allow_negative=True)
    if arr.size and (arr.min() < 0 or arr.max() >= N_CLASSES):
        raise InputError(f"{name} must hold boundary classes 0..{N_CLASSES - 1} (0 none, 1 HAGB, 2 LAGB, "
                         f"3 Σ3 twin); got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.uint8, copy=False)


def as_labels(array: Any, name: str = "labels", *, allow_negative: bool = False) -> np.ndarray:
    """Grain labels as an integer array: 0 = boundary/background, 1..N grains.

    Integer arrays pass unchanged; booleans become int32 0/1; integral-valued floats
    (``2.0``) become int32 (int64 where a label needs it); non-integral, NaN or infinite
    floats are refused, so are negative labels unless ``allow_negative`` (any integer
    partition, as the cluster metrics take).

    Examples
    --------
    >>> as_labels(np.array([[0.0, 2.0]]))
    array([[0, 2]], dtype=int32)
    >>> as_labels(np.array([0.5]))
    Traceback (most recent call last):
    ...
    microseg._util.InputError: labels must hold integer labels (0 = background, 1..N grains); got non-integral floats
    """
    arr = _numeric(array, name, "integer labels, 0 = background")
    if arr.dtype.kind == "b":
        return arr.astype(np.int32)
    if arr.dtype.kind == "f":
        if arr.size and not np.isfinite(arr).all():
            raise InputError(f"{name} must hold integer labels (0 = background, 1..N grains); "
                             "got infinite floats")
        if arr.size and not (arr == np.round(arr)).all():
            raise InputError(f"{name} must hold integer labels (0 = background, 1..N grains); "
                             "got non-integral floats")
        wide = arr.size and max(abs(float(arr.min())), abs(float(arr.max()))) > np.iinfo(np.int32).max
        arr = arr.astype(np.int64 if wide else np.int32)
    if not allow_negative and arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise InputError(f"{name} must hold non-negative labels (>= 0, 0 = background); "
                         f"got minimum {arr.min()}")
    return arr
