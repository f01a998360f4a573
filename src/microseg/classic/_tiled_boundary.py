"""The boundary detectors (ridge, gradient) tile by tile; see :mod:`microseg.classic._tiled`."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from microseg._util import look_up_option
from microseg.classic._spill import Spill, SpillStats
from microseg.classic._tiled import Moments, Output, _prefiltered, blocks, gauss_radius, image_shape

#: Rows of overlap when a mask is skeletonised band by band (``thin=True``).
THIN_HALO = 32

def filter_halo(filter: str, scales: Sequence[float], sigma: float | None) -> int:
    """Pixels a tile needs around its core for the response of ``filter`` at ``scales``."""
    from microseg.classic._ridge import GRADIENT_FILTERS

    if filter in GRADIENT_FILTERS:
        reach = max(gauss_radius(s) + 1 for s in scales)
    else:   # skimage's Hessian: two Gaussian-derivative passes of sigma / sqrt(2)
        reach = max(2 * gauss_radius(s / math.sqrt(2), 8.0 if s > 1 else 100.0) for s in scales)
    return gauss_radius(sigma) + reach


def line_norms(image: Any, *, tile: int, filter: str, scales: Sequence[float], polarity: str,
               sigma: float | None, progress: bool = False) -> dict | None:
    """The whole image's normalisers of a line filter, per side (``black_ridges``): Frangi's
    ``gamma`` (half the largest Hessian norm at the first scale, 1 when 0) and Meijering's
    maximum per scale; ``None`` for filters without one."""
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals

    from microseg.classic._ridge import SIDES, meijering_values

    if filter not in ("frangi", "meijering"):
        return None
    sides = SIDES[polarity]
    best: dict[bool, list] = {b: [None] * len(scales) for b in sides}
    halo = filter_halo(filter, scales, sigma)
    for _, gray, core in blocks(image, tile, halo, progress=progress, desc=f"{filter}: normalisers"):
        gray = _prefiltered(gray, sigma)
        for b in sides:
            if filter == "frangi":   # the norm of the eigenvalues is the same on either side
                eig = hessian_matrix_eigvals(hessian_matrix(gray if b else -gray, scales[0], mode="reflect",
                                                            cval=0, use_gaussian_derivatives=True))
                values = [np.sqrt((eig ** 2).sum(0))[core].max()]
            else:
                values = [meijering_values(gray, s, b)[core].max() for s in scales]
            best[b] = [v if old is None else max(old, v) for old, v in zip(best[b], values)]
    if filter == "frangi":
        return {b: (v[0] / 2 if v[0] / 2 != 0 else 1) for b, v in best.items()}
    return best


def boundary_tiled(image: Any, *, tile_size: int, out: Any = None, progress: bool = False, filter: str,
                   sigmas: Any, polarity: str, low: float | None, high: float | None, thin: bool,
                   sigma: float | None, softness: float) -> tuple[Any, int]:
    """:func:`microseg.classic.ridge` / ``gradient`` tile by tile; ``(out, positive pixels)``."""
    from scipy.special import expit

    from microseg.classic._ridge import _check_boundary_options, _response, _thresholds_from

    scales, low, high, softness = _check_boundary_options(sigmas, low, high, thin, softness, sigma)
    shape = image_shape(image)
    norms = line_norms(image, tile=tile_size, filter=filter, scales=scales, polarity=polarity, sigma=sigma,
                       progress=progress)
    halo = filter_halo(filter, scales, sigma)
    moments = Moments()
    with Spill(shape, np.float64) as spill:
        for (r0, _, c0, _), gray, core in blocks(image, tile_size, halo, progress=progress,
                                                 desc=f"{filter}: response"):
            response = _response(_prefiltered(gray, sigma), filter, scales, polarity, norms)[core]
            spill.write(r0, c0, response)
            moments.add(response)
        t_low, t_high = _thresholds_from(SpillStats(spill, moments, (low, high)), low, high)
        keep = _hysteresis_components(spill, min(t_low, t_high), t_high)
        width = (t_high - t_low) if t_high > t_low else moments.std()
        scale = max(softness * width, 1e-12)
        below_half = np.nextafter(np.float32(0.5), np.float32(0.0))
        result = Output(out, shape)
        for r0, r1, response, mask in _masks(spill, keep, min(t_low, t_high), thin):
            prob = expit((response - t_low) / scale).astype(np.float32)
            prob = np.where(mask, np.maximum(prob, np.float32(0.5)), np.minimum(prob, below_half))
            result.put(r0, 0, prob.astype(np.float32))
    return result.out, result.positive


def _band_labels(spill: Spill, r0: int, r1: int, t_low: float) -> tuple[np.ndarray, np.ndarray, int]:
    response = spill.read(r0, r1)
    labels, n = ndi.label(response > t_low)
    return response, labels, n


def _global(labels: np.ndarray, offset: int) -> np.ndarray:
    """Band-local labels as whole-image component numbers (0 stays 0)."""
    return np.where(labels > 0, labels.astype(np.int64) + offset, 0)


def _hysteresis_components(spill: Spill, t_low: float, t_high: float) -> np.ndarray:
    """For each component of ``response > t_low`` (numbered band by band, 0 = none), whether
    it (joined across the band seams, 4-connected) holds a pixel ``> t_high``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    offset, previous = 0, None
    strong: list[np.ndarray] = [np.zeros(1, bool)]
    pairs: list[np.ndarray] = []
    for r0, r1 in spill.bands():
        response, labels, n = _band_labels(spill, r0, r1, t_low)
        has = np.zeros(n + 1, bool)
        has[labels[response > t_high]] = True
        strong.append(has[1:])
        first = _global(labels[0], offset)
        if previous is not None:
            touch = (previous > 0) & (first > 0)
            if touch.any():
                pairs.append(np.unique(np.stack([previous[touch], first[touch]], axis=1), axis=0))
        previous = _global(labels[-1], offset)
        offset += n
    strong_all = np.concatenate(strong)
    if not pairs:
        strong_all[0] = False
        return strong_all
    edges = np.concatenate(pairs)
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(offset + 1, offset + 1))
    _, component = connected_components(graph, directed=False)
    keep = np.zeros(component.max() + 1, bool)
    keep[component[strong_all]] = True
    out = keep[component]
    out[0] = False
    return out


