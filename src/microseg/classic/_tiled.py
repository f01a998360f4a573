"""Classical segmenters at any size: tile by tile, with the halo each method's window needs.

The image is cut into a grid of tiles (:func:`microseg.infer.tiling.tile_starts`, no
overlap) whose *cores* partition it; each tile is read with a halo around its core as
wide as the method's filters reach, processed alone, and its core is kept. No blending
is needed: with a wide enough halo a core pixel sees what it would see in the whole
image. What is not local is computed over the whole image first, in passes over the
tiles that keep only sums, histograms or counts:

- ``sauvola``: the local mean and standard deviation over ``window_size`` after the
  Gaussian pre-filter ``sigma``: halo ``window_size // 2 + radius(sigma)``, with
  ``radius(s) = int(4 s + 0.5)`` (scipy's kernel radius). The image's standard deviation
  (the width of the logistic) is accumulated in a first pass. Equal to the whole-image
  probability within 1e-6 (the integral images and the standard deviation sum in
  another order); the masks are the same.
- ``otsu``: the threshold from a 256-bin histogram of the whole (pre-filtered) image
  between its minimum and maximum, accumulated tile by tile with the same bin edges as
  :func:`skimage.filters.threshold_otsu` uses, so the threshold is the same, exactly
  (:func:`otsu_threshold`); the probability within 1e-6, as for Sauvola.
- ``ridge``, ``gradient``: the filter response is computed per tile (halo: the pre-filter
  radius plus the reach of the filter, twice the Gaussian-derivative radius for the
  Hessian filters, the smoothing radius plus one for Sobel/Scharr) and spilled to a
  temporary float64 file (8 bytes per pixel on disk, in :func:`tempfile.gettempdir`).
  Frangi's ``gamma`` and Meijering's per-scale maxima are found over the whole image in
  a pass before. The hysteresis thresholds come from exact order statistics of the
  spilled response (a radix select over its bit patterns,
  :func:`~microseg.classic._spill.order_statistics`) and
  the exact Otsu histogram. Hysteresis is not local; it is done exactly: the low mask is
  labelled band by band (whole rows), components that continue across band seams are
  joined (a union over the seam pixels), and a component is kept when any of its pixels
  passes the high threshold. So mask and probability are the whole-image ones, bit for
  bit. ``thin=True`` is the
  one approximation: the mask is skeletonised band by band with a
  :data:`~microseg.classic._tiled_boundary.THIN_HALO`-row overlap, exact where no
  structure of the mask is thicker than about twice that. (Spill files, order statistics:
  :mod:`microseg.classic._spill`; the boundary detectors:
  :mod:`microseg.classic._tiled_boundary`.)

Memory is a few tiles (and, for the whole-row passes, about
:data:`~microseg.classic._spill.BAND_PIXELS` pixels of a band), independent of the
image's height; the output goes to ``out`` (a numpy
array, a memmap, a :class:`~microseg.io.lazy.TiffTileWriter`) in row order.
"""
from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from microseg._util import InputError, look_up_option
from microseg._util import progress as _progress
from microseg._validate import check_positive
from microseg.classic._threshold import (
    POLARITIES, _check_offset, _check_window, _prefilter, _soft_decision, to_gray_float,
)

logger = logging.getLogger(__name__)

#: Tile edge when the input is a lazy image and no ``tile_size`` is given.
DEFAULT_TILE = 1024


# --------------------------------------------------------------------------- the grid
def gauss_radius(sigma: float | None, truncate: float = 4.0) -> int:
    """The radius of scipy's Gaussian kernel (``int(truncate * sigma + 0.5)``), 0 for none."""
    if sigma is None or float(sigma) <= 0:
        return 0
    return int(truncate * float(sigma) + 0.5)


def cores(length: int, tile: int) -> list[tuple[int, int]]:
    """The cores of the tiles along an axis: consecutive ``(start, stop)`` covering it.

    >>> spans = cores(100, 40)
    >>> spans[0][0], spans[-1][1], all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    (0, 100, True)
    >>> all(0 < stop - start <= 40 for start, stop in spans)
    True
    """
    from microseg.infer.tiling import tile_starts

    out, previous = [], 0
    for start in tile_starts(length, tile, 0):
        stop = min(int(start) + tile, length)
        out.append((previous, stop))
        previous = stop
    return out


def image_shape(image: Any) -> tuple[int, int]:
    """``(Y, X)`` of a (Y, X) or (Y, X, 3|4) image (array or lazy image)."""
    shape = tuple(int(n) for n in getattr(image, "shape", ()))
    if len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4)):
        return shape[0], shape[1]
    raise InputError(f"image: expected a (Y, X) or (Y, X, 3) image, got shape {shape}")


def check_tile(tile_size: Any) -> int:
    if isinstance(tile_size, (bool, np.bool_)) or not isinstance(tile_size, (int, np.integer)) or tile_size < 16:
        raise InputError(f"tile_size: expected an integer number of pixels >= 16, got {tile_size!r}")
    return int(tile_size)


def blocks(image: Any, tile: int, halo: int, *, progress: bool = False,
           desc: str = "tiles") -> Iterator[tuple[tuple[int, int, int, int], np.ndarray, tuple[slice, slice]]]:
    """Each tile's core ``(r0, r1, c0, c1)``, its grey block with the halo, and the core in it."""
    h, w = image_shape(image)
    grid = [(r, c) for r in cores(h, tile) for c in cores(w, tile)]
    for (r0, r1), (c0, c1) in _progress(grid, enabled=progress, desc=desc, total=len(grid)):
        y0, y1, x0, x1 = max(r0 - halo, 0), min(r1 + halo, h), max(c0 - halo, 0), min(c1 + halo, w)
        gray = to_gray_float(np.asarray(image[y0:y1, x0:x1]))
        yield (r0, r1, c0, c1), gray, (slice(r0 - y0, r1 - y0), slice(c0 - x0, c1 - x0))


