"""Transforms: exact recovery, residuals, degenerate landmarks, inverse, JSON, tilt."""
from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import transform as sktf

from microseg._util import InputError
from microseg.register import LandmarkTransform, estimate_transform, tilt_correction

RNG = np.random.default_rng(3)
SRC = RNG.uniform(0, 50, (7, 2))


def _true(kind):
    if kind == "similarity":
        return sktf.SimilarityTransform(scale=20.0, rotation=0.05, translation=(7, -3)).params
    m = np.array([[19.0, 0.8, 7.0], [-0.5, 21.0, -3.0], [0.0, 0.0, 1.0]])
    if kind == "projective":
        m[2, :2] = [1e-4, -2e-4]
    return m


@pytest.mark.parametrize("kind", ["similarity", "affine", "projective"])
def test_exact_recovery_and_inverse(kind):
    m = _true(kind)
    dst = (np.c_[SRC, np.ones(len(SRC))] @ m.T)
    dst = dst[:, :2] / dst[:, 2:]
    t = estimate_transform(SRC, dst, kind=kind)
    np.testing.assert_allclose(t.matrix, m / m[2, 2], rtol=1e-7, atol=1e-9)
    assert t.rms < 1e-8 and t.residuals.shape == (len(SRC),)
    np.testing.assert_allclose(t.inverse(t(SRC)), SRC, atol=1e-9)
    assert t(SRC[0]).shape == (2,)


def test_residuals_are_pointwise_distances():
    dst = SRC * 10.0
    dst[2] += [3.0, 4.0]
    t = estimate_transform(SRC, dst, kind="affine")
    independent = np.hypot(*(t(SRC) - dst).T)
    np.testing.assert_allclose(t.residuals, independent)
    assert t.rms == pytest.approx(np.sqrt(np.mean(independent ** 2)))
    assert np.argmax(t.residuals) == 2


def test_json_round_trip():
    t = estimate_transform(SRC, SRC * 3 + 1, kind="affine")
    back = LandmarkTransform.from_dict(json.loads(json.dumps(t.to_dict())))
    np.testing.assert_array_equal(back.matrix, t.matrix)
    np.testing.assert_array_equal(back.residuals, t.residuals)
    assert back.kind == "affine"
    with pytest.raises(InputError, match="transform dict"):
        LandmarkTransform.from_dict({"kind": "affine"})


@pytest.mark.parametrize("kind, n", [("similarity", 1), ("affine", 2), ("projective", 3)])
def test_too_few_pairs(kind, n):
    with pytest.raises(InputError, match=f"needs at least {n + 1} landmark pairs, got {n}"):
        estimate_transform(SRC[:n], SRC[:n], kind=kind)


@pytest.mark.parametrize("kind", ["affine", "projective"])
def test_collinear_rejected(kind):
    line = np.c_[np.arange(6.0), 2 * np.arange(6.0) + 1]
    with pytest.raises(InputError, match="collinear"):
        estimate_transform(line, line * 3, kind=kind)
    nearly = line + np.c_[np.zeros(6), 1e-6 * RNG.normal(size=6)]
    with pytest.raises(InputError, match="collinear"):
        estimate_transform(nearly, line * 3, kind=kind)


def test_three_of_four_collinear_rejected_for_projective():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    with pytest.raises(InputError, match="three of the four"):
        estimate_transform(pts, pts * 2, kind="projective")


def test_duplicates_and_nan_rejected():
    dup = SRC.copy()
    dup[3] = dup[1]
    with pytest.raises(InputError, match="points 1 and 3 are duplicates"):
        estimate_transform(dup, SRC, kind="similarity")
    bad = SRC.copy()
    bad[2, 0] = np.nan
    with pytest.raises(InputError, match=r"dst has non-finite .* \[2\]"):
        estimate_transform(SRC, bad, kind="affine")
    with pytest.raises(InputError, match="did you mean 'affine'"):
        estimate_transform(SRC, SRC, kind="afine")


def test_composition_order_and_tilt():
    c = tilt_correction(60.0)
    np.testing.assert_allclose(c, np.diag([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(tilt_correction(70.0, axis="x")[0, 0], 1 / np.cos(np.deg2rad(70)))
    shift = LandmarkTransform(np.array([[1, 0, 5], [0, 1, 0], [0, 0, 1.0]]), kind="affine")
    # a @ b applies b first: tilt stretch then shift
    both = shift @ c
    np.testing.assert_allclose(both([[1.0, 1.0]]), [[6.0, 2.0]])
    np.testing.assert_allclose((c @ shift)([[1.0, 1.0]]), [[6.0, 2.0]])
    assert both.kind == "affine"
    # un-tilt landmarks, fit a similarity, map back into the tilted image
    sim = sktf.SimilarityTransform(scale=10.0, rotation=0.1, translation=(3, 4)).params
    flat = np.c_[SRC, np.ones(len(SRC))] @ sim.T
    tilted = flat[:, :2] * [1.0, np.cos(np.deg2rad(60))]
    t_flat = estimate_transform(SRC, LandmarkTransform(c)(tilted), kind="similarity")
    t_img = LandmarkTransform(np.linalg.inv(c)) @ t_flat
    np.testing.assert_allclose(t_img(SRC), tilted, atol=1e-8)
    with pytest.raises(InputError, match="tilt_deg"):
        tilt_correction(90.0)


def test_singular_matrix_rejected():
    with pytest.raises(InputError, match="singular"):
        LandmarkTransform(np.zeros((3, 3)))
