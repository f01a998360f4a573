"""3D phase statistics: phase fraction per slice (seed 004), connected components, percolation.

Two forms: functions of a whole (Z, Y, X) array (:func:`phase_fraction_per_slice`,
:func:`phase_fraction_summary`, :func:`connected_components_3d`, :func:`percolates`), and
the same results streamed from slices read one at a time, for volumes larger than memory
(:func:`volume_stats`, the accumulator :class:`VolumeStats`, :func:`orthogonal_views`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from microseg._util import InputError
from microseg._util import progress as _progress
from microseg._validate import as_mask, check_int, check_ndim, check_pixel_size
from microseg.grains._components import _StreamedComponents


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


# ------------------------------------------------------------------ streamed statistics
class VolumeStats:
    """Accumulator of the 3D statistics of a (Z, Y, X) phase mask given one slice at a time.

    For a volume too large for memory, or slices computed while predicting: feed each
    slice once, in order, with :meth:`add`, then read :meth:`result`. Memory is two slices
    of labels plus a counter per connected component, whatever the depth. The results
    equal those of the whole-array functions (:func:`phase_fraction_per_slice`,
    :func:`phase_fraction_summary`, :func:`connected_components_3d`, :func:`percolates`).

    Parameters
    ----------
    phases : sequence of {1, 0}, default (1,)
        Phases to measure: 1 = the mask's phase, 0 = its complement (the pores of a solid).
    connectivity : {1, 2, 3}
        Of the 3D components: 1 = faces (6-neighbours), 2 = + edges (18), 3 = + corners (26).
    area : array, optional
        Nonzero = specimen, ``(Y, X)`` for every slice or a ``(Z, Y, X)`` volume read a
        slice at a time (``area[z]``). Voxels outside it belong to no phase: the fractions
        count inside it (as in :func:`phase_fraction_per_slice`), components are those of
        ``phase & area``.
    spacing : float or (dz, dy, dx), optional
        Voxel size in µm; adds component sizes in µm³ (``sizes_um3``).
    ddof : int, default 0
        Of the standard deviation of the per-slice fractions.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 4, 4), bool); m[:, 1, 1] = True; m[0, 3, 3] = True
    >>> acc = VolumeStats(phases=(1, 0))
    >>> for z in range(3):
    ...     acc.add(z, m[z])
    >>> r = acc.result()
    >>> r[1]["components"]["sizes_vox"], r[1]["percolates"]
    ([3, 1], {'z': True, 'y': False, 'x': False})
    >>> r[0]["n_voxels"], r[0]["components"]["count"]     # 48 - 4 voxels, one piece
    (44, 1)
    """

    def __init__(self, *, phases: Sequence[int] = (1,), connectivity: int = 1, area: Any = None,
                 spacing: float | Sequence[float] | None = None, ddof: int = 0) -> None:
        self.phases = _check_phases(phases)
        self.connectivity = check_int(connectivity, "connectivity", low=1, high=3)
        self.ddof = check_int(ddof, "ddof")
        size = check_pixel_size(spacing, "spacing", ndim=3)
        self.spacing = None if size is None else tuple(float(s) for s in size)
        self._area = _check_area_source(area)
        self._shape: tuple[int, int] | None = None
        self._z = 0
        self._area_px: list[int] = []
        self._hits = {p: [] for p in self.phases}
        self._components = {p: _StreamedComponents(self.connectivity) for p in self.phases}

    @property
    def n_slices(self) -> int:
        """Slices added so far."""
        return self._z

    def add(self, z: int, mask_slice: Any) -> None:
        """Add slice ``z`` (``(Y, X)``, bool or 0/1) of the mask; slices come in order 0, 1, 2, ..."""
        if isinstance(z, bool) or not isinstance(z, (int, np.integer)) or z != self._z:
            raise InputError(f"z: slices must be added in order; expected slice {self._z}, got {z!r}")
        arr = np.asarray(mask_slice)
        if arr.ndim != 2 or arr.size == 0 or (self._shape is not None and arr.shape != self._shape):
            want = f"the (Y, X) shape {self._shape} of slice 0" if self._shape else "a 2D (Y, X) slice"
            raise InputError(f"mask slice {z}: has shape {arr.shape}, expected {want}; every slice "
                             "of a volume must be the same size")
        mask = as_mask(arr, f"mask slice {z}", hint="1 = phase; threshold a probability first (prob >= 0.5)")
        if np.may_share_memory(mask, arr):       # kept for the next slice: the caller may reuse its buffer
            mask = mask.copy()
        area = self._area_slice(z, arr.shape)
        self._shape = arr.shape
        self._area_px.append(mask.size if area is None else int(np.count_nonzero(area)))
        for p in self.phases:
            phase = mask if p == 1 else ~mask
            if area is not None:
                phase = phase & area
            self._hits[p].append(int(np.count_nonzero(phase)))
            self._components[p].add(phase)
        self._z += 1

    def _area_slice(self, z: int, shape: tuple[int, int]) -> np.ndarray | None:
        if self._area is None:
            return None
        if len(self._area.shape) == 2:
            arr = self._area
        elif z < self._area.shape[0]:
            arr = np.asarray(self._area[z])
        else:
            raise InputError(f"area: has {self._area.shape[0]} slices but the mask has more; give a (Y, X) "
                             "area or a (Z, Y, X) one of the mask's shape")
        if arr.shape != shape:
            raise InputError(f"area: slice {z} has shape {arr.shape} but the mask's slice has {shape}; give "
                             "a (Y, X) area or a (Z, Y, X) one of the mask's shape")
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"area: expected a bool or 0/1 array, got dtype {arr.dtype}")
        return arr.astype(bool, copy=False)

    def result(self) -> dict[int, dict[str, Any]]:
        """The statistics so far, a JSON-serialisable dict per phase (keys: the phase values).

        Each phase's dict: ``phase``; ``per_slice`` (fractions, NaN for a slice with no
        area pixel); ``summary`` (as :func:`phase_fraction_summary`); ``volume_fraction``
        (phase voxels / analysed voxels); ``n_voxels``; ``n_voxels_total`` (analysed);
        ``components`` (``count``, ``sizes_vox`` largest first, ``sizes_um3`` with a
        ``spacing``, ``largest_fraction``: the largest component's share of the phase);
        ``percolates`` (``{"z", "y", "x"}``: one component touches both faces across
        that axis); ``connectivity``.
        """
        if self._z == 0:
            raise InputError("mask: no slice was added; nothing to measure")
        vol = None if self.spacing is None else float(np.prod(self.spacing))
        area_px = np.asarray(self._area_px, dtype=np.float64)
        out = {}
        for p in self.phases:
            hits = np.asarray(self._hits[p], dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_slice = np.where(area_px > 0, hits / np.maximum(area_px, 1), np.nan)
            total = float(area_px.sum())
            out[p] = {"phase": p, "per_slice": per_slice.tolist(),
                      "summary": _summary(per_slice, self.ddof),
                      "volume_fraction": float(hits.sum() / total) if total else float("nan"),
                      "n_voxels": int(hits.sum()), "n_voxels_total": int(total),
                      **self._components[p].result(vol), "connectivity": self.connectivity}
        return out


def _summary(per_slice: np.ndarray, ddof: int) -> dict[str, float]:
    finite = per_slice[np.isfinite(per_slice)]
    if finite.size == 0:
        raise InputError("area: no slice has a pixel inside the area; nothing to measure")
    std = float(finite.std(ddof=ddof)) if finite.size > ddof else float("nan")
    return {"mean": float(finite.mean()), "std": std, "min": float(finite.min()),
            "max": float(finite.max()), "n_slices": int(finite.size)}


def _check_phases(phases: Any) -> tuple[int, ...]:
    try:
        out = tuple(phases)
    except TypeError:
        out = (phases,)
    if not out or len(set(out)) != len(out) or any(
            isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p not in (0, 1) for p in out):
        raise InputError(f"phases: expected distinct values among 1 (the phase) and 0 (its complement), "
                         f"e.g. (1, 0); got {phases!r}")
    return tuple(int(p) for p in out)


def _check_area_source(area: Any) -> Any:
    if area is None:
        return None
    if not hasattr(area, "shape") or not hasattr(area, "__getitem__"):
        area = np.asarray(area)
    if len(area.shape) not in (2, 3):
        raise InputError(f"area: expected a (Y, X) or (Z, Y, X) array, got shape {tuple(area.shape)}")
    if len(area.shape) == 2:
        area = np.asarray(area)
    return area


def _check_volume(slices: Any, name: str) -> tuple[int, int, int]:
    shape = getattr(slices, "shape", None)
    if shape is None or not hasattr(slices, "__getitem__"):
        raise InputError(f"{name}: expected a (Z, Y, X) array or an object with .shape and {name}[z] "
                         f"-> (Y, X) slice, got {type(slices).__name__}")
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{name} must be a 3D (Z, Y, X) volume with at least one voxel; got shape "
                         f"{tuple(shape)}")
    return tuple(int(s) for s in shape)


def volume_stats(slices: Any, *, phases: Sequence[int] = (1,), connectivity: int = 1, area: Any = None,
                 spacing: float | Sequence[float] | None = None, ddof: int = 0,
                 progress: bool = False) -> dict[int, dict[str, Any]]:
    """Phase fractions, 3D components and percolation of a (Z, Y, X) mask, read slice by slice.

    ``slices`` is a numpy array or any object with ``.shape`` ``(Z, Y, X)`` whose
    ``slices[z]`` is a ``(Y, X)`` slice (a zarr array, a memory map, a lazy TIFF stack):
    each slice is read once, and memory stays that of two slices whatever the depth.
    The other parameters and the result are those of :class:`VolumeStats`.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 3, 3), bool); m[:, 1, 1] = True; m[1:, 0, 0] = True
    >>> s = volume_stats(m, phases=(1, 0))
    >>> s[1]["n_voxels"], s[1]["components"]["count"], s[1]["percolates"]["z"]
    (7, 2, True)
    >>> volume_stats(m, connectivity=3)[1]["components"]["sizes_vox"]
    [7]
    """
    z_size = _check_volume(slices, "mask")[0]
    acc = VolumeStats(phases=phases, connectivity=connectivity, area=area, spacing=spacing, ddof=ddof)
    for z in _progress(range(z_size), enabled=progress, desc="volume stats", total=z_size):
        acc.add(z, slices[z])
    return acc.result()


def orthogonal_views(stack: Any, *, z: int | None = None, y: int | None = None,
                     x: int | None = None) -> dict[str, np.ndarray]:
    """The three orthogonal sections of a (Z, Y, X) volume, read in one pass over its slices.

    Returns ``{"xy": (Y, X) slice z, "xz": (Z, X) at row y, "yz": (Z, Y) at column x}``
    (default: the middle of each axis; negative indices count from the end). ``stack`` is
    an array or any object with ``.shape`` and ``stack[z]`` -> ``(Y, X)``.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    >>> views = orthogonal_views(v, z=1, y=0, x=-1)
    >>> [views[k].shape for k in ("xy", "xz", "yz")]
    [(3, 4), (2, 4), (2, 3)]
    >>> bool((views["yz"] == v[:, :, -1]).all())
    True
    """
    shape = _check_volume(stack, "stack")
    pos = view_positions(shape, z=z, y=y, x=x)
    xy = xz = yz = None
    for k in range(shape[0]):
        s = np.asarray(stack[k])
        if s.shape != shape[1:]:
            raise InputError(f"stack: slice {k} has shape {s.shape}, expected {shape[1:]}; every slice "
                             "of a volume must be the same size")
        if xz is None:
            xz = np.empty((shape[0], shape[2]), s.dtype)
            yz = np.empty((shape[0], shape[1]), s.dtype)
        xz[k], yz[k] = s[pos["y"], :], s[:, pos["x"]]
        if k == pos["z"]:
            xy = s.copy()
    return {"xy": xy, "xz": xz, "yz": yz}


def view_positions(shape: Sequence[int], *, z: int | None = None, y: int | None = None,
                   x: int | None = None) -> dict[str, int]:
    """The section indices :func:`orthogonal_views` uses: ``{"z", "y", "x"}``, each in range.

    Examples
    --------
    >>> view_positions((5, 4, 3), x=-1)
    {'z': 2, 'y': 2, 'x': 2}
    """
    out = {}
    for name, value, n in zip("zyx", (z, y, x), shape):
        if value is None:
            out[name] = int(n) // 2
            continue
        v = check_int(value, name, low=-int(n), high=int(n) - 1)
        out[name] = v % int(n)
    return out
