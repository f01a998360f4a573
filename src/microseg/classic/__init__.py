"""Classical (non-learned) segmenters behind the same interface a trained model uses.

Every segmenter takes an image and returns a probability map, float32 in [0, 1], whose
0.5 level is the method's decision (so ``prob >= 0.5`` is the method's mask). For the
thresholds (``"otsu"``, ``"sauvola"``) the probability is a logistic of the distance to
the threshold in units of the image's spread; for the boundary detectors (``"ridge"``
for grooves, ``"gradient"`` for contrast steps) it is a logistic of the filter response
clamped to the hysteresis mask. Either gives gap-closing watersheds a graded surface.

>>> import numpy as np
>>> from microseg import classic
>>> image = np.zeros((8, 8)); image[2:4] = 1.0
>>> prob = classic.build("otsu", polarity="bright").predict(image)
>>> int((prob >= 0.5).sum())
16
>>> classic.available()
['gradient', 'otsu', 'ridge', 'sauvola']

``predict(image, tile_size=..., out=...)`` runs any method tile by tile with the halo its
windows need (:mod:`microseg.classic._tiled`): the whole-image result (Otsu and Sauvola
within 1e-6, the masks the same) at a memory that does not grow with the image, which
may be read from disk region by region (:func:`microseg.io.lazy.open_image`) into a
tiled TIFF written band by band (:func:`microseg.io.lazy.open_prob_writer`).

:func:`tune` picks a method's parameters on labelled images (a grid search by IoU, F1
or boundary F1); a segmenter whose mask is almost empty or almost everything logs a
warning that points to it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._registry import Registry
from microseg.classic._ridge import FILTERS, GRADIENT_FILTERS, gradient, ridge
from microseg.classic._threshold import Segmenter, otsu, sauvola, to_gray_float
from microseg.classic._tune import METRICS, TuneResult, default_grid, tune

__all__ = ["ClassicSegmenter", "Segmenter", "METHODS", "available", "build", "describe", "gradient",
           "otsu", "ridge", "sauvola", "to_gray_float", "tune", "TuneResult", "default_grid", "METRICS",
           "DEGENERATE_FRACTION"]

logger = logging.getLogger(__name__)

#: A mask with less than this fraction of positive pixels, or more than 1 minus it, is
#: degenerate: the method's parameters do not suit the image (``predict`` logs a hint).
DEGENERATE_FRACTION = 0.001

#: Registry: name -> function ``f(image, **options) -> prob``; a new method is one function
#: plus one ``METHODS.register`` call here. Capabilities: ``detects`` (``"regions"`` for the
#: thresholds, ``"boundaries"`` for the boundary detectors), ``grid`` (the default search
#: space of :func:`tune`: the product of the lists, the method's own default first in each,
#: so ties keep it), ``hint`` (what to try when the mask is degenerate) and ``filters`` (for
#: a boundary detector whose mask is the hysteresis mask of a filter response: the filters
#: it takes; :func:`tune` then runs each filter once per image and scale) and ``tiled`` (the
#: ``"module:function"`` that runs the method tile by tile, :mod:`microseg.classic._tiled`).
METHODS = Registry("classical method", sort=True, option_label="option of {name}",
                   capabilities={"detects": "regions", "grid": None, "hint": "other parameters",
                                 "filters": None, "tiled": None})

METHODS.register("otsu", otsu, tiled="microseg.classic._tiled:otsu_tiled",
                 hint="the other polarity or an offset", grid={
    "polarity": ["dark", "bright"], "sigma": [None, 1.0, 2.0],
    "offset": [0.0, -0.1, 0.1, -0.2, 0.2, -0.3, 0.3, -0.5, 0.5, -0.75, 0.75]})
METHODS.register("sauvola", sauvola, tiled="microseg.classic._tiled:sauvola_tiled",
                 hint="a smaller k (0.01-0.05 for low-contrast phases; k <= 0 for bright "
                 "targets) or the other polarity", grid={
    "polarity": ["dark", "bright"], "window_size": [25, 15, 51, 101, 151, 251],
    "k": [0.2, 0.1, 0.05, 0.02, 0.01, 0.0, -0.01, -0.02, -0.05, -0.1, -0.2]})
METHODS.register("ridge", ridge, tiled="microseg.classic._tiled_boundary:ridge_tiled", detects="boundaries",
                 filters=FILTERS, hint="other sigmas or low/high quantiles",
                 grid={"sigmas": [(1.5,), (1.0,), (2.0,), (3.0,), (1.0, 2.0, 3.0)],
                       "low": [None, 0.7, 0.8, 0.9, 0.95], "high": [None, 0.85, 0.9, 0.95, 0.98]})
METHODS.register("gradient", gradient, tiled="microseg.classic._tiled_boundary:gradient_tiled",
                 detects="boundaries", filters=GRADIENT_FILTERS,
                 hint="other sigmas or low/high quantiles",
                 grid={"sigmas": [(1.0,), (0.5,), (1.5,), (2.0,), (3.0,)],
                       "low": [None, 0.7, 0.8, 0.9, 0.95], "high": [None, 0.85, 0.9, 0.95, 0.98]})


@dataclass(frozen=True)
class ClassicSegmenter:
    """A named classical method with its options; ``predict(image) -> prob``."""

    method: str
    options: dict[str, Any] = field(default_factory=dict)

    _hinted: list = field(default_factory=list, init=False, repr=False, compare=False)

    def predict(self, image: Any, *, tile_size: int | None = None, out: Any = None,
                progress: bool = False) -> Any:
        """Probability map, float32 (Y, X), of ``image`` (Y, X) or (Y, X, 3).

        Parameters
        ----------
        image : ndarray or lazy image
            An array, or anything with ``shape`` that is read by regions
            (``image[r0:r1, c0:c1]``: :func:`microseg.io.open_image`, a memmap, a zarr array).
        tile_size : int, optional
            Run tile by tile (:mod:`microseg.classic._tiled`): memory is a few tiles, not the
            image, and the result equals the whole-image one (Sauvola within 1e-6, see
            there). Default: the whole image at once for an array, tiles of
            :data:`~microseg.classic._tiled.DEFAULT_TILE` px for a lazy image.
        out : array_like, optional
            Where the probability goes, written in row order: a (Y, X) array, a memmap or a
            :func:`microseg.io.open_prob_writer`. Returned instead of a new array.
        progress : bool
            A progress bar over the tiles.

        A mask (``prob >= 0.5``) with under 0.1 % or over 99.9 % positive pixels logs a
        warning, once per segmenter, suggesting :func:`tune` and what to change.
        """
        from microseg.classic import _tiled

        whole = tile_size is None and (isinstance(image, np.ndarray) or not hasattr(image, "shape"))
        if whole:
            prob = METHODS.get(self.method)(image, **self.options)
            positive, total = int(np.count_nonzero(prob >= 0.5)), prob.size
            if out is not None:
                _tiled.Output(out, prob.shape).put(0, 0, prob)
                prob = out
        else:
            tile = _tiled.check_tile(_tiled.DEFAULT_TILE if tile_size is None else tile_size)
            run = _tiled.resolve(METHODS.capabilities(self.method)["tiled"])
            prob, positive = run(image, tile_size=tile, out=out, progress=progress, **self.options)
            total = int(np.prod(_tiled.image_shape(image)))
        self._hint(positive / max(total, 1))
        return prob

    def _hint(self, fraction: float) -> None:
        if not self._hinted and not DEGENERATE_FRACTION <= fraction <= 1 - DEGENERATE_FRACTION:
            self._hinted.append(fraction)
            logger.warning("%s %s: %.3g %% of the pixels are positive, a degenerate mask; tune the "
                           "parameters on labelled images (microseg.classic.tune, microseg segment "
                           "--tune LABELLED_DIR) or try %s", self.method, self.options or "(defaults)",
                           100 * fraction, METHODS.capabilities(self.method)["hint"])

    def describe(self) -> dict[str, Any]:
        """The method's name and the options it was built with."""
        return {"method": self.method, **self.options}


def available(**capabilities: Any) -> list[str]:
    """Names of the classical methods, sorted, for ``build`` (``detects=`` filters).

    Examples
    --------
    >>> available(detects="boundaries")
    ['gradient', 'ridge']
    """
    return METHODS.available(**capabilities)


def describe(name: str) -> dict[str, Any]:
    """The method ``name``: description, capabilities, options with their defaults.

    Examples
    --------
    >>> describe("otsu")["options"]
    {'polarity': 'dark', 'sigma': None, 'offset': 0.0, 'softness': 0.1}
    """
    return METHODS.describe(name)


def build(name: str, **options: Any) -> ClassicSegmenter:
    """Build a classical segmenter by name (see :func:`available`) with its options.

    Unknown names and options raise an error that lists the valid ones and suggests the
    nearest.
    """
    name = METHODS.key(name)
    return ClassicSegmenter(name, METHODS.check_options(name, options))
