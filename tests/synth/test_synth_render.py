"""Tests of the SEM and FIB-SEM renderers and the porous volume."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.io._image import Image
from microseg.synth import (
    make_polycrystal, make_porous_volume, make_sem_pair, render_fib_sem, render_sem,
)


@pytest.fixture(scope="module")
def poly():
    return make_polycrystal((128, 160), mean_diameter_px=24, seed=2)


@pytest.mark.parametrize("mode", ["se", "bse"])
def test_render_sem_range_shape_and_determinism(poly, mode):
    a = render_sem(poly, mode=mode, seed=1)
    assert isinstance(a, Image)
    assert a.data.shape == poly.cells.shape and a.data.dtype == np.float32
    assert 0.0 <= a.data.min() and a.data.max() <= 1.0
    assert a.pixel_size == poly.pixel_size and a.pixel_size_source == "synthetic"
    assert a.metadata["axes"] == "YX"
    np.testing.assert_array_equal(a.data, render_sem(poly, mode=mode, seed=1).data)
    assert not np.array_equal(a.data, render_sem(poly, mode=mode, seed=2).data)


def test_grooves_darker_than_interiors_in_se(poly):
    img = render_sem(poly, mode="se", noise=0.0, gradient=0.0, strain_contrast=0.0).data
    b = poly.boundaries.astype(bool)
    assert img[b].mean() < img[~b].mean() - 0.03


def test_bse_has_stronger_orientation_contrast(poly):
    kw = dict(noise=0.0, gradient=0.0, strain_contrast=0.0, groove_depth=0.0)
    se, bse = render_sem(poly, mode="se", **kw).data, render_sem(poly, mode="bse", **kw).data
    def between_cells(img):
        sums = np.bincount(poly.cells.ravel(), img.ravel())[1:]
        return np.std(sums / np.bincount(poly.cells.ravel())[1:])
    assert between_cells(bse) > 3 * between_cells(se)


def test_uint8_and_bad_options(poly):
    img = render_sem(poly, dtype=np.uint8)
    assert img.data.dtype == np.uint8
    with pytest.raises(InputError, match="mode"):
        render_sem(poly, mode="sem")
    with pytest.raises(InputError, match="noise"):
        render_sem(poly, noise=-1)


def test_make_sem_pair_routes_keywords():
    image, poly = make_sem_pair((64, 80), mode="bse", mean_diameter_px=16, noise=0.0, seed=4)
    assert image.shape == poly.cells.shape == (64, 80)
    np.testing.assert_array_equal(poly.cells,
                                  make_polycrystal((64, 80), mean_diameter_px=16, seed=4).cells)
    with pytest.raises(InputError, match="did you mean 'noise'"):
        make_sem_pair((64, 64), nosie=0.1)


@pytest.mark.parametrize("porosity", [0.1, 0.25, 0.5])
def test_porosity(porosity):
    vol = make_porous_volume((16, 96, 96), porosity=porosity, seed=1)
    assert vol.dtype == np.uint8 and vol.shape == (16, 96, 96)
    assert abs((vol == 0).mean() - porosity) < 0.02
    np.testing.assert_array_equal(vol, make_porous_volume((16, 96, 96), porosity=porosity, seed=1))
    assert not np.array_equal(vol, make_porous_volume((16, 96, 96), porosity=porosity, seed=2))


def test_inclusions():
    vol = make_porous_volume((8, 64, 64), porosity=0.2, inclusion_fraction=0.02, seed=0)
    assert set(np.unique(vol)) == {0, 1, 2}
    assert abs((vol == 2).mean() - 0.02) < 0.005
    assert abs((vol == 0).mean() - 0.2) < 0.02


@pytest.fixture(scope="module")
def fib():
    vol = make_porous_volume((12, 128, 128), porosity=0.25, seed=0)
    return vol, render_fib_sem(vol, seed=0)


def test_fib_sem_output(fib):
    vol, img = fib
    assert img.data.shape == vol.shape and img.data.dtype == np.float32
    assert 0.0 <= img.data.min() and img.data.max() <= 1.0
    assert img.metadata["axes"] == "ZYX" and img.slice_spacing == img.pixel_size
    assert img.data[vol == 1].mean() > img.data[vol == 0].mean() + 0.3


def test_fib_sem_artefacts(fib):
    vol, _ = fib
    clean = dict(curtaining=0.0, salt_pepper=0.0, noise=0.0)
    shaded = render_fib_sem(vol, **clean).data
    assert shaded[:, -16:].mean() < shaded[:, :16].mean() - 0.05
    rims = render_fib_sem(vol, shadow=0.0, **clean).data
    flat = render_fib_sem(vol, shadow=0.0, edge_brightness=0.0, **clean).data
    assert (rims - flat).max() > 0.2
    # curtaining: the difference to a stripe-free render is constant along Y
    striped = render_fib_sem(vol, shadow=0.0, edge_brightness=0.0, salt_pepper=0.0, noise=0.0,
                             curtaining=0.1).data
    diff = (striped - flat)[:, 30:90]
    inside = (flat[:, 30:90] > 0.1) & (flat[:, 30:90] < 0.9) & (striped[:, 30:90] > 0.0) \
        & (striped[:, 30:90] < 1.0)
    col = np.where(inside, diff, np.nan)
    assert np.nanstd(np.nanmean(col, axis=1), axis=-1).mean() > 0.02  # stripes across X
    assert np.nanmean(np.nanstd(col, axis=1)) < 1e-4  # constant along Y
    sp = render_fib_sem(vol, salt_pepper=0.05, noise=0.0, seed=3).data
    assert np.mean((sp == 0) | (sp == 1)) > 0.04


def test_bad_volume_input():
    with pytest.raises(InputError, match="porosity"):
        make_porous_volume((4, 16, 16), porosity=1.5)
    with pytest.raises(InputError, match="phases"):
        render_fib_sem(np.zeros((16, 16)))
