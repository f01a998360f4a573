"""Neighbour geometry of square and hexagonal EBSD grids.

Every neighbour relation is counted once, from the point that owns it: on a square grid the
``right`` and ``down`` neighbours, on a hexagonal grid ``right``, ``down_left`` and
``down_right``. On a hexagonal grid odd rows are shifted by ``+step / 2``, so the column of a
neighbour in the next row depends on the parity of the row.
"""
from __future__ import annotations

import math

import numpy as np

from microseg._util import InputError

#: Neighbour directions owned by a point, per grid.
DIRECTIONS = {"square": ("right", "down"), "hexagonal": ("right", "down_left", "down_right")}

# (row offset, column offset on even rows, column offset on odd rows)
_OFFSETS = {
    "right": (0, 1, 1),
    "down": (1, 0, 0),
    "down_left": (1, -1, 0),
    "down_right": (1, 0, 1),
}


def offset(direction: str, row_parity: np.ndarray) -> tuple[int, np.ndarray]:
    """``(row offset, column offsets)`` of the neighbour in ``direction`` from points on rows
    of the given parity (array of 0 even / 1 odd)."""
    dr, even, odd = _OFFSETS[direction]
    return dr, np.where(np.asarray(row_parity) % 2 == 1, odd, even)


def neighbour_index(shape: tuple[int, int], grid: str, direction: str) -> np.ndarray:
    """Flat index of the neighbour in ``direction`` of every point, int64 ``(Y, X)``; -1
    where it lies outside the map."""
    ny, nx = shape
    rows, cols = np.indices(shape)
    dr, dc = offset(direction, rows if grid == "hexagonal" else np.zeros_like(rows))
    r2, c2 = rows + dr, cols + dc
    inside = (r2 < ny) & (c2 >= 0) & (c2 < nx)
    return np.where(inside, r2 * nx + c2, -1).astype(np.int64)


def edge_lengths(grid: str, step: float, row_step: float) -> np.ndarray:
    """Length in µm of the boundary segment between a point and its neighbour, per direction
    of :data:`DIRECTIONS` (the shared side of their Voronoi cells)."""
    if grid == "hexagonal":
        return np.full(3, step / math.sqrt(3.0))
    return np.array([row_step, step])


def edge_vectors(grid: str, step: float, row_step: float) -> dict[str, tuple[float, float]]:
    """``(dx, dy)`` in µm from a point to its neighbour, per direction."""
    if grid == "hexagonal":
        return {"right": (step, 0.0), "down_left": (-step / 2, row_step), "down_right": (step / 2, row_step)}
    return {"right": (step, 0.0), "down": (0.0, row_step)}


def graph_edges(shape: tuple[int, int], grid: str, keep: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """All neighbour pairs as two flat index arrays ``(i, j)``, optionally only where
    ``keep`` (``(D, Y, X)`` bool, one layer per direction) is true."""
    src = np.arange(shape[0] * shape[1], dtype=np.int64).reshape(shape)
    ii, jj = [], []
    for k, direction in enumerate(DIRECTIONS[grid]):
        nbr = neighbour_index(shape, grid, direction)
        ok = nbr >= 0 if keep is None else (nbr >= 0) & keep[k]
        ii.append(src[ok])
        jj.append(nbr[ok])
    return np.concatenate(ii), np.concatenate(jj)


def kernel_offsets(grid: str, order: int, parity: int) -> list[tuple[int, int]]:
    """``(row, column)`` offsets of all points within ``order`` steps of the neighbour graph
    (4-neighbours on a square grid, 6 on a hexagonal one) of a point on a row of the given
    parity (0 even, 1 odd; only matters on a hexagonal grid), the point itself excluded."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise InputError(f"order must be an integer >= 1, got {order!r}")
    out = []
    for dr in range(-order, order + 1):
        for dc in range(-order - 1, order + 2):
            if (dr, dc) == (0, 0):
                continue
            if grid == "hexagonal":
                # odd-r offset layout -> axial coordinates, then hexagonal distance
                r1 = parity + dr
                dq = (dc - (r1 - (r1 & 1)) // 2) - (0 - (parity - (parity & 1)) // 2)
                dist = (abs(dq) + abs(dr) + abs(dq + dr)) // 2
            else:
                dist = abs(dr) + abs(dc)
            if dist <= order:
                out.append((dr, dc))
    return out