def _masks(spill: Spill, keep: np.ndarray, t_low: float,
           thin: bool) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(r0, r1, response rows, hysteresis mask rows)`` band by band (thinned when ``thin``)."""
    offset = 0
    if not thin:
        for r0, r1 in spill.bands():
            response, labels, n = _band_labels(spill, r0, r1, t_low)
            yield r0, r1, response, keep[_global(labels, offset)]
            offset += n
        return
    from skimage.morphology import skeletonize

    with Spill(spill.shape, np.uint8) as masks:
        for r0, r1 in spill.bands():
            _, labels, n = _band_labels(spill, r0, r1, t_low)
            masks.write(r0, 0, keep[_global(labels, offset)])
            offset += n
        h = spill.shape[0]
        for r0, r1 in spill.bands():
            y0, y1 = max(r0 - THIN_HALO, 0), min(r1 + THIN_HALO, h)
            thinned = skeletonize(masks.read(y0, y1).astype(bool))[r0 - y0:r1 - y0]
            yield r0, r1, spill.read(r0, r1), thinned


def ridge_tiled(image: Any, *, tile_size: int, out: Any = None, progress: bool = False, filter: str = "sato",
                sigmas: Any = (1.5,), polarity: str = "dark", low: float | None = None,
                high: float | None = None, thin: bool = False, sigma: float | None = None,
                softness: float = 0.5) -> tuple[Any, int]:
    """:func:`microseg.classic.ridge` tile by tile; returns ``(out, positive pixels)``."""
    from microseg.classic._ridge import FILTERS, RIDGE_POLARITIES

    filter = look_up_option(filter, FILTERS, what="filter")
    polarity = look_up_option(polarity, RIDGE_POLARITIES, what="polarity")
    return boundary_tiled(image, tile_size=tile_size, out=out, progress=progress, filter=filter, sigmas=sigmas,
                          polarity=polarity, low=low, high=high, thin=thin, sigma=sigma, softness=softness)


def gradient_tiled(image: Any, *, tile_size: int, out: Any = None, progress: bool = False,
                   filter: str = "sobel", sigmas: Any = (1.0,), low: float | None = None,
                   high: float | None = None, thin: bool = False, sigma: float | None = None,
                   softness: float = 0.5) -> tuple[Any, int]:
    """:func:`microseg.classic.gradient` tile by tile; returns ``(out, positive pixels)``."""
    from microseg.classic._ridge import GRADIENT_FILTERS

    filter = look_up_option(filter, GRADIENT_FILTERS, what="filter")
    return boundary_tiled(image, tile_size=tile_size, out=out, progress=progress, filter=filter, sigmas=sigmas,
                          polarity="dark", low=low, high=high, thin=thin, sigma=sigma, softness=softness)
