from __future__ import annotations

import numpy as np
import pytest
from skimage.filters import apply_hysteresis_threshold, sato, sobel, threshold_otsu
from skimage.morphology import skeletonize

from microseg import classic, metrics, synth
from microseg._util import InputError


def _line(value: float = 60, width: int = 2, noise: float = 0.0, dtype=np.uint8) -> np.ndarray:
    """A vertical line of ``value`` at columns 20..20+width on a flat grey 180 background."""
    rng = np.random.default_rng(0)
    image = np.full((48, 48), 180.0)
    image[:, 20:20 + width] = value
    image += rng.normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(dtype)


def _step() -> np.ndarray:
    """Two grains meeting at column 24: a contrast step, no groove."""
    rng = np.random.default_rng(1)
    image = np.where(np.arange(48) < 24, 0.3, 0.7)[None, :].repeat(48, axis=0)
    return (image + rng.normal(0, 0.01, image.shape)).astype(np.float32)


def test_dark_line_on_flat_background_is_found():
    prob = classic.ridge(_line())
    assert prob.dtype == np.float32 and prob.shape == (48, 48)
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    mask = prob >= 0.5
    assert mask[:, 20:22].all()
    assert not mask[:, :16].any() and not mask[:, 26:].any()


def test_mask_is_exactly_the_hysteresis_of_the_sato_response():
    image = _line(noise=2.0)
    gray = image.astype(np.float32) / 255
    response = sato(gray, sigmas=[1.5], black_ridges=True)
    # quantile thresholds
    prob = classic.ridge(image, low=0.8, high=0.95)
    lo, hi = np.quantile(response, [0.8, 0.95])
    assert np.array_equal(prob >= 0.5, apply_hysteresis_threshold(response, lo, hi))
    # automatic thresholds: the larger of median + 2.5 robust std and Otsu, low halfway
    med = np.median(response)
    spread = 1.4826 * np.median(np.abs(response - med))
    hi = max(med + 2.5 * spread, threshold_otsu(response))
    expected = apply_hysteresis_threshold(response, med + (hi - med) / 2, hi)
    assert np.array_equal(classic.ridge(image) >= 0.5, expected)


def test_probability_is_graded_on_both_sides_of_the_decision():
    image = _line(noise=2.0)
    prob = classic.ridge(image, low=0.8, high=0.95)
    response = sato(image.astype(np.float32) / 255, sigmas=[1.5], black_ridges=True)
    mask = prob >= 0.5
    for side in (mask, ~mask):  # on each side of 0.5 the probability rises with the response
        order = np.argsort(response[side], kind="stable")
        assert np.all(np.diff(prob[side][order]) >= 0)
        assert len(np.unique(prob[side])) > 10


def test_step_edge_is_found_by_the_gradient_filters():
    image = _step()
    for prob in (classic.gradient(image), classic.ridge(image, filter="sobel"),
                 classic.gradient(image, filter="scharr")):
        mask = prob >= 0.5
        assert mask[:, 23:25].all()
        assert not mask[:, :18].any() and not mask[:, 30:].any()
    # the gradient response is scikit-image's Sobel magnitude after the Gaussian scale
    from scipy import ndimage as ndi

    response = sobel(ndi.gaussian_filter(image.astype(np.float64), 1.0))
    lo, hi = np.quantile(response, [0.7, 0.9])
    expected = apply_hysteresis_threshold(response, lo, hi)
    assert np.array_equal(classic.gradient(image, low=0.7, high=0.9) >= 0.5, expected)


def test_polarity_selects_dark_bright_or_both():
    bright = _line(value=255)
    assert (classic.ridge(bright, polarity="bright") >= 0.5)[:, 20:22].all()
    assert not (classic.ridge(bright, polarity="dark") >= 0.5)[:, 20:22].any()
    image = _line(value=60).astype(np.float64)
    image[:, 34:36] = 255  # a bright line beside the dark one
    both = classic.ridge(image.astype(np.uint8), polarity="both") >= 0.5
    assert both[:, 20:22].all() and both[:, 34:36].all()
    assert not both[:, :14].any()


def test_thin_gives_one_pixel_lines_inside_the_mask():
    image = _line(width=4)
    thick = classic.ridge(image, sigmas=2.0) >= 0.5
    thin = classic.ridge(image, sigmas=2.0, thin=True) >= 0.5
    assert thick[:, 20:24].all() and thick.sum(axis=1).min() >= 4
    assert np.array_equal(thin, skeletonize(thin)) and not (thin & ~thick).any()
    assert (thin[4:-4].sum(axis=1) == 1).all()


