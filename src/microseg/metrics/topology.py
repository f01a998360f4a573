"""Topology of 2D binary maps: Betti numbers and their errors.

Convention (the usual dual pair of digital topology, so that a closed 8-connected
curve separates the plane):

- β0 = number of connected components of the foreground (positive pixels) with
  8-connectivity (pixels touching by an edge or a corner are connected);
- β1 = number of holes = connected components of the background with 4-connectivity
  that do not touch the image border (background components open to the border are
  not enclosed and do not count).

For a boundary map β1 is the number of grains the boundaries fully enclose, and β0
the number of separate boundary networks. An empty map has (0, 0); a full map (1, 0).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from microseg._validate import check_ndim, check_same_shape
from microseg.metrics._pairs import as_metric_mask

__all__ = ["betti_numbers", "betti_error"]

_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndimage.generate_binary_structure(2, 1)


def betti_2d(mask: np.ndarray) -> tuple[int, int]:
    """(β0, β1) of a validated 2D boolean mask."""
    if mask.size == 0:
        return 0, 0
    b0 = int(ndimage.label(mask, structure=_EIGHT)[1])
    bg, n_bg = ndimage.label(~mask, structure=_FOUR)
    if n_bg == 0:
        return b0, 0
    edge = np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]])
    open_to_border = np.unique(edge[edge > 0]).size
    return b0, int(n_bg - open_to_border)


def betti_numbers(mask: object, *, threshold: float | None = None) -> tuple[int, int]:
    """Betti numbers (β0, β1) of a 2D binary map: components and enclosed holes.

    Parameters
    ----------
    mask : array_like of bool or {0, 1}, shape (Y, X)
        Binary map, e.g. a boundary map with 1 on boundaries.
    threshold : float, optional
        Binarise a probability map as ``value >= threshold``.

    Returns
    -------
    tuple of int
        ``(b0, b1)``: foreground components (8-connected) and background components
        (4-connected) not touching the image border. (0, 0) for an empty map,
        (1, 0) for a full one.

    Raises
    ------
    InputError
        If ``mask`` is not 2D, holds NaN, or is not binary.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((7, 7), np.uint8); ring[1:6, 1:6] = 1; ring[2:5, 2:5] = 0
    >>> betti_numbers(ring)
    (1, 1)
    >>> betti_numbers(np.zeros((4, 4), bool))
    (0, 0)
    """
    m = check_ndim(as_metric_mask(mask, "mask", threshold=threshold), (2,), "mask")
    return betti_2d(m)


def betti_error_masks(p: np.ndarray, t: np.ndarray) -> dict[str, int]:
    """Absolute Betti-number differences of validated masks; 3D sums over Z slices."""
    if p.ndim == 2:
        p, t = p[None], t[None]
    e0 = e1 = 0
    for ps, ts in zip(p, t):
        (p0, p1), (t0, t1) = betti_2d(ps), betti_2d(ts)
        e0 += abs(p0 - t0)
        e1 += abs(p1 - t1)
    return {"b0": e0, "b1": e1}


def betti_error(pred: object, truth: object, *, threshold: float | None = None) -> dict[str, int]:
    """Absolute differences of the Betti numbers of a prediction and a truth.

    ``b0`` counts missing or extra boundary networks (fragments), ``b1`` missing or
    extra enclosed grains; both are 0 for a topologically perfect prediction.

    Parameters
    ----------
    pred, truth : array_like of bool or {0, 1}, same shape (Y, X) or (Z, Y, X)
        Binary maps. For a 3D stack the errors of the Z slices, each taken as a 2D
        map, are summed (a slice-wise error, not the 3D Betti numbers).
    threshold : float, optional
        Binarise probability maps as ``value >= threshold``.

    Returns
    -------
    dict
        ``{"b0": |β0(pred) - β0(truth)|, "b1": |β1(pred) - β1(truth)|}`` as ints;
        both 0 when the maps are empty.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((7, 7), bool); truth[1:6, 1:6] = True; truth[2:5, 2:5] = False
    >>> pred = truth.copy(); pred[3, 1] = False  # a gap opens the ring
    >>> betti_error(pred, truth)
    {'b0': 0, 'b1': 1}
    """
    p = as_metric_mask(pred, "pred", threshold=threshold)
    t = as_metric_mask(truth, "truth", threshold=threshold)
    check_same_shape(p, t, ("pred", "truth"))
    check_ndim(p, (2, 3), "pred and truth")
    return betti_error_masks(p, t)
