"""Pixel losses against hand computations and torch's reference implementation."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from microseg import losses
from microseg._util import InputError

X = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
Y = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_bce_pos_weight_matches_torch_and_formula():
    w = 9.0
    got = float(losses.build("bce", pos_weight=w)(X, Y))
    ref = float(F.binary_cross_entropy_with_logits(X, Y, pos_weight=torch.tensor(w)))
    manual = -(
        w * math.log(_sig(2.0)) + math.log(1 - _sig(-1.0))
        + w * math.log(_sig(0.5)) + math.log(1 - _sig(-3.0))
    ) / 4
    assert got == pytest.approx(ref, rel=1e-6)
    assert got == pytest.approx(manual, rel=1e-6)


def test_bce_default_is_plain_bce():
    assert float(losses.build("bce")(X, Y)) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(X, Y)), rel=1e-6)


def test_bce_per_channel_pos_weight():
    x = torch.cat([X, X], 1)
    y = torch.cat([Y, Y], 1)
    got = float(losses.WeightedBCELoss(pos_weight=[1.0, 9.0])(x, y))
    one = float(losses.WeightedBCELoss(pos_weight=1.0)(X, Y))
    nine = float(losses.WeightedBCELoss(pos_weight=9.0)(X, Y))
    assert got == pytest.approx((one + nine) / 2, rel=1e-6)
    with pytest.raises(InputError, match="3 values but pred has 2 channels"):
        losses.WeightedBCELoss(pos_weight=[1.0, 2.0, 3.0])(x, y)


def test_dice_by_hand():
    # probabilities 0.8, 0.3, 0.6, 0.1 against target 1, 0, 1, 0
    p = torch.tensor([[[[0.8, 0.3], [0.6, 0.1]]]])
    logits = torch.log(p / (1 - p))
    inter, total = 0.8 + 0.6, (0.8 + 0.3 + 0.6 + 0.1) + 2.0
    for smooth in (0.0, 1.0):
        expected = 1 - (2 * inter + smooth) / (total + smooth)
        got = float(losses.build("dice", smooth=smooth)(logits, Y))
        assert got == pytest.approx(expected, rel=1e-5)


def test_dice_per_image_differs_from_batch_dice():
    y = torch.stack([Y[0], torch.zeros_like(Y[0])])
    x = torch.stack([X[0], X[0]])
    batch = float(losses.DiceLoss()(x, y))
    per_image = float(losses.DiceLoss(per_image=True)(x, y))
    first, second = (float(losses.DiceLoss()(x[i:i + 1], y[i:i + 1])) for i in range(2))
    assert per_image == pytest.approx((first + second) / 2, rel=1e-6)
    assert batch != pytest.approx(per_image)


def test_bce_dice_is_the_weighted_sum_of_parts():
    bce = float(losses.build("bce", pos_weight=3.0)(X, Y))
    dice = float(losses.build("dice", smooth=0.5)(X, Y))
    both = losses.build("bce_dice", pos_weight=3.0, smooth=0.5, bce_weight=0.7, dice_weight=2.0)
    assert float(both(X, Y)) == pytest.approx(0.7 * bce + 2.0 * dice, rel=1e-6)
    assert float(losses.build("bce_dice", pos_weight=3.0, smooth=0.5)(X, Y)) == pytest.approx(
        bce + dice, rel=1e-6)


@pytest.mark.parametrize("name", ["dice", "bce_dice", "cldice"])
def test_perfect_prediction_has_zero_overlap_loss(name):
    y = torch.zeros(2, 1, 16, 16)
    y[:, :, 4:12, 4:12] = 1
    y[:, :, 6:10, 6:10] = 0
    logits = torch.where(y > 0, 40.0, -40.0)
    value = float(losses.build(name, **({"bce_weight": 0.0} if name == "bce_dice" else {}))(logits, y))
    assert value == pytest.approx(0.0, abs=1e-6)


def test_empty_target_predicted_empty_has_zero_dice():
    y = torch.zeros(1, 1, 8, 8)
    assert float(losses.DiceLoss()(torch.full_like(y, -40.0), y)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name,options", [
    ("bce", {"pos_weight": 9.0}), ("dice", {}), ("bce_dice", {"pos_weight": 2.0}),
])
def test_gradcheck_double_precision(name, options):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(2, 1, 5, 5, dtype=torch.float64) > 0.5).to(torch.float64)
    loss = losses.build(name, **options)
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (x,), eps=1e-6, atol=1e-6)


def test_bad_options_are_rejected():
    with pytest.raises(InputError, match="pos_weight must be > 0"):
        losses.build("bce", pos_weight=-1.0)
    with pytest.raises(InputError, match="smooth"):
        losses.build("dice", smooth=float("nan"))
    with pytest.raises(InputError, match="alpha must lie in"):
        losses.build("cldice", alpha=1.5)
