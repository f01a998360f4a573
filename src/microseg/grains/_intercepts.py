"""Counting the intersections of a test line with a boundary map, by ASTM E112's rules.

The pixel side of :func:`microseg.grains.astm.grain_size_intercept`: test lines and circles
are sampled into 4-connected pixel paths, the boundary runs along each path are found and
counted (a crossing 1, a triple point 1.5, a quadruple point 2, a line end on a boundary 1/2),
and :func:`count_intersections` does it for one line.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from microseg._util import InputError
from microseg._validate import as_boundary_map, check_ndim

_STEP = 0.4  # px between samples of a test line: a rounded step never skips a pixel
_NEAR = 2  # px: a grain entered this close to a junction run is not hidden by it


class LineCount(NamedTuple):
    """E112 counts along one test line: ``intersections`` (P), ``intercepts`` (N), and the
    boundary runs counted as triple or quadruple points (``junctions``)."""

    intersections: float
    intercepts: float
    junctions: int


def _digital_path(samples: np.ndarray, closed: bool) -> np.ndarray:
    """(K, 2) 4-connected pixel path through dense (row, col) samples (< 0.5 px apart).

    A diagonal step gets the 4-neighbour nearer to the curve inserted, so that the path
    cannot slip between the pixels of an 8-connected boundary line.
    """
    q = np.rint(samples).astype(np.int64)
    if closed:
        q, samples = np.vstack([q, q[:1]]), np.vstack([samples, samples[:1]])
    d = np.diff(q, axis=0)
    mid = (samples[:-1] + samples[1:]) / 2
    a = np.stack([q[:-1, 0], q[1:, 1]], 1)
    b = np.stack([q[1:, 0], q[:-1, 1]], 1)
    use_a = ((a - mid) ** 2).sum(1) <= ((b - mid) ** 2).sum(1)
    out = np.empty((2 * len(q) - 1, 2), dtype=np.int64)
    out[0::2], out[1::2] = q, np.where(use_a[:, None], a, b)
    keep = np.ones(len(out), dtype=bool)
    keep[1::2] = (d[:, 0] != 0) & (d[:, 1] != 0)
    out = out[keep]
    out = out[np.r_[True, np.any(out[1:] != out[:-1], axis=1)]]
    if closed and len(out) > 1 and np.array_equal(out[0], out[-1]):
        out = out[:-1]
    return out


def _segment_samples(p: object, q: object) -> np.ndarray:
    p, q = np.asarray(p, float), np.asarray(q, float)
    n = int(math.ceil(float(np.hypot(*(q - p))) / _STEP)) + 1
    return p + np.linspace(0.0, 1.0, n)[:, None] * (q - p)


def _circle_samples(centre: tuple[float, float], radius: float) -> np.ndarray:
    n = max(int(math.ceil(2 * math.pi * radius / _STEP)), 8)
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.sin(t), centre[1] + radius * np.cos(t)], 1)


class _Map(NamedTuple):
    boundary: np.ndarray  # bool (Y, X), as counted (thinned unless thin=False)
    labels: np.ndarray    # int32 (Y + 2, X + 2): 4-connected interiors, padded with 0
    n_labels: int


def _binary(boundaries: object, threshold: object) -> np.ndarray:
    arr, is_prob = as_boundary_map(check_ndim(boundaries, (2, 3), "boundaries", allow_empty=False))
    if arr.ndim != 2:
        raise InputError(f"boundaries: expected a 2D (Y, X) map, got shape {arr.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise InputError(f"threshold: expected a probability in (0, 1], got {threshold!r}")
    return arr >= threshold if is_prob else arr.astype(bool)


def centre_lines(boundaries: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """Centre lines of a boundary map: its skeleton, 1 px wide and 8-connected (bool (Y, X)).

    The map is padded by replicating its edge, so that a boundary reaching the edge keeps
    its end there. A map without a 2x2 block of boundary pixels is already thin and comes
    back unchanged (skeletonising 4096² px takes seconds).

    Examples
    --------
    >>> import numpy as np
    >>> b = np.zeros((9, 9), np.uint8); b[3:6, :] = 1      # a boundary 3 px wide
    >>> centre_lines(b).sum(axis=1)
    array([0, 0, 0, 0, 9, 0, 0, 0, 0])
    """
    boundary = _binary(boundaries, threshold)
    if not (boundary[:-1, :-1] & boundary[1:, :-1] & boundary[:-1, 1:] & boundary[1:, 1:]).any():
        return boundary
    from skimage.morphology import skeletonize

    pad = 8
    return skeletonize(np.pad(boundary, pad, mode="edge"))[pad:-pad, pad:-pad]


def _prepare(boundaries: object, threshold: object, thin: bool) -> _Map:
    boundary = centre_lines(boundaries, threshold=threshold) if thin else _binary(boundaries, threshold)
    # 4-connected interiors, labelled padded by a ring of 0 (no int64 or second label image)
    labels = np.empty((boundary.shape[0] + 2, boundary.shape[1] + 2), np.int32)
    n = ndi.label(np.pad(~boundary, 1), output=labels)
    return _Map(boundary, labels, int(n))


def _neighbour_runs(run_pid: np.ndarray, closed: np.ndarray, n_paths: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous and next run on the same path (cyclic on closed paths), -1 if none."""
    idx = np.arange(run_pid.size)
    per_path = np.bincount(run_pid, minlength=n_paths)
    count, first = per_path[run_pid], np.r_[0, np.cumsum(per_path)[:-1]][run_pid]
    wrap = closed[run_pid] & (count > 1)
    prev = np.where(idx > first, idx - 1, np.where(wrap, first + count - 1, -1))
    nxt = np.where(idx < first + count - 1, idx + 1, np.where(wrap, first, -1))
    return prev, nxt


