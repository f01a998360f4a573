"""3D connected components and percolation of a phase streamed slice by slice (for :class:`~microseg.grains.VolumeStats`)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

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
