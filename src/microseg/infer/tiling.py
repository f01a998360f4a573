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

__all__ = ["tile_starts", "tile_slices", "blend_window", "overlap_px", "predict_tiled", "resolve_tile_size"]

WINDOWS = ("gaussian", "cosine", "constant")

#: ``tile_size="auto"``: images with a side longer than this are cut into tiles ...
AUTO_TILE_ABOVE = 1024
#: ... of this size; smaller ones are predicted whole.
AUTO_TILE = 512


def resolve_tile_size(tile_size: int | str | None, shape: Sequence[int]) -> int | None:
    """The tile side to use for an image of ``shape`` (``(H, W)``), or None for the whole image.

    ``None`` or ``0``: the whole image at once. An integer: tiles of that size.
    ``"auto"``: tiles of :data:`AUTO_TILE` (512) px for an image with a side longer than
    :data:`AUTO_TILE_ABOVE` (1024) px, the whole image otherwise (a whole 1024² image needs
    well under 1 GB with the default models; a larger one is where memory starts to matter,
    and 512² tiles with a quarter overlap cost ~1.8× the pixels of the image at most).

    >>> resolve_tile_size("auto", (1024, 1024)), resolve_tile_size("auto", (2048, 900))
    (None, 512)
    >>> resolve_tile_size(0, (4000, 4000)), resolve_tile_size(256, (100, 100))
    (None, 256)
    """
    if tile_size is None:
        return None
    if isinstance(tile_size, str) and tile_size.lower() == "auto":
        return AUTO_TILE if max(int(n) for n in shape) > AUTO_TILE_ABOVE else None
    if isinstance(tile_size, (bool, np.bool_)) or not isinstance(tile_size, (int, np.integer)) or tile_size < 0:
        raise InputError(f"tile_size must be a positive number of px, 0 or None (the whole image) or 'auto'; "
                         f"got {tile_size!r}")
    return int(tile_size) or None


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


