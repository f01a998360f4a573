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
# Faces a component touches, as bits of a per-component flag: z first/last slice,
# y first/last row, x first/last column.
_Z0, _Z1, _Y0, _Y1, _X0, _X1 = 1, 2, 4, 8, 16, 32
_AXES = {"z": _Z0 | _Z1, "y": _Y0 | _Y1, "x": _X0 | _X1}


def _cross_offsets(connectivity: int) -> list[tuple[int, int]]:
    """In-plane offsets ``(dy, dx)`` of the neighbours in the next slice that the 3D
    ``connectivity`` implies: 1 -> the voxel itself (6-n), 2 -> + its 4 edge neighbours
    (18-n), 3 -> all 9 (26-n)."""
    return [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dy) + abs(dx) < connectivity]


def _shifted(d: int) -> tuple[slice, slice]:
    """(this slice's view, the neighbour's view) along one axis for offset ``d``."""
    if d > 0:
        return slice(0, -d), slice(d, None)
    if d < 0:
        return slice(-d, None), slice(0, d)
    return slice(None), slice(None)


class _StreamedComponents:
    """3D connected components of one phase from its slices, given in order.

    Each slice is labelled in 2D (``scipy.ndimage.label``) with the in-plane part of the
    3D structure; the labels that touch the previous slice's labels across Z (through the
    cross-slice neighbours of the connectivity) join their components: the touching
    labels of both slices form a small graph whose connected components
    (:func:`scipy.sparse.csgraph.connected_components`) say which 3D components meet, and
    those that meet are merged in a :class:`scipy.cluster.hierarchy.DisjointSet`. Held:
    two slices of labels and, per component id, a voxel count and the faces touched.
    """

    def __init__(self, connectivity: int) -> None:
        self._s2d = ndi.generate_binary_structure(2, 1 if connectivity == 1 else 2)
        self._offsets = [tuple(zip(_shifted(dy), _shifted(dx)))       # (0, 0) first
                         for dy, dx in sorted(_cross_offsets(connectivity), key=lambda d: d != (0, 0))]
        self._ds = None                      # DisjointSet of the ids that were ever merged
        self._size = np.zeros(1024, np.int64)
        self._flags = np.zeros(1024, np.uint8)
        self._n_ids = 0
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # mask, labels, label -> id

    def _new_ids(self, k: int) -> np.ndarray:
        need = self._n_ids + k
        if need > self._size.size:
            cap = max(need, 2 * self._size.size)
            self._size = np.concatenate([self._size, np.zeros(cap - self._size.size, np.int64)])
            self._flags = np.concatenate([self._flags, np.zeros(cap - self._flags.size, np.uint8)])
        ids = np.arange(self._n_ids, need, dtype=np.int64)
        self._n_ids = need
        return ids

    def add(self, mask: np.ndarray) -> None:
        labels = np.empty(mask.shape, dtype=np.int32)
        n = ndi.label(mask, structure=self._s2d, output=labels)
        lut = np.full(n + 1, -1, dtype=np.int64)
        if n:
            ids = self._link(mask, labels, n) if self._prev is not None else np.full(n, -1, np.int64)
            new = ids < 0
            ids[new] = self._new_ids(int(new.sum()))
            lut[1:] = ids
            np.add.at(self._size, ids, np.bincount(labels.ravel(), minlength=n + 1)[1:])
            for line, bit in ((labels[0], _Y0), (labels[-1], _Y1), (labels[:, 0], _X0), (labels[:, -1], _X1)):
                self._flags[lut[line[line > 0]]] |= bit
            if self._prev is None:
                self._flags[ids] |= _Z0
        self._prev = (mask, labels, lut)

    def _link(self, mask: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
        """Ids of this slice's labels 1..n from the previous slice's (-1: a new component)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        prev_mask, prev_labels, prev_lut = self._prev
        n_prev = prev_lut.size - 1
        both = mask & prev_mask
        rows, cols = [prev_labels[both]], [labels[both]]
        if len(self._offsets) > 1:
            # a shifted contact (p here, p + d there) adds a link only where neither p
            # nor p + d is phase in both slices: else the straight contact there joins
            # the same two labels, as p and p + d are in-plane (8-)neighbours
            only_here, only_there = mask & ~prev_mask, prev_mask & ~mask
            for here, there in self._offsets[1:]:
                both = only_here[here] & only_there[there]
                rows.append(prev_labels[there][both])
                cols.append(labels[here][both])
        r, c = np.concatenate(rows), np.concatenate(cols)
        if n_prev == 0 or r.size == 0:
            return np.full(n, -1, np.int64)
        run = np.empty(r.size, bool)                 # drop the repeats of raster runs, then duplicates
        run[0] = True
        np.not_equal(r[1:], r[:-1], out=run[1:])
        run[1:] |= c[1:] != c[:-1]
        r, c = np.divmod(np.unique(r[run].astype(np.int64) * (n + 1) + c[run]), n + 1)
        graph = coo_matrix((np.ones(r.size, np.float32), (r - 1, c - 1 + n_prev)), shape=(n_prev + n,) * 2)
        n_comp, comp = connected_components(graph.tocsr(), directed=False)
        comp_prev, comp_here = comp[:n_prev], comp[n_prev:]
        ids_prev = prev_lut[1:]
        rep = np.full(n_comp, np.iinfo(np.int64).max)
        np.minimum.at(rep, comp_prev, ids_prev)      # a group's id: the smallest of its previous ids
        has_here = np.zeros(n_comp, bool)
        has_here[comp_here] = True
        merge = has_here[comp_prev] & (ids_prev != rep[comp_prev])
        if merge.any():
            self._merge(np.unique(np.stack([ids_prev[merge], rep[comp_prev[merge]]], axis=1), axis=0), rep)
        ids = rep[comp_here]
        ids[ids == np.iinfo(np.int64).max] = -1
        return ids

    def _merge(self, pairs: np.ndarray, rep: np.ndarray) -> None:
        from scipy.cluster.hierarchy import DisjointSet

        if self._ds is None:
            self._ds = DisjointSet()
        ds = self._ds
        for a, b in pairs.tolist():
            for e in (a, b):
                if e not in ds:
                    ds.add(e)
            ds.merge(a, b)
        touched = np.unique(pairs[:, 1])             # keep the groups' ids the roots of their sets
        roots = np.array([ds[t] for t in touched.tolist()], dtype=np.int64)
        at = np.minimum(np.searchsorted(touched, rep), touched.size - 1)
        hit = touched[at] == rep
        rep[hit] = roots[at[hit]]

    def result(self, voxel_volume: float | None) -> dict:
        n = self._n_ids
        root = np.arange(n, dtype=np.int64)
        if self._ds is not None:
            for e in self._ds:
                root[e] = self._ds[e]
        flags = self._flags[:n].copy()
        if self._prev is not None:
            last = self._prev[2][1:]
            flags[last] |= _Z1
        _, inv = np.unique(root, return_inverse=True)
        sizes = np.bincount(inv, weights=self._size[:n]).astype(np.int64) if n else np.zeros(0, np.int64)
        comp_flags = np.zeros(sizes.size, np.uint8)
        np.bitwise_or.at(comp_flags, inv, flags)
        sizes = np.sort(sizes)[::-1]
        total = int(sizes.sum())
        out = {"count": int(sizes.size), "sizes_vox": sizes.tolist(),
               "largest_fraction": float(sizes[0] / total) if total else float("nan")}
        if voxel_volume is not None:
            out["sizes_um3"] = (sizes * voxel_volume).tolist()
        percolation = {axis: bool(np.any((comp_flags & bits) == bits)) for axis, bits in _AXES.items()}
        return {"components": out, "percolates": percolation}


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
