from __future__ import annotations

import numpy as np
import pytest
from skimage.filters import threshold_otsu, threshold_sauvola

from microseg import classic
from microseg._util import InputError


def _two_level(dtype=np.uint8):
    rng = np.random.default_rng(0)
    image = np.full((64, 64), 180, dtype=np.float64)
    image[:, 20:24] = 40  # a dark vertical line
    image += rng.normal(0, 5, image.shape)
    return np.clip(image, 0, 255).astype(dtype)


def test_otsu_matches_skimage_threshold_at_half_probability():
    image = _two_level()
    prob = classic.otsu(image)
    gray = image.astype(np.float32) / 255
    expected = gray <= threshold_otsu(gray)
    assert prob.dtype == np.float32 and prob.shape == image.shape
    assert np.array_equal(prob >= 0.5, expected)
    assert (prob >= 0.5)[:, 20:24].all() and not (prob >= 0.5)[:, 30:].any()


def test_polarity_flips_the_positive_class():
    image = _two_level()
    dark = classic.otsu(image, polarity="dark")
    bright = classic.otsu(image, polarity="bright")
    np.testing.assert_allclose(dark + bright, 1.0, atol=1e-6)


def test_sauvola_matches_skimage_after_gaussian_prefilter():
    from scipy import ndimage as ndi

    image = _two_level()
    prob = classic.sauvola(image, window_size=15, k=0.2, sigma=1.0)
    gray = ndi.gaussian_filter(image.astype(np.float32) / 255, 1.0)
    expected = gray <= threshold_sauvola(gray, window_size=15, k=0.2)
    assert np.array_equal(prob >= 0.5, expected)


def test_sauvola_handles_background_gradient_better_than_otsu():
    # a bright phase with dark pores on a strong left-to-right illumination gradient
    yy, xx = np.mgrid[:128, :128]
    truth = ((xx % 32) < 24) & ((yy % 32) < 24)
    image = np.where(truth, 0.6, 0.3) * (0.4 + 1.2 * xx / 127.0)
    iou = {}
    for name in ("otsu", "sauvola"):
        mask = classic.build(name, polarity="bright").predict(image) >= 0.5
        iou[name] = (mask & truth).sum() / (mask | truth).sum()
    assert iou["sauvola"] > iou["otsu"] + 0.05


def test_rgb_and_16bit_inputs_give_the_same_decision():
    image = _two_level()
    rgb = np.stack([image] * 3, axis=-1)
    sixteen = image.astype(np.uint16) * 257
    base = classic.otsu(image) >= 0.5
    assert np.array_equal(classic.otsu(rgb) >= 0.5, base)
    assert np.array_equal(classic.otsu(sixteen) >= 0.5, base)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InputError, match="did you mean 'sauvola'"):
        classic.build("savola")
    with pytest.raises(InputError, match="option of otsu"):
        classic.build("otsu", window_size=3)
    with pytest.raises(InputError, match="constant"):
        classic.otsu(np.zeros((8, 8)))
    with pytest.raises(InputError, match="NaN"):
        classic.otsu(np.array([[0.0, np.nan]]))
    with pytest.raises(InputError, match="shape"):
        classic.otsu(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError, match="polarity"):
        classic.otsu(_two_level(), polarity="up")


def test_segmenters_satisfy_the_protocol():
    seg = classic.build("sauvola", window_size=31)
    assert isinstance(seg, classic.Segmenter)
    assert seg.describe() == {"method": "sauvola", "window_size": 31}
    assert classic.available() == ["gradient", "otsu", "ridge", "sauvola"]


def test_registry_describes_methods_and_filters_by_capability():
    assert classic.available(detects="regions") == ["otsu", "sauvola"]
    assert classic.available(detects="boundaries") == ["gradient", "ridge"]
    record = classic.describe("Sauvola")
    assert record["name"] == "sauvola" and record["options"]["window_size"] == 25
    assert record["options"]["k"] == 0.2 and record["capabilities"]["detects"] == "regions"
    assert record["description"].startswith("Sauvola")
    for name in classic.available():  # the default grid starts at the method's own default
        grid, defaults = classic.default_grid(name), classic.describe(name)["options"]
        assert all(values[0] == defaults[key] for key, values in grid.items()), name
    assert classic.build("OTSU", Polarity="bright").describe() == {"method": "otsu", "polarity": "bright"}
