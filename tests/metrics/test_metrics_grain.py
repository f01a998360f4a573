"""Grain-level metrics: ECD of drawn shapes, scikit-image cross-check, counts, MAE."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import disk
from skimage.measure import regionprops

from microseg._util import InputError
from microseg.metrics import ecd_error, grain_count, grain_count_error, mean_absolute_error, mean_ecd


def test_drawn_disk_has_its_diameter():
    labels = np.zeros((101, 101), np.int32)
    labels[disk((50, 50), 30)] = 1
    assert mean_ecd(labels) == pytest.approx(60.0, rel=0.01)
    assert mean_ecd(labels, pixel_size=0.25) == pytest.approx(15.0, rel=0.01)


def test_matches_skimage_equivalent_diameter():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (40, 40)).astype(np.int32)
    labels[labels == 3] = 0  # a missing label id must not count as a grain
    expected = np.mean([r.equivalent_diameter_area for r in regionprops(labels)])
    assert mean_ecd(labels) == pytest.approx(expected)
    assert grain_count(labels) == 4


def test_anisotropic_pixel_size_uses_pixel_area():
    labels = np.zeros((10, 10), np.int32)
    labels[2:6, 2:8] = 1
    assert mean_ecd(labels, pixel_size=(0.5, 2.0)) == pytest.approx(mean_ecd(labels, pixel_size=1.0))
    assert mean_ecd(labels, pixel_size=(0.5, 0.5)) == pytest.approx(2 * math.sqrt(24 * 0.25 / math.pi))


def test_3d_uses_equivalent_sphere_diameter():
    labels = np.zeros((6, 6, 6), np.int32)
    labels[:4, :4, :4] = 5
    assert mean_ecd(labels) == pytest.approx((6 * 64 / math.pi) ** (1 / 3))
    assert mean_ecd(labels, pixel_size=(2.0, 1.0, 0.5)) == pytest.approx((6 * 64 / math.pi) ** (1 / 3))


def test_no_grain_conventions():
    empty = np.zeros((8, 8), np.int32)
    one = empty.copy()
    one[:4, :4] = 1
    assert mean_ecd(empty) == 0.0
    assert grain_count(empty) == 0
    assert ecd_error(empty, empty) == 0.0
    assert ecd_error(empty, one) == pytest.approx(-mean_ecd(one))
    assert grain_count_error(empty, one) == -1


def test_ecd_error_sign_and_count_error():
    truth = np.zeros((8, 8), np.int32)
    truth[:4] = 1
    truth[4:] = 2
    merged = np.ones((8, 8), np.int32)
    assert ecd_error(merged, truth) > 0
    assert ecd_error(truth, truth) == 0.0
    assert ecd_error(merged, truth, pixel_size=0.5) == pytest.approx(0.5 * ecd_error(merged, truth))
    assert grain_count_error(merged, truth) == -1
    assert type(grain_count_error(merged, truth)) is int


def test_bool_and_float_labels():
    m = np.zeros((6, 6), bool)
    m[1:3, 1:3] = True
    assert mean_ecd(m) == mean_ecd(m.astype(np.float32)) == pytest.approx(2 * math.sqrt(4 / math.pi))


def test_mean_absolute_error():
    assert mean_absolute_error([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]) == pytest.approx(0.5)
    assert type(mean_absolute_error(np.array([1.0]), np.array([2.0]))) is float
    with pytest.raises(InputError, match="same length"):
        mean_absolute_error([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="at least one pair"):
        mean_absolute_error([], [])
    with pytest.raises(InputError, match="b contains NaN"):
        mean_absolute_error([1.0], [np.nan])
    with pytest.raises(InputError, match="numbers"):
        mean_absolute_error(["x"], [1.0])


def test_errors():
    with pytest.raises(InputError, match="non-negative"):
        mean_ecd(np.array([[0, -1], [1, 2]]))
    with pytest.raises(InputError, match=r"2D \(Y, X\) or 3D"):
        mean_ecd(np.arange(5))
    with pytest.raises(InputError, match=r"labels_pred \(4, 4\) and labels_truth \(4, 5\)"):
        ecd_error(np.zeros((4, 4), int), np.zeros((4, 5), int))
    with pytest.raises(InputError, match="NaN"):
        grain_count(np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match="pixel_size"):
        mean_ecd(np.ones((3, 3), int), pixel_size=0.0)
