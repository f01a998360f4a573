"""Clean-up of EBSD maps: quality thresholds and filling of non-indexed points."""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from microseg._util import InputError, look_up_option
from microseg.ebsd import _orientation as ori
from microseg.ebsd._grid import kernel_offsets
from microseg.ebsd.misorientation import _check_map
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["clean_ebsd", "merge_phases"]

_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def _threshold(m: EBSDMap, limits: dict | None, *, upper: bool, arg: str) -> np.ndarray:
    """Points failing the quality limits (NaN fails)."""
    bad = np.zeros(m.shape, dtype=bool)
    if limits is None:
        return bad
    if not isinstance(limits, dict):
        raise InputError(f"{arg} must be a dict of quality field -> value, got {type(limits).__name__}")
    for name, value in limits.items():
        key = look_up_option(str(name).lower(), sorted(m.quality), what=f"quality field in {arg}")
        field = np.asarray(m.quality[key])
        with np.errstate(invalid="ignore"):
            bad |= ~(field <= value) if upper else ~(field >= value)
    return bad


def _neighbours(shape: tuple[int, int], grid: str) -> np.ndarray:
    """Flat indices ``(K, Y*X)`` of every point's grid neighbours (4 or 6), -1 outside."""
    ny, nx = shape
    rows, cols = np.indices(shape)
    parities = (0, 1) if grid == "hexagonal" else (0,)
    offsets = [kernel_offsets(grid, 1, p) for p in parities]
    out = np.full((len(offsets[0]), ny, nx), -1, dtype=np.int64)
    for p, offs in zip(parities, offsets):
        on = (rows % len(parities)) == p
        for k, (dr, dc) in enumerate(offs):
            r2, c2 = rows + dr, cols + dc
            ok = on & (r2 >= 0) & (r2 < ny) & (c2 >= 0) & (c2 < nx)
            out[k][ok] = (r2 * nx + c2)[ok]
    return out.reshape(len(offsets[0]), -1)


def _medoid_slot(m: EBSDMap, q: np.ndarray, nb: np.ndarray, use: np.ndarray,
                 phase: np.ndarray) -> np.ndarray:
    """Per target row the neighbour slot whose orientation has the smallest summed
    disorientation to the other usable neighbours (``use`` ``(T, K)``)."""
    t, k = nb.shape
    score = np.where(use, 0.0, np.inf)
    for i in range(k):
        for j in range(i + 1, k):
            both = use[:, i] & use[:, j]
            for pid, ph in m.phases.items():
                s = np.flatnonzero(both & (phase == pid))
                if s.size:
                    a = ori.disorientation(q[nb[s, i]], q[nb[s, j]], ph.point_group)
                    score[s, i] += a
                    score[s, j] += a
    return np.argmin(score, axis=1)


def _fill_pass(m: EBSDMap, phase: np.ndarray, q: np.ndarray, fillable: np.ndarray,
               nbrs: np.ndarray) -> int:
    """Fill, in place, every fillable point with an indexed neighbour; return how many."""
    nph = np.where(nbrs >= 0, phase[np.maximum(nbrs, 0)], -1)  # (K, N)
    targets = np.flatnonzero(fillable & (phase <= 0) & (nph > 0).any(axis=0))
    if targets.size == 0:
        return 0
    nb, tph = nbrs[:, targets].T, nph[:, targets].T  # (T, K)
    ids = np.array(sorted(m.phases), dtype=np.int32)
    counts = np.stack([(tph == pid).sum(axis=1) for pid in ids], axis=1)
    best = ids[np.argmax(counts, axis=1)]  # most common phase, ties to the lowest id
    use = tph == best[:, None]
    slot = _medoid_slot(m, q, nb, use, best)
    src = nb[np.arange(len(targets)), slot]
    q[targets] = q[src]
    phase[targets] = best
    return int(targets.size)


def _fill_points(m: EBSDMap, phase: np.ndarray, q: np.ndarray, fillable: np.ndarray,
                 max_iterations: int) -> tuple[int, int]:
    """Fill the non-indexed points of ``fillable`` (Y, X) in place (``phase`` (Y, X)
    contiguous, ``q`` (Y*X, 4)); return the number filled and the passes that filled any."""
    phase_flat, nbrs = phase.ravel(), _neighbours(m.shape, m.grid)
    filled = passes = 0
    for _ in range(max_iterations):
        done = _fill_pass(m, phase_flat, q, fillable.ravel(), nbrs)
        if done == 0:
            break
        filled, passes = filled + done, passes + 1
    return filled, passes


def _fill(m: EBSDMap, phase: np.ndarray, q: np.ndarray, max_iterations: int,
          max_hole: int | None) -> tuple[int, int]:
    """Fill non-indexed points in place (``phase`` (Y, X), ``q`` (Y*X, 4)); return the
    number filled and the passes that filled something."""
    holes = phase <= 0
    fillable = holes.copy()
    if max_hole is not None:
        structure = np.ones((3, 3)) if m.grid == "hexagonal" else None
        lab, n = ndimage.label(holes, structure=structure)
        size = np.bincount(lab.ravel(), minlength=n + 1)
        fillable &= size[lab] <= max_hole
    return _fill_points(m, phase, q, fillable, max_iterations)


