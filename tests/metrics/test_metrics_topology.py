"""Betti numbers on hand-drawn maps, and an Euler-characteristic cross-check."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import euler_number, label

from microseg._util import InputError
from microseg.metrics import betti_error, betti_numbers


def ring(shape=(9, 9), top=1, left=1, size=5):
    m = np.zeros(shape, np.uint8)
    m[top:top + size, left:left + size] = 1
    m[top + 1:top + size - 1, left + 1:left + size - 1] = 0
    return m


def grid(rows, cols, cell=4):
    """Lines every ``cell`` px, with a border frame: rows x cols enclosed cells."""
    m = np.zeros((rows * cell + 1, cols * cell + 1), bool)
    m[::cell, :] = True
    m[:, ::cell] = True
    return m


def test_hand_drawn_cases():
    assert betti_numbers(ring()) == (1, 1)
    assert betti_numbers(ring((9, 16)) | ring((9, 16), left=9)) == (2, 2)
    assert betti_numbers(np.zeros((6, 6))) == (0, 0)
    assert betti_numbers(np.ones((6, 6))) == (1, 0)
    assert betti_numbers(grid(3, 4)) == (1, 12)
    assert betti_numbers(grid(1, 1)) == (1, 1)
    assert betti_numbers(np.zeros((0, 0), bool)) == (0, 0)


def test_connectivity_convention():
    diag = np.eye(6, dtype=bool)  # corner-touching pixels: one 8-connected component
    assert betti_numbers(diag) == (1, 0)
    diamond = np.zeros((7, 7), bool)  # a ring drawn with corner steps encloses one pixel
    for y, x in [(1, 3), (2, 2), (3, 1), (4, 2), (5, 3), (4, 4), (3, 5), (2, 4)]:
        diamond[y, x] = True
    assert betti_numbers(diamond) == (1, 1)
    # a ring that is open on one side, or whose inside reaches the border, encloses nothing
    opened = ring()
    opened[3, 1] = 0
    assert betti_numbers(opened) == (1, 0)
    # a frame along the image border still encloses its inside
    assert betti_numbers(ring((5, 5), top=0, left=0, size=5)) == (1, 1)
    # separate lines crossing the map: three grains between two lines, none enclosed
    lines = np.zeros((10, 10), bool)
    lines[3] = lines[6] = True
    assert betti_numbers(lines) == (2, 0)


def test_threshold_and_errors():
    prob = ring().astype(np.float32) * 0.8
    assert betti_numbers(prob, threshold=0.5) == (1, 1)
    with pytest.raises(InputError, match=r"2D \(Y, X\)"):
        betti_numbers(np.zeros((2, 3, 3), bool))
    with pytest.raises(InputError, match="binary"):
        betti_numbers(prob)


def test_betti_error():
    truth = grid(2, 3).astype(np.uint8)
    assert betti_error(truth, truth) == {"b0": 0, "b1": 0}
    pred = truth.copy()
    pred[4, 2] = 0  # a gap merges two cells
    assert betti_error(pred, truth) == {"b0": 0, "b1": 1}
    frag = truth.copy()
    frag[1:8, 4] = 0  # an inner line missing: four cells become one
    frag[2, 10] = 1  # a stray pixel inside a cell: one more component, no new hole
    assert betti_numbers(frag) == (2, 3)
    assert betti_error(frag, truth) == {"b0": 1, "b1": 3}
    empty = np.zeros_like(truth)
    assert betti_error(empty, truth) == {"b0": 1, "b1": 6}
    assert betti_error(empty, empty) == {"b0": 0, "b1": 0}


def test_betti_error_3d_sums_slices():
    truth = np.stack([ring(), ring(), np.zeros((9, 9), np.uint8)])
    pred = truth.copy()
    pred[1, 3, 1] = 0
    pred[2] = ring()
    assert betti_error(pred, truth) == {"b0": 1, "b1": 2}
    with pytest.raises(InputError, match=r"pred \(3, 9, 9\) and truth \(2, 9, 9\)"):
        betti_error(pred, truth[:2])
    with pytest.raises(InputError, match="2D"):
        betti_error(np.zeros(4), np.zeros(4))


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_euler_characteristic_and_components(mask):
    b0, b1 = betti_numbers(mask)
    assert b0 == label(mask, connectivity=2).max()
    assert b0 - b1 == euler_number(mask, connectivity=2)
