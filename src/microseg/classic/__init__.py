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

:func:`tune` picks a method's parameters on labelled images (a grid search by IoU, F1
or boundary F1); a segmenter whose mask is almost empty or almost everything logs a
warning that points to it.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import look_up_option
from microseg.classic._ridge import gradient, ridge
from microseg.classic._threshold import Segmenter, otsu, sauvola, to_gray_float
from microseg.classic._tune import METRICS, TuneResult, default_grid, tune

__all__ = ["ClassicSegmenter", "Segmenter", "available", "build", "gradient", "otsu", "ridge",
           "sauvola", "to_gray_float", "tune", "TuneResult", "default_grid", "METRICS",
           "DEGENERATE_FRACTION"]

logger = logging.getLogger(__name__)

#: A mask with less than this fraction of positive pixels, or more than 1 minus it, is
#: degenerate: the method's parameters do not suit the image (``predict`` logs a hint).
DEGENERATE_FRACTION = 0.001

#: What to try, per method, when the mask is degenerate.
_HINTS = {
    "sauvola": "a smaller k (0.01-0.05 for low-contrast phases; k <= 0 for bright targets) or "
               "the other polarity",
    "otsu": "the other polarity or an offset",
    "ridge": "other sigmas or low/high quantiles",
    "gradient": "other sigmas or low/high quantiles",
}

#: Name -> function ``f(image, **options) -> prob``; a new method is one entry here.
_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "otsu": otsu,
    "sauvola": sauvola,
    "ridge": ridge,
    "gradient": gradient,
}


@dataclass(frozen=True)
class ClassicSegmenter:
    """A named classical method with its options; ``predict(image) -> prob``."""

    method: str
    options: dict[str, Any] = field(default_factory=dict)

    _hinted: list = field(default_factory=list, init=False, repr=False, compare=False)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Probability map, float32 (Y, X), of ``image`` (Y, X) or (Y, X, 3).

        A mask (``prob >= 0.5``) with under 0.1 % or over 99.9 % positive pixels logs a
        warning, once per segmenter, suggesting :func:`tune` and what to change.
        """
        prob = _METHODS[self.method](image, **self.options)
        fraction = float(np.count_nonzero(prob >= 0.5)) / max(prob.size, 1)
        if not self._hinted and not DEGENERATE_FRACTION <= fraction <= 1 - DEGENERATE_FRACTION:
            self._hinted.append(fraction)
            logger.warning("%s %s: %.3g %% of the pixels are positive, a degenerate mask; tune the "
                           "parameters on labelled images (microseg.classic.tune, microseg segment "
                           "--tune LABELLED_DIR) or try %s", self.method, self.options or "(defaults)",
                           100 * fraction, _HINTS[self.method])
        return prob

    def describe(self) -> dict[str, Any]:
        """The method's name and the options it was built with."""
        return {"method": self.method, **self.options}


def available() -> list[str]:
    """Names of the classical methods, for ``build``."""
    return sorted(_METHODS)


def build(name: str, **options: Any) -> ClassicSegmenter:
    """Build a classical segmenter by name (see :func:`available`) with its options.

    Unknown names and options raise an error that lists the valid ones and suggests the
    nearest.
    """
    name = look_up_option(name, available(), what="classical method")
    params = inspect.signature(_METHODS[name]).parameters
    valid = [p for p in params if params[p].kind is inspect.Parameter.KEYWORD_ONLY]
    for key in options:
        look_up_option(key, valid, what=f"option of {name}")
    return ClassicSegmenter(name, dict(options))
