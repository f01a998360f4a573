"""Pre-processing applied identically in training and inference: normalisation, median filter.

Normalisation is stateless: ``mode="per_image"`` computes its mean and standard deviation
from the image it is applied to, so inference repeats training by recording only
``{"mode": "per_image"}`` (:func:`preprocessing_spec`) beside the model. The statistics can
still be taken from a whole image and applied to a crop of it (``stats=``), which is what the
training datasets do so that a training patch equals the same window of the normalised
whole image that inference sees.
"""
from __future__ import annotations

import numpy as np

from microseg._util import InputError, look_up_option
from microseg._validate import check_int

NORMALIZE_MODES = ("per_image", "minmax", "none")
#: Spread below which an image counts as constant (normalised to all zeros).
EPS = 1e-6


def _check_image(image, *, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise InputError(f"{name} must be (H, W) or (C, H, W); got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) and image.dtype != bool:
        raise InputError(f"{name} must be numeric; got dtype {image.dtype}")
    return image


def normalization_stats(image: np.ndarray, *, mode: str = "per_image") -> dict:
    """The numbers :func:`normalize` uses for ``image``.

    Returns
    -------
    dict
        ``{"mode": "per_image", "mean": m, "std": s}``, ``{"mode": "minmax", "min": a,
        "max": b}`` or ``{"mode": "none"}``; one value for the whole image (all channels).

    Examples
    --------
    >>> normalization_stats(np.array([[0.0, 2.0]]))
    {'mode': 'per_image', 'mean': 1.0, 'std': 1.0}
    """
    mode = look_up_option(mode, NORMALIZE_MODES, what="normalize mode")
    image = _check_image(image).astype(np.float64, copy=False)
    if mode == "per_image":
        return {"mode": mode, "mean": float(image.mean()), "std": float(image.std())}
    if mode == "minmax":
        return {"mode": mode, "min": float(image.min()), "max": float(image.max())}
    return {"mode": mode}


def normalize(image: np.ndarray, *, mode: str = "per_image", stats: dict | None = None) -> np.ndarray:
    """Normalise an image: zero mean and unit std, [0, 1] by min/max, or unchanged.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(C, H, W)``.
    mode : {"per_image", "minmax", "none"}
        ``"per_image"``: subtract the mean and divide by the standard deviation of the whole
        image (one pair for all channels and pixels). ``"minmax"``: map the image's minimum
        to 0 and maximum to 1. ``"none"``: only convert to float32. A constant image (spread
        below ``1e-6``) becomes all zeros.
    stats : dict, optional
        Statistics from :func:`normalization_stats` of a larger image to use instead of this
        image's own (normalise a crop as part of its whole image). Its ``"mode"`` must equal
        ``mode``.

    Returns
    -------
    ndarray of float32
        Same shape as ``image``.

    Examples
    --------
    >>> normalize(np.array([[1.0, 3.0]]))
    array([[-1.,  1.]], dtype=float32)
    >>> normalize(np.array([[1.0, 3.0]]), mode="minmax")
    array([[0., 1.]], dtype=float32)
    """
    mode = look_up_option(mode, NORMALIZE_MODES, what="normalize mode")
    image = _check_image(image)
    if stats is None:
        stats = normalization_stats(image, mode=mode)
    elif stats.get("mode") != mode:
        raise InputError(f"stats are for mode {stats.get('mode')!r} but mode is {mode!r}")
    x = image.astype(np.float32)
    if mode == "per_image":
        std = stats["std"]
        return (x - np.float32(stats["mean"])) / np.float32(std) if std > EPS else np.zeros_like(x)
    if mode == "minmax":
        span = stats["max"] - stats["min"]
        return (x - np.float32(stats["min"])) / np.float32(span) if span > EPS else np.zeros_like(x)
    return x


def median_filter(image: np.ndarray, *, size: int = 3) -> np.ndarray:
    """Median-filter each channel of an image (seed 001's noise removal).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(C, H, W)``; channels are filtered separately.
    size : int
        Edge of the square window in px; 0 or 1 returns an unchanged copy. Edges are
        handled by reflection.

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> median_filter(np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]]))
    array([[0, 0, 0],
           [0, 0, 0],
           [0, 0, 0]])
    """
    from scipy import ndimage

    image = _check_image(image)
    size = check_int(size, "size")
    if size <= 1:
        return image.copy()
    window = (size, size) if image.ndim == 2 else (1, size, size)
    return ndimage.median_filter(image, size=window, mode="reflect")


def preprocessing_spec(*, normalize: str = "per_image", median: int = 0) -> dict:
    """The JSON-able record of pre-processing to store beside a model and repeat at inference.

    Examples
    --------
    >>> preprocessing_spec(median=3)
    {'normalize': {'mode': 'per_image'}, 'median': 3}
    """
    mode = look_up_option(normalize, NORMALIZE_MODES, what="normalize mode")
    return {"normalize": {"mode": mode}, "median": check_int(median, "median")}


def apply_preprocessing(image: np.ndarray, spec: dict) -> np.ndarray:
    """Apply a :func:`preprocessing_spec` record: median filter, then normalisation.

    Examples
    --------
    >>> apply_preprocessing(np.array([[1.0, 3.0]]), {"normalize": {"mode": "minmax"}, "median": 0})
    array([[0., 1.]], dtype=float32)
    """
    norm = spec.get("normalize", {"mode": "none"})
    mode = norm["mode"] if isinstance(norm, dict) else norm
    return normalize(median_filter(image, size=int(spec.get("median", 0))), mode=mode)


def widen_labels(mask: np.ndarray, *, width: int = 1) -> np.ndarray:
    """Widen a 1-px boundary label to a band of ``width`` px (odd; 1 leaves it as it is).

    EBSD-derived labels sit 1-2 px off the boundary seen in the SEM image even after
    refined registration; a band as wide as that residual teaches the network the
    boundary's place without punishing it for a 1-px offset. Only the label of training
    items is widened: validation and scores use the 1-px label.

    Examples
    --------
    >>> m = np.zeros((5, 5), np.uint8); m[2, 2] = 1
    >>> int(widen_labels(m, width=3).sum()), int(widen_labels(m, width=5).sum())
    (9, 21)
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1 or width % 2 == 0:
        raise InputError(f"label width must be an odd number of px >= 1; got {width!r}")
    if width == 1:
        return mask
    from scipy import ndimage

    r = (int(width) - 1) // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = yy ** 2 + xx ** 2 <= r * r + r          # 3 -> 3x3 square, 5 -> rounded 5x5
    return ndimage.binary_dilation(mask > 0, structure=disk).astype(mask.dtype)


def thin_boundaries(mask: np.ndarray, *, min_length: int = 10) -> np.ndarray:
    """The 1-px form of a predicted boundary band: skeleton, without short isolated pieces.

    The inverse of :func:`widen_labels` on the network's side: a network trained on a band
    predicts a band (3-6 px wide where ``prob >= threshold``); its skeleton
    (:func:`skimage.morphology.skeletonize`) is a boundary map of the label's form, which is
    what the boundary scores compare. Skeleton pieces (8-connected) of fewer than
    ``min_length`` px — specks of noise, not boundaries — are dropped (0 keeps all).

    Examples
    --------
    >>> band = np.zeros((9, 20), bool); band[3:6, 1:19] = True; band[0, 0] = True
    >>> thin = thin_boundaries(band, min_length=3)
    >>> int(thin.sum()), bool(thin[0, 0]), int(thin.sum(axis=0).max())
    (17, False, 1)
    """
    from scipy import ndimage
    from skimage.morphology import skeletonize

    min_length = check_int(min_length, "min_length", unit="px")
    skeleton = skeletonize(np.asarray(mask, bool))
    if min_length <= 1 or not skeleton.any():
        return skeleton
    labels, _ = ndimage.label(skeleton, structure=np.ones((3, 3), bool))
    keep = np.bincount(labels.ravel()) >= min_length
    keep[0] = False
    return keep[labels]
