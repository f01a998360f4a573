"""Pixel metrics: hand-computed cases, scikit-learn cross-checks, empty inputs, errors."""
from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from microseg._util import InputError
from microseg.metrics import (
    confusion_counts,
    dice_score,
    f1_score,
    iou_score,
    precision,
    recall,
    true_negative_rate,
    true_positive_rate,
)

SCORES = [precision, recall, true_positive_rate, true_negative_rate, f1_score, dice_score, iou_score]


def test_confusion_counts_hand_case():
    pred = np.array([[1, 1, 0], [0, 1, 0]], np.uint8)
    truth = np.array([[1, 0, 0], [1, 1, 0]], np.uint8)
    assert confusion_counts(pred, truth) == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert precision(pred, truth) == pytest.approx(2 / 3)
    assert recall(pred, truth) == pytest.approx(2 / 3)
    assert true_negative_rate(pred, truth) == pytest.approx(2 / 3)
    assert f1_score(pred, truth) == pytest.approx(4 / 6)
    assert iou_score(pred, truth) == pytest.approx(2 / 4)


def test_counts_are_python_ints():
    c = confusion_counts(np.ones((3, 3), bool), np.eye(3, dtype=bool))
    assert all(type(v) is int for v in c.values())
    assert sum(c.values()) == 9


@pytest.mark.parametrize("shape", [(32, 40), (5, 16, 16)])
@pytest.mark.parametrize("density", [0.05, 0.5])
def test_scores_match_sklearn(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    pred = rng.random(shape) < density
    truth = rng.random(shape) < density
    p, t = pred.ravel(), truth.ravel()
    assert precision(pred, truth) == pytest.approx(skm.precision_score(t, p))
    assert recall(pred, truth) == pytest.approx(skm.recall_score(t, p))
    assert true_negative_rate(pred, truth) == pytest.approx(skm.recall_score(t, p, pos_label=0))
    assert f1_score(pred, truth) == pytest.approx(skm.f1_score(t, p))
    assert iou_score(pred, truth) == pytest.approx(skm.jaccard_score(t, p))
    tn, fp, fn, tp = skm.confusion_matrix(t, p, labels=[0, 1]).ravel()
    assert confusion_counts(pred, truth) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def test_aliases_agree():
    rng = np.random.default_rng(1)
    pred, truth = rng.random((20, 20)) < 0.3, rng.random((20, 20)) < 0.3
    assert dice_score(pred, truth) == f1_score(pred, truth)
    assert true_positive_rate(pred, truth) == recall(pred, truth)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int32, np.float32, np.float64])
def test_dtypes_give_same_result(dtype):
    rng = np.random.default_rng(2)
    pred, truth = rng.random((16, 16)) < 0.4, rng.random((16, 16)) < 0.4
    expected = f1_score(pred, truth)
    assert f1_score(pred.astype(dtype), truth.astype(dtype)) == expected


def test_threshold_binarises_probabilities():
    prob = np.array([0.1, 0.5, 0.49, 0.9], np.float32)
    truth = np.array([0, 1, 0, 1], np.uint8)
    assert confusion_counts(prob, truth, threshold=0.5) == {"tp": 2, "fp": 0, "fn": 0, "tn": 2}
    with pytest.raises(InputError, match="threshold="):
        f1_score(prob, truth)


# ---- empty conventions -------------------------------------------------------------

def test_both_empty_is_perfect():
    z = np.zeros((4, 4), bool)
    for score in SCORES:
        assert score(z, z) == 1.0, score.__name__


def test_one_empty_is_zero():
    z = np.zeros((4, 4), bool)
    o = z.copy()
    o[1, 1] = True
    for pred, truth in [(z, o), (o, z)]:
        assert precision(pred, truth) == 0.0
        assert recall(pred, truth) == 0.0
        assert f1_score(pred, truth) == 0.0
        assert iou_score(pred, truth) == 0.0
    # TNR of an empty truth is well defined (all negatives), and 1.0 for an empty pred.
    assert true_negative_rate(z, z) == 1.0
    assert true_negative_rate(o, z) == pytest.approx(15 / 16)


def test_tnr_without_negatives():
    full = np.ones((3, 3), bool)
    assert true_negative_rate(full, full) == 1.0
    part = full.copy()
    part[0, 0] = False
    assert true_negative_rate(part, full) == 0.0


def test_zero_size_arrays_are_perfect():
    e = np.zeros((0, 5), bool)
    assert confusion_counts(e, e) == {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    assert f1_score(e, e) == 1.0


# ---- errors ------------------------------------------------------------------------

def test_shape_mismatch_names_both_shapes():
    with pytest.raises(InputError, match=r"pred and truth.*pred \(4, 5\) and truth \(5, 4\)"):
        f1_score(np.zeros((4, 5)), np.zeros((5, 4)))


def test_nan_is_refused():
    a = np.zeros((3, 3))
    a[1, 1] = np.nan
    with pytest.raises(InputError, match="pred contains NaN"):
        iou_score(a, np.zeros((3, 3)))
    with pytest.raises(InputError, match="truth contains NaN"):
        iou_score(np.zeros((3, 3)), a, threshold=0.5)


@pytest.mark.parametrize("bad", [np.array([0, 2, 1]), np.array([0.0, 0.5, 1.0]), np.array([-1, 0, 1])])
def test_non_binary_is_refused(bad):
    with pytest.raises(InputError, match="truth must be a binary mask"):
        precision(np.zeros(3, bool), bad)


def test_non_numeric_is_refused():
    with pytest.raises(InputError, match="pred must be a numeric"):
        recall(np.array(["a", "b"]), np.zeros(2))


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)


# ---- properties --------------------------------------------------------------------

masks = arrays(bool, st.tuples(st.integers(1, 8), st.integers(1, 8)))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_f1_iou_relation(data):
    pred = data.draw(masks)
    truth = data.draw(arrays(bool, pred.shape))
    f1, iou = f1_score(pred, truth), iou_score(pred, truth)
    assert f1 == pytest.approx(2 * iou / (1 + iou))
    assert f1_score(truth, pred) == f1
    assert 0.0 <= iou <= f1 <= 1.0
