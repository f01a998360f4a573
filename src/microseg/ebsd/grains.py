"""Grains and cells of EBSD maps: connected regions of small neighbour disorientation."""
from __future__ import annotations

import logging
import math

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from microseg._util import InputError
from microseg.ebsd import _orientation as ori
from microseg.ebsd._grid import graph_edges
from microseg.ebsd.boundaries import BoundaryEdges
from microseg.ebsd.misorientation import NeighbourMisorientation, _check_map, neighbour_misorientation
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["reconstruct_grains", "segment_cells", "grain_table"]


def _components(m: EBSDMap, join: np.ndarray) -> np.ndarray:
    """Label the connected regions of indexed points joined by the edges ``join``
    ``(D, Y, X)``; 0 for non-indexed points, 1..N in raster order of first points."""
    n = m.shape[0] * m.shape[1]
    i, j = graph_edges(m.shape, m.grid, join)
    graph = sparse.coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    indexed = m.indexed.ravel()
    labels = np.zeros(n, dtype=np.int32)
    # components are numbered in order of their first node, so this keeps raster order
    _, labels[indexed] = np.unique(comp[indexed], return_inverse=True)
    labels[indexed] += 1
    return labels.reshape(m.shape)


def _drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    if min_size <= 1:
        return labels
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    new = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    return new[labels]


