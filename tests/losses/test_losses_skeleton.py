"""clDice and Skeleton Recall on thin structures with and without gaps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.morphology import skeletonize

from microseg import losses
from microseg.losses.skeleton import soft_skeleton, tubed_skeleton


def lines(size: int = 24) -> torch.Tensor:
    """Two 3-pixel-wide crossing boundaries."""
    y = torch.zeros(1, 1, size, size)
    y[0, 0, 10:13, :] = 1
    y[0, 0, :, 5:8] = 1
    return y


def confident(y: torch.Tensor) -> torch.Tensor:
    return torch.where(y > 0, 30.0, -30.0)


def with_gap(y: torch.Tensor) -> torch.Tensor:
    x = confident(y)
    x[0, 0, 10:13, 15:18] = -30.0  # cut the horizontal boundary
    return x


def test_soft_skeleton_of_a_binary_bar_is_its_centre_line():
    bar = torch.zeros(1, 1, 9, 15)
    bar[0, 0, 3:6, 2:13] = 1
    skel = soft_skeleton(bar)[0, 0]
    assert skel[4, 3:12].eq(1).all()
    assert skel[3].eq(0).all() and skel[5].eq(0).all()
    assert float(skel.max()) <= 1.0


def test_cldice_zero_for_perfect_and_larger_with_gap():
    y = lines()
    pure = losses.build("cldice", alpha=1.0)
    assert float(pure(confident(y), y)) == pytest.approx(0.0, abs=1e-6)
    # the gap cuts 3 of the ~47 skeleton pixels: T_sens ~ 44/47, T_prec = 1
    assert 0.02 < float(pure(with_gap(y), y)) < 0.06


def test_cldice_alpha_mixes_dice():
    y = lines()
    x = with_gap(y)
    dice = float(losses.build("dice")(x, y))
    cl = float(losses.build("cldice", alpha=1.0)(x, y))
    mix = float(losses.build("cldice", alpha=0.3)(x, y))
    assert mix == pytest.approx(0.7 * dice + 0.3 * cl, rel=1e-5)
    assert float(losses.build("cldice", alpha=0.0)(x, y)) == pytest.approx(dice, rel=1e-6)


def test_tubed_skeleton_is_skimage_skeleton_dilated():
    y = lines()[0, 0].numpy() > 0
    np.testing.assert_array_equal(tubed_skeleton(y, tube_radius=0), skeletonize(y))
    tube = tubed_skeleton(y, tube_radius=2)
    assert tube[skeletonize(y)].all() and tube.sum() > skeletonize(y).sum()
    assert not tube[~y].any()  # the tube stays inside the target
    assert tube.sum() >= 0.95 * y.sum()  # a 3-pixel-wide line is (nearly) covered


def test_skeleton_recall_by_hand():
    y = lines()
    tube = torch.from_numpy(tubed_skeleton(y[0, 0].numpy() > 0, tube_radius=1).astype(np.float32))
    x = torch.zeros_like(y)  # p = 0.5 everywhere
    expected = 1 - (0.5 * float(tube.sum()) + 1.0) / (float(tube.sum()) + 1.0)
    got = float(losses.build("skeleton_recall", tube_radius=1)(x, y))
    assert got == pytest.approx(expected, rel=1e-6)


def test_skeleton_recall_zero_for_perfect_positive_with_gap():
    y = lines()
    loss = losses.build("skeleton_recall")
    assert float(loss(confident(y), y)) == pytest.approx(0.0, abs=1e-6)
    x = with_gap(y).requires_grad_(True)
    value = loss(x, y)
    value.backward()
    assert float(value.detach()) > 0.05
    assert float(x.grad[0, 0, 11, 16]) <= 0  # descent raises the gap (zero once saturated)
    soft = with_gap(y) * 0 + torch.where(y > 0, 0.0, -3.0)
    soft.requires_grad_(True)
    loss(soft, y).backward()
    assert float(soft.grad[0, 0, 11, 16]) < 0


def test_skeleton_recall_empty_target_is_zero():
    y = torch.zeros(2, 1, 8, 8)
    assert float(losses.build("skeleton_recall")(torch.randn(2, 1, 8, 8), y)) == pytest.approx(0.0)


def test_bad_skeleton_options():
    from microseg._util import InputError

    with pytest.raises(InputError, match="tube_radius"):
        losses.build("skeleton_recall", tube_radius=-1)
    with pytest.raises(InputError, match="iterations"):
        losses.build("cldice", iterations=1.5)
