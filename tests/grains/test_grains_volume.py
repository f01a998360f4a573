from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from microseg._util import InputError
from microseg.grains import (connected_components_3d, percolates, phase_fraction_per_slice,
                             phase_fraction_summary)


def test_phase_fraction_per_slice_and_summary():
    rng = np.random.default_rng(0)
    mask = rng.random((30, 20, 25)) < np.linspace(0.2, 0.8, 30)[:, None, None]
    per = phase_fraction_per_slice(mask)
    np.testing.assert_allclose(per, [mask[z].mean() for z in range(30)])
    s = phase_fraction_summary(mask)
    assert s["mean"] == pytest.approx(mask.mean())
    assert s["std"] == pytest.approx(np.std(per))
    assert s["n_slices"] == 30 and s["min"] <= s["mean"] <= s["max"]
    assert phase_fraction_summary(mask, ddof=1)["std"] == pytest.approx(np.std(per, ddof=1))
    np.testing.assert_array_equal(phase_fraction_per_slice(mask.astype(np.uint8)), per)


def test_components_match_scipy_and_connectivity():
    rng = np.random.default_rng(1)
    mask = ndi.binary_opening(rng.random((20, 30, 30)) < 0.45)
    labels, sizes = connected_components_3d(mask)
    ref, n = ndi.label(mask)
    assert len(sizes) == n and labels.dtype == np.int32
    np.testing.assert_array_equal(np.sort(sizes), np.sort(np.bincount(ref.ravel())[1:]))
    diag = np.zeros((3, 3, 3), bool)
    diag[0, 0, 0] = diag[1, 1, 1] = diag[2, 2, 2] = True
    assert len(connected_components_3d(diag)[1]) == 3
    assert len(connected_components_3d(diag, connectivity=3)[1]) == 1


def test_percolation():
    m = np.zeros((10, 8, 8), bool)
    m[:, 2, 2] = True                    # a rod through Z
    assert percolates(m, axis=0) and not percolates(m, axis=1)
    m[5, 2, 2] = False                   # broken rod
    assert not percolates(m, axis=0)
    m[5, 3, 3] = True                    # reconnected only through a corner
    assert not percolates(m, axis=0)
    assert percolates(m, axis=0, connectivity=3)
    assert not percolates(np.zeros((4, 4, 4), bool), axis=2)


def test_mask_errors():
    with pytest.raises(InputError, match="mask.*3D"):
        phase_fraction_per_slice(np.zeros((4, 4)))
    with pytest.raises(InputError, match="mask.*0 and 1"):
        phase_fraction_per_slice(np.full((2, 2, 2), 0.5))
    with pytest.raises(InputError, match="mask.*NaN"):
        phase_fraction_per_slice(np.full((2, 2, 2), np.nan))
    with pytest.raises(InputError, match="axis"):
        percolates(np.zeros((2, 2, 2), bool), axis=3)
