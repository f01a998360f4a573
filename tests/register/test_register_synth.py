"""Synthetic registration pairs: determinism, truth fields, options, errors."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.register import LandmarkTransform, estimate_transform
from microseg.synth._registration import make_registration_pair


def test_deterministic_and_shaped():
    a = make_registration_pair((128, 160), mean_diameter_px=20, step_px=2.5, seed=3)
    b = make_registration_pair((128, 160), mean_diameter_px=20, step_px=2.5, seed=3)
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.displacement, b.displacement)
    assert a.image.shape == (128, 160) and a.cells.shape == (52, 64)
    assert a.cells.dtype == np.int32 and a.step_um == pytest.approx(2.5 * a.poly.pixel_size)
    assert set(np.unique(a.cells)) <= set(range(a.poly.n_cells + 1))
    assert len(a.landmarks) == 6 and a.affine.kind == "affine"


def test_drift_amplitude_and_zero_drift():
    pair = make_registration_pair((160, 160), mean_diameter_px=20, drift_amplitude_px=12.0, seed=1)
    mag = np.hypot(*pair.displacement)
    assert 6.0 < mag.max() <= 12.5  # peak set on the EBSD extent; the SEM frame reaches a bit beyond
    still = make_registration_pair((96, 96), mean_diameter_px=20, drift_amplitude_px=0.0,
                                   landmark_noise_px=0.0, seed=1)
    assert not still.displacement.any()
    fitted = estimate_transform(still.landmarks, kind="affine")
    np.testing.assert_allclose(fitted.matrix, still.affine.matrix, atol=1e-9)


def test_given_affine_is_used():
    m = np.array([[20.0, 0.0, 3.0], [0.0, 20.0, -2.0], [0, 0, 1]])
    pair = make_registration_pair((96, 96), mean_diameter_px=20, affine=m, seed=0)
    np.testing.assert_allclose(pair.affine.matrix, m)
    same = make_registration_pair((96, 96), mean_diameter_px=20, affine=LandmarkTransform(m), seed=0)
    np.testing.assert_array_equal(same.cells, pair.cells)


@pytest.mark.parametrize("kw, match", [
    (dict(step_px=0.1), "step_px"), (dict(drift_amplitude_px=-1.0), "drift_amplitude_px"),
    (dict(landmark_noise_px=float("nan")), "landmark_noise_px"), (dict(mode="tem"), "mode"),
])
def test_bad_options(kw, match):
    with pytest.raises(InputError, match=match):
        make_registration_pair((64, 64), mean_diameter_px=12, **kw)
