"""Augmentation in numpy: dihedral transforms, intensity and blur jitter, random crops.

Images are ``(H, W)`` or ``(C, H, W)``, masks ``(H, W)``; geometric transforms act on the
last two axes of both, so image and mask stay aligned. Randomness comes only from the
``rng`` passed in (a :class:`numpy.random.Generator` or a seed).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microseg._util import InputError, look_up_option
from microseg._validate import check_int, check_positive

AUGMENT_OPS = ("flip", "rot90")
#: The 8 dihedral transforms by index k: rotate k % 4 quarter turns counter-clockwise,
#: then mirror left-right when k >= 4. k = 0 is the identity.
N_DIHEDRAL = 8


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise InputError(f"rng must be a numpy Generator or an int seed; got {type(rng).__name__}")


def _check_pair(image, mask) -> tuple[np.ndarray, np.ndarray]:
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim not in (2, 3):
        raise InputError(f"image must be (H, W) or (C, H, W); got shape {image.shape}")
    if mask.ndim != 2:
        raise InputError(f"mask must be (H, W); got shape {mask.shape}")
    if image.shape[-2:] != mask.shape:
        raise InputError(f"image is {image.shape[-2]} × {image.shape[-1]} (H × W) but mask is "
                         f"{mask.shape[0]} × {mask.shape[1]}; they must match")
    return image, mask


def dihedral(array: np.ndarray, k: int) -> np.ndarray:
    """Apply dihedral transform ``k`` (0..7) to the last two axes of ``array``.

    Examples
    --------
    >>> a = np.array([[1, 2], [3, 4]])
    >>> dihedral(a, 1)
    array([[2, 4],
           [1, 3]])
    >>> dihedral(a, 4)
    array([[2, 1],
           [4, 3]])
    """
    k = check_int(k, "k", high=N_DIHEDRAL - 1)
    out = np.rot90(array, int(k) % 4, axes=(-2, -1))
    if k >= 4:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def dihedral_copies(image: np.ndarray, mask: np.ndarray, *,
                    rotations: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed augmentation copies of an image and its mask.

    With ``rotations=False`` (seed 001's 4×): the original, flipped left-right, flipped
    up-down, and both. With ``rotations=True``: all 8 dihedral transforms (k = 0..7 of
    :func:`dihedral`).

    Examples
    --------
    >>> copies = dihedral_copies(np.arange(4.0).reshape(2, 2), np.eye(2, dtype=np.uint8))
    >>> len(copies), copies[1][0].tolist()
    (4, [[1.0, 0.0], [3.0, 2.0]])
    """
    image, mask = _check_pair(image, mask)
    if rotations:
        return [(dihedral(image, k), dihedral(mask, k)) for k in range(N_DIHEDRAL)]
    flips = [(), (-1,), (-2,), (-2, -1)]
    return [(np.ascontiguousarray(np.flip(image, f)) if f else image.copy(),
             np.ascontiguousarray(np.flip(mask, f)) if f else mask.copy()) for f in flips]


