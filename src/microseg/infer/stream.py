"""Prediction of images larger than memory: read region by region, written band by band.

:func:`predict_ensemble_to` is :func:`~microseg.infer.predict_ensemble` for an image read
by regions (:func:`microseg.io.open_image`) whose outputs go to band writers
(:func:`microseg.io.open_prob_writer`, :func:`microseg.io.open_image_writer`) instead of
arrays: the mean probability, the spread across the models and the thresholded mask,
each written as soon as the tiles of a band are blended. The numbers are those of the
in-memory path (the same tiles, batches and blending; the mean and spread of a band are
computed as :func:`~microseg.infer.predict_ensemble` computes them for the image).

Models that see different inputs (other pre-processing, channels or pixel size) are run
one group after the other; each model's probability then waits in a float32 TIFF in
``scratch`` (4 bytes per pixel on disk) until the last group is done and a pass over
bands combines them.

:func:`thin_in_bands` makes the 1-px form of a boundary mask
(:func:`~microseg.data.thin_boundaries`) band by band with :data:`THIN_HALO` rows of its
neighbours, equal to the whole-image skeleton wherever no part of the mask is thicker
than about twice that (predicted boundary bands are 3-10 px).

Memory is a few tiles, the accumulators of one band of tiles (``tile`` rows by the
image's width, float64) and a band of each writer: independent of the image's height.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError

logger = logging.getLogger(__name__)

__all__ = ["predict_ensemble_to", "thin_in_bands", "THIN_HALO", "BAND_ROWS"]

#: Rows of the neighbouring bands a band is thinned with.
THIN_HALO = 64
#: Rows per band of the combining and thinning passes.
BAND_ROWS = 512


class _Combined:
    """An output ``(M, H, W)`` for :func:`~microseg.infer.tiling.predict_tiled`: each band of
    the M models' probabilities goes to the writers as mean, spread and mask."""

    ndim = 3

    def __init__(self, shape: tuple[int, int, int], *, prob: Any, spread: Any, mask: Any,
                 threshold: float) -> None:
        self.shape = shape
        self.prob, self.spread, self.mask, self.threshold = prob, spread, mask, np.float32(threshold)
        self.positive, self.spread_sum = 0, 0.0

    @property
    def stats(self) -> dict:
        pixels = self.shape[1] * self.shape[2]
        return {"positive": self.positive, "pixels": pixels,
                "spread_mean": None if self.spread is None else self.spread_sum / max(pixels, 1)}

    def __setitem__(self, key: Any, block: np.ndarray) -> None:
        _, rows, cols = key
        p64 = np.asarray(block, np.float64)   # float64: identical models give exactly zero spread
        mean = p64.mean(axis=0).astype(np.float32)
        self.prob[rows, cols] = mean
        if self.spread is not None:
            std = p64.std(axis=0).astype(np.float32)
            self.spread_sum += float(std.sum(dtype=np.float64))
            self.spread[rows, cols] = std
        if self.mask is not None:
            decided = mean >= self.threshold
            self.positive += int(np.count_nonzero(decided))
            self.mask[rows, cols] = decided.astype(np.uint8)


class _Split:
    """An output ``(M, H, W)`` whose channel ``i`` goes to ``writers[i]``."""

    ndim = 3

    def __init__(self, writers: list[Any], shape: tuple[int, int]) -> None:
        self.writers = writers
        self.shape = (len(writers), *shape)

    def __setitem__(self, key: Any, block: np.ndarray) -> None:
        _, rows, cols = key
        for writer, channel in zip(self.writers, block):
            writer[rows, cols] = channel


