"""Masks as they come: colour masks at any bit depth, class-label masks, near-binary masks.

A mask file becomes a uint8 ``(H, W)`` target with 1 = positive by :func:`binary_mask`.
What counts as positive is the ``positive`` option (:func:`check_positive_class`):

* a colour name (``"blue"``, ``"red"``, ``"blue+red"``) or ``"#RRGGBB"`` for colour masks
  (RGB/RGBA whose channels differ somewhere): a pixel is positive when it is exactly the
  colour, written in 8 bits and scaled to the mask's dtype (blue is (0, 0, 255) in a uint8
  mask, (0, 0, 65535) in a uint16 one, (0, 0, 1.0) in a float one); other colours (the
  grey micrograph showing through) are background;
* ``"nonzero"``: the mask must be binary (two values or colours); its nonzero pixels are
  positive;
* an integer class or a list of them (``1``, ``[1, 2]``) for label masks (grey values 0, 1,
  2, ...): pixels holding one of those values are positive.

Grey masks (one channel, or colour channels that are all equal) given a colour or
``"nonzero"`` must be binary unless a ``threshold`` is given (``value >= threshold`` is
positive), for near-binary masks from lossy tools (0 and 252..255).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np

from microseg._util import InputError, look_up_option
from microseg.io._files import collapse_equal_channels

#: Colours (R, G, B) of the positive class in colour masks, in 8 bits, by colour name.
MASK_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "blue": ((0, 0, 255),),
    "red": ((255, 0, 0),),
    "blue+red": ((0, 0, 255), (255, 0, 0)),
}
POSITIVE_OPTIONS = ("blue", "red", "blue+red", "nonzero")

#: A checked ``positive`` option: a colour name, ``"#rrggbb"``, ``"nonzero"`` or classes.
Positive = Union[str, tuple[int, ...]]

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def check_positive_class(positive, *, name: str = "positive") -> Positive:
    """Check a ``positive`` option and return it in its one form.

    Parameters
    ----------
    positive : str, int or sequence of int
        A colour name of :data:`POSITIVE_OPTIONS`, ``"#RRGGBB"``, ``"nonzero"``, an integer
        class (a string of digits counts, and ``"1,2"``) or a non-empty list of integer classes.
    name : str
        The option's name in error messages (``"data.positive"`` in a config).

    Returns
    -------
    str or tuple of int
        The colour name / ``"#rrggbb"`` / ``"nonzero"``, or the classes as a sorted tuple.

    Examples
    --------
    >>> [check_positive_class(p) for p in ("Blue", 1, [2, 1], "#00FF00")]
    ['blue', (1,), (1, 2), '#00ff00']
    """
    if isinstance(positive, str):
        text = positive.strip()
        if text.isdigit():
            return (int(text),)
        if "," in text and all(t.strip().isdigit() for t in text.split(",")):   # "1,2" from a CLI flag
            return tuple(sorted({int(t) for t in text.split(",")}))
        if _HEX.fullmatch(text):
            return text.lower()
        return look_up_option(text, POSITIVE_OPTIONS, what=f"{name} class")
    items = [positive] if isinstance(positive, (int, np.integer)) else positive
    if isinstance(items, (list, tuple)) and items and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0 for c in items):
        return tuple(sorted({int(c) for c in items}))
    raise InputError(f"{name} must be a colour ({', '.join(POSITIVE_OPTIONS)} or '#RRGGBB'), a class "
                     f"label (e.g. 1) or a list of them (e.g. [1, 2]); got {positive!r}")


def full_scale_colour(rgb: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An 8-bit colour scaled to the largest value of ``dtype`` (uint16: 255 → 65535, float: → 1).

    Examples
    --------
    >>> full_scale_colour((0, 0, 255), np.dtype(np.uint16)).tolist()
    [0, 0, 65535]
    >>> full_scale_colour((255, 0, 0), np.dtype(np.float32)).tolist()
    [1.0, 0.0, 0.0]
    """
    dtype = np.dtype(dtype)
    rgb = np.asarray(rgb, np.float64) / 255.0
    if np.issubdtype(dtype, np.integer):
        return np.rint(rgb * np.iinfo(dtype).max).astype(dtype)
    return rgb.astype(dtype)


def _colours_of(positive: str) -> tuple[tuple[int, int, int], ...]:
    if positive.startswith("#"):
        return ((int(positive[1:3], 16), int(positive[3:5], 16), int(positive[5:7], 16)),)
    return MASK_COLOURS[positive]


def _values_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v.tolist()) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _colours_found(colour: np.ndarray, limit: int = 6) -> str:
    """The non-grey colours of an ``(H, W, 3)`` mask, most frequent first, and the grey count."""
    values, counts = np.unique(colour.reshape(-1, 3), axis=0, return_counts=True)
    grey = (values[:, 0] == values[:, 1]) & (values[:, 1] == values[:, 2])
    order = np.argsort(-counts[~grey], kind="stable")
    shown = [f"{tuple(v.tolist())} ({int(n)} px)" for v, n in zip(values[~grey][order][:limit],
                                                                   counts[~grey][order][:limit])]
    more = int((~grey).sum()) - len(shown)
    text = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return text + (f"; plus {int(grey.sum())} grey level(s)" if grey.any() else "")


def _colour_positive(data: np.ndarray, positive: str, *, allow_empty: bool, path) -> np.ndarray:
    colour = data[..., :3]
    wanted = [full_scale_colour(rgb, colour.dtype) for rgb in _colours_of(positive)]
    out = np.zeros(colour.shape[:2], bool)
    for rgb in wanted:
        out |= np.all(colour == rgb, axis=-1)
    if not out.any() and not allow_empty:
        looked = " or ".join(str(tuple(w.tolist())) for w in wanted)
        raise InputError(f"{path}: no pixel has the positive colour {positive!r} = {looked} "
                         f"({colour.dtype}); the mask's colours are {_colours_found(colour)}; pick "
                         "one of them with positive (data.positive: blue, red, blue+red or '#RRGGBB')")
    return out


