"""Distance metrics: hand cases, brute force with scipy.spatial.distance, both code paths."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist, directed_hausdorff

from microseg._util import InputError
from microseg.metrics import boundary_f_score, hausdorff_distance, mean_surface_distance
from microseg.metrics import distance as distance_module


@pytest.fixture(params=["kdtree", "edt"])
def path(request, monkeypatch):
    """Run a test through the k-d tree path and through the distance-transform path."""
    monkeypatch.setattr(distance_module, "KDTREE_MAX_FRACTION", 1.0 if request.param == "kdtree" else -1.0)
    return request.param


def _points(shape, coords):
    m = np.zeros(shape, bool)
    for c in coords:
        m[c] = True
    return m


def _brute(pred, truth, pixel_size):
    """Directed nearest-neighbour distances by a full distance matrix."""
    a = np.argwhere(pred) * np.asarray(pixel_size, float)
    b = np.argwhere(truth) * np.asarray(pixel_size, float)
    d = cdist(a, b)
    return d.min(axis=1), d.min(axis=0)


def test_two_pixels_three_apart(path):
    a = _points((5, 7), [(2, 1)])
    b = _points((5, 7), [(2, 4)])
    assert hausdorff_distance(a, b) == 3.0
    assert hausdorff_distance(a, b, pixel_size=0.5) == 1.5
    assert hausdorff_distance(a, b, pixel_size=(10.0, 0.5)) == 1.5
    assert hausdorff_distance(a, b, percentile=95) == 3.0
    assert mean_surface_distance(a, b) == 3.0


def test_anisotropic_3d(path):
    a = _points((4, 5, 6), [(0, 0, 0)])
    b = _points((4, 5, 6), [(2, 3, 0)])
    pixel_size = (2.0, 0.5, 1.0)
    assert hausdorff_distance(a, b, pixel_size=pixel_size) == pytest.approx(np.hypot(4.0, 1.5))
    # the nearer of two candidates depends on the pixel size
    c = _points((4, 5, 6), [(0, 0, 3), (1, 0, 0)])
    assert hausdorff_distance(a, c, pixel_size=(2.0, 1.0, 0.5), directed=True) == pytest.approx(1.5)
    assert hausdorff_distance(a, c, pixel_size=(0.5, 1.0, 2.0), directed=True) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape,pixel_size", [
    ((20, 24), 1.0), ((20, 24), (0.7, 1.3)), ((6, 10, 12), (2.0, 0.5, 0.5)),
])
def test_matches_brute_force(path, seed, shape, pixel_size):
    rng = np.random.default_rng(seed)
    pred = rng.random(shape) < 0.08
    truth = rng.random(shape) < 0.08
    pred.flat[0] = truth.flat[-1] = True
    d_pt, d_tp = _brute(pred, truth, pixel_size)
    assert hausdorff_distance(pred, truth, pixel_size=pixel_size) == pytest.approx(max(d_pt.max(), d_tp.max()))
    assert hausdorff_distance(pred, truth, pixel_size=pixel_size, directed=True) == pytest.approx(d_pt.max())
    # MONAI convention: the larger of the two directed percentiles
    expected95 = max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
    assert hausdorff_distance(pred, truth, pixel_size=pixel_size, percentile=95) == pytest.approx(expected95)
    assert mean_surface_distance(pred, truth, pixel_size=pixel_size) == pytest.approx(
        np.concatenate([d_pt, d_tp]).mean())
    assert mean_surface_distance(pred, truth, pixel_size=pixel_size, directed=True) == pytest.approx(d_pt.mean())
    bf = boundary_f_score(pred, truth, tolerance=1.5, pixel_size=pixel_size)
    assert bf["precision"] == pytest.approx(np.mean(d_pt <= 1.5))
    assert bf["recall"] == pytest.approx(np.mean(d_tp <= 1.5))


def test_directed_matches_scipy_directed_hausdorff(path):
    rng = np.random.default_rng(7)
    pred, truth = rng.random((30, 30)) < 0.05, rng.random((30, 30)) < 0.05
    expected = directed_hausdorff(np.argwhere(pred), np.argwhere(truth))[0]
    assert hausdorff_distance(pred, truth, directed=True) == pytest.approx(expected)
    sym = max(expected, directed_hausdorff(np.argwhere(truth), np.argwhere(pred))[0])
    assert hausdorff_distance(pred, truth) == pytest.approx(sym)


def test_percentile_extremes():
    rng = np.random.default_rng(3)
    pred, truth = rng.random((20, 20)) < 0.1, rng.random((20, 20)) < 0.1
    assert hausdorff_distance(pred, truth, percentile=100) == hausdorff_distance(pred, truth)
    d_pt, d_tp = _brute(pred, truth, 1.0)
    assert hausdorff_distance(pred, truth, percentile=0) == pytest.approx(max(d_pt.min(), d_tp.min()))
    for bad in (-1, 101, "p95"):
        with pytest.raises(InputError, match="percentile"):
            hausdorff_distance(pred, truth, percentile=bad)


def test_surface_option_uses_mask_borders(path):
    big = np.zeros((9, 9), bool)
    big[1:8, 1:8] = True  # 7 x 7 filled square, border ring at rows/cols 1 and 7
    small = np.zeros((9, 9), bool)
    small[3:6, 3:6] = True  # 3 x 3 square, every pixel but the centre on its border
    # all pixels: the small square lies inside the big one, so d(small -> big) = 0
    assert hausdorff_distance(small, big, directed=True) == 0.0
    # borders only: the small square's border is 2 px from the big ring
    assert hausdorff_distance(small, big, directed=True, surface=True) == 2.0
    assert hausdorff_distance(big, big, surface=True) == 0.0


# ---- empty conventions -------------------------------------------------------------

def test_empty_conventions():
    z = np.zeros((6, 6), bool)
    o = _points((6, 6), [(2, 2)])
    assert hausdorff_distance(z, z) == 0.0
    assert hausdorff_distance(z, z, percentile=95, directed=True) == 0.0
    assert mean_surface_distance(z, z) == 0.0
    for a, b in [(z, o), (o, z)]:
        assert hausdorff_distance(a, b) == np.inf
        assert hausdorff_distance(a, b, directed=True) == np.inf
        assert mean_surface_distance(a, b) == np.inf
        assert boundary_f_score(a, b) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert boundary_f_score(z, z) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


# ---- boundary F-score --------------------------------------------------------------

def test_boundary_f_score_tolerance_is_inclusive(path):
    t = np.zeros((12, 12), bool)
    t[6, :] = True
    p = np.roll(t, 2, axis=0)
    assert boundary_f_score(p, t, tolerance=2.0)["f1"] == 1.0
    assert boundary_f_score(p, t, tolerance=1.9)["f1"] == 0.0
    # 4 px at 0.5 um = 2 um, exactly the tolerance
    p4 = np.roll(t, 4, axis=0)
    assert boundary_f_score(p4, t, tolerance=2.0, pixel_size=0.5)["f1"] == 1.0
    assert boundary_f_score(p4, t, tolerance=2.0)["f1"] == 0.0


def test_boundary_f_score_zero_tolerance_is_pixel_overlap():
    rng = np.random.default_rng(4)
    pred, truth = rng.random((20, 20)) < 0.2, rng.random((20, 20)) < 0.2
    bf = boundary_f_score(pred, truth, tolerance=0)
    tp = np.count_nonzero(pred & truth)
    assert bf["precision"] == pytest.approx(tp / pred.sum())
    assert bf["recall"] == pytest.approx(tp / truth.sum())


def test_boundary_f_score_hand_case():
    t = np.zeros((8, 8), bool)
    t[4, :] = True
    p = np.zeros((8, 8), bool)
    p[5, :] = True
    p[0, 0] = True  # one stray pixel, 4 px from the truth
    bf = boundary_f_score(p, t, tolerance=1.0)
    assert bf["precision"] == pytest.approx(8 / 9)
    assert bf["recall"] == 1.0
    assert bf["f1"] == pytest.approx(2 * (8 / 9) / (1 + 8 / 9))


# ---- errors ------------------------------------------------------------------------

def test_errors():
    a = np.zeros((4, 4), bool)
    with pytest.raises(InputError, match=r"pred \(4, 4\) and truth \(4, 5\)"):
        hausdorff_distance(a, np.zeros((4, 5), bool))
    nan = np.zeros((4, 4))
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        boundary_f_score(nan, a)
    with pytest.raises(InputError, match="pixel_size"):
        hausdorff_distance(a, a, pixel_size=(1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="pixel_size"):
        hausdorff_distance(a, a, pixel_size=-1.0)
    with pytest.raises(InputError, match="tolerance"):
        boundary_f_score(a, a, tolerance=-1.0)
    with pytest.raises(InputError, match="scalars"):
        hausdorff_distance(np.array(True), np.array(True))


# ---- properties --------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.data())
def test_hausdorff_symmetric(data):
    pred = data.draw(arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))))
    truth = data.draw(arrays(bool, pred.shape))
    assert hausdorff_distance(pred, truth) == hausdorff_distance(truth, pred)
    assert hausdorff_distance(pred, truth, percentile=95) == hausdorff_distance(truth, pred, percentile=95)
    assert mean_surface_distance(pred, truth) == pytest.approx(mean_surface_distance(truth, pred))
    assert hausdorff_distance(pred, pred) == 0.0
