"""Tests of the synthetic polycrystal: determinism, the partition contract, sizes, classes."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from microseg._util import InputError
from microseg.synth import make_polycrystal
from microseg.synth._rotations import (
    CUBIC_SYMMETRY, disorientation_angle, quat_conjugate, quat_multiply, sigma3_deviation,
)


@pytest.fixture(scope="module")
def poly():
    return make_polycrystal((256, 256), mean_diameter_px=30, twin_fraction=0.4,
                            subgrain_fraction=0.3, seed=3)


def _mean_interior_ecd(cells: np.ndarray) -> float:
    border = np.unique(np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]]))
    area = np.bincount(cells.ravel()).astype(float)
    keep = area > 0
    keep[0] = False
    keep[border] = False
    return float(np.mean(np.sqrt(4 * area[keep] / np.pi)))


def test_same_seed_identical_different_seed_different():
    a = make_polycrystal((96, 128), mean_diameter_px=20, seed=5)
    b = make_polycrystal((96, 128), mean_diameter_px=20, seed=5)
    c = make_polycrystal((96, 128), mean_diameter_px=20, seed=6)
    for name in ("cells", "parent", "orientations", "boundaries", "classes", "labels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.cells, c.cells)


@pytest.mark.parametrize("shape, diameter, seed", [
    ((64, 64), 8, 0), ((64, 80), 8, 1), ((128, 128), 10, 2), ((200, 150), 25, 3),
    ((256, 256), 40, 4), ((97, 203), 14, 5),
])
def test_boundary_components_reproduce_labels(shape, diameter, seed):
    poly = make_polycrystal(shape, mean_diameter_px=diameter, twin_fraction=0.5,
                            subgrain_fraction=0.3, seed=seed)
    comp, n = ndimage.label(poly.boundaries == 0)
    assert n == poly.n_cells == poly.labels.max()
    np.testing.assert_array_equal(comp > 0, poly.labels > 0)
    # a bijection between components and labels
    pairs = np.unique(np.column_stack([comp[comp > 0], poly.labels[comp > 0]]), axis=0)
    assert len(pairs) == n
    assert len(np.unique(pairs[:, 0])) == n and len(np.unique(pairs[:, 1])) == n


def test_cells_are_connected_and_cover_everything(poly):
    assert poly.cells.min() >= 1
    assert poly.cells.dtype == np.int32 and poly.labels.dtype == np.int32
    for c, sl in enumerate(ndimage.find_objects(poly.cells), start=1):
        _, n = ndimage.label(poly.cells[sl] == c)
        assert n == 1
    assert np.array_equal(np.unique(poly.cells), np.arange(1, poly.cells.max() + 1))   # ids 1..N, none missing
    assert np.bincount(poly.cells.ravel())[1:].min() >= 12


def test_boundary_definition(poly):
    c = poly.cells
    expect = np.zeros(c.shape, bool)
    expect[:, :-1] |= c[:, :-1] != c[:, 1:]
    expect[:-1, :] |= c[:-1, :] != c[1:, :]
    np.testing.assert_array_equal(poly.boundaries.astype(bool), expect)
    np.testing.assert_array_equal(poly.labels, np.where(expect, 0, c))
    assert poly.boundaries.dtype == np.uint8 and poly.classes.dtype == np.uint8
    np.testing.assert_array_equal(poly.classes > 0, expect)


def test_boundaries_are_thin(poly):
    """Every boundary pixel has a 4-neighbour to its right or below in another cell, and a
    full 2x2 block of boundary pixels only occurs where three or more cells meet."""
    b = poly.boundaries.astype(bool)
    block = b[:-1, :-1] & b[1:, :-1] & b[:-1, 1:] & b[1:, 1:]
    c = poly.cells
    for y, x in zip(*np.nonzero(block)):
        assert len(np.unique(c[y:y + 3, x:x + 3])) >= 3
    assert b.mean() < 0.2


def test_mean_ecd_near_target():
    for diameter, kwargs in ((24.0, {}), (30.0, dict(twin_fraction=0.0, subgrain_fraction=0.0)),
                             (20.0, dict(twin_fraction=0.5, subgrain_fraction=0.2))):
        ecd = np.mean([_mean_interior_ecd(make_polycrystal((400, 400), mean_diameter_px=diameter,
                                                           seed=s, **kwargs).cells)
                       for s in range(2)])
        assert abs(ecd / diameter - 1) < 0.15, (diameter, kwargs, ecd)


def test_twin_band_is_sigma3_of_its_parent(poly):
    """A cell whose class-3 boundary faces a cell of the same parent grain is 60°@<111>."""
    c, p, q = poly.cells, poly.parent, poly.orientations
    a, b = c[:, :-1], c[:, 1:]
    pick = (poly.classes[:, :-1] == 3) & (a != b)
    lo, hi = a[pick], b[pick]
    assert len(lo) > 0
    same = p[lo] == p[hi]
    assert same.all()
    i, j = int(lo[0]), int(hi[0])
    d = quat_multiply(quat_conjugate(q[i]), q[j])
    # some symmetric equivalent is exactly 60° about a <111>
    eq = quat_multiply(d, CUBIC_SYMMETRY)
    eq *= np.sign(eq[:, :1] + 1e-12)
    best = eq[np.argmax(np.abs(eq[:, 0]))]
    assert np.degrees(2 * np.arccos(min(1.0, abs(best[0])))) == pytest.approx(60.0, abs=1e-6)
    axis = np.abs(best[1:]) / np.linalg.norm(best[1:])
    np.testing.assert_allclose(axis, np.full(3, 1 / np.sqrt(3)), atol=1e-6)
    assert np.degrees(sigma3_deviation(q[i], q[j])) < 1e-5


def test_classes_follow_the_generator(poly):
    counts = np.bincount(poly.classes.ravel(), minlength=4)
    assert counts[1] > 0 and counts[2] > 0 and counts[3] > 0
    plain = make_polycrystal((256, 256), mean_diameter_px=30, twin_fraction=0,
                             subgrain_fraction=0, seed=3)
    assert set(np.unique(plain.classes)) == {0, 1}
    assert len(np.unique(plain.parent[1:])) == plain.n_cells == plain.n_grains
    twins = make_polycrystal((256, 256), mean_diameter_px=30, twin_fraction=0.5,
                             subgrain_fraction=0, seed=3)
    assert set(np.unique(twins.classes)) == {0, 1, 3}
    subs = make_polycrystal((256, 256), mean_diameter_px=30, twin_fraction=0,
                            subgrain_fraction=0.5, seed=3)
    assert set(np.unique(subs.classes)) == {0, 1, 2}


def test_class_matches_misorientation(poly):
    c, q = poly.cells, poly.orientations
    a, b = c[:-1, :], c[1:, :]
    right_same = np.ones(a.shape, bool)
    right_same[:, :-1] = c[:-1, :-1] == c[:-1, 1:]
    only_down = (a != b) & right_same  # the pixel's class is that of this one pair
    lo, hi, k = a[only_down], b[only_down], poly.classes[:-1, :][only_down]
    angle = np.degrees(disorientation_angle(q[lo], q[hi]))
    dev = np.degrees(sigma3_deviation(q[lo], q[hi]))
    assert np.all(angle[k == 1] > 15) and np.all(dev[k == 1] > 15 / np.sqrt(3))
    assert np.all((angle[k == 2] >= 2) & (angle[k == 2] <= 15))
    assert np.all(dev[k == 3] <= 15 / np.sqrt(3))
    assert set(np.unique(k)) == {1, 2, 3}


def test_orientation_map_and_units(poly):
    om = poly.orientation_map()
    assert om.shape == poly.cells.shape + (4,)
    np.testing.assert_allclose(np.linalg.norm(om, axis=-1), 1.0)
    assert poly.pixel_size == 0.05
    assert poly.grain_map().max() == poly.n_grains


@pytest.mark.parametrize("kwargs, match", [
    (dict(shape=(4, 100)), "shape"), (dict(mean_diameter_px=2), "mean_diameter_px"),
    (dict(twin_fraction=0.8, subgrain_fraction=0.5), "twin_fraction"),
    (dict(size_spread=-1), "size_spread"), (dict(pixel_size=0), "pixel_size"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_polycrystal(**kwargs)