def tile_starts(length: int, tile: int, overlap: int, *, align: int = 1) -> np.ndarray:
    """Start offsets of tiles of ``tile`` px along an axis of ``length`` px.

    As few tiles as a step of at most ``tile - overlap`` allows, spread evenly from 0 to
    ``length - tile`` (as nnU-Net spreads them), so that no tile runs past the image, none
    is padded and neighbours share at least ``overlap`` px. An axis shorter than a tile
    gets one tile starting at 0 (its size is then ``length``).

    ``align`` > 1 (a network's padding multiple, e.g. 2**depth of a U-Net): every start
    is a multiple of ``align`` (the step is rounded down to one), so that every tile's
    pooling grid is the whole image's; the last tile then ends at the first multiple of
    ``align`` at or past ``length`` (past it by less than ``align``) when ``tile`` is a
    multiple of ``align``, and :func:`predict_tiled` pads it there as the network pads
    the whole image.

    >>> tile_starts(100, 40, 10).tolist()
    [0, 30, 60]
    >>> tile_starts(1024, 512, 128).tolist()   # three tiles: 256 px apart, not 384 and 128
    [0, 256, 512]
    >>> tile_starts(30, 40, 10).tolist()
    [0]
    >>> tile_starts(257, 128, 32, align=4).tolist()   # the last tile covers 132..260
    [0, 64, 132]
    """
    if length <= tile:
        return np.zeros(1, np.int64)
    align = max(1, int(align))
    step = tile - overlap
    last = length - tile
    if align > 1:
        step = max(align, step // align * align)
        last = -(-last // align) * align
    n = int(math.ceil(last / step)) + 1
    # s_i = align * floor(i * q / (n - 1)): multiples of align, gaps <= step (step / align is an
    # integer >= q / (n - 1))
    q = last // align
    return np.unique(align * ((np.arange(n, dtype=np.int64) * q) // (n - 1)))


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


def blend_window(shape: Sequence[int], kind: str = "gaussian", *, sigma_scale: float = 0.125,
                 flat: Sequence[tuple[bool, bool]] | None = None) -> np.ndarray:
    """Blending weights of one tile, float64, largest at the centre, positive everywhere.

    ``gaussian``: exp(-d²/2σ²) per axis with σ = ``sigma_scale`` × the tile side (nnU-Net's
    choice), ``cosine``: a raised-cosine (Hann) bump, ``constant``: all ones. Weights are
    floored at 1e-3 of the peak so that pixels at the image rim, seen by one tile only,
    keep their prediction.

    ``flat``: per axis, ``(start, end)``: whether that side of the tile lies on the image's
    border. A tile sees there what the whole image shows (nothing beyond it), so its
    weight is not lowered towards that side (the profile stays at its peak from the
    centre to that side); only sides inside the image, where the network misses the
    neighbouring context, are weighed down. :func:`predict_tiled` passes it per tile.

    >>> w = blend_window((5, 5), "cosine")
    >>> bool(w[2, 2] == w.max()), bool(w.min() > 0)
    (True, True)
    >>> w = blend_window((5, 5), "cosine", flat=[(True, False), (False, False)])
    >>> bool(w[0, 2] == w.max()), bool(w[4, 2] < w[2, 2])
    (True, True)
    """
    from microseg._util import look_up_option

    kind = look_up_option(kind, WINDOWS, what="blend window")
    w = np.ones(tuple(shape), np.float64)
    if kind == "constant":
        return w
    flat = list(flat) if flat is not None else [(False, False)] * len(shape)
    for axis, n in enumerate(shape):
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        if kind == "gaussian":
            f = np.exp(-0.5 * (x / max(sigma_scale * n, 1e-6)) ** 2)
        else:
            f = 0.5 + 0.5 * np.cos(np.pi * x / (n / 2.0 + 0.5))
        start, end = flat[axis]
        if start:
            f = np.where(x < 0, f.max(), f)
        if end:
            f = np.where(x > 0, f.max(), f)
        w = w * f.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return np.maximum(w / w.max(), 1e-3)


def predict_tiled(predict: Callable[[np.ndarray], Any], image: Any, *, tile_size: int | Sequence[int] = 512,
                  overlap: float = 0.25, batch_size: int = 4, window: str = "gaussian",
                  out: Any = None, out_channels: int | None = None, dtype: Any = np.float32,
                  align: int = 1, pad_mode: str = "reflect", progress: bool = False) -> Any:
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
        Tiles per call of ``predict`` (a batch may hold the end of one row of tiles and the
        start of the next).
    window : {"gaussian", "cosine", "constant"}
        Blending weights (:func:`blend_window`).
    out : array_like, shape (K, H, W), optional
        Where the result goes, band by band (numpy array, memmap, zarr array); a new
        array of ``dtype`` by default.
    out_channels : int, optional
        ``K``; found from the first batch when not given (needed only to create ``out``).
    align : int
        Tiles start at multiples of ``align`` and their size is rounded down to one (see
        :func:`tile_starts`): give a network's padding multiple, so that a tile sees the
        pooling grid of the whole image. The last tile of an axis may then run past the
        image by less than ``align`` px; it is padded there (``pad_mode``) and its output
        cropped.
    pad_mode : {"reflect", "edge", "constant"}
        How such a tile is padded (:func:`numpy.pad`; ``reflect`` as torch's, and the
        networks', reflect padding; ``edge`` where the piece is too short to reflect).
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
    if not (isinstance(align, (int, np.integer)) and align >= 1):
        raise InputError(f"align must be a positive integer, got {align!r}")
    if pad_mode not in ("reflect", "edge", "constant"):
        raise InputError(f"pad_mode must be 'reflect', 'edge' or 'constant', got {pad_mode!r}")
    _, h, w = (int(v) for v in image.shape)
    th, tw = (_aligned(t, n, int(align)) for t, n in zip(_tile_shape((h, w), tile_size), (h, w)))
    rows = tile_starts(h, th, overlap_px(th, overlap) if th < h else 0, align=int(align))
    cols = tile_starts(w, tw, overlap_px(tw, overlap) if tw < w else 0, align=int(align))
    weight = _Windows((th, tw), window, (h, w))
    state = _Bands(out, out_channels, (h, w), dtype)
    tiles = bar(((int(r), int(c)) for r in rows for c in cols), enabled=progress, desc="tiles",
                total=len(rows) * len(cols))
    pending: list[tuple[int, int]] = []
    done = 0   # tiles predicted; batches may span rows of tiles
    for i, (r, c) in enumerate(tiles):
        pending.append((r, c))
        if len(pending) == batch_size or i == len(rows) * len(cols) - 1:
            _run_batch(predict, image, pending, (th, tw), weight, state, pad_mode)
            done += len(pending)
            pending = []
            k = done // len(cols)              # rows of tiles finished: rows above rows[k] are final
            state.flush(int(rows[k]) if k < len(rows) else h)
    return state.out


def _aligned(tile: int, length: int, align: int) -> int:
    """The tile side along an axis: the axis itself when shorter, else rounded down to ``align``."""
    if tile >= length:
        return length
    return max(align, tile // align * align) if align > 1 else tile


def _read_tile(image, r: int, c: int, tile: tuple[int, int], pad_mode: str) -> np.ndarray:
    """``image[:, r:r+th, c:c+tw]`` as float32, padded at its end where it runs past the image."""
    th, tw = tile
    _, h, w = image.shape
    part = np.asarray(image[:, r:min(r + th, h), c:min(c + tw, w)], dtype=np.float32)
    ph, pw = th - part.shape[1], tw - part.shape[2]
    if ph or pw:
        mode = pad_mode if pad_mode != "reflect" or (ph < part.shape[1] and pw < part.shape[2]) else "edge"
        part = np.pad(part, ((0, 0), (0, ph), (0, pw)), mode=mode)
    return part


def _run_batch(predict, image, starts, tile, weight, state, pad_mode="reflect") -> None:
    th, tw = tile
    _, h, w = image.shape
    batch = np.stack([_read_tile(image, r, c, tile, pad_mode) for r, c in starts])
    result = predict(batch)
    if hasattr(result, "detach"):
        result = result.detach().float().cpu().numpy()
    result = np.asarray(result)
    if result.ndim != 4 or result.shape[0] != len(starts) or result.shape[2:] != (th, tw):
        raise InputError(f"the predictor returned shape {result.shape} for a batch of shape {batch.shape}; "
                         f"expected ({len(starts)}, K, {th}, {tw})")
    for (r, c), tile_out in zip(starts, result):
        hh, ww = min(th, h - r), min(tw, w - c)
        state.add(r, c, tile_out[:, :hh, :ww], weight(r, c)[:hh, :ww])


class _Windows:
    """The blend window of the tile at ``(r, c)``: flat towards the sides on the image border (cached)."""

    def __init__(self, tile: tuple[int, int], kind: str, shape: tuple[int, int]) -> None:
        self.tile, self.kind, self.shape = tile, kind, shape
        self.cache: dict[tuple[bool, ...], np.ndarray] = {}
        blend_window(tile, kind)   # checks the kind before the first tile

    def __call__(self, r: int, c: int) -> np.ndarray:
        (th, tw), (h, w) = self.tile, self.shape
        key = (r == 0, r + th >= h, c == 0, c + tw >= w)
        if key not in self.cache:
            self.cache[key] = blend_window(self.tile, self.kind, flat=[key[:2], key[2:]])
        return self.cache[key]


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
        # float32 * float64 is computed in float64 (exactly as after an astype), without its copy
        self.acc[:, y:y + th, c:c + tw] += np.multiply(tile_out, weight)
        self.wsum[y:y + th, c:c + tw] += weight

    def flush(self, until: int) -> None:
        """Write rows ``[top, until)``: no later tile touches them."""
        n = until - self.top
        if n <= 0 or self.acc is None:
            return
        self.out[:, self.top:until, :] = (self.acc[:, :n] / self.wsum[:n]).astype(self.dtype)
        self.acc, self.wsum = self.acc[:, n:], self.wsum[n:]
        self.top = until