def predict_ensemble_to(models: Any, image: Any, *, prob: Any, spread: Any = None, mask: Any = None,
                        threshold: float = 0.5, preprocess: bool | dict = True, device: Any = "auto",
                        pixel_size: float | None = None, rescale: bool = True, tile_size: int | str = "auto",
                        overlap: float = 0.25, batch_size: int = 4, tta: bool | str | None = False,
                        window: str = "gaussian", precision: str = "fp32", channels_last: bool | None = None,
                        scratch: str | os.PathLike | None = None, progress: bool = False) -> dict:
    """Predict an image read by regions into band writers: mean, spread and mask.

    Parameters
    ----------
    models
        As :func:`~microseg.infer.predict_probs` takes them.
    image : LazyImage or array_like, (H, W) or (H, W, 3)
        Read by regions (``image[r0:r1, c0:c1]``): :func:`microseg.io.open_image` (open
        colour files with ``as_gray=False``), a memmap.
    prob, spread, mask : band writers or arrays of shape (H, W)
        Where the mean probability (float32), the per-pixel standard deviation across the
        models (optional) and ``mean >= threshold`` (uint8, optional) go, in row order.
    threshold : float
        Of the mask.
    scratch : path, optional
        Folder for the per-model probabilities when the models form several groups
        (default: the system's temporary folder).
    preprocess, device, pixel_size, rescale, tile_size, overlap, batch_size, tta, window, precision, channels_last, progress
        As in :func:`~microseg.infer.predict_probs`; ``tile_size`` None or 0 (the whole
        image at once) is not taken here.

    Returns
    -------
    dict
        ``positive``: the number of mask pixels (``mean >= threshold``), ``pixels``, and
        ``spread_mean``: the mean of the spread (None without a spread writer).

    Examples
    --------
    >>> import torch
    >>> class Half(torch.nn.Module):
    ...     def forward(self, x):
    ...         return torch.zeros_like(x[:, :1])
    >>> prob, mask = np.zeros((70, 45), np.float32), np.zeros((70, 45), np.uint8)
    >>> predict_ensemble_to(Half(), np.random.rand(70, 45), prob=prob, mask=mask, tile_size=32)["positive"]
    3150
    >>> float(prob.max())
    0.5
    """
    from microseg.infer.predict import _as_loaded, _groups, _predict_group, check_options
    from microseg.infer.prepare import ChannelsFirst

    options = check_options(device=device, tile_size=tile_size, overlap=overlap, batch_size=batch_size, tta=tta,
                            window=window, precision=precision)
    if options["tile_size"] is None:
        raise InputError("tile_size: an image read by regions is predicted in tiles; give a tile size or 'auto'")
    loaded = _as_loaded(models)
    name = str(getattr(image, "source", "image"))
    x = ChannelsFirst(image, name=name)
    if pixel_size is None:
        pixel_size = getattr(image, "pixel_size", None)
    shape = x.shape[1:]
    combined = _Combined((len(loaded), *shape), prob=prob, spread=spread, mask=mask, threshold=threshold)
    groups = _groups(loaded, preprocess, pixel_size, rescale, x.shape[0])
    run = {"options": options, "pixel_size": pixel_size, "channels_last": channels_last, "progress": progress}
    if len(groups) == 1:
        factor, spec, in_ch, idx = groups[0]
        _predict_group(loaded, x, factor=factor, spec=spec, in_channels=in_ch, out=combined, **run)
        return combined.stats
    from microseg.io import open_image, open_image_writer

    with tempfile.TemporaryDirectory(prefix=".microseg-models-", dir=scratch) as tmp:
        paths = [Path(tmp) / f"model{i}.tif" for i in range(len(loaded))]
        for factor, spec, in_ch, idx in groups:
            writers = [open_image_writer(paths[i], shape, np.float32) for i in idx]
            try:
                _predict_group([loaded[i] for i in idx], x, factor=factor, spec=spec, in_channels=in_ch,
                               out=_Split(writers, shape), **run)
            except BaseException:
                for w in writers:
                    w.abort()
                raise
            for w in writers:
                w.close()
        readers = [open_image(p, pixel_size=1.0) for p in paths]
        for r0 in range(0, shape[0], BAND_ROWS):
            r1 = min(shape[0], r0 + BAND_ROWS)
            combined[:, r0:r1, :] = np.stack([r[r0:r1, :] for r in readers])
    return combined.stats


def thin_in_bands(mask: Any, out: Any, *, min_length: int = 10, halo: int = THIN_HALO,
                  band: int = BAND_ROWS) -> int:
    """:func:`~microseg.data.thin_boundaries` of a mask read by regions, written band by band.

    Each band of ``band`` rows is skeletonised with ``halo`` rows above and below it, and
    skeleton pieces of fewer than ``min_length`` px are dropped as there (a piece that
    leaves the widened band has at least ``halo`` px in it, so ``halo >= min_length``
    keeps every piece the whole-image rule keeps). Returns the number of skeleton pixels.

    Examples
    --------
    >>> from microseg.data import thin_boundaries
    >>> m = np.zeros((300, 200), np.uint8); m[40:45, 10:190] = 1; m[10:290, 98:103] = 1
    >>> out = np.zeros_like(m)
    >>> n = thin_in_bands(m, out, band=64, halo=32)
    >>> bool((out.astype(bool) == thin_boundaries(m.astype(bool))).all()), n == int(out.sum())
    (True, True)
    """
    from microseg.data import thin_boundaries

    if halo < min_length:
        raise InputError(f"halo ({halo}) must be at least min_length ({min_length})")
    h = int(mask.shape[0])
    count = 0
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        y0, y1 = max(0, r0 - halo), min(h, r1 + halo)
        thinned = thin_boundaries(np.asarray(mask[y0:y1, :]).astype(bool), min_length=min_length)[r0 - y0:r1 - y0]
        count += int(np.count_nonzero(thinned))
        out[r0:r1, :] = thinned.astype(np.uint8)
    return count
