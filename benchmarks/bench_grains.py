"""Grain labelling and measurement on a 4096 x 4096 Voronoi boundary map (~20,000 grains)."""
from __future__ import annotations

import numpy as np

from _common import best_of


def voronoi_cells(size: int = 4096, n_grains: int = 20000, *, seed: int = 0) -> np.ndarray:
    """Nearest-seed cell index on a ``size`` x ``size`` grid, seeds jittered on a square lattice.

    With one seed per lattice square of side ``s`` (jitter kept inside the square) the
    nearest seed of a pixel lies in its own or a neighbouring square, so 9 candidates per
    pixel give the exact Voronoi diagram.
    """
    rng = np.random.default_rng(seed)
    k = int(round(np.sqrt(n_grains)))
    s = size / k
    lattice = np.stack(np.meshgrid(np.arange(k), np.arange(k), indexing="ij"), -1)
    seeds = ((lattice + rng.uniform(0.05, 0.95, (k, k, 2))) * s).astype(np.float32)
    coord = np.arange(size, dtype=np.float32)
    square = np.minimum((coord // s).astype(np.int64), k - 1)
    best = np.full((size, size), np.inf, dtype=np.float32)
    cell = np.zeros((size, size), dtype=np.int32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cy = np.clip(square + dy, 0, k - 1)[:, None]
            cx = np.clip(square + dx, 0, k - 1)[None, :]
            d = (coord[:, None] - seeds[cy, cx, 0]) ** 2 + (coord[None, :] - seeds[cy, cx, 1]) ** 2
            closer = d < best
            best[closer] = d[closer]
            cell[closer] = np.broadcast_to(cy * k + cx, d.shape)[closer]
    return cell


def boundaries_of(cell: np.ndarray) -> np.ndarray:
    """1-px boundaries where the right or lower 4-neighbour belongs to another cell."""
    b = np.zeros(cell.shape, dtype=np.uint8)
    b[:, :-1] |= cell[:, :-1] != cell[:, 1:]
    b[:-1, :] |= cell[:-1, :] != cell[1:, :]
    return b


def run(report) -> None:
    from microseg.grains import label_grains, measure_grains

    cell = voronoi_cells()
    b = boundaries_of(cell)
    for method in ("none", "watershed", "merge"):
        def work(method=method):
            labels = label_grains(b, close_gaps=method)
            return measure_grains(labels, pixel_size=0.1)
        t, table = best_of(work, repeat=3)
        report(f"label+measure 4096^2, {len(table['label'])} grains, close_gaps={method}", t, "s",
               target="< 1 s")
    t, _ = best_of(lambda: label_grains(b, close_gaps="none"), repeat=3)
    report("label_grains only, close_gaps=none", t, "s")
    labels = label_grains(b, close_gaps="none")
    t, _ = best_of(lambda: measure_grains(labels, pixel_size=0.1), repeat=3)
    report("measure_grains only", t, "s")
    rng = np.random.default_rng(1)
    gapped = b.copy()
    ys, xs = np.nonzero(b[8:-8, 8:-8])
    pick = rng.choice(ys.size, 200, replace=False)
    for y, x in zip(ys[pick] + 8, xs[pick] + 8):
        gapped[y - 1:y + 2, x - 1:x + 2] = 0
    for method in ("watershed", "merge"):
        t, _ = best_of(lambda method=method: label_grains(gapped, close_gaps=method), repeat=3)
        report(f"label_grains {method}, 200 3-px gaps cut", t, "s")
