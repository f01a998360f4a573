"""Classical segmenters tile by tile: the same result as on the whole image, at bounded memory."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from microseg import classic
from microseg._util import InputError
from microseg.classic import _spill, _tiled
from microseg.classic._spill import order_statistics, quantile_from
from microseg.classic._tiled import cores, otsu_threshold
from microseg.classic._tiled_boundary import filter_halo
from microseg.io import read_prob
from microseg.io.lazy import open_image, open_image_writer, open_prob_writer

RNG = np.random.default_rng(7)


def micrograph(shape=(203, 311), dtype=np.uint16, seed=0) -> np.ndarray:
    """Smooth blobs with grooves and noise: every method finds something in it."""
    rng = np.random.default_rng(seed)
    x = ndi.gaussian_filter(rng.random(shape), 4)
    x = (x - x.min()) / np.ptp(x)
    x[:, shape[1] // 3] *= 0.3                     # a dark groove
    x[shape[0] // 2, :] *= 0.4
    x += 0.02 * rng.random(shape)
    x = np.clip(x, 0, 1)
    if np.dtype(dtype).kind == "f":
        return x.astype(dtype)
    return np.rint(x * np.iinfo(dtype).max).astype(dtype)


class Recording:
    """An image that records the regions read from it (an independent check of locality)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.regions = data, data.shape, []

    def __getitem__(self, key):
        region = self.data[key]
        self.regions.append(region.shape[:2])
        return region


