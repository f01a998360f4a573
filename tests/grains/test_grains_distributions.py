from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from microseg._util import InputError
from microseg.grains import FittedDistribution, fit_distribution, jensen_shannon_distance


def test_exponential_fit_is_the_mean_and_ks_matches_scipy():
    x = np.random.default_rng(0).exponential(5.0, 2000)
    fit = fit_distribution(x, "exponential")
    assert fit.params == (0.0, pytest.approx(x.mean()))
    assert fit.ks_statistic == pytest.approx(stats.kstest(x, "expon", args=(0, x.mean())).statistic)
    assert fit.ks_statistic < 0.05 and fit.n == 2000
    np.testing.assert_allclose(fit.pdf([0.0, 5.0]), np.exp(-np.array([0.0, 5.0]) / x.mean()) / x.mean())


def test_lognormal_fit_recovers_mu_sigma():
    x = np.random.default_rng(1).lognormal(mean=1.0, sigma=0.4, size=4000)
    s, loc, scale = fit_distribution(x, "lognormal").params
    assert loc == 0.0
    assert s == pytest.approx(np.log(x).std(), rel=1e-4)          # MLE in closed form
    assert np.log(scale) == pytest.approx(np.log(x).mean(), rel=1e-4)


def test_beta_fit_with_values_at_one():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.beta(5, 2, 3000), [1.0, 1.0]])        # digital disks give exactly 1
    fit = fit_distribution(x, "beta")
    a, b, loc, scale = fit.params
    assert (loc, scale) == (0.0, 1.0)
    assert a == pytest.approx(5, rel=0.1) and b == pytest.approx(2, rel=0.1)
    assert fit.cdf(1.0) == pytest.approx(1.0)


def test_fit_errors():
    with pytest.raises(InputError, match="values.*empty"):
        fit_distribution([], "exponential")
    with pytest.raises(InputError, match="values.*two distinct"):
        fit_distribution([3.0, 3.0, 3.0], "lognormal")
    with pytest.raises(InputError, match="values.*NaN"):
        fit_distribution([1.0, np.nan], "exponential")
    with pytest.raises(InputError, match="values.*\\[0, 1\\]"):
        fit_distribution([0.5, 1.5], "beta")
    with pytest.raises(InputError, match="values.*> 0"):
        fit_distribution([0.0, 1.0], "lognormal")
    with pytest.raises(InputError, match="did you mean 'lognormal'"):
        fit_distribution([1.0, 2.0], "lognorml")


def test_js_samples_matches_scipy_on_common_bins():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 500), rng.normal(0.5, 1.2, 700)
    d = jensen_shannon_distance(a, b, bins=30)
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=30)
    expected = jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0], base=2)
    assert d == pytest.approx(expected, rel=1e-9)
    assert 0 < d < 1
    assert jensen_shannon_distance(a, a) == 0.0
    assert jensen_shannon_distance(a, b) == pytest.approx(jensen_shannon_distance(b, a))
    assert jensen_shannon_distance([0.0, 0.1], [5.0, 6.0], bins=4) == pytest.approx(1.0)


def test_js_constant_and_empty_samples():
    assert jensen_shannon_distance([2.0, 2.0], [2.0]) == 0.0
    with pytest.raises(InputError, match="b.*empty"):
        jensen_shannon_distance([1.0, 2.0], [])
    with pytest.raises(InputError, match="range.*none of the sample"):
        jensen_shannon_distance([1.0, 2.0], [1.5], range=(5.0, 6.0))
    with pytest.raises(InputError, match="bins"):
        jensen_shannon_distance([1.0, 2.0], [1.5], bins=1)


def test_js_between_fitted_pdfs():
    e1 = FittedDistribution("exponential", (0.0, 2.0), 0.0, 10)
    e2 = FittedDistribution("exponential", (0.0, 2.2), 0.0, 10)
    assert jensen_shannon_distance(e1, e1) == pytest.approx(0.0, abs=1e-12)
    d = jensen_shannon_distance(e1, e2, bins=2000)
    grid = np.linspace(0, 30, 4000)
    expected = jensenshannon(e1.pdf(grid), e2.pdf(grid), base=2)
    assert d == pytest.approx(expected, rel=0.02) and 0 < d < 0.1
    with pytest.raises(InputError, match="not one of each"):
        jensen_shannon_distance(e1, [1.0, 2.0])


def test_values_equal_up_to_rounding_are_refused_not_fitted():
    # aspect ratios of identical square grains: 1 up to rounding; clipped for the beta fit they are
    # all 1 - eps, where scipy's solver fails (it raised FitSolverError from microseg grains)
    ratios = 1.0 - np.abs(np.random.default_rng(0).normal(0, 1e-12, 81))
    ratios[0] = 1.0
    for kind in ("beta", "lognormal", "exponential"):
        with pytest.raises(InputError, match="two distinct values"):
            fit_distribution(ratios, kind)
    fit_distribution(np.r_[ratios, 0.8, 0.9], "beta")   # distinct values still fit
