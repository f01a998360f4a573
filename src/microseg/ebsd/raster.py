"""The boundary raster: EBSD cells -> boundary classes per cell pair -> a 1-px boundary map
on any label image (the label the networks learn)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from microseg._util import InputError
from microseg._validate import check_pixel_size
from microseg.ebsd._grid import DIRECTIONS, neighbour_index
from microseg.ebsd.boundaries import HAGB, BoundaryEdges, classify_boundaries
from microseg.ebsd.grains import segment_cells
from microseg.ebsd.misorientation import NeighbourMisorientation, _check_map
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["BoundaryRaster", "pair_classes", "boundaries_from_cells", "rasterize_cells",
           "boundary_raster", "CLASS_PRIORITY"]

#: Where a pixel borders two other cells it takes the class earliest here: phase boundary,
#: HAGB, Σ3, the other CSL classes, LAGB (the synthetic polycrystals' HAGB > Σ3 > LAGB).
CLASS_PRIORITY = (4, 1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 2)
_RANK = np.zeros(256, dtype=np.uint8)
_RANK[list(CLASS_PRIORITY)] = np.arange(len(CLASS_PRIORITY), 0, -1)


@dataclass(frozen=True)
class BoundaryRaster:
    """A boundary label on a square pixel grid.

    Attributes
    ----------
    boundaries : ndarray of uint8, shape (H, W)
        1 where the right or lower 4-neighbour pixel belongs to another cell (1 px thin,
        closed), 0 elsewhere and next to cell 0 (not indexed).
    classes : ndarray of uint8, shape (H, W)
        Boundary class per boundary pixel (1 HAGB, 2 LAGB, 3 Σ3, 4 phase, 5+ other CSL;
        ``classes == k`` is the map of class ``k``), 0 elsewhere.
    cells : ndarray of int32, shape (H, W)
        The resampled cell map (0 = not indexed).
    pixel_size : float
        µm per pixel; pixel ``(i, j)`` is centred at ``x = j * pixel_size``,
        ``y = i * pixel_size`` of the map's frame (origin on its first point).
    pair_class : dict
        ``(a, b) -> class`` for adjacent cells ``a < b`` (see :func:`pair_classes`), to
        redraw the boundaries of the cell map after warping it.
    """

    boundaries: np.ndarray
    classes: np.ndarray
    cells: np.ndarray
    pixel_size: float
    pair_class: dict = field(default_factory=dict)


def pair_classes(m: EBSDMap, cells: np.ndarray, edges: BoundaryEdges) -> dict[tuple[int, int], int]:
    """Boundary class of each pair of adjacent cells: the majority class of the neighbour
    edges between them (ties to the class of higher :data:`CLASS_PRIORITY`).

    Returns
    -------
    dict of (int, int) to int
        Keys ``(a, b)`` with ``0 < a < b``.
    """
    m = _check_map(m)
    cells = np.asarray(cells)
    if cells.shape != m.shape or edges.classes.shape[1:] != m.shape:
        raise InputError(f"cells {cells.shape} and edges {edges.classes.shape[1:]} must have the "
                         f"map's shape {m.shape}")
    flat = cells.ravel().astype(np.int64)
    n1 = int(flat.max(initial=0)) + 1
    keys, cls = [], []
    for k, direction in enumerate(DIRECTIONS[m.grid]):
        nbr = neighbour_index(m.shape, m.grid, direction).ravel()
        a = flat
        b = np.where(nbr >= 0, flat[np.maximum(nbr, 0)], 0)
        c = edges.classes[k].ravel()
        sel = (a > 0) & (b > 0) & (a != b) & (c > 0)
        keys.append(np.minimum(a[sel], b[sel]) * n1 + np.maximum(a[sel], b[sel]))
        cls.append(c[sel].astype(np.int64))
    key, c = np.concatenate(keys), np.concatenate(cls)
    if key.size == 0:
        return {}
    combo, count = np.unique(key * 256 + c, return_counts=True)
    pk, pc = combo // 256, combo % 256
    order = np.lexsort((_RANK[pc], count, pk))  # last per key: most edges, then priority
    last = np.r_[pk[order][1:] != pk[order][:-1], True]
    win = order[last]
    return {(int(k // n1), int(k % n1)): int(v) for k, v in zip(pk[win], pc[win])}


def _pair_table(pair_class) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lo, hi, class)`` int64 arrays from a dict or a ``(P, 3)`` array."""
    if pair_class is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(pair_class, dict):
        arr = np.array([(a, b, c) for (a, b), c in pair_class.items()], dtype=np.int64).reshape(-1, 3)
    else:
        arr = np.asarray(pair_class, dtype=np.int64)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise InputError(f"pair_class must be a dict {{(a, b): class}} or a (P, 3) array, "
                             f"got shape {arr.shape}")
    lo, hi = np.minimum(arr[:, 0], arr[:, 1]), np.maximum(arr[:, 0], arr[:, 1])
    return lo, hi, arr[:, 2]