CASES = [
    ("otsu", {}), ("otsu", {"sigma": 2.0, "polarity": "bright"}), ("otsu", {"offset": 0.3}),
    ("sauvola", {}), ("sauvola", {"window_size": 51, "sigma": None, "k": 0.05}),
    ("ridge", {}), ("ridge", {"sigmas": (1.0, 2.0)}), ("ridge", {"filter": "frangi", "polarity": "both"}),
    ("ridge", {"filter": "meijering", "sigmas": (1.5, 2.5)}), ("ridge", {"low": 0.8, "high": 0.95}),
    ("ridge", {"thin": True}), ("gradient", {}), ("gradient", {"sigma": 1.0, "sigmas": (1.0, 2.0)}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_tiled_equals_whole(name, options, monkeypatch) -> None:
    monkeypatch.setattr(_spill, "BAND_PIXELS", 311 * 13)    # hysteresis over many bands
    image = micrograph()
    seg = classic.build(name, **options)
    whole = seg.predict(image)
    tiled = seg.predict(image, tile_size=64)
    assert tiled.dtype == np.float32 and tiled.shape == whole.shape
    if name in ("otsu", "sauvola"):
        # the logistic's width is the image's standard deviation, which numpy sums in float32
        # over the whole image (and Sauvola's integral images sum over another area): rounding
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)
        assert np.count_nonzero((tiled >= 0.5) != (whole >= 0.5)) == 0
    else:
        np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize("shape", [(37, 23), (97, 131), (16, 200)])
@pytest.mark.parametrize("name", ["otsu", "sauvola", "ridge", "gradient"])
def test_odd_sizes_and_images_smaller_than_a_tile(name, shape) -> None:
    image = micrograph(shape, np.uint8, seed=3)
    seg = classic.build(name)
    whole = seg.predict(image)
    for tile in (16, 48, 1024):
        np.testing.assert_allclose(seg.predict(image, tile_size=tile), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_rgb_and_dtypes(dtype) -> None:
    grey = micrograph((60, 70), dtype)
    rgb = np.stack([grey, grey[::-1], grey[:, ::-1]], axis=-1)
    for name in ("otsu", "sauvola"):
        seg = classic.build(name)
        np.testing.assert_allclose(seg.predict(rgb, tile_size=32), seg.predict(rgb), atol=1e-6)


@pytest.mark.parametrize("sigma", [None, 1.5])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_otsu_threshold_from_tiles_is_skimages(dtype, sigma) -> None:
    image = micrograph((157, 203), dtype, seed=5)
    gray = classic.to_gray_float(image)
    if sigma:
        gray = ndi.gaussian_filter(gray, sigma)
    t, spread = otsu_threshold(image, tile_size=40, sigma=sigma)
    assert t == threshold_otsu(gray)
    assert spread == pytest.approx(float(np.std(gray.astype(np.float64))), rel=1e-12)


def test_reads_only_tiles_with_their_halo() -> None:
    image = Recording(micrograph((300, 260)))
    for name, options in (("sauvola", {"window_size": 25}), ("ridge", {"sigmas": (1.5,)}), ("otsu", {})):
        image.regions.clear()
        classic.build(name, **options).predict(image, tile_size=64)
        if name == "sauvola":
            halo = 25 // 2 + _tiled.gauss_radius(1.0)
        elif name == "ridge":
            halo = filter_halo("sato", (1.5,), None)
        else:
            halo = 0
        largest = max(h * w for h, w in image.regions)
        assert largest <= (64 + 2 * halo) ** 2 < 300 * 260


def test_lazy_image_in_tiff_writer_out(tmp_path: Path) -> None:
    data = micrograph((250, 190))
    src = tmp_path / "image.tif"
    with open_image_writer(src, data.shape, np.uint16, pixel_size=0.02, tile=64) as w:
        w[:, :] = data
    image = open_image(src)
    for name in ("sauvola", "ridge"):
        seg = classic.build(name)
        out = tmp_path / f"{name}.tif"
        with open_prob_writer(out, image.shape, pixel_size=image.pixel_size, tile=32) as writer:
            assert seg.predict(image, tile_size=96, out=writer) is writer
        np.testing.assert_allclose(read_prob(out), seg.predict(data), atol=1e-6)
    # a lazy image without tile_size runs tile by tile too
    np.testing.assert_allclose(classic.build("otsu").predict(image), classic.build("otsu").predict(data), atol=0)


def test_out_with_the_whole_image() -> None:
    image = micrograph((40, 50))
    out = np.zeros((40, 50), np.float32)
    assert classic.build("otsu").predict(image, out=out) is out
    np.testing.assert_array_equal(out, classic.build("otsu").predict(image))


def test_bad_tile_and_out() -> None:
    image = micrograph((40, 50))
    seg = classic.build("otsu")
    with pytest.raises(InputError, match="tile_size"):
        seg.predict(image, tile_size=8)
    with pytest.raises(InputError, match="tile_size"):
        seg.predict(image, tile_size=32.5)
    with pytest.raises(InputError, match="out: expected shape"):
        seg.predict(image, tile_size=32, out=np.zeros((40, 49), np.float32))
    with pytest.raises(InputError, match="constant"):
        seg.predict(np.zeros((40, 50), np.uint8), tile_size=32)
    with pytest.raises(InputError, match="NaN"):
        seg.predict(np.full((40, 50), np.nan), tile_size=32)


def test_degenerate_mask_hint_when_tiled(caplog) -> None:
    image = micrograph((64, 64))
    seg = classic.build("sauvola", k=-0.9)
    with caplog.at_level(logging.WARNING, logger="microseg.classic"):
        seg.predict(image, tile_size=32)
        seg.predict(image, tile_size=32)
    assert sum("degenerate mask" in r.getMessage() for r in caplog.records) == 1


def test_every_method_runs_tiled() -> None:
    assert all(classic.METHODS.capabilities(m)["tiled"] for m in classic.available())


def test_cores_partition_the_axis() -> None:
    for length, tile in ((100, 40), (40, 40), (7, 40), (129, 16)):
        spans = cores(length, tile)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert all(0 < stop - start <= tile for start, stop in spans)


# --------------------------------------------------------------------------- exact statistics
@pytest.mark.parametrize("collect", [0, 50, 2**20])
def test_order_statistics_are_exact(collect) -> None:
    x = np.concatenate([RNG.normal(size=3001), np.zeros(500), -np.zeros(10), np.full(200, 3.5),
                        RNG.exponential(size=777) * 1e-300, [np.inf, -np.inf, 1e308]])
    RNG.shuffle(x)
    ranks = [0, 1, 500, x.size // 2, x.size // 2 - 1, x.size - 1, 2000, 4000]
    got = order_statistics(lambda: np.array_split(x, 13), ranks, collect=collect)
    expected = np.sort(x)
    for k in ranks:
        assert got[k] == expected[k], k


def test_quantile_from_order_statistics_is_numpys() -> None:
    for n in (1, 2, 3, 10, 999, 10000):
        x = RNG.normal(size=n) * 10.0 ** RNG.integers(-3, 4)
        for q in (0.0, 0.1, 0.25, 0.5, 0.7, 0.85, 0.9, 0.95, 0.98, 1.0, 1 / 3):
            got = quantile_from(n, q, lambda ks: order_statistics(lambda: [x], ks))
            assert got == float(np.quantile(x, q)), (n, q)
