"""Automatic refinement on synthetic pairs with exact truth, warping, scores, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from microseg._util import InputError
from microseg.register import (
    LandmarkTransform, Registration, alignment_score, boundary_distance, boundary_evidence,
    estimate_transform, refine_registration, warp_cells,
)
from microseg.synth._registration import make_registration_pair

SHAPE = (384, 384)


def boundaries_from_cells(cells):
    """The house rule, written independently: right or lower neighbour a different
    non-zero cell."""
    b = np.zeros(cells.shape, bool)
    b[:, :-1] |= (cells[:, :-1] != cells[:, 1:]) & (cells[:, 1:] != 0) & (cells[:, :-1] != 0)
    b[:-1] |= (cells[:-1] != cells[1:]) & (cells[1:] != 0) & (cells[:-1] != 0)
    return b.astype(np.uint8)


def registered_boundaries(pair, registration):
    cells = warp_cells(pair.cells, registration, pair.image.shape, step_um=pair.step_um)
    return boundaries_from_cells(cells)


@pytest.fixture(scope="module", params=[("se", 0, 15.0), ("bse", 1, 20.0)],
                ids=["se-seed0-15px", "bse-seed1-20px"])
def refined(request):
    mode, seed, drift = request.param
    pair = make_registration_pair(SHAPE, mode=mode, seed=seed, drift_amplitude_px=drift)
    start = estimate_transform(pair.landmarks, kind="affine")
    return pair, start, refine_registration(pair.image, pair.cells, start, step_um=pair.step_um)


def test_truth_is_consistent():
    pair = make_registration_pair((192, 192), mean_diameter_px=30, seed=4)
    warped = warp_cells(pair.cells, pair.registration, pair.image.shape, step_um=pair.step_um)
    inside = warped != 0
    assert inside.mean() > 0.85
    assert (warped[inside] == pair.poly.cells[inside]).mean() > 0.95
    d = boundary_distance(boundaries_from_cells(warped), pair.poly.boundaries)
    assert d["median"] == 0.0 and d["mean"] < 0.7


def test_refinement_reaches_subpixel_boundaries(refined):
    pair, start, reg = refined
    before = boundary_distance(registered_boundaries(pair, start), pair.poly.boundaries)
    after = boundary_distance(registered_boundaries(pair, reg), pair.poly.boundaries)
    assert before["mean"] > 1.5  # the landmark-only affine is visibly off
    assert after["median"] <= 1.5
    assert after["mean"] < 0.8 < before["mean"] / 2
    assert after["p95"] <= 2.5 < before["p95"]
    assert reg.score_after > reg.score_before + 0.2


def test_recovered_field_matches_truth(refined):
    pair, _, reg = refined
    rr, cc = np.mgrid[40:344:8, 40:344:8].reshape(2, -1).astype(float)
    q = np.stack([cc, rr], axis=1)

    def ebsd_points(r):
        d = r.displacement[:, rr.astype(int), cc.astype(int)]
        return r.transform.inverse(q - np.stack([d[1], d[0]], axis=1))

    err = pair.affine(ebsd_points(reg)) - pair.affine(ebsd_points(pair.registration))
    assert np.median(np.hypot(*err.T)) < 1.0
    assert reg.displacement.shape == (2, *SHAPE) and reg.displacement.dtype == np.float32
    assert set(reg.drift_summary) == {"max", "mean"}
    assert reg.to_dict()["displacement_shape"] == [2, *SHAPE]


def test_affine_only_refinement():
    pair = make_registration_pair((256, 256), mean_diameter_px=30, drift_amplitude_px=0.0,
                                  seed=2, mode="bse")
    rough = LandmarkTransform(np.array([[1, 0, 4.0], [0, 1, -3.0], [0, 0, 1]])) @ pair.affine
    reg = refine_registration(pair.image, pair.cells, rough, step_um=pair.step_um, drift=False)
    assert reg.displacement is None and reg.drift_summary == {"max": 0.0, "mean": 0.0}
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 5)] * 2), -1).reshape(-1, 2)
    xy = grid * np.array(pair.cells.shape[::-1]) * pair.step_um
    assert np.hypot(*(rough(xy) - pair.affine(xy)).T).max() == pytest.approx(5.0)
    assert np.hypot(*(reg.transform(xy) - pair.affine(xy)).T).max() < 0.75
    assert reg.transform.kind == "affine"
    after = boundary_distance(registered_boundaries(pair, reg), pair.poly.boundaries)
    assert after["median"] <= 1.0


def test_warp_cells_matches_independent_nearest():
    rng = np.random.default_rng(0)
    cells = rng.integers(1, 9, (20, 30)).astype(np.int32)
    m = np.array([[2.0, 0.3, 5.0], [-0.2, 2.0, 7.0], [0, 0, 1]])
    t = LandmarkTransform(m, kind="affine")
    disp = np.zeros((2, 50, 70), np.float32)
    disp[1] = 1.5
    out = warp_cells(cells, Registration(t, disp), (50, 70), step_um=0.5)
    rr, cc = np.indices((50, 70))
    xy = np.linalg.solve(m[:2, :2], np.stack([cc.ravel() - 1.5 - 5, rr.ravel() - 7.0]))
    j, i = np.floor(xy / 0.5 + 0.5).astype(int)
    ok = (i >= 0) & (i < 20) & (j >= 0) & (j < 30)
    expected = np.zeros(50 * 70, np.int32)
    expected[ok] = cells[i[ok], j[ok]]
    np.testing.assert_array_equal(out.ravel(), expected)
    assert out.dtype == np.int32 and (out == 0).any()


def test_boundary_distance_and_score_by_hand():
    a = np.zeros((20, 20), np.uint8)
    a[5, :] = 1
    b = np.zeros_like(a)
    b[8, :] = 1
    d = boundary_distance(a, b)
    assert d == {"median": 3.0, "mean": 3.0, "p95": 3.0}
    assert boundary_distance(b, b)["p95"] == 0.0
    img = 1.0 - 0.4 * ndimage.gaussian_filter(b.astype(float), 1.0) * 2.5
    scores = [alignment_score(img, np.roll(b, s, axis=0)) for s in range(-4, 5)]
    assert int(np.argmax(scores)) == 4
    assert boundary_evidence(img).max() == 1.0
    with pytest.raises(InputError, match="boundaries_b has no boundary pixels"):
        boundary_distance(a, np.zeros_like(a))


@pytest.fixture(scope="module")
def small():
    pair = make_registration_pair((96, 96), mean_diameter_px=16, seed=5)
    return pair, estimate_transform(pair.landmarks, kind="affine")


@pytest.mark.parametrize("change, match", [
    (dict(image=np.zeros((4, 96, 96))), r"image must be a 2D \(Y, X\) array"),
    (dict(image=np.full((96, 96), np.nan)), "image contains NaN"),
    (dict(cells=np.zeros((10, 10, 2), np.int32)), r"cells must be a 2D \(rows, columns\)"),
    (dict(cells=np.ones((48, 48))), "cells must hold integer cell ids"),
    (dict(cells=np.ones((48, 48), np.int32)), "too few boundaries"),
    (dict(step_um=0.0), "step_um must be a finite EBSD step > 0"),
    (dict(step_um=float("nan")), "step_um must be a finite EBSD step > 0"),
    (dict(transform=np.eye(3)), "transform must be a LandmarkTransform"),
    (dict(drift_spacing_px=2.0), "drift_spacing_px must be >= 8"),
    (dict(smoothness=-1.0), "smoothness must be"),
    (dict(evidence_sigma=0.0), "evidence_sigma must be > 0"),
    (dict(blurs=()), "blurs must be a sequence"),
])
def test_bad_input(small, change, match):
    pair, start = small
    kw = dict(image=pair.image, cells=pair.cells, transform=start, step_um=pair.step_um)
    kw.update(change)
    with pytest.raises(InputError, match=match):
        refine_registration(kw.pop("image"), kw.pop("cells"), kw.pop("transform"), **kw)


def test_warp_bad_input(small):
    pair, start = small
    with pytest.raises(InputError, match="output_shape"):
        warp_cells(pair.cells, start, (96,), step_um=pair.step_um)
    with pytest.raises(InputError, match="displacement field is"):
        warp_cells(pair.cells, pair.registration, (50, 50), step_um=pair.step_um)
    with pytest.raises(InputError, match="registration must be"):
        warp_cells(pair.cells, np.eye(3), (50, 50), step_um=pair.step_um)
    with pytest.raises(InputError, match=r"displacement must have shape \(2, Y, X\)"):
        Registration(start, np.zeros((3, 4, 4)))