def _hidden_grains(m: _Map, path: np.ndarray, b: np.ndarray, start: np.ndarray,
                   visited: np.ndarray) -> np.ndarray:
    """Number of grains meeting each run (3x3 neighbourhoods of its pixels) that the line does
    not visit next to it (``visited``, (n_runs, 4) grain ids)."""
    idx = np.flatnonzero(b)
    run_of = np.cumsum(start)[idx] - 1
    n = m.n_labels + 1
    keys = []
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            g = m.labels[path[idx, 0] + dy, path[idx, 1] + dx].astype(np.int64)
            keys.append((run_of * n + g)[g > 0])
    key = np.unique(np.concatenate(keys))
    run, grain = key // n, key % n
    hidden = np.all(grain[:, None] != visited[run], axis=1)
    return np.bincount(run, hidden, minlength=visited.shape[0])


def _count_paths(m: _Map, path: np.ndarray, pid: np.ndarray, closed: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E112 intersections, intercepts and junction runs of each of ``closed.size`` pixel paths.

    ``path`` (K, 2) holds the paths one after the other, ``pid`` the path of each pixel.
    """
    n_paths = closed.size
    size = np.bincount(pid, minlength=n_paths)
    offset = np.r_[0, np.cumsum(size)[:-1]]
    local = np.arange(pid.size) - offset[pid]
    b = m.boundary[path[:, 0], path[:, 1]]
    first = np.minimum.reduceat(np.where(b, size[pid], local), offset)  # first grain pixel
    no_grain = first == size
    shift = np.where(closed & ~no_grain, first, 0)  # closed paths start in a grain: no run wraps
    order = offset[pid] + (local + shift[pid]) % size[pid]
    path, b = path[order], b[order]
    lab = m.labels[path[:, 0] + 1, path[:, 1] + 1]
    is_first, is_last = local == 0, local == size[pid] - 1
    start = b & (is_first | ~np.r_[False, b[:-1]])
    s, e = np.flatnonzero(start), np.flatnonzero(b & (is_last | ~np.r_[b[1:], False]))
    run_pid = pid[s]
    at_end = ~closed[run_pid] & (is_first[s] | is_last[e])
    before = np.where(is_first[s], 0, lab[np.maximum(s - 1, 0)])
    after = lab[np.where(is_last[e], offset[run_pid], np.minimum(e + 1, pid.size - 1))]
    # grains entered within _NEAR px before or after a run are not hidden at a junction there
    prev, nxt = _neighbour_runs(run_pid, closed, n_paths)
    gap_before = (s - e[prev] - 1) % size[run_pid]
    gap_after = (s[nxt] - e - 1) % size[run_pid]
    visited = np.stack([before, after, np.where((prev >= 0) & (gap_before <= _NEAR), before[prev], 0),
                        np.where((nxt >= 0) & (gap_after <= _NEAR), after[nxt], 0)], 1)
    hidden = _hidden_grains(m, path, b, start, visited)
    crossing = before != after
    weight = (np.where(crossing, 2, 1) + hidden) / 2.0  # n grains meet the run: n / 2
    weight[~crossing & (hidden < 2)] = 0.0  # a touch (tangency) away from a junction
    weight[at_end] = 0.5
    weight[no_grain[run_pid]] = 0.0
    inner = (weight > 0) & ~at_end
    p = np.bincount(run_pid, weight, minlength=n_paths)
    ends_on_boundary = b[offset] | b[offset + size - 1]
    no_inner = np.bincount(run_pid, inner, minlength=n_paths) == 0
    in_one_grain = ~closed & ~no_grain & ~ends_on_boundary & no_inner
    junctions = np.bincount(run_pid, inner & (weight > 1), minlength=n_paths)
    return p, p + in_one_grain, junctions.astype(np.int64)


def count_intersections(boundaries: np.ndarray, points: object, *, closed: bool = False,
                        threshold: float = 0.5, thin: bool = True) -> LineCount:
    """E112 intersections and intercepts of one test line with a boundary map.

    The line is the polyline through ``points`` (closed back to the first point when
    ``closed``), followed as a 4-connected pixel path; the counting rules are those of
    :func:`grain_size_intercept`.

    Parameters
    ----------
    boundaries : ndarray, shape (Y, X)
        Boundary map (1 = boundary) or probability (``>= threshold`` is boundary).
    points : array_like, shape (K, 2)
        (row, col) vertices in pixel coordinates, inside the map.
    closed : bool, optional
        A closed line (no ends), e.g. a polygon approximating a circle.
    threshold, thin
        As for :func:`grain_size_intercept`.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.zeros((40, 60), np.uint8)
    >>> b[20, :] = 1; b[20:, 30] = 1                      # a T: three grains
    >>> count_intersections(b, [(5, 10), (35, 10)])       # one crossing; both ends in grains
    LineCount(intersections=1.0, intercepts=1.0, junctions=0)
    >>> count_intersections(b, [(10, 20), (30, 40)]).intersections   # through the triple point
    1.5
    >>> count_intersections(b, [(5, 10), (20, 10)])       # the end on the boundary: 1/2
    LineCount(intersections=0.5, intercepts=0.5, junctions=0)
    >>> count_intersections(b, [(5, 5), (15, 50)])        # inside one grain: 2 ends of 1/2
    LineCount(intersections=0.0, intercepts=1.0, junctions=0)
    """
    m = _prepare(boundaries, threshold, thin)
    pts = np.asarray(points, dtype=float)
    h, w = m.boundary.shape
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < (3 if closed else 2):
        raise InputError(f"points: expected a (K, 2) array of (row, col) vertices with K >= "
                         f"{3 if closed else 2}, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)) or pts.min(0).min() < -0.5 or pts[:, 0].max() > h - 0.5 \
            or pts[:, 1].max() > w - 0.5:
        raise InputError(f"points: every (row, col) vertex must lie inside the {h}x{w} map")
    ring = np.vstack([pts, pts[:1]]) if closed else pts
    samples = np.vstack([_segment_samples(p, q)[:-1] for p, q in zip(ring[:-1], ring[1:])] + [ring[-1:]])
    path = _digital_path(samples[:-1] if closed else samples, closed)
    path = np.clip(path, 0, [h - 1, w - 1])
    p, n, j = _count_paths(m, path, np.zeros(len(path), np.int64), np.array([closed]))
    return LineCount(float(p[0]), float(n[0]), int(j[0]))


# ------------------------------------------------------------------------ patterns and fields