class Moments:
    """Count, mean, sum of squared deviations (Chan's parallel update), minimum and maximum."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.min: Any = None
        self.max: Any = None

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        n = values.size
        mean = float(np.mean(values, dtype=np.float64))
        m2 = float(np.sum(np.square(np.subtract(values, mean, dtype=np.float64))))
        delta = mean - self.mean
        total = self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        lo, hi = values.min(), values.max()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


class Output:
    """Where a tiled result goes: a new float32 array, or ``out`` ((Y, X) or (1, Y, X))."""

    def __init__(self, out: Any, shape: tuple[int, int]) -> None:
        if out is None:
            out = np.empty(shape, np.float32)
        got = tuple(int(n) for n in getattr(out, "shape", ()))
        if got not in (shape, (1, *shape)):
            raise InputError(f"out: expected shape {shape} (or (1, *{shape})), got {got or type(out).__name__}")
        self.out, self._lead = out, len(got) == 3
        self.positive = 0

    def put(self, r0: int, c0: int, prob: np.ndarray) -> None:
        self.positive += int(np.count_nonzero(prob >= 0.5))
        r1, c1 = r0 + prob.shape[0], c0 + prob.shape[1]
        if self._lead:
            self.out[:, r0:r1, c0:c1] = prob[None]
        else:
            self.out[r0:r1, c0:c1] = prob


# --------------------------------------------------------------------------- thresholds
def _prefiltered(gray: np.ndarray, sigma: float | None) -> np.ndarray:
    return _prefilter(gray, sigma)


def _check_sigma(sigma: float | None) -> None:
    if sigma is not None:
        check_positive(sigma, "sigma", allow_zero=True, unit="px")


def otsu_threshold(image: Any, *, tile_size: int, sigma: float | None = None,
                   progress: bool = False) -> tuple[float, float]:
    """Otsu's threshold of the whole (pre-filtered) grey image and its standard deviation,
    from a histogram accumulated tile by tile: the threshold is
    ``skimage.filters.threshold_otsu(gray)``, exactly (the same 256 bins between the
    image's minimum and maximum)."""
    from skimage.filters import threshold_otsu

    halo = gauss_radius(sigma)
    moments = Moments()
    for _, gray, core in blocks(image, tile_size, halo, progress=progress, desc="otsu: statistics"):
        moments.add(_prefiltered(gray, sigma)[core])
    if moments.min == moments.max:
        raise InputError("image: is constant; Otsu's threshold needs at least two grey levels")
    lo, hi = moments.min, moments.max
    counts = np.zeros(256, np.int64)
    for _, gray, core in blocks(image, tile_size, halo, progress=progress, desc="otsu: histogram"):
        counts += np.histogram(_prefiltered(gray, sigma)[core], bins=256, range=(lo, hi))[0]
    edges = np.histogram(np.array([lo, hi]), bins=256, range=(lo, hi))[1]
    return threshold_otsu(hist=(counts, (edges[:-1] + edges[1:]) / 2.0)), moments.std()


def otsu_tiled(image: Any, *, tile_size: int, out: Any = None, progress: bool = False, polarity: str = "dark",
               sigma: float | None = None, offset: float = 0.0, softness: float = 0.1) -> tuple[Any, int]:
    """:func:`microseg.classic.otsu` tile by tile; returns ``(out, positive pixels)``."""
    polarity = look_up_option(polarity, POLARITIES, what="polarity")
    _check_sigma(sigma)
    _check_offset(offset)
    check_positive(softness, "softness")
    shape = image_shape(image)
    threshold, spread = otsu_threshold(image, tile_size=tile_size, sigma=sigma, progress=progress)
    t = threshold + float(offset) * spread
    result = Output(out, shape)
    for (r0, _, c0, _), gray, core in blocks(image, tile_size, gauss_radius(sigma), progress=progress,
                                             desc="otsu"):
        g = _prefiltered(gray, sigma)[core]
        result.put(r0, c0, _soft_decision(g, t, polarity, softness, spread))
    return result.out, result.positive


def sauvola_tiled(image: Any, *, tile_size: int, out: Any = None, progress: bool = False,
                  polarity: str = "dark", window_size: int = 25, k: float = 0.2, r: float | None = None,
                  sigma: float | None = 1.0, softness: float = 0.1) -> tuple[Any, int]:
    """:func:`microseg.classic.sauvola` tile by tile; returns ``(out, positive pixels)``."""
    from skimage.filters import threshold_sauvola

    polarity = look_up_option(polarity, POLARITIES, what="polarity")
    window_size = _check_window(window_size)
    _check_sigma(sigma)
    check_positive(softness, "softness")
    shape = image_shape(image)
    g = gauss_radius(sigma)
    moments = Moments()
    for _, gray, core in blocks(image, tile_size, g, progress=progress, desc="sauvola: statistics"):
        moments.add(_prefiltered(gray, sigma)[core])
    spread = moments.std()
    result = Output(out, shape)
    for (r0, _, c0, _), gray, core in blocks(image, tile_size, window_size // 2 + g, progress=progress,
                                             desc="sauvola"):
        gray = _prefiltered(gray, sigma)
        t = threshold_sauvola(gray, window_size=window_size, k=float(k), r=r)
        result.put(r0, c0, _soft_decision(gray[core], t[core], polarity, softness, spread))
    return result.out, result.positive



def resolve(target: str) -> Callable[..., tuple[Any, int]]:
    """The function a ``"module:attribute"`` string (a ``tiled`` capability) names."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
