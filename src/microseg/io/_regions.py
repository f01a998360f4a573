"""Region keys of the piecewise images: ``[r0:r1, c0:c1]`` and integers, as numpy takes them."""
from __future__ import annotations

from typing import Any

import numpy as np

from microseg._util import InputError


def parse_key(key: Any, shape: tuple[int, ...]) -> tuple[list[tuple[int, int]], list[bool], Any]:
    """``(spans of the two spatial axes, which axes an integer dropped, the sample index)``."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1:]
    if len(key) > len(shape):
        raise InputError(f"too many indices for an image of shape {shape}: {key!r}")
    key = key + (slice(None),) * (len(shape) - len(key))
    spans, drop = [], []
    for k, n in zip(key[:2], shape[:2]):
        if isinstance(k, (int, np.integer)):
            i = int(k) + (n if k < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of size {n}")
            spans.append((i, i + 1))
            drop.append(True)
        elif isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step != 1:
                raise InputError(f"regions are read with step 1; got the slice {k!r} (read it, then subsample)")
            spans.append((start, max(start, stop)))
            drop.append(False)
        else:
            raise InputError(f"an image region is indexed by slices or integers, got {k!r}")
    return spans, drop, (key[2] if len(shape) == 3 else None)
