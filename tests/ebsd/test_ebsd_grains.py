"""Grain reconstruction, grain table and clean-up on hand-built maps."""
from __future__ import annotations

import math

import numpy as np
import pytest
from orix.quaternion import Orientation, Rotation, symmetry
from scipy import ndimage

from microseg._util import InputError
from microseg.ebsd import (
    clean_ebsd, grain_table, ipf_map, merge_phases, plot_ebsd, reconstruct_grains, boundary_raster,
    classify_boundaries,
)
from microseg.io import EBSDMap, Phase

NI = {1: Phase(1, "Ni", "m-3m")}


def rot(axis, angle):
    return Rotation.from_axes_angles(np.asarray(axis, float), angle, degrees=True).data[0]


def blocks(angles=(0, 20, 5, 40), shape=(8, 8)):
    """Four quadrants rotated about z by the given angles."""
    q = np.empty((*shape, 4))
    h, w = shape[0] // 2, shape[1] // 2
    for k, (ys, xs) in enumerate(((slice(0, h), slice(0, w)), (slice(0, h), slice(w, None)),
                                  (slice(h, None), slice(0, w)), (slice(h, None), slice(w, None)))):
        q[ys, xs] = rot([0, 0, 1], angles[k])
    return EBSDMap(q, np.ones(shape, np.int32), NI, step=0.5)


def test_grains_split_at_the_threshold_and_skip_non_indexed():
    m = blocks()
    g = reconstruct_grains(m)  # 0|20 HAGB, 0/5 LAGB (joined), 5|40 and 20/40 HAGB
    assert g.max() == 3
    assert (g[:4, :4] == 1).all() and (g[4:, :4] == 1).all()
    assert len(np.unique(g[:4, 4:])) == 1 and len(np.unique(g[4:, 4:])) == 1
    assert reconstruct_grains(m, threshold=2.0).max() == 4
    # a column of non-indexed points splits grain 1 into two; they get 0
    ph = m.phase_ids.copy()
    ph[:, 2] = -1
    g = reconstruct_grains(m.with_(phase_ids=ph))
    assert (g[:, 2] == 0).all() and g.max() == 4
    # cross-check with scipy: at 1° the grains are the 4-connected regions of equal orientation
    quadrant = np.kron([[1, 2], [3, 4]], np.ones((4, 4), int))
    quadrant[:, 2] = 0
    expected, n = ndimage.label(quadrant > 0)
    expected = np.where(quadrant > 0, expected * 10 + quadrant, 0)
    g2 = reconstruct_grains(m.with_(phase_ids=ph), threshold=1.0)
    assert g2.max() == len(np.unique(expected)) - 1 == 6
    assert len({(a, b) for a, b in zip(g2.ravel(), expected.ravel())}) == 7  # same partition


def test_min_size_removes_small_grains_and_renumbers():
    q = np.tile(rot([0, 0, 1], 0), (6, 6, 1))
    q[2, 2] = rot([1, 0, 0], 30)  # a 1-point grain
    q[4:, 4:] = rot([0, 1, 0], 30)  # a 4-point grain
    m = EBSDMap(q, np.ones((6, 6), np.int32), NI, step=1.0)
    assert reconstruct_grains(m).max() == 3
    g = reconstruct_grains(m, min_size=2)
    assert g.max() == 2 and g[2, 2] == 0 and (g[4:, 4:] == 2).all()
    with pytest.raises(InputError, match="min_size"):
        reconstruct_grains(m, min_size=-1)


def test_grain_table_areas_and_mean_orientation():
    m = blocks()
    g = reconstruct_grains(m)
    t = grain_table(m, g)
    np.testing.assert_allclose(t["area_um2"], [8.0, 4.0, 4.0])  # 32, 16, 16 points × 0.25 µm²
    np.testing.assert_allclose(t["ecd_um"], np.sqrt(4 * t["area_um2"] / math.pi))
    assert t["phase_id"].tolist() == [1, 1, 1] and t["touches_border"].all()
    # grain 1 holds 0° and 5° halves: mean 2.5° about z (orix agrees within symmetry)
    mean = Orientation(t["mean_orientation"][0], symmetry.O)
    assert mean.angle_with(Orientation(rot([0, 0, 1], 2.5), symmetry.O), degrees=True)[0] < 0.01
    # symmetry-equivalent input gives the same mean: rotate half the points by a 90° operator
    q = m.rotations.copy()
    q[:4, :2] = (Rotation(rot([1, 0, 0], 90)) * Rotation(q[:4, :2].reshape(-1, 4))).data.reshape(4, 2, 4)
    t2 = grain_table(m.with_(rotations=q), g)
    assert Orientation(t2["mean_orientation"][0], symmetry.O).angle_with(mean, degrees=True)[0] < 0.01
    hexm = m.with_(grid="hexagonal")
    assert grain_table(hexm, g)["area_um2"][0] == pytest.approx(32 * 0.25 * math.sqrt(3) / 2)