def boundaries_from_cells(cells: np.ndarray, pair_class=None) -> tuple[np.ndarray, np.ndarray]:
    """1-px boundaries and their classes on any integer cell image.

    Pixel ``p`` is boundary when its right or lower 4-neighbour belongs to another cell and
    neither cell is 0; where both neighbours differ it takes the class of higher
    :data:`CLASS_PRIORITY`.

    Parameters
    ----------
    cells : ndarray of int, shape (H, W)
        E.g. :func:`rasterize_cells` output, or that warped into an SEM frame (nearest
        neighbour).
    pair_class : dict or ndarray, optional
        ``{(a, b): class}`` or rows ``(a, b, class)``; pairs not in it get class 1 (HAGB).

    Returns
    -------
    boundaries, classes : ndarray of uint8, shape (H, W)

    Examples
    --------
    >>> import numpy as np
    >>> cells = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    >>> b, c = boundaries_from_cells(cells, {(1, 2): 3})
    >>> c
    array([[0, 3, 0],
           [1, 1, 1],
           [0, 0, 0]], dtype=uint8)

    Pixel ``(1, 1)`` borders cell 2 (Σ3) and cell 3 (not in the table: HAGB); HAGB wins.
    """
    cells = np.asarray(cells)
    if cells.ndim != 2 or not np.issubdtype(cells.dtype, np.integer):
        raise InputError(f"cells must be a 2-D integer array, got {cells.dtype} {cells.shape}")
    lo_t, hi_t, cl_t = _pair_table(pair_class)
    c64 = cells.astype(np.int64)
    n1 = int(max(c64.max(initial=0), hi_t.max(initial=0))) + 1
    tkey = lo_t * n1 + hi_t
    order = np.argsort(tkey)
    tkey, tcls = tkey[order], cl_t[order].astype(np.uint8)
    rank = np.zeros(cells.shape, dtype=np.uint8)
    for a, b, out in ((c64[:, :-1], c64[:, 1:], rank[:, :-1]), (c64[:-1, :], c64[1:, :], rank[:-1, :])):
        diff = (a != b) & (a > 0) & (b > 0)
        key = np.minimum(a[diff], b[diff]) * n1 + np.maximum(a[diff], b[diff])
        cls = np.full(key.shape, HAGB, dtype=np.uint8)
        if tkey.size:
            pos = np.minimum(np.searchsorted(tkey, key), tkey.size - 1)
            hit = tkey[pos] == key
            cls[hit] = tcls[pos[hit]]
        out[diff] = np.maximum(out[diff], _RANK[cls])
    class_of = np.zeros(256, dtype=np.uint8)
    class_of[_RANK[list(CLASS_PRIORITY)]] = CLASS_PRIORITY
    classes = class_of[rank]
    return (rank > 0).astype(np.uint8), classes


