"""Boundary detectors: ridge filters for grooves, gradient magnitude for contrast steps.

Grain boundaries in an SE image are thin dark grooves (ridges of the intensity surface);
in a BSE/channelling image they are mostly steps between grains of different grey. Both
are found here by a scikit-image filter response followed by a hysteresis threshold
(:func:`skimage.filters.apply_hysteresis_threshold`), which keeps weak stretches of a
boundary that connect to strong ones.

The thresholds default to the response's own statistics: with ``m`` its median and
``s = 1.4826 * MAD`` its robust standard deviation, ``high`` is the larger of
``m + 2.5 s`` (an outlier of the background texture) and Otsu's threshold of the response
(which separates a strong, clean boundary from a noisy background), and ``low`` lies
halfway between ``m`` and ``high``. These, and the default scales, were chosen on
synthetic SE and BSE micrographs (``microseg.synth.make_sem_pair``) by the boundary
F-score at 2 px.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy.special import expit

from microseg._util import InputError, look_up_option
from microseg._validate import check_positive
from microseg.classic._threshold import to_gray_float

#: Hessian-based line filters (scikit-image), for grooves.
RIDGE_FILTERS = ("sato", "meijering", "frangi")
#: Gradient-magnitude filters (scikit-image), for contrast steps.
GRADIENT_FILTERS = ("sobel", "scharr")
FILTERS = RIDGE_FILTERS + GRADIENT_FILTERS
RIDGE_POLARITIES = ("dark", "bright", "both")

#: Automatic hysteresis: ``high = max(median + AUTO_HIGH * robust std, Otsu)``; ``low`` is
#: ``AUTO_LOW_FRACTION`` of the way from the median to ``high``.
AUTO_HIGH = 2.5
AUTO_LOW_FRACTION = 0.5


def ridge(image: np.ndarray, *, filter: str = "sato", sigmas: float | Sequence[float] = (1.5,),
          polarity: str = "dark", low: float | None = None, high: float | None = None,
          thin: bool = False, sigma: float | None = None, softness: float = 0.5) -> np.ndarray:
    """Boundary probability from a ridge (line) filter and a hysteresis threshold.

    Parameters
    ----------
    image : ndarray
        (Y, X) grey or (Y, X, 3) RGB image, any numeric dtype (see
        :func:`~microseg.classic.to_gray_float`).
    filter : {"sato", "meijering", "frangi", "sobel", "scharr"}
        The response: :func:`skimage.filters.sato` (default), ``meijering`` or ``frangi``
        for thin lines; ``"sobel"`` or ``"scharr"`` for the gradient magnitude, which finds
        contrast steps between grains (see :func:`gradient`).
    sigmas : float or sequence of float
        Filter scales in pixels, about half the groove width; the response is the maximum
        over the scales. For the gradient filters each scale is a Gaussian smoothing before
        the derivative (the magnitude is multiplied by the scale so that scales compare).
    polarity : {"dark", "bright", "both"}
        Ridges to find: dark grooves (SE images), bright lines, or both (the larger of the
        two responses). Ignored by the gradient filters (a step has no polarity).
    low, high : float, optional
        Hysteresis thresholds as quantiles in [0, 1] of the response. Left out, ``high`` is
        the larger of the median plus 2.5 robust standard deviations (1.4826 MAD) and
        Otsu's threshold of the response, and ``low`` lies halfway between the median and
        ``high``.
    thin : bool
        Skeletonise the mask to 1-px lines (:func:`skimage.morphology.skeletonize`).
    sigma : float or None
        Gaussian pre-filter of the image in pixels; ``None`` or 0 disables it.
    softness : float
        Width of the logistic transition of the probability in units of ``high - low``:
        the probability is 0.5 at ``low`` and ``expit(1 / softness)`` (0.88 by default)
        at ``high``.

    Returns
    -------
    prob : ndarray of float32, shape (Y, X)
        Boundary probability. ``prob >= 0.5`` is exactly the hysteresis mask (thinned when
        ``thin``); elsewhere the probability still rises with the response (below 0.5), so
        a watershed that closes gaps has a graded surface to work on.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((16, 16), 0.8)
    >>> image[:, 7:9] = 0.2                  # a dark vertical groove
    >>> mask = ridge(image) >= 0.5
    >>> bool(mask[:, 7:9].all()), bool(mask[:, :4].any())
    (True, False)
    """
    filter = look_up_option(filter, FILTERS, what="filter")
    polarity = look_up_option(polarity, RIDGE_POLARITIES, what="polarity")
    return _boundary_probability(image, filter=filter, sigmas=sigmas, polarity=polarity,
                                 low=low, high=high, thin=thin, sigma=sigma, softness=softness)


def gradient(image: np.ndarray, *, filter: str = "sobel", sigmas: float | Sequence[float] = (1.0,),
             low: float | None = None, high: float | None = None, thin: bool = False,
             sigma: float | None = None, softness: float = 0.5) -> np.ndarray:
    """Boundary probability from the gradient magnitude: contrast steps between grains.

    The detector for channelling-contrast (BSE, ECCI) images, where a boundary is where
    the grey level of one grain gives way to that of the next. It is :func:`ridge` with a
    gradient filter and the scale measured best for steps.

    Parameters
    ----------
    image : ndarray
        (Y, X) grey or (Y, X, 3) RGB image, any numeric dtype.
    filter : {"sobel", "scharr"}
        :func:`skimage.filters.sobel` (default) or :func:`skimage.filters.scharr`.
    sigmas : float or sequence of float
        Gaussian smoothing scales in pixels before the derivative; the response is the
        maximum over the scales of ``scale * magnitude``.
    low, high, thin, sigma, softness
        As in :func:`ridge`.

    Returns
    -------
    prob : ndarray of float32, shape (Y, X)
        Boundary probability; ``prob >= 0.5`` is exactly the hysteresis mask.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((16, 16))
    >>> image[:, 8:] = 1.0                   # two grains, one step between them
    >>> mask = gradient(image) >= 0.5
    >>> bool(mask[:, 7:9].all()), bool(mask[:, :5].any() or mask[:, 12:].any())
    (True, False)
    """
    filter = look_up_option(filter, GRADIENT_FILTERS, what="filter")
    return _boundary_probability(image, filter=filter, sigmas=sigmas, polarity="dark",
                                 low=low, high=high, thin=thin, sigma=sigma, softness=softness)


def _boundary_probability(image: np.ndarray, *, filter: str, sigmas: float | Sequence[float],
                          polarity: str, low: float | None, high: float | None, thin: bool,
                          sigma: float | None, softness: float) -> np.ndarray:
    scales, low, high, softness = _check_boundary_options(sigmas, low, high, thin, softness, sigma)
    response = _response(_prefiltered(image, sigma), filter, scales, polarity)
    mask, t_low, t_high = _hysteresis(response, low, high, thin)
    width = (t_high - t_low) if t_high > t_low else float(np.std(response))
    prob = expit((response - t_low) / max(softness * width, 1e-12)).astype(np.float32)
    below_half = np.nextafter(np.float32(0.5), np.float32(0.0))
    return np.where(mask, np.maximum(prob, np.float32(0.5)),
                    np.minimum(prob, below_half)).astype(np.float32)


def _check_boundary_options(sigmas, low, high, thin, softness, sigma):
    """The checked ``(scales, low, high, softness)`` of the boundary detectors."""
    scales = _check_sigmas(sigmas)
    low = _check_quantile(low, "low")
    high = _check_quantile(high, "high")
    if low is not None and high is not None and low > high:
        raise InputError(f"low: must not exceed high ({high:g}), got {low:g}")
    softness = check_positive(softness, "softness")
    if not isinstance(thin, (bool, np.bool_)):
        raise InputError(f"thin: expected True or False, got {thin!r}")
    if sigma is not None:
        check_positive(sigma, "sigma", allow_zero=True, unit="px")
    return scales, low, high, softness


def _prefiltered(image: np.ndarray, sigma: float | None) -> np.ndarray:
    gray = to_gray_float(image)
    if sigma is not None and float(sigma) > 0:
        gray = ndi.gaussian_filter(gray, sigma=float(sigma))
    return gray


def _hysteresis(response: np.ndarray, low: float | None, high: float | None,
                thin: bool) -> tuple[np.ndarray, float, float]:
    """The hysteresis mask of ``response`` (thinned when ``thin``) and its thresholds."""
    from skimage.filters import apply_hysteresis_threshold

    t_low, t_high = _thresholds(response, low, high)
    mask = apply_hysteresis_threshold(response, t_low, t_high)
    if thin:
        from skimage.morphology import skeletonize

        mask = skeletonize(mask)
    return mask, t_low, t_high


#: Sides of a line filter per polarity (``black_ridges`` of scikit-image).
SIDES = {"dark": (True,), "bright": (False,), "both": (True, False)}


def _response(gray: np.ndarray, filter: str, scales: tuple[float, ...],
              polarity: str, norms: dict | None = None) -> np.ndarray:
    """Filter response, float64, larger on boundaries.

    ``norms`` (for a tile of a larger image) holds the whole image's normalisers of the
    filters that have one: Frangi's ``gamma`` and Meijering's maximum per scale, per side
    (:func:`microseg.classic._tiled.line_norms`).
    """
    from skimage import filters

    if filter in GRADIENT_FILTERS:
        magnitude = getattr(filters, filter)
        return np.max([s * magnitude(ndi.gaussian_filter(gray.astype(np.float64), s))
                       for s in scales], axis=0)
    line = getattr(filters, filter)
    if norms is None or filter == "sato":
        responses = [line(gray, sigmas=scales, black_ridges=b) for b in SIDES[polarity]]
    elif filter == "frangi":
        responses = [line(gray, sigmas=scales, black_ridges=b, gamma=norms[b]) for b in SIDES[polarity]]
    else:
        responses = [_meijering_scaled(gray, scales, b, norms[b]) for b in SIDES[polarity]]
    return np.max(responses, axis=0).astype(np.float64)


def meijering_values(gray: np.ndarray, sigma: float, black_ridges: bool) -> np.ndarray:
    """Meijering's neuriteness at one scale before its division by the image's maximum
    (the steps of :func:`skimage.filters.meijering`, which a tile cannot take alone)."""
    from scipy import linalg
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals

    image = gray.astype(np.float32, copy=False) if gray.dtype != np.float64 else gray
    if not black_ridges:
        image = -image
    alpha = 1 / (image.ndim + 1)
    mtx = linalg.circulant([1, *[alpha] * (image.ndim - 1)]).astype(image.dtype)
    eigvals = hessian_matrix_eigvals(hessian_matrix(image, sigma, mode="reflect", cval=0,
                                                    use_gaussian_derivatives=True))
    vals = np.tensordot(mtx, eigvals, 1)
    vals = np.take_along_axis(vals, abs(vals).argmax(0)[None], 0).squeeze(0)
    return np.maximum(vals, 0)


def _meijering_scaled(gray: np.ndarray, scales: tuple[float, ...], black_ridges: bool,
                      maxima: list) -> np.ndarray:
    filtered_max = np.zeros_like(gray)
    for sigma, max_val in zip(scales, maxima):
        vals = meijering_values(gray, sigma, black_ridges)
        if max_val > 0:
            vals /= max_val
        filtered_max = np.maximum(filtered_max, vals)
    return filtered_max


class _ArrayStats:
    """The statistics of a response in memory that :func:`_thresholds_from` asks for."""

    def __init__(self, response: np.ndarray) -> None:
        self.response = response

    def median(self) -> float:
        return float(np.median(self.response))

    def mad(self, median: float) -> float:
        return float(np.median(np.abs(self.response - median)))

    def std(self) -> float:
        return float(np.std(self.response))

    def spans(self) -> bool:
        return float(self.response.max()) > float(self.response.min())

    def otsu(self) -> float:
        from skimage.filters import threshold_otsu

        return float(threshold_otsu(self.response))

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.response, q))


def _thresholds(response: np.ndarray, low: float | None,
                high: float | None) -> tuple[float, float]:
    """Hysteresis thresholds (low, high) in response units."""
    return _thresholds_from(_ArrayStats(response), low, high)


def _thresholds_from(stats, low: float | None, high: float | None) -> tuple[float, float]:
    """Hysteresis thresholds (low, high) from the response's statistics (see ``_ArrayStats``)."""
    median = stats.median()
    spread = 1.4826 * stats.mad(median)
    if spread == 0.0:  # a flat background: most of the response is one value
        spread = stats.std()
    if high is None:
        t_high = median + AUTO_HIGH * spread
        if stats.spans():
            t_high = max(t_high, stats.otsu())
    else:
        t_high = stats.quantile(high)
    if low is None:
        t_low = median + AUTO_LOW_FRACTION * (t_high - median)
    else:
        t_low = stats.quantile(low)
    if t_low > t_high and low is not None:  # high is automatic here
        raise InputError(f"low: the quantile {low:g} lies above the automatic high threshold "
                         f"({t_high:.4g}); pass a smaller low, or high as a quantile too")
    if t_low > t_high:  # low is automatic: halfway to a high below the median
        raise InputError(f"high: the quantile {high:g} lies below the response's median; "
                         "pass a quantile above 0.5, or low as a quantile too")
    return t_low, t_high


def _check_sigmas(sigmas: float | Sequence[float]) -> tuple[float, ...]:
    values = (sigmas,) if np.isscalar(sigmas) else tuple(sigmas)  # type: ignore[arg-type]
    try:
        scales = tuple(float(s) for s in values)
    except (TypeError, ValueError):
        raise InputError(
            f"sigmas: expected a number or a sequence of numbers, got {sigmas!r}") from None
    if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
        raise InputError(f"sigmas: expected one or more positive scales in pixels, got {sigmas!r}")
    return scales


def _check_quantile(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not 0.0 <= float(value) <= 1.0:
        raise InputError(
            f"{name}: expected a quantile in [0, 1] or None (automatic), got {value!r}")
    return float(value)
