"""Tests of the phase micrographs: precipitates, porous sections and layered coatings."""
from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.measure import label, regionprops

from microseg._util import InputError
from microseg.io._image import Image
from microseg.synth import PhaseMicrograph, make_coating, make_porous_section, make_precipitates

SMALL = {
    "precipitates": (make_precipitates, {"shape": (96, 112), "size_px": 20, "tertiary_fraction": 0.01,
                                         "tertiary_size_px": 5}),
    "porous": (make_porous_section, {"shape": (96, 112), "pore_size_px": 12,
                                     "second_phase_fraction": 0.1, "grain_size_px": 30}),
    "coating": (make_coating, {"shape": (96, 112), "thickness_px": (30, 30), "substrate_px": 20,
                               "porosity": 0.02}),
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_contract_and_determinism(name, dtype):
    make, kw = SMALL[name]
    a = make(**kw, dtype=dtype, seed=4)
    assert isinstance(a, PhaseMicrograph) and isinstance(a.image, Image)
    assert a.image.data.shape == a.mask.shape == a.phases.shape == a.shape == (96, 112)
    assert a.image.data.dtype == np.dtype(dtype) and a.mask.dtype == a.phases.dtype == np.uint8
    assert a.image.pixel_size > 0 and a.image.pixel_size_source == "synthetic"
    assert set(np.unique(a.mask)) <= {0, 1} and 0 < a.positive_fraction < 1
    assert a.metadata["generator"] == a.image.metadata["generator"] == name
    json.dumps(a.metadata)
    b = make(**kw, dtype=dtype, seed=4)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    np.testing.assert_array_equal(a.mask, b.mask)
    c = make(**kw, dtype=dtype, seed=5)
    assert not np.array_equal(a.mask, c.mask) and not np.array_equal(a.image.data, c.image.data)
    assert int(a.image.data.max()) > np.iinfo(dtype).max // 3  # the range is used


# ------------------------------------------------------------------------- precipitates
def test_precipitate_fraction_classes_and_polarity():
    m = make_precipitates((192, 192), size_px=30, fraction=0.4, tertiary_fraction=0.02,
                          tertiary_size_px=6, noise=0.0, background=0.0, seed=1)
    sec, ter = m.phases == 1, m.phases == 2
    assert abs(sec.mean() - 0.4) < 0.05 and ter.any()
    assert np.array_equal(m.mask, sec.astype(np.uint8))  # positive="secondary"
    img = m.image.data.astype(float)
    assert img[sec].mean() < img[m.phases == 0].mean() - 0.1 * 255 * 0.5  # dark by ~contrast
    # tertiary ones are small and kept off the secondary ones
    assert max(r.area for r in regionprops(label(ter))) < np.pi * 6 ** 2
    from scipy import ndimage
    assert not (ndimage.binary_dilation(ter) & sec).any()
    bright = make_precipitates((192, 192), size_px=30, fraction=0.4, polarity="bright", noise=0.0,
                               background=0.0, positive="all", seed=1)
    assert bright.image.data[bright.mask == 1].mean() > bright.image.data[bright.mask == 0].mean()
    assert np.array_equal(bright.mask, (bright.phases > 0).astype(np.uint8))


def test_precipitate_size_and_shape_follow_the_parameters():
    def isolated(m):
        regions = regionprops(label(m.mask))
        return [r for r in regions if r.bbox[0] > 0 and r.bbox[1] > 0 and r.bbox[2] < m.shape[0]
                and r.bbox[3] < m.shape[1]]

    kw = {"size_px": 40, "size_spread": 0.1, "fraction": 0.25, "coalescence": 0.0, "irregularity": 0.0,
          "misalignment_deg": 0.0, "noise": 0.0, "seed": 1}
    spheres = isolated(make_precipitates((320, 320), cuboidality=0.0, **kw))
    cubes = isolated(make_precipitates((320, 320), cuboidality=1.0, **kw))
    assert 0.85 * 40 < np.median([r.equivalent_diameter_area for r in spheres]) < 1.2 * 40
    # farthest pixel from the centroid over the equivalent radius: 1 for a disk,
    # sqrt(pi / 2) = 1.25 for a square (a little less for pixel centres and rounded corners)
    reach = lambda rs: np.median([np.hypot(*(r.coords - r.centroid).T).max()  # noqa: E731
                                  / np.sqrt(r.area / np.pi) for r in rs])
    assert reach(spheres) < 1.1 < 1.13 < reach(cubes)


def test_coalescence_merges_neighbours():
    kw = {"size_px": 24, "fraction": 0.45, "noise": 0.0, "seed": 3}
    apart = label(make_precipitates((192, 192), coalescence=0.0, **kw).mask).max()
    merged = label(make_precipitates((192, 192), coalescence=0.6, **kw).mask).max()
    assert merged < apart


# ------------------------------------------------------------------------------- porous
def test_porous_fractions_are_exact_and_phases_disjoint():
    m = make_porous_section((128, 128), porosity=0.3, second_phase_fraction=0.15, seed=0)
    assert abs((m.phases == 1).mean() - 0.3) < 1e-3 and abs((m.phases == 2).mean() - 0.15) < 1e-3
    assert np.array_equal(m.mask, (m.phases == 1).astype(np.uint8))
    img = m.image.data.astype(float)
    assert img[m.phases == 1].mean() < img[m.phases == 0].mean() < img[m.phases == 2].mean()
    solid = make_porous_section((128, 128), porosity=0.3, second_phase_fraction=0.15, positive="solid", seed=0)
    assert np.array_equal(solid.mask, (m.phases == 0).astype(np.uint8))


def test_porous_elongation_stretches_pores_along_x():
    m = make_porous_section((192, 192), porosity=0.2, pore_size_px=16, size_spread=0.0, elongation=4.0,
                            seed=1)
    regions = [r for r in regionprops(label(m.mask)) if r.area > 30]
    widths = np.median([(r.bbox[3] - r.bbox[1]) / (r.bbox[2] - r.bbox[0]) for r in regions])
    assert widths > 1.8


# ------------------------------------------------------------------------------ coating
def test_coating_layers_are_stacked_in_order():
    m = make_coating((128, 160), thickness_px=(30, 40), substrate_px=30, roughness_px=4, seed=2)
    for x in range(0, 160, 7):
        column = m.phases[::-1, x]  # bottom up: substrate 1, layer 0 (2), layer 1 (3), resin 0
        order = [int(v) for v, _ in __import__("itertools").groupby(column)]
        assert order == [1, 2, 3, 0]
    assert np.array_equal(m.mask, (m.phases == 2).astype(np.uint8))
    assert abs((m.phases == 2).sum(axis=0).mean() - 30) < 3  # mean thickness
    top = make_coating((128, 160), thickness_px=(30, 40), substrate_px=30, positive_layer=1, seed=2)
    assert np.array_equal(top.mask, (top.phases == 3).astype(np.uint8))


def test_coating_levels_and_pores():
    m = make_coating((128, 128), thickness_px=(40, 40), substrate_px=30, levels=(0.5, 0.8, 0.3),
                     column_width_px=0, porosity=0.05, noise=0.0, background=0.0, seed=1)
    img = m.image.data.astype(float) / 255
    inner = lambda k: img[m.phases == k].mean()  # noqa: E731
    assert inner(2) > inner(1) > inner(3)
    coat = m.phases >= 2
    pores_in_coat = (m.phases == 0) & (np.arange(128)[:, None] > 60)
    assert pores_in_coat.sum() / (coat.sum() + pores_in_coat.sum()) > 0.02


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, kw, match", [
    (make_precipitates, {"shape": (8, 8)}, "shape must be"),
    (make_precipitates, {"fraction": 1.2}, "fraction must be a number in"),
    (make_precipitates, {"positive": "secondry"}, "did you mean 'secondary'"),
    (make_precipitates, {"polarity": "drak"}, "did you mean 'dark'"),
    (make_precipitates, {"dtype": "float32"}, "unknown dtype"),
    (make_porous_section, {"porosity": 0.0}, "porosity must be"),
    (make_porous_section, {"porosity": 0.5, "second_phase_fraction": 0.6}, "second_phase_fraction"),
    (make_coating, {"positive_layer": 2}, "positive_layer must index"),
    (make_coating, {"shape": (64, 64), "substrate_px": 40, "thickness_px": (30, 10), "positive_layer": 1},
     "above the image top"),
    (make_coating, {"levels": (0.5, 0.6)}, "levels must hold 3 values"),
])
def test_bad_inputs_raise_one_line_errors(make, kw, match):
    with pytest.raises(InputError, match=match) as info:
        make(**kw)
    assert "\n" not in str(info.value)
