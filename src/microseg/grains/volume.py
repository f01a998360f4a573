"""3D phase statistics: phase fraction per slice (seed 004), connected components, percolation."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from microseg._util import InputError
from microseg._validate import as_mask, check_ndim


def _check_mask(mask: object, *, ndims: tuple[int, ...] = (3,)) -> np.ndarray:
    return as_mask(check_ndim(mask, ndims, "mask", allow_empty=False), "mask",
                   hint="1 = phase; threshold a probability first (prob >= 0.5)")


def _check_area(area: object, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(area)
    if arr.shape not in (tuple(shape), tuple(shape[1:])):
        raise InputError(f"area: has shape {arr.shape} but the mask has shape {tuple(shape)}; give a "
                         "(Z, Y, X) area of the same shape or a (Y, X) one that serves every slice")
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"area: expected a bool or 0/1 array, got dtype {arr.dtype}")
    return np.broadcast_to(arr.astype(bool), shape)


def phase_fraction_per_slice(mask: np.ndarray, *, area: np.ndarray | None = None) -> np.ndarray:
    """Fraction of phase pixels in each slice of a (Z, Y, X) mask; shape (Z,), float64.

    ``area`` (bool, ``(Z, Y, X)`` or a ``(Y, X)`` one for every slice; nonzero = specimen)
    restricts each slice's count to the area's pixels: the fraction is then phase pixels
    inside the area over the area's pixels (NaN for a slice with no area pixel).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((2, 2, 2), bool); m[0, 0, 0] = True; m[1] = True
    >>> phase_fraction_per_slice(m)
    array([0.25, 1.  ])
    >>> phase_fraction_per_slice(m, area=np.array([[True, False], [False, False]]))
    array([1., 1.])
    """
    arr = _check_mask(mask)
    if area is None:
        return arr.reshape(arr.shape[0], -1).mean(axis=1, dtype=np.float64)
    inside = _check_area(area, arr.shape).reshape(arr.shape[0], -1)
    counts = inside.sum(axis=1)
    hits = (arr.reshape(arr.shape[0], -1) & inside).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan).astype(np.float64)


def phase_fraction_summary(mask: np.ndarray, *, ddof: int = 0,
                           area: np.ndarray | None = None) -> dict[str, float]:
    """Mean ± standard deviation of the per-slice phase fraction (as in seed 004, Table 2).

    Returns ``{"mean", "std", "min", "max", "n_slices"}``; ``std`` uses ``ddof``
    (0 = population; NaN when there are not more slices than ``ddof``). Since all slices
    have the same size, ``mean`` is also the volume fraction. With ``area`` (see
    :func:`phase_fraction_per_slice`) the statistics are those of the fractions inside
    the area, over the slices that have area pixels (``n_slices`` counts those).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((2, 2, 2), bool); m[0, 0, 0] = True; m[1] = True
    >>> s = phase_fraction_summary(m)
    >>> s["mean"], s["std"], s["n_slices"]
    (0.625, 0.375, 2)
    """
    per_slice = phase_fraction_per_slice(mask, area=area)
    per_slice = per_slice[np.isfinite(per_slice)]
    if per_slice.size == 0:
        raise InputError("area: no slice has a pixel inside the area; nothing to measure")
    std = float(per_slice.std(ddof=ddof)) if per_slice.size > ddof else float("nan")
    return {"mean": float(per_slice.mean()), "std": std, "min": float(per_slice.min()),
            "max": float(per_slice.max()), "n_slices": int(per_slice.size)}


def connected_components_3d(mask: np.ndarray, *, connectivity: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of a phase mask; returns (labels int32, sizes in voxels).

    ``sizes[i]`` is the size of component ``i + 1``; the count is ``len(sizes)``.
    ``connectivity`` 1 = faces (6-neighbours), 2 = + edges (18), 3 = + corners (26).
    2D masks work too.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((1, 3, 3), bool); m[0, 0, 0] = m[0, 1, 1] = True
    >>> connected_components_3d(m)[1], connected_components_3d(m, connectivity=3)[1]
    (array([1, 1]), array([2]))
    """
    arr = _check_mask(mask, ndims=(2, 3))
    if not isinstance(connectivity, (int, np.integer)) or not 1 <= connectivity <= arr.ndim:
        raise InputError(f"connectivity: expected an integer in 1..{arr.ndim}, got {connectivity!r}")
    labels = np.empty(arr.shape, dtype=np.int32)
    n = ndi.label(arr, structure=ndi.generate_binary_structure(arr.ndim, connectivity), output=labels)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, sizes


def percolates(mask: np.ndarray, *, axis: int = 0, connectivity: int = 1) -> bool:
    """Whether one connected component of the phase touches both faces across ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 3, 3), bool); m[:, 1, 1] = True      # a column along Z
    >>> percolates(m, axis=0), percolates(m, axis=2)
    (True, False)
    """
    arr = _check_mask(mask, ndims=(2, 3))
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -arr.ndim <= axis < arr.ndim:
        raise InputError(f"axis: expected an axis of a {arr.ndim}D mask, got {axis!r}")
    labels, _ = connected_components_3d(arr, connectivity=connectivity)
    first = np.unique(np.take(labels, 0, axis=axis))
    last = np.unique(np.take(labels, -1, axis=axis))
    common = np.intersect1d(first[first != 0], last[last != 0])
    return bool(common.size)
