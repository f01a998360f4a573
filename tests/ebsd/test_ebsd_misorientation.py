"""Neighbour misorientation, boundary classes and KAM on hand-built maps, checked against
orix's own symmetry-reduced angles."""
from __future__ import annotations

import numpy as np
import pytest
from orix.quaternion import Orientation, Rotation, symmetry

from microseg._util import InputError
from microseg.ebsd import (
    CLASS_NAMES, HAGB, LAGB, PHASE, SIGMA3, boundary_summary, classify_boundaries,
    kernel_average_misorientation, neighbour_misorientation,
)
from microseg.io import EBSDMap, Phase

NI = {1: Phase(1, "Ni", "m-3m")}


def rot(axis, angle):
    return Rotation.from_axes_angles(np.asarray(axis, float), angle, degrees=True).data[0]


def two_grains(q_left, q_right, shape=(6, 8), *, grid="square", step=1.0):
    """Left half ``q_left``, right half ``q_right``."""
    q = np.empty((*shape, 4))
    q[:, : shape[1] // 2] = q_left
    q[:, shape[1] // 2:] = q_right
    return EBSDMap(q, np.ones(shape, np.int32), NI, step=step, grid=grid)


BASE = rot([1, 2, 3], 37.0)  # an arbitrary orientation, so that nothing is axis-aligned


@pytest.mark.parametrize("angle,axis,cls", [
    (30.0, [1, 0, 0], HAGB), (10.0, [1, 1, 0], LAGB), (1.0, [0, 0, 1], 0), (60.0, [1, 1, 1], SIGMA3),
    (38.94, [1, 1, 0], 7),  # Σ9
])
def test_two_grains_give_one_boundary_line_of_the_right_class(angle, axis, cls):
    # the misorientation is applied in the crystal frame: q_b = dq * q_a
    q_right = (Rotation(rot(axis, angle)) * Rotation(BASE)).data[0]
    m = two_grains(BASE, q_right)
    edges = classify_boundaries(m, csl=(3, 9))
    right, down = edges.classes
    expected = np.zeros((6, 8), np.uint8)
    expected[:, 3] = cls
    np.testing.assert_array_equal(right, expected)
    assert not down.any()
    nm = neighbour_misorientation(m, csl=(3, 9))
    assert nm.angle[0, 0, 3] == pytest.approx(min(angle, 62.8), abs=1e-3)
    np.testing.assert_allclose(nm.angle[0, :, :3], 0, atol=1e-4)
    assert np.isnan(nm.angle[0, :, -1]).all() and np.isnan(nm.angle[1, -1]).all()


def test_sigma3_deviation_is_zero_for_a_twin_and_brandon_limits_it():
    twin = (Rotation(rot([1, 1, 1], 60)) * Rotation(BASE)).data[0]
    off = (Rotation(rot([1, 0, 0], 8)) * Rotation(twin)).data[0]  # 8° off: inside 8.66°
    far = (Rotation(rot([1, 0, 0], 10)) * Rotation(twin)).data[0]  # 10° off: outside
    for q, dev, cls in ((twin, 0.0, SIGMA3), (off, 8.0, SIGMA3), (far, 10.0, HAGB)):
        m = two_grains(BASE, q)
        assert neighbour_misorientation(m).sigma3[0, 0, 3] == pytest.approx(dev, abs=1e-3)
        assert classify_boundaries(m).classes[0, 0, 3] == cls
    # Palumbo–Aust is stricter: 15 / 3^(5/6) = 6.0°
    assert classify_boundaries(two_grains(BASE, off), brandon=False).classes[0, 0, 3] == HAGB
    assert classify_boundaries(two_grains(BASE, off), sigma3=False).classes[0, 0, 3] == HAGB


def test_angles_match_orix_on_random_pairs():
    rng = np.random.default_rng(0)
    q = Rotation.random((5, 7)).data.reshape(5, 7, 4)
    q[rng.random((5, 7)) < 0.5] = q[0, 0]  # plenty of zero and exact pairs too
    m = EBSDMap(q, np.ones((5, 7), np.int32), NI, step=1.0)
    nm = neighbour_misorientation(m)
    o = Orientation(q.reshape(-1, 4), symmetry.O).reshape(5, 7)
    np.testing.assert_allclose(nm.angle[0, :, :-1], o[:, :-1].angle_with(o[:, 1:], degrees=True), atol=1e-3)
    np.testing.assert_allclose(nm.angle[1, :-1], o[:-1].angle_with(o[1:], degrees=True), atol=1e-3)
    assert np.nanmax(nm.angle) <= 62.81


def test_hexagonal_neighbours_follow_row_parity():
    # one odd point differs: on a hex grid its neighbours are left/right, and
    # the two above/below at columns (c, c+1) since odd rows are shifted right
    q = np.tile(BASE, (5, 6, 1))
    q[1, 2] = (Rotation(rot([0, 0, 1], 20)) * Rotation(BASE)).data[0]
    m = EBSDMap(q, np.ones((5, 6), np.int32), NI, step=1.0, grid="hexagonal")
    nm = neighbour_misorientation(m)
    assert nm.directions == ("right", "down_left", "down_right")
    hit = {(d, r, c) for d, r, c in zip(*np.nonzero(nm.angle > 1))}
    assert hit == {(0, 1, 1), (0, 1, 2),  # right: (1,1)->(1,2), (1,2)->(1,3)
                   (1, 0, 3), (2, 0, 2),  # row 0 (even): down_left of (0,3), down_right of (0,2)
                   (1, 1, 2), (2, 1, 2)}  # (1,2) odd: down_left (2,2), down_right (2,3)
    # an even point (2, 2) at x = 2: above it (1, 1) and (1, 2) at x = 1.5, 2.5 (odd rows),
    # below it (3, 1) and (3, 2)
    q2 = np.tile(BASE, (5, 6, 1))
    q2[2, 2] = rot([0, 0, 1], 20)
    m = EBSDMap(q2, np.ones((5, 6), np.int32), NI, step=1.0, grid="hexagonal")
    hit = {(d, r, c) for d, r, c in zip(*np.nonzero(neighbour_misorientation(m).angle > 1))}
    assert hit == {(0, 2, 1), (0, 2, 2), (2, 1, 1), (1, 1, 2), (1, 2, 2), (2, 2, 2)}
    assert neighbour_misorientation(m).edge_length == pytest.approx([1 / np.sqrt(3)] * 3)


def test_phase_boundaries_non_indexed_and_non_cubic_phases():
    q = np.tile(BASE, (3, 4, 1))
    ph = np.array([[1, 1, 2, 2], [1, -1, 2, 2], [1, 1, 2, 2]], np.int32)
    phases = {1: Phase(1, "Ni", "m-3m"), 2: Phase(2, "Ti", "6/mmm")}
    m = EBSDMap(q, ph, phases, step=2.0)
    nm = neighbour_misorientation(m)
    assert nm.phase_boundary[0, :, 1].tolist() == [True, False, True]  # (1,1) not indexed
    assert np.isnan(nm.angle[0, :, 1]).all()
    assert np.isnan(nm.angle[:, 1, 1]).all() and np.isnan(nm.angle[0, 1, 0])
    edges = classify_boundaries(m)
    assert edges.classes[0, :, 1].tolist() == [PHASE, 0, PHASE]
    assert edges.phase_boundary.sum() == 2
    s = boundary_summary(m, edges)
    assert s["phase_boundary_um"] == pytest.approx(4.0) and s["total_um"] == 0.0
    # hexagonal phase: angles under 622 symmetry, no CSL deviation
    q[:, 3] = rot([0, 0, 1], 60)  # a 6-fold symmetry operation: no boundary in Ti
    q[:, 2] = np.array([1.0, 0, 0, 0])
    nm = neighbour_misorientation(EBSDMap(q, ph, phases, step=2.0))
    np.testing.assert_allclose(nm.angle[0, :, 2], 0, atol=1e-4)
    assert np.isnan(nm.sigma3[0, :, 2]).all()


def test_summary_lengths_and_percentages():
    q = np.tile(BASE, (4, 6, 1))
    q[:, 2:4] = (Rotation(rot([1, 1, 1], 60)) * Rotation(BASE)).data[0]  # twin band
    q[:, 4:] = (Rotation(rot([1, 0, 0], 5)) * Rotation(q[0, 2])).data[0]  # LAGB to the band
    m = EBSDMap(q, np.ones((4, 6), np.int32), NI, step=0.5)
    s = boundary_summary(m, classify_boundaries(m))
    assert s["length_um"] == {"hagb": 0.0, "lagb": 2.0, "sigma3": 2.0, "phase": 0.0}
    assert s["count"]["sigma3"] == 4 and s["percent"]["sigma3"] == pytest.approx(50.0)
    assert s["percent_by_angle"] == {"lagb": pytest.approx(50.0), "hagb": pytest.approx(50.0)}
    assert set(CLASS_NAMES.values()) >= set(s["length_um"])


def test_all_non_indexed_and_single_grain():
    m = EBSDMap(np.tile([1.0, 0, 0, 0], (4, 5, 1)), -np.ones((4, 5), np.int32), NI, step=1.0)
    edges = classify_boundaries(m)
    assert not edges.classes.any()
    s = boundary_summary(m, edges)
    assert s["total_um"] == 0 and np.isnan(s["percent"]["hagb"])
    assert np.isnan(kernel_average_misorientation(m)).all()
    one = two_grains(BASE, BASE)
    assert not classify_boundaries(one).classes.any()
    np.testing.assert_allclose(kernel_average_misorientation(one), 0, atol=1e-3)


def test_bad_options_name_the_argument():
    m = two_grains(BASE, BASE)
    with pytest.raises(InputError, match="CSL.*valid: 3, 5, 7, 9"):
        classify_boundaries(m, csl=(3, 8))
    with pytest.raises(InputError, match="hagb"):
        classify_boundaries(m, lagb=20.0, hagb=15.0)
    with pytest.raises(InputError, match="order"):
        kernel_average_misorientation(m, order=0)
    with pytest.raises(InputError, match="EBSDMap"):
        neighbour_misorientation(np.zeros((3, 3, 4)))


def test_kam_ignores_boundaries_and_grows_with_order():
    q = np.tile(BASE, (7, 7, 1))
    q[3, 3] = (Rotation(rot([1, 0, 0], 1.0)) * Rotation(BASE)).data[0]
    q[:, 5:] = rot([0, 1, 0], 40)  # a HAGB: left out of the kernel (max_angle 5)
    m = EBSDMap(q, np.ones((7, 7), np.int32), NI, step=1.0)
    kam = kernel_average_misorientation(m)
    assert kam[3, 3] == pytest.approx(1.0, abs=1e-3)
    assert kam[3, 2] == pytest.approx(0.25, abs=1e-3)  # 1 of its 4 neighbours is 1° off
    assert kam[0, 4] == pytest.approx(0.0, abs=1e-3) and kam[0, 5] == pytest.approx(0.0, abs=1e-3)
    kam2 = kernel_average_misorientation(m, order=2)
    # the 12-point diamond of (3, 1) loses (3, -1) outside the map and holds (3, 3)
    assert kam2[3, 1] == pytest.approx(1.0 / 11, abs=1e-3)
    hexm = m.with_(grid="hexagonal")
    assert kernel_average_misorientation(hexm)[3, 3] == pytest.approx(1.0, abs=1e-3)
    assert kernel_average_misorientation(hexm)[3, 2] == pytest.approx(1.0 / 6, abs=1e-3)
