"""Classical (non-learned) segmenters behind the same interface a trained model uses.

Every segmenter takes an image and returns a probability map, float32 in [0, 1], whose
0.5 level is the method's decision (so ``prob >= 0.5`` is the method's mask). The
probability is a logistic of the distance to the threshold in units of the image's
spread, which gives gap-closing watersheds a graded surface to work on.

>>> import numpy as np
>>> from microseg import classic
>>> image = np.zeros((8, 8)); image[2:4] = 1.0
>>> prob = classic.build("otsu", polarity="bright").predict(image)
>>> int((prob >= 0.5).sum())
16
"""
from __future__ import annotations

from microseg.classic._threshold import (
    Segmenter,
    available,
    build,
    otsu,
    sauvola,
    to_gray_float,
)

__all__ = ["Segmenter", "available", "build", "otsu", "sauvola", "to_gray_float"]
