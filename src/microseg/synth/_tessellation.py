"""Laguerre (power) tessellations on a pixel grid, and the clean-up that makes every cell
one 4-connected region whose interior survives the drawing of 1-px boundaries."""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import label as _label_components

logger = logging.getLogger(__name__)

_BUCKETS = (2, 4, 8, 16, 32, 64, 128, 256)


def packed_seeds(box: tuple[float, float, float, float], n: int, *, spread: float,
                 rng: np.random.Generator, density: float = 0.65,
                 iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(n, 2)`` (row, col) and radii ``(n,)`` of relaxed, roughly packed disks.

    Radii are log-normal with log-standard deviation ``spread``; disks are scaled to cover
    ``density`` of ``box = (y0, x0, y1, x1)`` and pushed apart where they overlap, which
    gives a Laguerre tessellation (weights ``r**2``) whose cell sizes follow the radii.
    """
    y0, x0, y1, x1 = box
    radii = np.exp(rng.normal(0.0, spread, n)) if spread > 0 else np.ones(n)
    radii *= np.sqrt(density * (y1 - y0) * (x1 - x0) / (np.pi * np.sum(radii ** 2)))
    pts = np.column_stack([rng.uniform(y0, y1, n), rng.uniform(x0, x1, n)])
    reach = 2.0 * float(radii.max())
    for _ in range(iterations):
        pairs = cKDTree(pts).query_pairs(reach, output_type="ndarray")
        if len(pairs) == 0:
            break
        i, j = pairs[:, 0], pairs[:, 1]
        delta = pts[j] - pts[i]
        dist = np.maximum(np.hypot(delta[:, 0], delta[:, 1]), 1e-9)
        overlap = radii[i] + radii[j] - dist
        keep = overlap > 0
        if not np.any(keep):
            break
        i, j, delta, dist, overlap = i[keep], j[keep], delta[keep], dist[keep], overlap[keep]
        push = (0.5 * overlap / dist)[:, None] * delta
        move = np.zeros_like(pts)
        np.add.at(move, i, -push)
        np.add.at(move, j, push)
        pts += 0.5 * move
        pts[:, 0] = np.clip(pts[:, 0], y0, y1)
        pts[:, 1] = np.clip(pts[:, 1], x0, x1)
    return pts, radii


def power_assign(shape: tuple[int, int], points: np.ndarray, weights: np.ndarray, *,
                 tile: int = 8, chunk: int = 4096) -> np.ndarray:
    """Index of the seed with the smallest power distance ``|p - s|^2 - w`` at each pixel.

    Exact: seeds are lifted to 3-D as ``(s, sqrt(W - w))`` so the power distance plus ``W``
    is a Euclidean distance; for each ``tile x tile`` block only the seeds within
    ``d_min + 2 h`` of its centre (``h`` the half-diagonal) can win, and these are found
    with a KD-tree. Blocks are grouped by candidate count to keep the padding small.
    """
    ny, nx = shape
    ty, tx = -(-ny // tile), -(-nx // tile)
    lift = np.sqrt(np.max(weights) - weights)
    tree = cKDTree(np.column_stack([points, lift]))
    cy, cx = np.meshgrid((np.arange(ty) * tile + (tile - 1) / 2.0),
                         (np.arange(tx) * tile + (tile - 1) / 2.0), indexing="ij")
    centres = np.column_stack([cy.ravel(), cx.ravel(), np.zeros(cy.size)])
    reach_extra = 2.0 * (tile - 1) / np.sqrt(2.0) + 1e-6
    kmax = min(len(points), 16)
    dist, idx = tree.query(centres, k=kmax)
    dist, idx = dist.reshape(len(centres), -1), idx.reshape(len(centres), -1)
    count = np.sum(dist <= dist[:, :1] + reach_extra, axis=1)
    while kmax < len(points) and np.any(count >= kmax):
        kmax = min(len(points), kmax * 2)
        dist, idx = tree.query(centres, k=kmax)
        count = np.sum(dist <= dist[:, :1] + reach_extra, axis=1)
    out = np.empty((ty * tx, tile * tile), dtype=np.int32)
    out[count == 1] = idx[count == 1, :1]
    off = np.arange(tile) - (tile - 1) / 2.0
    oy, ox = (a.ravel().astype(np.float32) for a in np.meshgrid(off, off, indexing="ij"))
    lo = 1
    for k in _BUCKETS + (kmax,):
        sel = np.nonzero((count > lo) & (count <= k))[0]
        lo = max(lo, k)
        for start in range(0, len(sel), chunk):
            t = sel[start:start + chunk]
            cand = idx[t, :k]
            sy = (points[cand, 0] - centres[t, 0][:, None]).astype(np.float32)[..., None]
            sx = (points[cand, 1] - centres[t, 1][:, None]).astype(np.float32)[..., None]
            d2 = (oy - sy) ** 2 + (ox - sx) ** 2 + (lift[cand] ** 2).astype(np.float32)[..., None]
            best = np.argmin(d2, axis=1)
            out[t] = np.take_along_axis(cand, best, axis=1)
    full = out.reshape(ty, tx, tile, tile).transpose(0, 2, 1, 3).reshape(ty * tile, tx * tile)
    return np.ascontiguousarray(full[:ny, :nx])


def components(source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected components of equal values in ``source`` (ids >= 1).

    Returns the cell map (int32, 1..N in raster order) and ``source_of_cell`` ``(N+1,)``.
    """
    cells = _label_components(source, connectivity=1, background=0).astype(np.int32, copy=False)
    src_of = np.zeros(int(cells.max()) + 1, dtype=np.int32)
    src_of[cells] = source
    return cells, src_of


def boundary_mask(cells: np.ndarray) -> np.ndarray:
    """1-px boundary: a pixel is 1 when its right or lower 4-neighbour is another cell."""
    out = np.zeros(cells.shape, dtype=bool)
    out[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    out[:-1, :] |= cells[:-1, :] != cells[1:, :]
    return out


def adjacent_pairs(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 4-adjacent pairs ``(a, b)`` of different cells, one entry per pixel edge."""
    h = cells[:, :-1] != cells[:, 1:]
    v = cells[:-1, :] != cells[1:, :]
    a = np.concatenate([cells[:, :-1][h], cells[:-1, :][v]])
    b = np.concatenate([cells[:, 1:][h], cells[1:, :][v]])
    return a, b


def interior_pieces(cells: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interior (cell minus boundary pixels) as 4-connected pieces.

    Returns the piece map, the cell of each piece ``(P + 1,)`` and the number of pieces
    of each cell ``(n + 1,)``.
    """
    inner, n_inner = ndimage.label(~boundary_mask(cells))
    cell_of = np.zeros(n_inner + 1, dtype=np.int64)
    cell_of[inner] = cells
    pieces = np.bincount(cell_of[1:], minlength=n + 1)
    return inner, cell_of, pieces


def _trim_cell(source: np.ndarray, cells: np.ndarray, src_of: np.ndarray, cell: int,
               box: tuple[slice, slice]) -> None:
    """Cut ``cell`` down to ``K``: its largest interior piece ``L`` plus the pixels right
    of or below ``L``. ``K`` is 4-connected and its interior is exactly ``L``; each other
    4-connected remnant goes to the other cell it touches most (``source`` in place)."""
    ny, nx = cells.shape
    bb = (slice(max(box[0].start - 1, 0), min(box[0].stop + 1, ny)),
          slice(max(box[1].start - 1, 0), min(box[1].stop + 1, nx)))
    cc = cells[bb]
    mine = cc == cell
    inner = mine.copy()
    inner[:, :-1] &= cc[:, 1:] == cell
    inner[:-1, :] &= cc[1:, :] == cell
    pieces, n = ndimage.label(inner)
    largest = pieces == 1 + int(np.argmax(np.bincount(pieces.ravel(), minlength=n + 1)[1:]))
    keep = largest.copy()
    keep[:, 1:] |= largest[:, :-1]
    keep[1:, :] |= largest[:-1, :]
    rest, n_rest = ndimage.label(mine & ~keep)
    for r in range(1, n_rest + 1):
        part = rest == r
        near = cc[ndimage.binary_dilation(part) & ~mine]
        if len(near):
            source[bb][part] = src_of[np.bincount(near).argmax()]


def merge_targets(cells: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """For each cell the cell it merges into (itself if it stays): a bad cell joins the
    neighbour with the longest shared edge, preferring good or larger neighbours so
    that the mapping has no cycles."""
    n = len(bad) - 1
    area = np.bincount(cells.ravel(), minlength=n + 1)
    a, b = adjacent_pairs(cells)
    a, b = np.concatenate([a, b]), np.concatenate([b, a])
    keep = bad[a]
    a, b = a[keep], b[keep]
    target = np.arange(n + 1)
    if len(a) == 0:
        return target
    key, length = np.unique(a.astype(np.int64) * (n + 1) + b, return_counts=True)
    a, b = key // (n + 1), key % (n + 1)
    ok = ~bad[b] | (area[b] > area[a]) | ((area[b] == area[a]) & (b > a))
    a, b, length = a[ok], b[ok], length[ok]
    order = np.lexsort((b, -length, bad[b], a))
    a, b = a[order], b[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    target[a[first]] = b[first]
    for _ in range(64):
        nxt = target[target]
        if np.array_equal(nxt, target):
            break
        target = nxt
    return target


def clean_cells(source: np.ndarray, *, min_area: int,
                max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Split ``source`` into 4-connected cells and repair them until each cell has at
    least ``min_area`` pixels and an interior that is one 4-connected piece.

    Cells that are too small or whose interior is empty merge into the neighbour with the
    longest shared edge; a cell whose interior falls into several pieces is cut down to
    its largest piece (see :func:`_trim_cell`). Returns ``(cells, source_of_cell)``.
    """
    source = source.copy()
    for round_ in range(max_rounds):
        cells, src_of = components(source)
        n = len(src_of) - 1
        area = np.bincount(cells.ravel(), minlength=n + 1)
        inner, cell_of, pieces = interior_pieces(cells, n)
        bad = (area < min_area) | (pieces == 0)
        bad[0] = False
        split = pieces > 1
        if n == 1 or not (np.any(bad) or np.any(split)):
            return cells, src_of
        logger.debug("clean-up round %d: %d cells, %d merged, %d split", round_, n,
                     int(bad.sum()), int(split.sum()))
        target = merge_targets(cells, bad)
        source = src_of[target][cells]
        trim = np.nonzero(split & ~bad)[0]
        if len(trim):
            boxes = ndimage.find_objects(cells)
            for c in trim:
                _trim_cell(source, cells, src_of[target], int(c), boxes[c - 1])
    raise RuntimeError("could not make every cell one connected region; "
                       "try a larger mean_diameter_px")  # pragma: no cover
