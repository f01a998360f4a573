"""Grain-level metrics: grain counts and equivalent circle diameters (ECD).

Grain labels are integer arrays, ``(Y, X)`` or ``(Z, Y, X)``: 0 is boundary or
background, every positive value one grain (all pixels carrying it, connected or not).
Self-contained on purpose: an area is a bincount, so this module needs nothing from
:mod:`microseg.grains`.

Empty-input convention: an image with no grain has a grain count of 0 and a mean ECD
of 0.0, so that an empty prediction is penalised by the full true mean ECD in
:func:`ecd_error` and two empty label maps agree perfectly (error 0.0).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from microseg._util import InputError
from microseg._validate import as_labels, check_ndim, check_same_shape
from microseg.metrics._pairs import lengths

__all__ = ["grain_count", "mean_ecd", "ecd_error", "grain_count_error", "mean_absolute_error"]


def grain_sizes(labels: np.ndarray) -> np.ndarray:
    """Pixel count of every positive label present in validated ``labels`` (label order)."""
    flat = labels.ravel()
    if flat.dtype == np.uint64:  # bincount refuses uint64; values > 2**63 are not labels
        flat = flat.astype(np.int64)
    if flat.size == 0:
        return np.zeros(0, np.int64)
    hi = int(flat.max())
    if hi <= max(4 * flat.size, 1 << 16):
        counts = np.bincount(flat, minlength=hi + 1)[1:]
        return counts[counts > 0]
    values, counts = np.unique(flat, return_counts=True)
    return counts[values > 0]


def _grain_labels(labels: object, name: str) -> np.ndarray:
    return check_ndim(as_labels(labels, name), (2, 3), name)


def grain_count(labels: object) -> int:
    """Number of grains: distinct positive labels present in ``labels``.

    Examples
    --------
    >>> grain_count([[0, 1, 1], [0, 7, 0]])
    2
    """
    return int(grain_sizes(_grain_labels(labels, "labels")).size)


def ecd_from_sizes(sizes: np.ndarray, pixel_size: tuple[float, ...]) -> np.ndarray:
    """Equivalent circle (2D) or sphere (3D) diameters of grains of ``sizes`` pixels."""
    cell = math.prod(pixel_size)
    if len(pixel_size) == 2:
        return 2.0 * np.sqrt(sizes * cell / np.pi)
    return np.cbrt(6.0 * sizes * cell / np.pi)


def mean_ecd_of(labels: np.ndarray, pixel_size: float | Sequence[float] | None) -> float:
    size = lengths(pixel_size, labels.ndim)
    sizes = grain_sizes(labels)
    if sizes.size == 0:
        return 0.0
    return float(ecd_from_sizes(sizes, size).mean())


def mean_ecd(labels: object, *, pixel_size: float | Sequence[float] | None = None) -> float:
    """Mean equivalent circle diameter of the grains in a label map.

    The ECD of a grain of area ``A`` is ``2 sqrt(A / pi)``, the diameter of the circle
    of the same area (scikit-image's ``equivalent_diameter_area``). For a 3D label
    array the equivalent *sphere* diameter ``(6 V / pi) ** (1/3)`` is used instead.

    Parameters
    ----------
    labels : array_like of int, shape (Y, X) or (Z, Y, X)
        Grain labels, 0 = boundary/background, 1..N grains (bool and integral-valued
        floats are accepted too).
    pixel_size : float or sequence of float, optional
        Pixel size (one value or one per axis), e.g. µm; None (default) gives pixels.

    Returns
    -------
    float
        Mean ECD in the units of ``pixel_size``; 0.0 when there is no grain.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((10, 10), np.int32); labels[:4, :4] = 1; labels[5:, 5:] = 2
    >>> round(mean_ecd(labels, pixel_size=0.5), 4)
    2.5389
    """
    return mean_ecd_of(_grain_labels(labels, "labels"), pixel_size)


def grain_label_pair(labels_pred: object, labels_truth: object) -> tuple[np.ndarray, np.ndarray]:
    p = _grain_labels(labels_pred, "labels_pred")
    t = _grain_labels(labels_truth, "labels_truth")
    check_same_shape(p, t, ("labels_pred", "labels_truth"))
    return p, t


def ecd_error(labels_pred: object, labels_truth: object, *,
              pixel_size: float | Sequence[float] | None = None) -> float:
    """Signed error of the mean ECD, ``mean_ecd(labels_pred) - mean_ecd(labels_truth)``.

    Positive when the prediction finds grains too large (e.g. merged grains). Average
    its absolute value over images with :func:`mean_absolute_error` for seed 000's
    "MAE in mean ECD". An image without grains has mean ECD 0.0 (see the module notes).

    Parameters
    ----------
    labels_pred, labels_truth : array_like of int, same shape (Y, X) or (Z, Y, X)
        Predicted and true grain labels of one image.
    pixel_size : float or sequence of float, optional
        Pixel size; the error is in its units (None, the default: pixels).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), np.int32); truth[:4] = 1; truth[4:] = 2
    >>> pred = np.ones((8, 8), np.int32)
    >>> round(ecd_error(pred, truth), 4)
    2.644
    """
    p, t = grain_label_pair(labels_pred, labels_truth)
    return mean_ecd_of(p, pixel_size) - mean_ecd_of(t, pixel_size)


def grain_count_error(labels_pred: object, labels_truth: object) -> int:
    """Signed difference of grain counts, ``n_pred - n_truth`` (negative: grains missed or merged).

    Examples
    --------
    >>> grain_count_error([[1, 1, 2, 2]], [[1, 2, 3, 4]])
    -2
    """
    p, t = grain_label_pair(labels_pred, labels_truth)
    return int(grain_sizes(p).size - grain_sizes(t).size)


def mean_absolute_error(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Mean absolute difference of paired values, ``mean(|a_i - b_i|)``.

    Used over a set of images, e.g. the predicted and true mean ECD of each image
    (seed 000 reports the MAE in mean ECD in µm).

    Parameters
    ----------
    a, b : sequence of float, same length (at least 1)
        Paired per-image values; NaN or infinite values are refused.

    Raises
    ------
    InputError
        If the lengths differ, there is no pair, or a value is not finite.

    Examples
    --------
    >>> mean_absolute_error([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    0.5
    """
    try:
        x = np.asarray(a, dtype=float).ravel()
        y = np.asarray(b, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"a and b must be sequences of numbers; {exc}") from None
    if x.shape != y.shape:
        raise InputError(f"a and b must have the same length; got a {x.size} and b {y.size}")
    if x.size == 0:
        raise InputError("a and b are empty; the mean absolute error needs at least one pair")
    for name, v in (("a", x), ("b", y)):
        if not np.isfinite(v).all():
            raise InputError(f"{name} contains NaN or infinite values")
    return float(np.mean(np.abs(x - y)))
