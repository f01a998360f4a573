"""Otsu and Sauvola thresholding (seed 004: Sauvola after a Gaussian filter)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from scipy import ndimage as ndi
from scipy.special import expit

from microseg._util import InputError, look_up_option
from microseg._validate import check_positive

POLARITIES = ("dark", "bright")


@runtime_checkable
class Segmenter(Protocol):
    """Anything with ``predict(image) -> prob``: (Y, X) or (Y, X, C) in, (Y, X) float32 out."""

    def predict(self, image: np.ndarray) -> np.ndarray: ...


def to_gray_float(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return a 2D float32 grey image scaled by its dtype's range (uint8 /255, uint16 /65535).

    RGB(A) images are averaged over their colour channels; float images are kept as they
    are. Raises :class:`~microseg._util.InputError` for NaNs or a wrong number of axes.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3]
        if np.issubdtype(arr.dtype, np.integer):
            scale = float(np.iinfo(arr.dtype).max)
            arr = arr.astype(np.float32).mean(axis=-1) / scale
        else:
            arr = arr.astype(np.float32).mean(axis=-1)
    elif arr.ndim != 2:
        raise InputError(f"{name}: expected a (Y, X) or (Y, X, 3) image, got shape {arr.shape}")
    elif arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    else:
        arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: contains {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    return arr


def _soft_decision(image: np.ndarray, threshold: np.ndarray | float, polarity: str,
                   softness: float, spread: float | None = None) -> np.ndarray:
    """Logistic of (threshold - image) for dark targets, (image - threshold) for bright ones.

    ``spread`` is the image's standard deviation (of the whole image when ``image`` is a
    tile of it); computed from ``image`` when not given.
    """
    if spread is None:
        spread = float(np.std(image, dtype=np.float64))   # as the tiled path accumulates it
    scale = max(check_positive(softness, "softness") * spread, 1e-6)
    margin = (threshold - image) if polarity == "dark" else (image - threshold)
    return expit(margin / scale).astype(np.float32)


def _prefilter(image: np.ndarray, sigma: float | None) -> np.ndarray:
    if sigma is None or check_positive(sigma, "sigma", allow_zero=True, unit="px") == 0:
        return image
    return ndi.gaussian_filter(image, sigma=float(sigma))


def otsu(image: np.ndarray, *, polarity: str = "dark", sigma: float | None = None,
         offset: float = 0.0, softness: float = 0.1) -> np.ndarray:
    """Global Otsu threshold as a probability map.

    Parameters
    ----------
    image : ndarray
        (Y, X) grey or (Y, X, 3) RGB image, any numeric dtype.
    polarity : {"dark", "bright"}
        Which side of the threshold is the positive class: ``"dark"`` for grain-boundary
        grooves or pores, ``"bright"`` for a bright phase.
    sigma : float, optional
        Gaussian pre-filter in pixels (none by default).
    offset : float
        Shift of Otsu's threshold in units of the (pre-filtered) image's standard
        deviation: positive raises it (more dark pixels, fewer bright ones). Otsu splits
        the histogram where the two classes separate best, which is off the true boundary
        when one phase is small or the two overlap; :func:`microseg.classic.tune` finds
        the offset on labelled images.
    softness : float
        Width of the logistic transition in units of the image's standard deviation.

    Returns
    -------
    prob : ndarray of float32, shape (Y, X)
        Probability of the positive class; ``prob >= 0.5`` is Otsu's mask (shifted by
        ``offset``).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.array([[0, 0, 200, 200]], dtype=np.uint8)
    >>> (otsu(image) >= 0.5).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    from skimage.filters import threshold_otsu

    polarity = look_up_option(polarity, POLARITIES, what="polarity")
    gray = _prefilter(to_gray_float(image), sigma)
    if float(gray.max()) == float(gray.min()):
        raise InputError("image: is constant; Otsu's threshold needs at least two grey levels")
    _check_offset(offset)
    t = threshold_otsu(gray) + float(offset) * float(np.std(gray, dtype=np.float64))
    return _soft_decision(gray, t, polarity, softness)


def _check_offset(offset: float) -> None:
    if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (int, float, np.number)) \
            or not np.isfinite(offset):
        raise InputError(f"offset: expected a finite number (image standard deviations), got {offset!r}")


def _check_window(window_size: int) -> int:
    """The odd Sauvola window (an even one grows by one)."""
    window_size = int(window_size)
    if window_size < 3:
        raise InputError(f"window_size: must be an odd integer >= 3, got {window_size}")
    return window_size + 1 if window_size % 2 == 0 else window_size


def sauvola(image: np.ndarray, *, polarity: str = "dark", window_size: int = 25, k: float = 0.2,
            r: float | None = None, sigma: float | None = 1.0, softness: float = 0.1) -> np.ndarray:
    """Sauvola local threshold after a Gaussian pre-filter (as in seed 004), as a probability.

    The local threshold is ``T = m * (1 + k * (s / R - 1))`` with ``m`` and ``s`` the mean
    and standard deviation in a ``window_size`` window (scikit-image's
    ``threshold_sauvola``).

    Parameters
    ----------
    image : ndarray
        (Y, X) grey or (Y, X, 3) RGB image.
    polarity : {"dark", "bright"}
        Which side of the local threshold is the positive class.
    window_size : int
        Odd window edge in pixels; choose about the size of the features' surroundings
        (a grain diameter for boundaries).
    k, r : float
        Sauvola's parameters (``r`` defaults to scikit-image's half the dtype range, 1
        for the float image used here). ``k = 0.2`` (dark text on paper) puts the
        threshold about a fifth below the local mean: low-contrast phases (precipitates a
        few per cent darker than their matrix) then give an empty mask; they need
        ``k`` of 0.01-0.05, and bright targets ``k <= 0``. :func:`microseg.classic.tune`
        finds ``window_size`` and ``k`` on labelled images.
    sigma : float or None
        Gaussian pre-filter in pixels; ``None`` or 0 disables it.
    softness : float
        Width of the logistic transition in units of the image's standard deviation.

    Returns
    -------
    prob : ndarray of float32, shape (Y, X)
    """
    from skimage.filters import threshold_sauvola

    polarity = look_up_option(polarity, POLARITIES, what="polarity")
    window_size = _check_window(window_size)
    gray = _prefilter(to_gray_float(image), sigma)
    t = threshold_sauvola(gray, window_size=window_size, k=float(k), r=r)
    return _soft_decision(gray, t, polarity, softness)
