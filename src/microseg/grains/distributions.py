"""Fitted size / shape distributions and the Jensen–Shannon distance (seed 001, section 3.1).

Grain sizes (ECD) are fitted with an exponential or a lognormal PDF, aspect ratios with a
beta PDF on [0, 1]; two distributions are compared by the Jensen–Shannon distance in base
2, which lies in [0, 1] (0 = identical).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from microseg._util import InputError, look_up_option

KINDS = ("exponential", "lognormal", "beta")
_SCIPY = {"exponential": stats.expon, "lognormal": stats.lognorm, "beta": stats.beta}


@dataclass(frozen=True)
class FittedDistribution:
    """A distribution fitted by maximum likelihood.

    Attributes
    ----------
    kind : str
        ``"exponential"``, ``"lognormal"`` or ``"beta"``.
    params : tuple of float
        :mod:`scipy.stats` parameters (shapes, loc, scale): exponential ``(loc, scale)`` with
        mean ``loc + scale``; lognormal ``(s, loc, scale)`` with ``s`` the sigma of the log
        and ``scale = exp(mu)``; beta ``(a, b, loc, scale)``.
    ks_statistic : float
        Kolmogorov–Smirnov statistic of the sample against the fitted CDF.
    n : int
        Sample size.
    """

    kind: str
    params: tuple[float, ...]
    ks_statistic: float
    n: int

    def frozen(self):
        """The fitted :mod:`scipy.stats` frozen distribution."""
        return _SCIPY[self.kind](*self.params)

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        """Probability density at ``x``."""
        return self.frozen().pdf(x)

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        """Cumulative distribution at ``x``."""
        return self.frozen().cdf(x)


def _check_sample(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise InputError(f"{name}: the sample is empty; there is nothing to fit or compare")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: the sample contains NaN or infinite values; drop them first")
    return arr


def fit_distribution(values: np.ndarray, kind: str, *, loc: float | None = 0.0,
                     eps: float = 1e-6) -> FittedDistribution:
    """Fit an exponential, lognormal or beta distribution to a sample.

    Parameters
    ----------
    values : array_like
        The sample, e.g. ``table["ecd_um"]`` or ``table["aspect_ratio"]``.
    kind : {"exponential", "lognormal", "beta"}
        Exponential and lognormal need values >= 0 (> 0 for lognormal); beta needs values in
        [0, 1], and values at 0 or 1 (a digital disk has aspect ratio exactly 1) are moved
        ``eps`` inside because the beta likelihood is 0 or infinite there.
    loc : float or None, optional
        Fixed location of exponential and lognormal (default 0, the natural origin of a size);
        None fits it too. The beta always lives on [0, 1].

    Returns
    -------
    FittedDistribution

    Raises
    ------
    InputError
        For an empty sample, NaN, values outside the support, or fewer than two distinct values
        (a constant sample has no shape to fit).

    Examples
    --------
    >>> import numpy as np
    >>> fit = fit_distribution([1.0, 2.0, 3.0, 6.0], "exponential")
    >>> fit.params                      # maximum likelihood: scale = mean
    (0.0, 3.0)
    >>> round(float(fit.pdf(0.0)), 4)
    0.3333
    """
    kind = look_up_option(kind, KINDS, what="distribution kind")
    x = _check_range(_check_sample(values, "values"), kind, loc)
    if kind == "beta":
        x = np.clip(x, eps, 1.0 - eps)
    if np.ptp(x) <= 1e-9 * max(float(np.abs(x).max()), 1e-300):   # equal up to rounding
        raise InputError(f"values: need at least two distinct values to fit a {kind} distribution, "
                         f"got {x.size} value(s) all equal to {x[0]:g}")
    fixed: dict[str, float] = {} if loc is None else {"floc": float(loc)}
    try:
        if kind == "exponential":
            params = stats.expon.fit(x, **fixed)
        elif kind == "lognormal":
            params = stats.lognorm.fit(x, **fixed)
        else:
            params = stats.beta.fit(x, floc=0.0, fscale=1.0)
    except (stats.FitError, RuntimeError) as exc:   # no maximum of the likelihood
        raise InputError(f"values: the {kind} fit of {x.size} values did not converge ({exc})") from None
    params = tuple(float(p) for p in params)
    ks = float(stats.kstest(x, _SCIPY[kind](*params).cdf).statistic)
    return FittedDistribution(kind, params, ks, int(x.size))


def _check_range(x: np.ndarray, kind: str, loc: float | None) -> np.ndarray:
    low = 0.0 if loc is None else loc
    if kind == "exponential" and x.min() < low:
        raise InputError(f"values: an exponential with loc={loc} needs values >= {loc}, got min {x.min():g}")
    if kind == "lognormal" and x.min() <= low:
        raise InputError(f"values: a lognormal with loc={loc} needs values > {loc}, got min {x.min():g}")
    if kind == "beta" and (x.min() < 0.0 or x.max() > 1.0):
        raise InputError(f"values: a beta distribution needs values in [0, 1], got [{x.min():g}, {x.max():g}]")
    return x


def _js(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0)))


def jensen_shannon_distance(a, b, *, bins: int = 50, range: tuple[float, float] | None = None) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two samples or two fitted PDFs.

    Parameters
    ----------
    a, b : array_like or FittedDistribution
        Two samples, compared through histograms on ``bins`` common bins over ``range``
        (default: from the smaller minimum to the larger maximum of both); or two
        :class:`FittedDistribution`, compared through their PDFs sampled at ``bins`` evenly
        spaced points over ``range`` (default: from the smaller 0.01 % quantile to the larger
        99.99 % quantile of the two).
    bins : int, optional
        Number of histogram bins, or of grid points for PDFs (at least 2).

    Returns
    -------
    float
        ``sqrt(JS divergence)`` with logarithms in base 2; 0 for identical histograms, 1 for
        disjoint ones. Two constant samples of the same value give 0.

    Raises
    ------
    InputError
        For an empty sample, NaN, or a histogram range that holds none of a sample.

    Examples
    --------
    >>> jensen_shannon_distance([0.1, 0.2], [0.1, 0.2], bins=4)
    0.0
    >>> jensen_shannon_distance([0.0, 0.1], [0.9, 1.0], bins=2)
    1.0
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise InputError(f"bins: expected an integer >= 2, got {bins!r}")
    if isinstance(a, FittedDistribution) and isinstance(b, FittedDistribution):
        return _js_pdf(a, b, bins=int(bins), range=range)
    if isinstance(a, FittedDistribution) or isinstance(b, FittedDistribution):
        raise InputError("a, b: give two samples or two FittedDistribution, not one of each")
    x, y = _check_sample(a, "a"), _check_sample(b, "b")
    if range is None:
        range = (float(min(x.min(), y.min())), float(max(x.max(), y.max())))
    hx, edges = np.histogram(x, bins=bins, range=range)
    hy, _ = np.histogram(y, bins=edges)
    for name, h in (("a", hx), ("b", hy)):
        if h.sum() == 0:
            raise InputError(f"range: holds none of the sample {name}; widen it or leave it out")
    return _js(hx.astype(float), hy.astype(float))


def _js_pdf(a: FittedDistribution, b: FittedDistribution, *, bins: int,
            range: tuple[float, float] | None) -> float:
    if range is None:
        fa, fb = a.frozen(), b.frozen()
        lo = float(min(fa.ppf(1e-4), fb.ppf(1e-4)))
        hi = float(max(fa.ppf(1 - 1e-4), fb.ppf(1 - 1e-4)))
        range = (lo, hi)
    grid = np.linspace(range[0], range[1], bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, q = np.nan_to_num(a.pdf(grid), posinf=0.0), np.nan_to_num(b.pdf(grid), posinf=0.0)
    if p.sum() <= 0 or q.sum() <= 0:
        raise InputError("range: one of the PDFs is zero on the whole grid; widen the range")
    return _js(p, q)
