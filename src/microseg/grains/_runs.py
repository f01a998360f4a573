"""Run-length views of label images: fast per-label sums without per-grain loops.

A *run* is a maximal stretch of equal labels along the last axis. A tessellation of
N grains of diameter d on an (H, W) image has about ``N * d`` runs, far fewer than
``H * W`` pixels, so sums over runs (closed forms for the coordinates inside a run)
followed by :func:`numpy.bincount` are much faster than sums over pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Runs:
    """Runs of non-zero labels along the last axis of a label image.

    ``label``, ``start`` (index along the last axis), ``length`` and ``line`` (flat index of
    the line, i.e. of the position with the last axis removed) are 1D arrays of equal size.
    """

    label: np.ndarray
    start: np.ndarray
    length: np.ndarray
    line: np.ndarray
    line_shape: tuple[int, ...]


def runs_along_last_axis(labels: np.ndarray) -> Runs:
    """Return the runs of non-zero labels along the last axis of ``labels``."""
    width = labels.shape[-1]
    flat = np.ascontiguousarray(labels).reshape(-1, width)
    change = np.empty(flat.shape, dtype=bool)
    change[:, 0] = True
    np.not_equal(flat[:, 1:], flat[:, :-1], out=change[:, 1:])
    starts = np.flatnonzero(change)
    values = flat.ravel()[starts]
    lengths = np.diff(starts, append=flat.size)  # every line begins a run, so runs never span lines
    keep = values != 0
    starts, values, lengths = starts[keep], values[keep], lengths[keep]
    line, start = np.divmod(starts, width)
    return Runs(values, start, lengths, line, labels.shape[:-1])


def line_coordinates(runs: Runs) -> tuple[np.ndarray, ...]:
    """Coordinates of each run's line along the leading axes (e.g. the row in 2D)."""
    if len(runs.line_shape) == 1:
        return (runs.line,)
    return np.unravel_index(runs.line, runs.line_shape)


def raw_moments(labels: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label pixel count, coordinate sums and second-moment sums.

    Returns ``count`` (n_labels + 1,), ``s1`` (n_labels + 1, ndim) with sums of each coordinate
    and ``s2`` (n_labels + 1, ndim, ndim) with sums of coordinate products; index 0 is unused.
    """
    runs = runs_along_last_axis(labels)
    ndim = labels.ndim
    n = runs.length.astype(np.float64)
    s = runs.start.astype(np.float64)
    sum_x = n * s + n * (n - 1) / 2.0
    sum_xx = n * s * s + s * n * (n - 1) + (n - 1) * n * (2 * n - 1) / 6.0
    lead = [c.astype(np.float64) for c in line_coordinates(runs)]
    firsts = lead + [None]  # the last axis is the run axis
    size = n_labels + 1

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(runs.label, weights=weights, minlength=size)[:size]

    count = total(n)
    s1 = np.zeros((size, ndim))
    s2 = np.zeros((size, ndim, ndim))
    for i in range(ndim):
        s1[:, i] = total(sum_x) if firsts[i] is None else total(n * firsts[i])
        for j in range(i, ndim):
            if firsts[i] is None and firsts[j] is None:
                value = total(sum_xx)
            elif firsts[j] is None:
                value = total(firsts[i] * sum_x)
            else:
                value = total(n * firsts[i] * firsts[j])
            s2[:, i, j] = s2[:, j, i] = value
    return count, s1, s2


def exposed_faces(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Per-label count of exposed pixel faces, shape (n_labels + 1, ndim).

    Column ``a`` counts faces normal to axis ``a``: pairs of pixels adjacent along axis ``a``
    with different labels, plus pixels on the two image faces of that axis. Each such face
    is counted once for each non-zero label beside it.
    """
    size = n_labels + 1
    out = np.zeros((size, labels.ndim))
    runs = runs_along_last_axis(labels)
    out[:, -1] = 2 * np.bincount(runs.label, minlength=size)[:size]
    for axis in range(labels.ndim - 1):
        lo = [slice(None)] * labels.ndim
        hi = [slice(None)] * labels.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = labels[tuple(lo)], labels[tuple(hi)]
        differ = a != b
        counts = np.bincount(a[differ], minlength=size)[:size] + np.bincount(b[differ], minlength=size)[:size]
        first = np.take(labels, 0, axis=axis).ravel()
        last = np.take(labels, -1, axis=axis).ravel()
        counts = counts + np.bincount(first, minlength=size)[:size] + np.bincount(last, minlength=size)[:size]
        out[:, axis] = counts
    out[0] = 0
    return out


def nonconvex_labels(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Boolean mask (n_labels + 1,) of labels that meet some axis-parallel line more than once.

    A label whose pixels form one interval on every row and column (every axis-parallel line)
    is *orthogonally convex*; digitised convex cells are. Only the others can be two grains
    joined through a gap, so only they need the (slower) neck analysis.
    """
    size = n_labels + 1
    flagged = np.zeros(size, dtype=bool)
    flat = labels.ravel()
    for axis in range(labels.ndim):
        starts = np.empty(labels.shape, dtype=bool)
        lo = [slice(None)] * labels.ndim
        hi = [slice(None)] * labels.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        first = list(lo)
        first[axis] = slice(0, 1)
        starts[tuple(first)] = True
        np.not_equal(labels[tuple(hi)], labels[tuple(lo)], out=starts[tuple(hi)])
        idx = np.flatnonzero(starts)
        values = flat[idx]
        keep = values != 0
        idx, values = idx[keep], values[keep].astype(np.int64)
        coords = list(np.unravel_index(idx, labels.shape))
        del coords[axis]
        other = tuple(n for i, n in enumerate(labels.shape) if i != axis)
        line = np.ravel_multi_index(tuple(coords), other) if len(other) > 1 else coords[0]
        n_runs = np.bincount(values, minlength=size)[:size]
        if len(other) == 1:
            # a connected label meets a contiguous range of lines: count = span
            lo_line = np.full(size, np.iinfo(np.int64).max)
            hi_line = np.full(size, -1, dtype=np.int64)
            np.minimum.at(lo_line, values, line)
            np.maximum.at(hi_line, values, line)
            n_lines = np.where(hi_line >= 0, hi_line - lo_line + 1, 0)
        else:
            n_lines_total = int(np.prod(other))
            pairs = np.sort(values * n_lines_total + line)
            distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
            n_lines = np.bincount(distinct // n_lines_total, minlength=size)[:size]
        flagged |= n_runs > n_lines
    flagged[0] = False
    return flagged