def reconstruct_grains(m: EBSDMap, *, threshold: float = 15.0, min_size: int = 0,
                       misorientation: NeighbourMisorientation | None = None) -> np.ndarray:
    """Grains: connected regions whose neighbour disorientation is at most ``threshold``.

    Neighbours are those of the grid (4 on a square grid, 6 on a hexagonal one); points of
    different phases are never joined; non-indexed points belong to no grain.

    Parameters
    ----------
    m : EBSDMap
    threshold : float, optional
        Grain boundary angle in degrees.
    min_size : int, optional
        Grains with fewer points are removed (set to 0, not merged into a neighbour), and
        the rest renumbered. 0 keeps all.
    misorientation : NeighbourMisorientation, optional
        Reuse a result of :func:`neighbour_misorientation`.

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        0 = not indexed (or removed), 1..N grains numbered in raster order.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (2, 4, 1))
    >>> q[:, 2:] = Rotation.from_axes_angles([0, 1, 0], 20, degrees=True).data
    >>> ph = np.ones((2, 4), np.int32); ph[1, 0] = -1
    >>> m = EBSDMap(q, ph, {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> reconstruct_grains(m)
    array([[1, 1, 2, 2],
           [0, 1, 2, 2]], dtype=int32)
    """
    m = _check_map(m)
    if not (np.isfinite(threshold) and threshold >= 0):
        raise InputError(f"threshold must be a non-negative angle in degrees, got {threshold!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise InputError(f"min_size must be a non-negative integer (points), got {min_size!r}")
    nm = misorientation if misorientation is not None else neighbour_misorientation(m, csl=())
    if nm.angle.shape[1:] != m.shape:
        raise InputError(f"misorientation has shape {nm.angle.shape[1:]}, the map {m.shape}")
    with np.errstate(invalid="ignore"):
        join = nm.angle <= threshold
    labels = _drop_small(_components(m, join), int(min_size))
    logger.debug("%d grains at %g°", labels.max(), threshold)
    return labels


def segment_cells(m: EBSDMap, *, lagb: float = 2.0, edges: BoundaryEdges | None = None
                  ) -> np.ndarray:
    """Cells: the regions enclosed by all boundaries above ``lagb`` (HAGB, LAGB, Σ3, ...).

    Grains at the low-angle threshold, so that every classified boundary edge separates two
    cells; the cell map is what :func:`microseg.ebsd.boundary_raster` resamples.

    Parameters
    ----------
    m : EBSDMap
    lagb : float, optional
        Threshold in degrees (ignored when ``edges`` is given: its ``lagb`` is used).
    edges : BoundaryEdges, optional
        Join neighbours whose edge has class 0 and a defined angle.

    Returns
    -------
    cells : ndarray of int32, shape (Y, X)
        0 where not indexed, 1..N cells.
    """
    m = _check_map(m)
    if edges is None:
        return reconstruct_grains(m, threshold=lagb)
    if edges.classes.shape[1:] != m.shape:
        raise InputError(f"edges have shape {edges.classes.shape[1:]}, the map {m.shape}")
    return _components(m, (edges.classes == 0) & np.isfinite(edges.angle))


def _mean_orientations(m: EBSDMap, labels: np.ndarray, n: int) -> np.ndarray:
    """Mean orientation ``(n + 1, 4)`` per label: every point's symmetry equivalent nearest
    the grain's first point, sign-aligned, summed and normalised (row 0 identity).

    ``|scalar(S * mis)| = |conj(S) . mis|`` picks the symmetry operator ``S`` that brings
    ``S * q`` nearest the reference."""
    from orix.quaternion import Quaternion

    q = m.rotations.reshape(-1, 4)
    lab = labels.ravel()
    pts = np.flatnonzero(lab > 0)
    first = np.full(n + 1, -1)
    first[lab[pts][::-1]] = pts[::-1]
    acc = np.zeros((n + 1, 4))
    ph = m.phase_ids.ravel()
    for pid, phase in m.phases.items():
        ops = ori.symmetry_operators(phase.point_group)
        sel = pts[ph[pts] == pid]
        for part in ori.chunks(len(sel)):
            idx = sel[part]
            ref = q[first[lab[idx]]]
            mis = ori.misorientation(ref, q[idx])  # q = mis * ref
            conj = ops * np.array([1.0, -1.0, -1.0, -1.0])
            best = np.argmax(np.abs(mis @ conj.T), axis=1)
            eq = (Quaternion(ops[best]) * Quaternion(q[idx])).data  # S q, nearest ref
            eq *= np.sign(np.sum(eq * ref, axis=1, keepdims=True) + 1e-300)
            np.add.at(acc, lab[idx], eq)
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    acc = np.where(norm > 0, acc / np.where(norm > 0, norm, 1), [1.0, 0.0, 0.0, 0.0])
    return acc


def grain_table(m: EBSDMap, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-grain measurements of a label map on the EBSD grid.

    Returns
    -------
    dict of str to ndarray
        Columns, one row per label 1..N: ``label``, ``phase_id``, ``n_points``,
        ``area_um2`` (points × step × row step, the Voronoi cell area), ``ecd_um``
        (equivalent circle diameter), ``x_um``, ``y_um`` (centroid), ``mean_orientation``
        ``(N, 4)`` quaternions in the map's convention, ``touches_border`` (bool).

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (4, 4, 1))
    >>> m = EBSDMap(q, np.ones((4, 4), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=0.5)
    >>> t = grain_table(m, reconstruct_grains(m))
    >>> t["area_um2"], np.round(t["ecd_um"], 3)
    (array([4.]), array([2.257]))
    """
    m = _check_map(m)
    labels = np.asarray(labels)
    if labels.shape != m.shape or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array of the map's shape {m.shape}, "
                         f"got {labels.dtype} {labels.shape}")
    n = int(labels.max(initial=0))
    lab = labels.ravel()
    counts = np.bincount(lab, minlength=n + 1)[1:]
    x, y = m.coordinates()
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.bincount(lab, x.ravel(), minlength=n + 1)[1:] / counts
        cy = np.bincount(lab, y.ravel(), minlength=n + 1)[1:] / counts
    phase = np.zeros(n + 1, dtype=np.int32)
    phase[lab] = m.phase_ids.ravel()
    edge = np.zeros(m.shape, dtype=bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    border = np.zeros(n + 1, dtype=bool)
    border[labels[edge]] = True
    area = counts * m.step * m.row_step
    return {"label": np.arange(1, n + 1, dtype=np.int32), "phase_id": phase[1:],
            "n_points": counts, "area_um2": area, "ecd_um": np.sqrt(4.0 * area / math.pi),
            "x_um": cx, "y_um": cy, "mean_orientation": _mean_orientations(m, labels, n)[1:],
            "touches_border": border[1:]}