def test_dtypes_and_rgb_give_the_same_decision():
    image = _line()
    base = classic.ridge(image) >= 0.5
    for other in (image.astype(np.uint16) * 257, image.astype(np.float32) / 255,
                  np.stack([image] * 3, axis=-1)):
        assert np.array_equal(classic.ridge(other) >= 0.5, base)


def test_constant_image_has_no_boundary():
    assert not (classic.ridge(np.full((16, 16), 0.5)) >= 0.5).any()
    assert not (classic.gradient(np.zeros((16, 16), np.uint8)) >= 0.5).any()


@pytest.mark.parametrize(("options", "match"), [
    ({"filter": "sator"}, "unknown filter 'sator'.*did you mean 'sato'"),
    ({"polarity": "up"}, "polarity"),
    ({"sigmas": ()}, "sigmas"),
    ({"sigmas": (1.0, -2.0)}, "sigmas"),
    ({"sigmas": "wide"}, "sigmas"),
    ({"low": 1.5}, "low: expected a quantile"),
    ({"high": -0.1}, "high: expected a quantile"),
    ({"low": 0.9, "high": 0.8}, "low: must not exceed high"),
    ({"low": 0.999}, "low: the quantile 0.999 lies above"),
    ({"high": 0.1}, "high: the quantile 0.1 lies below"),
    ({"thin": "yes"}, "thin"),
    ({"softness": 0}, "softness"),
    ({"sigma": -1.0}, "sigma must be >= 0 px"),
])
def test_bad_options_raise_errors_that_name_them(options, match):
    with pytest.raises(InputError, match=match):
        classic.ridge(_line(noise=2.0), **options)


def test_bad_inputs_and_names_raise():
    with pytest.raises(InputError, match="NaN"):
        classic.ridge(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(InputError, match="shape"):
        classic.gradient(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError, match="unknown filter 'sato'"):
        classic.gradient(_step(), filter="sato")
    with pytest.raises(InputError, match="did you mean 'ridge'"):
        classic.build("rigde")
    with pytest.raises(InputError, match="option of ridge.*did you mean 'sigmas'"):
        classic.build("ridge", sigma_s=2.0)
    with pytest.raises(InputError, match="option of gradient"):
        classic.build("gradient", polarity="dark")


def test_registry_lists_and_builds_the_boundary_detectors():
    assert {"ridge", "gradient"} <= set(classic.available())
    seg = classic.build("ridge", sigmas=(2.0,), thin=True)
    assert isinstance(seg, classic.Segmenter)
    assert seg.describe() == {"method": "ridge", "sigmas": (2.0,), "thin": True}
    image = _line()
    expected = classic.ridge(image, sigmas=(2.0,), thin=True)
    np.testing.assert_array_equal(seg.predict(image), expected)
    np.testing.assert_array_equal(classic.build("gradient").predict(image), classic.gradient(image))


def _bf_f1(name: str, image: np.ndarray, truth: np.ndarray, **options) -> float:
    prob = classic.build(name, **options).predict(image)
    return metrics.evaluate_boundaries(prob >= 0.5, truth, tolerance=2.0)["bf_f1"]


def test_ridge_beats_sauvola_on_synthetic_se_grooves():
    # measured (seeds 0, 1, 3): ridge 0.91-0.92, Sauvola 0.53-0.55
    image, poly = synth.make_sem_pair((384, 384), mode="se", seed=0)
    ridge = _bf_f1("ridge", image.data, poly.boundaries)
    sauvola = _bf_f1("sauvola", image.data, poly.boundaries, window_size=41)
    assert ridge > 0.85 and ridge > sauvola + 0.25


def test_gradient_beats_sauvola_on_synthetic_bse_steps():
    # measured (seeds 0, 1, 3): gradient 0.78-0.82, Sauvola 0.33-0.36
    image, poly = synth.make_sem_pair((384, 384), mode="bse", seed=0)
    gradient = _bf_f1("gradient", image.data, poly.boundaries)
    sauvola = _bf_f1("sauvola", image.data, poly.boundaries, window_size=41)
    assert gradient > 0.7 and gradient > sauvola + 0.3