def rasterize_cells(m: EBSDMap, cells: np.ndarray, *, pixel_size: float | None = None,
                    shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resample a per-point map onto square pixels by nearest point.

    Pixel ``(i, j)`` is centred at ``x = j * pixel_size``, ``y = i * pixel_size`` in the
    map's frame (origin on the first point) and takes the value of the nearest map point in
    ``(x, y)`` µm; correct for hexagonal grids and unequal row steps.

    Parameters
    ----------
    m : EBSDMap
    cells : ndarray, shape (Y, X)
        Any per-point array (cells, grains, point indices).
    pixel_size : float, optional
        µm per pixel; default the map's step.
    shape : (int, int), optional
        ``(H, W)``; default the pixels whose centres lie within the map's points.

    Returns
    -------
    ndarray, shape (H, W), dtype of ``cells``

    Examples
    --------
    >>> import numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (2, 2, 1)), np.ones((2, 2), np.int32),
    ...             {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> rasterize_cells(m, np.array([[1, 2], [3, 4]]), pixel_size=0.5)
    array([[1, 1, 2],
           [1, 1, 2],
           [3, 3, 4]])
    """
    m = _check_map(m)
    cells = np.asarray(cells)
    if cells.shape != m.shape:
        raise InputError(f"cells must have the map's shape {m.shape}, got {cells.shape}")
    ps = float(m.step) if pixel_size is None else check_pixel_size(pixel_size)
    ny, nx = m.shape
    hexa = m.grid == "hexagonal"
    if shape is None:
        xmax = (nx - 1 + (0.5 if hexa and ny > 1 else 0.0)) * m.step
        shape = (int(math.floor((ny - 1) * m.row_step / ps + 1e-9)) + 1,
                 int(math.floor(xmax / ps + 1e-9)) + 1)
    h, w = (int(s) for s in shape)
    y = (np.arange(h) * ps)[:, None]
    x = (np.arange(w) * ps)[None, :]
    if not hexa:
        r = np.clip(np.rint(y / m.row_step), 0, ny - 1).astype(np.int64)
        c = np.clip(np.rint(x / m.step), 0, nx - 1).astype(np.int64)
        return cells[r, c]
    best_r = best_c = None
    best_d = None
    r0 = np.floor(y / m.row_step).astype(np.int64)
    for dr in (0, 1):
        r = np.clip(r0 + dr, 0, ny - 1)
        c = np.clip(np.rint((x - (r % 2) * m.step / 2) / m.step), 0, nx - 1).astype(np.int64)
        d = (x - (c + (r % 2) / 2) * m.step) ** 2 + (y - r * m.row_step) ** 2
        r = np.broadcast_to(r, d.shape)
        if best_d is None:
            best_r, best_c, best_d = r, c, d
        else:
            closer = d < best_d
            best_r, best_c = np.where(closer, r, best_r), np.where(closer, c, best_c)
            best_d = np.minimum(d, best_d)
    return cells[best_r, best_c]


def boundary_raster(m: EBSDMap, *, pixel_size: float | None = None, lagb: float = 2.0,
                    hagb: float = 15.0, sigma3: bool = True, brandon: bool = True, csl=(3,),
                    misorientation: NeighbourMisorientation | None = None) -> BoundaryRaster:
    """The whole chain: classify edges, segment cells at ``lagb``, vote a class per cell
    pair, resample the cells onto square pixels and draw the 1-px boundaries.

    Clean the map first (:func:`microseg.ebsd.clean_ebsd`) if it has non-indexed points:
    those that stay get cell 0 and no boundary next to them.

    Parameters
    ----------
    m : EBSDMap
    pixel_size : float, optional
        µm per output pixel, default the step.
    lagb, hagb, sigma3, brandon, csl, misorientation
        As in :func:`microseg.ebsd.classify_boundaries`.

    Returns
    -------
    BoundaryRaster
    """
    edges = classify_boundaries(m, lagb=lagb, hagb=hagb, sigma3=sigma3, brandon=brandon,
                                csl=csl, misorientation=misorientation)
    cells = segment_cells(m, edges=edges)
    table = pair_classes(m, cells, edges)
    ps = float(m.step) if pixel_size is None else check_pixel_size(pixel_size)
    raster = rasterize_cells(m, cells, pixel_size=ps)
    boundaries, classes = boundaries_from_cells(raster, table)
    logger.debug("boundary raster %s: %d cells, %d pairs", raster.shape, cells.max(), len(table))
    return BoundaryRaster(boundaries=boundaries, classes=classes, cells=raster, pixel_size=ps,
                          pair_class=table)