def _grey_hint(values: np.ndarray, dtype: np.dtype) -> str:
    nonzero = [int(v) for v in values.tolist() if v != 0] if np.issubdtype(dtype, np.integer) else []
    small = len(nonzero) >= 2 and max(nonzero) < 32
    classes = f"positive={nonzero[0]} or positive={nonzero[:2]}" if small else "positive=1 or [1, 2]"
    mid = (int(np.iinfo(dtype).max) + 1) // 2 if np.issubdtype(dtype, np.integer) else 0.5
    return (f"; for class labels pick the positive ones ({classes}; data.positive), for a near-binary "
            f"mask from a lossy tool give a threshold (mask_threshold={mid}; data.mask_threshold)")


def _grey_positive(data: np.ndarray, positive: Positive, *, threshold, allow_empty: bool, path,
                   hints: bool) -> np.ndarray:
    if threshold is not None:
        return data >= threshold
    values = np.unique(data)
    if isinstance(positive, tuple):
        out = np.isin(data, positive)
        if not out.any() and not allow_empty and values.size > 1:
            raise InputError(f"{path}: no pixel holds the positive class(es) {list(positive)}; the mask "
                             f"holds the values {_values_text(values)}; pick some with positive "
                             "(data.positive)")
        return out
    if len(values) > 2:
        hint = _grey_hint(values, data.dtype) if hints else ""
        raise InputError(f"{path}: a binary mask (two values) is expected but it holds "
                         f"{len(values)} distinct values: {_values_text(values)}{hint}")
    return data != 0


def binary_mask(data: np.ndarray, *, positive="nonzero", threshold: float | None = None,
                allow_empty: bool = False, path: str | Path = "mask") -> np.ndarray:
    """Turn a mask as stored into uint8 ``(H, W)`` with 1 = positive.

    Parameters
    ----------
    data : ndarray
        ``(H, W)`` grey or ``(H, W, 3|4)`` colour (alpha ignored), any integer or float dtype.
    positive : str, int or list of int
        What is positive (see the module docstring and :func:`check_positive_class`): a colour
        (``"blue"``, ``"red"``, ``"blue+red"``, ``"#RRGGBB"``; 8-bit values scaled to the
        dtype) for colour masks, ``"nonzero"``, or class labels (``1``, ``[1, 2]``). A grey
        mask given a colour is read as with ``"nonzero"``.
    threshold : float, optional
        For grey masks: ``value >= threshold`` is positive (``128`` for 8-bit near-binary
        masks whose foreground is 252..255). Colour masks are matched exactly.
    allow_empty : bool
        Accept a mask that holds labels (colours, classes) but none that is positive, as all
        background; by default that is an error (the wrong colour, class or bit depth).
    path : str or path-like
        Named in error messages.

    Raises
    ------
    InputError
        If a binary mask is expected and the mask holds three or more distinct values (the
        message suggests ``positive`` classes or a ``threshold``), if class labels are given
        for a colour mask, or if no pixel is positive in a mask that holds other labels.

    Examples
    --------
    >>> rgb = np.zeros((1, 3, 3), np.uint8); rgb[0, 0] = (0, 0, 255); rgb[0, 1] = (80, 80, 80)
    >>> binary_mask(rgb, positive="blue")
    array([[1, 0, 0]], dtype=uint8)
    >>> binary_mask(np.array([[0, 255]], np.uint8))
    array([[0, 1]], dtype=uint8)
    >>> binary_mask(np.array([[0, 1, 2]], np.uint8), positive=[1, 2])
    array([[0, 1, 1]], dtype=uint8)
    >>> binary_mask(np.array([[0, 3, 252, 255]], np.uint8), threshold=128)
    array([[0, 0, 1, 1]], dtype=uint8)
    """
    return _binary_mask(data, positive=positive, threshold=threshold, allow_empty=allow_empty,
                        path=path, hints=True)


def _binary_mask(data: np.ndarray, *, positive, threshold, allow_empty: bool, path, hints: bool) -> np.ndarray:
    positive = check_positive_class(positive)
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number))):
        raise InputError(f"threshold must be a number or None; got {threshold!r}")
    if threshold is not None and isinstance(positive, tuple):
        raise InputError(f"{path}: give either class labels (positive={list(positive)}) or a threshold "
                         f"({threshold}), not both")
    data = np.asarray(data)
    if data.ndim == 3 and data.shape[-1] in (2, 3, 4):
        grey = collapse_equal_channels(data)
        if grey is None:  # channels differ somewhere: a colour mask
            if isinstance(positive, tuple):
                raise InputError(f"{path}: a colour mask, but positive={list(positive)} names class labels; "
                                 "pick a colour (data.positive: blue, red, blue+red or '#RRGGBB')")
            if positive != "nonzero":
                return _colour_positive(data, positive, allow_empty=allow_empty, path=path).astype(np.uint8)
            flat = data[..., :3].reshape(-1, 3)
            values = np.unique(flat, axis=0)
            if len(values) > 2:
                raise InputError(f"{path}: a binary mask (two colours) is expected but it holds "
                                 f"{len(values)} distinct colours: {_values_text(values)}")
            return np.any(data[..., :3] != 0, axis=-1).astype(np.uint8)
        data = grey
    elif data.ndim != 2:
        raise InputError(f"{path}: expected a (H, W) or (H, W, 3|4) mask; got shape {data.shape}")
    return _grey_positive(data, positive, threshold=threshold, allow_empty=allow_empty, path=path,
                          hints=hints).astype(np.uint8)