def clean_ebsd(m: EBSDMap, *, min_quality: dict[str, float] | None = None,
               max_quality: dict[str, float] | None = None, fill: bool = True,
               max_iterations: int = 10, max_hole: int | None = None) -> EBSDMap:
    """Remove poorly indexed points and fill non-indexed ones from their neighbours.

    1. Points with a quality field below ``min_quality`` (e.g. ``{"ci": 0.1}``) or above
       ``max_quality`` (e.g. ``{"mad": 1.0}``) become non-indexed (NaN fails).
    2. With ``fill``, non-indexed points are filled from the hole edges inward, at most
       ``max_iterations`` passes of one point each: a point with an indexed neighbour takes
       the most common phase among its indexed neighbours (ties to the lowest phase id) and
       the orientation of the neighbour of that phase with the smallest summed
       disorientation to the others of that phase (the medoid, symmetry-aware). Neighbours
       are the grid's (4 or 6); all points of a pass are filled from the previous state.
       Holes (connected non-indexed regions; 4-connected on a square grid, 8 on a hexagonal
       one) of more than ``max_hole`` points stay unfilled, e.g. a non-indexed sample border.

    Quality fields are kept as they were; ``metadata["clean_ebsd"]`` records the options and
    the counts of removed, filled and still non-indexed points.

    Returns
    -------
    EBSDMap
        A new map.

    Examples
    --------
    >>> import numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> ci = np.ones((3, 3), np.float32); ci[1, 1] = 0.02
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (3, 3, 1)), np.ones((3, 3), np.int32),
    ...             {1: Phase(1, "Ni", "m-3m")}, step=1.0, quality={"ci": ci})
    >>> int(clean_ebsd(m, min_quality={"ci": 0.1}, fill=False).indexed.sum())
    8
    >>> clean_ebsd(m, min_quality={"ci": 0.1}).metadata["clean_ebsd"]["filled"]
    1
    """
    m = _check_map(m)
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) \
            or max_iterations < 0:
        raise InputError(f"max_iterations must be a non-negative integer, got {max_iterations!r}")
    if max_hole is not None and not (np.isscalar(max_hole) and max_hole >= 0):
        raise InputError(f"max_hole must be None or a non-negative number of points, got {max_hole!r}")
    bad = _threshold(m, min_quality, upper=False, arg="min_quality")
    bad |= _threshold(m, max_quality, upper=True, arg="max_quality")
    phase = m.phase_ids.astype(np.int32).copy()
    q = np.array(m.rotations, dtype=np.float64).reshape(-1, 4)
    removed = int((bad & (phase > 0)).sum())
    phase[bad] = -1
    q[bad.ravel()] = _IDENTITY
    filled = passes = 0
    if fill and m.phases:
        filled, passes = _fill(m, phase, q, int(max_iterations), max_hole)
    meta = dict(m.metadata)
    meta["clean_ebsd"] = {"min_quality": dict(min_quality or {}), "max_quality": dict(max_quality or {}),
                          "fill": bool(fill), "max_iterations": int(max_iterations),
                          "max_hole": max_hole, "removed": removed, "filled": filled,
                          "passes": passes, "not_indexed": int((phase <= 0).sum())}
    logger.info("clean_ebsd: %d points removed, %d filled in %d passes, %d not indexed",
                removed, filled, passes, meta["clean_ebsd"]["not_indexed"])
    return m.with_(rotations=q.reshape(m.rotations.shape), phase_ids=phase, metadata=meta)


def merge_phases(m: EBSDMap, *, into: int | None = None) -> EBSDMap:
    """Treat all phases as one: every indexed point gets phase ``into`` (default the lowest
    id). For phases that share a point group and orientation relation (γ/γ′ superalloys,
    cube-on-cube), so that their interfaces are judged by misorientation, not as phase
    boundaries.

    Examples
    --------
    >>> import numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (1, 3, 1)), np.array([[1, 2, -1]], np.int32),
    ...             {1: Phase(1, "γ", "m-3m"), 2: Phase(2, "γ′", "m-3m")}, step=1.0)
    >>> merge_phases(m).phase_ids
    array([[ 1,  1, -1]], dtype=int32)
    """
    m = _check_map(m)
    if not m.phases:
        return m
    target = min(m.phases) if into is None else into
    if target not in m.phases:
        raise InputError(f"into must be one of the phase ids {sorted(m.phases)}, got {into!r}")
    groups = {str(ori.symmetry_operators(p.point_group).round(6).tolist()) for p in m.phases.values()}
    if len(groups) > 1:
        raise InputError("merge_phases needs phases of one point group, got "
                         + ", ".join(f"{p.name}: {p.point_group}" for p in m.phases.values()))
    phase = np.where(m.phase_ids > 0, target, -1).astype(np.int32)
    return m.with_(phase_ids=phase, phases={target: m.phases[target]})