def test_clean_fills_holes_from_the_edges_inward():
    m = blocks(shape=(12, 12))
    ci = np.ones((12, 12), np.float32)
    ci[1:4, 1:4] = 0.0  # a 3×3 hole inside the 0° grain
    ci[5:7, 5:7] = 0.0  # a 2×2 hole on the corner of four grains
    ci[:, 11] = 0.05  # a border column of 12 points
    m = m.with_(quality={"ci": ci}, metadata={"kept": 1})
    c = clean_ebsd(m, min_quality={"ci": 0.1}, max_hole=10)
    meta = c.metadata["clean_ebsd"]
    assert meta["removed"] == 9 + 4 + 12 and meta["filled"] == 13 and meta["not_indexed"] == 12
    assert meta["passes"] == 2 and c.metadata["kept"] == 1 and "clean_ebsd" not in m.metadata
    np.testing.assert_allclose(c.rotations[1:4, 1:4], m.rotations[1:4, 1:4])
    # filled corner points take orientations of their neighbours' grains
    assert (reconstruct_grains(c)[5:7, 5:7] > 0).all()
    assert not c.indexed[:, 11].any()
    # more passes than needed change nothing; zero passes fill nothing
    assert clean_ebsd(m, min_quality={"ci": 0.1}, max_iterations=1).metadata["clean_ebsd"]["passes"] == 1
    assert clean_ebsd(m, min_quality={"ci": 0.1}, fill=False).indexed.sum() == 144 - 25
    full = clean_ebsd(m, min_quality={"ci": 0.1})
    assert full.indexed.all()
    with pytest.raises(InputError, match="quality field.*valid: ci"):
        clean_ebsd(m, min_quality={"CI ": 0.1})


def test_clean_takes_the_majority_phase_and_the_medoid_orientation():
    q = np.tile(rot([0, 0, 1], 0), (3, 3, 1))
    q[0, 1] = rot([0, 0, 1], 2)
    q[1, 0] = rot([0, 0, 1], 3)
    q[1, 2] = rot([0, 0, 1], 50)  # an outlier among the neighbours of (1, 1)
    q[2, 1] = rot([0, 0, 1], 1)
    ph = np.array([[2, 1, 2], [1, -1, 1], [2, 1, 2]], np.int32)
    phases = {1: Phase(1, "a", "m-3m"), 2: Phase(2, "b", "m-3m")}
    c = clean_ebsd(EBSDMap(q, ph, phases, step=1.0), max_iterations=1)
    assert c.phase_ids[1, 1] == 1
    np.testing.assert_allclose(c.rotations[1, 1], rot([0, 0, 1], 2))  # 2° is the medoid of 1, 2, 3, 50
    assert merge_phases(EBSDMap(q, ph, phases, step=1.0)).phase_ids.max() == 1
    with pytest.raises(InputError, match="point group"):
        merge_phases(EBSDMap(q, ph, {1: phases[1], 2: Phase(2, "t", "6/mmm")}, step=1.0))


def test_ipf_and_plot(tmp_path):
    m = blocks()
    rgb = ipf_map(m)
    assert rgb.shape == (8, 8, 3) and 0 <= rgb.min() and rgb.max() <= 1
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0], atol=1e-9)  # [001] ∥ z: red
    np.testing.assert_allclose(rgb[0, 7], [1, 0, 0], atol=1e-9)  # 20° about z: still [001]
    x = ipf_map(m, direction="x")
    np.testing.assert_allclose(x[0, 0], [1, 0, 0], atol=1e-9)  # x ∥ [100]: red too
    assert x[0, 7, 1] > 0.3 and x[0, 7, 2] == 0  # x between [100] and [110]: towards green
    with pytest.raises(InputError, match="IPF direction"):
        ipf_map(m, direction="w")
    fig = plot_ebsd(m, classify_boundaries(m))
    assert len(fig.axes[0].collections) == 1
    assert len(fig.axes[0].collections[0].get_segments()) == 4 + 4 + 4 + 4  # 3 boundaries, 16 edges
    fig.savefig(tmp_path / "a.png")
    fig2 = plot_ebsd(m.with_(grid="hexagonal"), boundary_raster(m.with_(grid="hexagonal")))
    assert len(fig2.axes[0].images) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)
