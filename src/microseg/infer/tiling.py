"""Tiles and blending for prediction at any size, as pure functions (numpy only).

An image is cut into overlapping tiles (:func:`tile_starts`, :func:`tile_slices`), each
tile goes through a predictor, and the tiles' outputs are blended with a window that
weighs a tile's centre more than its rim (:func:`blend_window`), so tile seams vanish.
:func:`predict_tiled` streams: it walks the tile grid row by row, keeps only the rows of
the image that tiles still touch, and hands every finished band to the output (a numpy
array, a ``numpy.memmap``, a zarr array: anything that takes slice assignment), so its
memory is a band of tiles, not the image. Inputs are indexed tile by tile too, so a lazy
array (tifffile's zarr view of a TIFF, a zarr array) is never read whole.

Blending is done in float64 and divided by the summed weights, so a predictor that
returns its input plus one returns the image plus one, exactly, whatever the tiling.

Examples
--------
>>> import numpy as np
>>> image = np.random.default_rng(0).random((1, 70, 45), dtype=np.float32)
>>> out = predict_tiled(lambda x: x + 1, image, tile_size=32, overlap=0.25)
>>> bool(np.array_equal(out, image + 1))
True
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from microseg._util import InputError

__all__ = ["tile_starts", "tile_slices", "blend_window", "overlap_px", "predict_tiled"]

WINDOWS = ("gaussian", "cosine", "constant")


def overlap_px(tile: int, overlap: float) -> int:
    """The overlap in pixels: ``overlap`` < 1 is a fraction of the tile, otherwise pixels.

    >>> overlap_px(256, 0.25), overlap_px(256, 32)
    (64, 32)
    """
    if not (isinstance(overlap, (int, float)) and math.isfinite(overlap) and overlap >= 0):
        raise InputError(f"overlap must be a fraction in [0, 1) of the tile or a number of pixels, got {overlap!r}")
    px = int(round(overlap * tile)) if overlap < 1 else int(overlap)
    if px >= tile:
        raise InputError(f"overlap of {px} px must be smaller than the tile ({tile} px)")
    return px


def tile_starts(length: int, tile: int, overlap: int) -> np.ndarray:
    """Start offsets of tiles of ``tile`` px along an axis of ``length`` px.

    Tiles step by ``tile - overlap``; the last one is moved back to end at ``length``
    (so no tile runs past the image and none is padded). An axis shorter than a tile
    gets one tile starting at 0 (its size is then ``length``).

    >>> tile_starts(100, 40, 10).tolist()
    [0, 30, 60]
    >>> tile_starts(30, 40, 10).tolist()
    [0]
    """
    if length <= tile:
        return np.zeros(1, np.int64)
    step = tile - overlap
    n = int(math.ceil((length - tile) / step)) + 1
    starts = np.arange(n, dtype=np.int64) * step
    starts[-1] = length - tile
    return np.unique(starts)


def tile_slices(shape: Sequence[int], tile_size: int | Sequence[int], overlap: float = 0.25) -> list[tuple[slice, ...]]:
    """Every tile of a grid over ``shape`` as a tuple of slices, in row-major order.

    >>> [tuple((s.start, s.stop) for s in t) for t in tile_slices((50, 30), 32, 8)]
    [((0, 32), (0, 30)), ((18, 50), (0, 30))]
    """
    tiles = _tile_shape(shape, tile_size)
    axes = [tile_starts(n, t, overlap_px(t, overlap)) for n, t in zip(shape, tiles)]
    grid = np.meshgrid(*axes, indexing="ij")
    return [tuple(slice(int(s), int(s) + min(t, n)) for s, t, n in zip(start, tiles, shape))
            for start in zip(*(g.ravel() for g in grid))]


def _tile_shape(shape: Sequence[int], tile_size: int | Sequence[int]) -> tuple[int, ...]:
    tiles = (tile_size,) * len(shape) if np.isscalar(tile_size) else tuple(tile_size)
    if len(tiles) != len(shape) or any(int(t) != t or t < 1 for t in tiles):
        raise InputError(f"tile_size must be a positive integer (or one per axis of {tuple(shape)}), got {tile_size!r}")
    return tuple(int(t) for t in tiles)


def blend_window(shape: Sequence[int], kind: str = "gaussian", *, sigma_scale: float = 0.125) -> np.ndarray:
    """Blending weights of one tile, float64, largest at the centre, positive everywhere.

    ``gaussian``: exp(-d²/2σ²) per axis with σ = ``sigma_scale`` × the tile side (nnU-Net's
    choice), ``cosine``: a raised-cosine (Hann) bump, ``constant``: all ones. Weights are
    floored at 1e-3 of the peak so that pixels at the image rim, seen by one tile only,
    keep their prediction.

    >>> w = blend_window((5, 5), "cosine")
    >>> bool(w[2, 2] == w.max()), bool(w.min() > 0)
    (True, True)
    """
    from microseg._util import look_up_option

    kind = look_up_option(kind, WINDOWS, what="blend window")
    w = np.ones(tuple(shape), np.float64)
    if kind == "constant":
        return w
    for axis, n in enumerate(shape):
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        if kind == "gaussian":
            f = np.exp(-0.5 * (x / max(sigma_scale * n, 1e-6)) ** 2)
        else:
            f = 0.5 + 0.5 * np.cos(np.pi * x / (n / 2.0 + 0.5))
        w = w * f.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return np.maximum(w / w.max(), 1e-3)


def predict_tiled(predict: Callable[[np.ndarray], Any], image: Any, *, tile_size: int | Sequence[int] = 512,
                  overlap: float = 0.25, batch_size: int = 4, window: str = "gaussian",
                  out: Any = None, out_channels: int | None = None, dtype: Any = np.float32,
                  progress: bool = False) -> Any:
    """Run ``predict`` over overlapping tiles of ``image`` and blend the outputs.

    Parameters
    ----------
    predict : callable
        Takes a batch ``(B, C, th, tw)`` float32 and returns ``(B, K, th, tw)`` (array or
        tensor). Tiles at the image rim and of images smaller than a tile are smaller
        than ``tile_size``; a network pads them itself.
    image : array_like, shape (C, H, W)
        Indexed tile by tile (``image[:, y0:y1, x0:x1]``), so a zarr array or tifffile's
        zarr view is read piecewise.
    tile_size : int or (int, int)
    overlap : float
        Fraction of the tile (< 1) or pixels (>= 1) shared by neighbouring tiles.
    batch_size : int
        Tiles per call of ``predict``.
    window : {"gaussian", "cosine", "constant"}
        Blending weights (:func:`blend_window`).
    out : array_like, shape (K, H, W), optional
        Where the result goes, band by band (numpy array, memmap, zarr array); a new
        array of ``dtype`` by default.
    out_channels : int, optional
        ``K``; found from the first batch when not given (needed only to create ``out``).
    progress : bool
        A progress bar over the tiles.

    Returns
    -------
    The output array ``(K, H, W)``.
    """
    from microseg._util import progress as bar

    if getattr(image, "ndim", None) != 3:
        raise InputError(f"predict_tiled expects an image of shape (C, H, W), got shape {getattr(image, 'shape', None)}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    _, h, w = (int(v) for v in image.shape)
    th, tw = _tile_shape((h, w), tile_size)
    th, tw = min(th, h), min(tw, w)
    rows = tile_starts(h, th, overlap_px(th, overlap) if th < h else 0)
    cols = tile_starts(w, tw, overlap_px(tw, overlap) if tw < w else 0)
    weight = blend_window((th, tw), window)
    state = _Bands(out, out_channels, (h, w), dtype)
    tiles = bar(((int(r), int(c)) for r in rows for c in cols), enabled=progress, desc="tiles",
                total=len(rows) * len(cols))
    pending: list[tuple[int, int]] = []
    for i, (r, c) in enumerate(tiles):
        pending.append((r, c))
        row_done = c == cols[-1]
        if len(pending) == batch_size or row_done:
            _run_batch(predict, image, pending, (th, tw), weight, state)
            pending = []
        if row_done:
            k = int(np.searchsorted(rows, r)) + 1
            state.flush(int(rows[k]) if k < len(rows) else h)
    return state.out


def _run_batch(predict, image, starts, tile, weight, state) -> None:
    th, tw = tile
    batch = np.stack([np.asarray(image[:, r:r + th, c:c + tw], dtype=np.float32) for r, c in starts])
    result = predict(batch)
    if hasattr(result, "detach"):
        result = result.detach().float().cpu().numpy()
    result = np.asarray(result)
    if result.ndim != 4 or result.shape[0] != len(starts) or result.shape[2:] != (th, tw):
        raise InputError(f"the predictor returned shape {result.shape} for a batch of shape {batch.shape}; "
                         f"expected ({len(starts)}, K, {th}, {tw})")
    for (r, c), tile_out in zip(starts, result):
        state.add(r, c, tile_out, weight)


class _Bands:
    """Accumulators for the rows that tiles still touch; finished rows go to ``out``."""

    def __init__(self, out, channels, shape, dtype) -> None:
        self.out, self.channels, self.shape, self.dtype = out, channels, shape, dtype
        self.top = 0                         # first row not yet written
        self.acc: np.ndarray | None = None   # (K, rows, W) float64, rows from self.top
        self.wsum: np.ndarray | None = None  # (rows, W) float64

    def _grow(self, bottom: int, k: int) -> None:
        if self.acc is None:
            if self.out is None:
                self.out = np.zeros((self.channels or k, *self.shape), self.dtype)
            self.acc = np.zeros((k, 0, self.shape[1]), np.float64)
            self.wsum = np.zeros((0, self.shape[1]), np.float64)
        if k != self.acc.shape[0] or (self.out is not None and k != self.out.shape[0]):
            raise InputError(f"the predictor returned {k} channels; expected {self.out.shape[0]}")
        need = bottom - self.top - self.acc.shape[1]
        if need > 0:
            self.acc = np.concatenate([self.acc, np.zeros((k, need, self.shape[1]))], axis=1)
            self.wsum = np.concatenate([self.wsum, np.zeros((need, self.shape[1]))], axis=0)

    def add(self, r: int, c: int, tile_out: np.ndarray, weight: np.ndarray) -> None:
        th, tw = weight.shape
        self._grow(r + th, tile_out.shape[0])
        y = r - self.top
        self.acc[:, y:y + th, c:c + tw] += tile_out.astype(np.float64) * weight
        self.wsum[y:y + th, c:c + tw] += weight

    def flush(self, until: int) -> None:
        """Write rows ``[top, until)``: no later tile touches them."""
        n = until - self.top
        if n <= 0 or self.acc is None:
            return
        self.out[:, self.top:until, :] = (self.acc[:, :n] / self.wsum[:n]).astype(self.dtype)
        self.acc, self.wsum = self.acc[:, n:], self.wsum[n:]
        self.top = until
