"""Synthetic EBSD export: grid sampling, conventions, noise, non-indexed points, file round
trips and the Σ3 twin misorientation seen through orix."""
from __future__ import annotations

import math

import numpy as np
import pytest

from microseg._util import InputError
from microseg.io import read_ebsd, write_ebsd
from microseg.synth import _rotations as rot
from microseg.synth import make_polycrystal
from microseg.synth._ebsd import make_ebsd_map


@pytest.fixture(scope="module")
def poly():
    return make_polycrystal((96, 129), mean_diameter_px=30, twin_fraction=0.6,
                            subgrain_fraction=0.0, pixel_size=0.05, seed=3)


def same_up_to_sign(a, b, atol):
    return np.all(np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1)) <= atol)


def test_square_export_samples_cells_with_conjugate(poly):
    m = make_ebsd_map(poly, step_px=4, orientation_noise_deg=0.0, nonindexed_fraction=0.0)
    assert m.shape == (24, 33) and m.step == pytest.approx(0.2) and m.grid == "square"
    expected = rot.quat_conjugate(poly.orientations[poly.cells[::4, ::4]])
    assert same_up_to_sign(m.rotations, expected, 1e-12)
    assert np.all(m.phase_ids == 1) and m.phases[1].point_group == "m-3m"


def test_noise_and_nonindexed_fraction(poly):
    clean = make_ebsd_map(poly, step_px=2, orientation_noise_deg=0.0, nonindexed_fraction=0.0)
    m = make_ebsd_map(poly, step_px=2, orientation_noise_deg=1.0, nonindexed_fraction=0.05, seed=4)
    ok = m.indexed
    assert abs((~ok).mean() - 0.05) < 0.01
    dot = np.abs(np.sum(m.rotations[ok] * clean.rotations[ok], axis=-1))
    angle = np.degrees(2 * np.arccos(np.clip(dot, 0, 1)))
    assert 0.85 < np.sqrt(np.mean(angle ** 2)) < 1.15  # Gaussian angle, σ = 1°
    assert np.all(m.quality["ci"][~ok] == -1) and np.all(m.quality["ci"][ok] > 0)
    near = poly.boundaries[::2, ::2] == 1
    assert m.quality["iq"][ok & near].mean() < m.quality["iq"][ok & ~near].mean()
    np.testing.assert_array_equal(m.rotations[~ok], np.tile([1.0, 0, 0, 0], ((~ok).sum(), 1)))


def test_hexagonal_export_pads_odd_rows(poly):
    m = make_ebsd_map(poly, step_px=2, grid="hexagonal", nonindexed_fraction=0.0)
    assert m.grid == "hexagonal" and m.shape == (int(95 / math.sqrt(3)) + 1, 65)
    assert np.all(m.phase_ids[1::2, -1] == -1) and np.all(m.phase_ids[0::2] == 1)
    x, y = m.coordinates()
    iy, ix = np.rint(y / 0.05).astype(int), np.rint(x / 0.05).astype(int)
    ok = m.indexed
    expected = rot.quat_conjugate(poly.orientations[poly.cells[iy[ok], ix[ok]]])
    dot = np.abs(np.sum(m.rotations[ok] * expected, axis=-1))
    assert np.median(np.degrees(2 * np.arccos(np.clip(dot, 0, 1)))) < 2.0


@pytest.mark.parametrize(("grid", "suffix"), [("square", ".ang"), ("hexagonal", ".ang"),
                                              ("square", ".ctf")])
def test_written_and_read_back(tmp_path, poly, grid, suffix):
    m = make_ebsd_map(poly, step_px=3, grid=grid, seed=2)
    write_ebsd(tmp_path / f"s{suffix}", m)
    back = read_ebsd(tmp_path / f"s{suffix}")
    assert (back.shape, back.grid, back.step) == (m.shape, m.grid, pytest.approx(m.step))
    np.testing.assert_array_equal(back.phase_ids, m.phase_ids)
    assert same_up_to_sign(back.rotations, m.rotations, 1e-5)
    if suffix == ".ang":
        for name in ("ci", "iq"):
            np.testing.assert_allclose(back.quality[name], m.quality[name], rtol=1e-6)


def test_twin_misorientation_is_60_about_111_in_orix(poly):
    from orix.quaternion import Misorientation, Orientation, symmetry

    noise = 0.5
    m = make_ebsd_map(poly, step_px=1, orientation_noise_deg=noise, nonindexed_fraction=0.0)
    a, b = poly.cells[:, :-1], poly.cells[:, 1:]
    pairs = np.unique(np.stack([a[a != b], b[a != b]], 1), axis=0)
    twin = (poly.parent[pairs[:, 0]] == poly.parent[pairs[:, 1]]) & \
        (rot.boundary_class(poly.orientations[pairs[:, 0]], poly.orientations[pairs[:, 1]]) == 3)
    assert twin.sum() >= 3
    first = {c: m.rotations[poly.cells == c][0] for c in np.unique(pairs[twin][:10])}
    oa = Orientation(np.array([first[c] for c in pairs[twin][:10, 0]]), symmetry.O)
    ob = Orientation(np.array([first[c] for c in pairs[twin][:10, 1]]), symmetry.O)
    angles = np.degrees(oa.angle_with(ob))
    mis = Misorientation((ob * ~oa).data, (symmetry.O, symmetry.O)).reduce()
    axes = np.sort(np.abs(mis.axis.unit.data), axis=1)
    assert np.all(np.abs(np.array(angles) - 60.0) < 4 * noise * math.sqrt(2) + 0.5)
    np.testing.assert_allclose(axes, np.full((len(axes), 3), 1 / math.sqrt(3)), atol=0.05)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"step_px": 0.5}, "step_px must be >= 1"), ({"grid": "hex"}, "unknown grid 'hex'"),
    ({"nonindexed_fraction": 0.9}, r"nonindexed_fraction must be in \[0, 0.5\]"),
    ({"orientation_noise_deg": -1}, "orientation_noise_deg must be >= 0"),
])
def test_bad_arguments(poly, kwargs, match):
    with pytest.raises(InputError, match=match):
        make_ebsd_map(poly, **kwargs)