def _intensity_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma, gain and offset drawn from ``strength``; works for any value range."""
    gamma = float(np.exp(rng.uniform(-strength, strength)))
    gain = float(max(rng.uniform(1 - strength, 1 + strength), 0.0))
    offset = float(rng.uniform(-strength / 2, strength / 2))
    x = image.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if span <= 1e-12:
        return x + np.float32(offset)
    x = np.float32(lo) + np.float32(span) * ((x - np.float32(lo)) / np.float32(span)) ** np.float32(gamma)
    mean = np.float32(x.mean())
    return (mean + np.float32(gain) * (x - mean) + np.float32(offset * span)).astype(np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    sigmas = (sigma, sigma) if image.ndim == 2 else (0.0, sigma, sigma)
    return ndimage.gaussian_filter(image.astype(np.float32), sigma=sigmas, mode="reflect")


def augment(image: np.ndarray, mask: np.ndarray, *, ops: Sequence[str] = AUGMENT_OPS, rng,
            intensity: float = 0.0, blur: float = 0.0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Randomly transform an image and its mask together.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(C, H, W)``.
    mask : ndarray
        ``(H, W)``.
    ops : sequence of {"flip", "rot90"}
        ``"flip"``: mirror left-right and up-down, each with probability 1/2. ``"rot90"``: a
        random number (0..3) of quarter turns. Both together draw each of the 8 dihedral
        transforms with probability 1/8. Empty: no geometric change.
    rng : numpy.random.Generator or int
        The source of randomness (keyword-only, required).
    intensity : float
        Strength s ≥ 0 of the intensity jitter on the image only: gamma exp(U(-s, s)) on the
        image's own min..max range, then gain U(1 - s, 1 + s) about the mean and an offset of
        U(-s/2, s/2) times the range. Not clipped. 0 turns it off.
    blur : float
        Largest σ (px) of a Gaussian blur on the image only, σ ~ U(0, blur). 0 turns it off.
    noise : float
        Largest standard deviation of additive Gaussian noise, as a fraction of the image's
        min..max range, σ ~ U(0, noise): another detector, dose or dwell time than the
        training image had. Applied after the blur. 0 turns it off.

    Returns
    -------
    (image, mask)
        New arrays; the mask keeps its dtype, the image becomes float32 when jittered.

    Examples
    --------
    >>> img, msk = augment(np.zeros((1, 4, 4)), np.eye(4, dtype=np.uint8), rng=0)
    >>> img.shape, int(msk.sum())
    ((1, 4, 4), 4)
    """
    image, mask = _check_pair(image, mask)
    rng = _rng(rng)
    if isinstance(ops, str):
        ops = (ops,)
    ops = {look_up_option(op, AUGMENT_OPS, what="augmentation op") for op in (ops or ())}
    intensity, blur, noise = (check_positive(value, name, allow_zero=True) for value, name in
                              ((intensity, "intensity"), (blur, "blur"), (noise, "noise")))
    flips = []
    if "flip" in ops:
        flips = [axis for axis in (-1, -2) if rng.random() < 0.5]
    turns = int(rng.integers(4)) if "rot90" in ops else 0
    if flips:
        image, mask = np.flip(image, flips), np.flip(mask, flips)
    if turns:
        image, mask = np.rot90(image, turns, axes=(-2, -1)), np.rot90(mask, turns, axes=(-2, -1))
    image, mask = np.ascontiguousarray(image), np.ascontiguousarray(mask)
    if intensity > 0:
        image = _intensity_jitter(image, float(intensity), rng)
    if blur > 0:
        image = _blur(image, float(rng.uniform(0.0, blur)))
    if noise > 0:
        span = float(np.ptp(image)) or 1.0
        sigma = float(rng.uniform(0.0, noise)) * span
        image = (image + rng.normal(0.0, sigma, image.shape)).astype(np.float32)
    return image, mask


def _size2(size) -> tuple[int, int]:
    sizes = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(sizes) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                              for s in sizes):
        raise InputError(f"size must be a positive integer or (h, w); got {size!r}")
    return int(sizes[0]), int(sizes[1])


def pad_to_size(array: np.ndarray, size) -> np.ndarray:
    """Pad the last two axes by mirror reflection up to at least ``size`` (bottom and right).

    Images much smaller than ``size`` are reflected repeatedly.

    Examples
    --------
    >>> pad_to_size(np.array([[1, 2]]), (1, 5)).tolist()
    [[1, 2, 2, 1, 1]]
    """
    h, w = _size2(size)
    while array.shape[-2] < h or array.shape[-1] < w:
        ph = min(max(h - array.shape[-2], 0), array.shape[-2])
        pw = min(max(w - array.shape[-1], 0), array.shape[-1])
        widths = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
        array = np.pad(array, widths, mode="symmetric")
    return array


def random_crop_slices(shape: Sequence[int], size, rng) -> tuple[slice, slice]:
    """Uniformly random ``(rows, cols)`` window of ``size`` inside an ``(H, W)`` shape.

    Where the shape is smaller than ``size`` the window starts at 0 (pad afterwards).
    """
    h, w = _size2(size)
    rng = _rng(rng)
    top = int(rng.integers(shape[0] - h + 1)) if shape[0] > h else 0
    left = int(rng.integers(shape[1] - w + 1)) if shape[1] > w else 0
    return slice(top, top + h), slice(left, left + w)


def random_crop(image: np.ndarray, mask: np.ndarray, *, size, rng) -> tuple[np.ndarray, np.ndarray]:
    """Cut the same random window of ``size`` from an image and its mask (seed 004).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(C, H, W)``.
    mask : ndarray
        ``(H, W)``.
    size : int or (int, int)
        Window ``(h, w)``; every position is equally likely. An image smaller than ``size``
        is first padded by reflection (:func:`pad_to_size`).
    rng : numpy.random.Generator or int

    Returns
    -------
    (image, mask)
        Copies of shape ``(..., h, w)``.

    Examples
    --------
    >>> img, msk = random_crop(np.zeros((3, 10, 12)), np.zeros((10, 12)), size=4, rng=1)
    >>> img.shape, msk.shape
    ((3, 4, 4), (4, 4))
    """
    image, mask = _check_pair(image, mask)
    size = _size2(size)
    image, mask = pad_to_size(image, size), pad_to_size(mask, size)
    rows, cols = random_crop_slices(mask.shape, size, rng)
    return image[..., rows, cols].copy(), mask[rows, cols].copy()
