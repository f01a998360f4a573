"""Pixels with an unknown label (IGNORE_LABEL) add nothing to any loss and get no gradient."""
from __future__ import annotations

import pytest
import torch

from microseg import losses
from microseg._util import IGNORE_LABEL, InputError

NAMES = [n for n in losses.available()]


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, 32, 32, generator=g)
    target = (torch.rand(2, 1, 32, 32, generator=g) > 0.8).float()
    return logits, target


@pytest.mark.parametrize("name", NAMES)
def test_ignored_pixels_do_not_change_the_loss(name):
    loss = losses.build(name)
    logits, target = _batch()
    t = target.clone()
    t[:, :, :, 16:] = IGNORE_LABEL
    a = loss(logits, t)
    # whatever the network says where the label is unknown, the loss is the same
    other = logits.clone()
    other[:, :, :, 16:] = torch.randn(2, 1, 32, 16) * 5
    b = loss(other, t)
    assert torch.isfinite(a)
    assert float(a) == pytest.approx(float(b), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["bce", "dice", "bce_dice"])
def test_ignored_pixels_get_no_gradient(name):
    loss = losses.build(name)
    logits, target = _batch(1)
    target[:, :, :8] = IGNORE_LABEL
    logits.requires_grad_(True)
    loss(logits, target).backward()
    assert float(logits.grad[:, :, :8].abs().max()) == 0.0
    assert float(logits.grad[:, :, 8:].abs().max()) > 0.0


def test_ignore_changes_the_loss_against_treating_unknown_as_background():
    loss = losses.build("bce")
    logits, target = _batch(2)
    logits[:, :, :, 16:] = 4.0            # the network sees boundaries where no EBSD data is
    t_ignore, t_zero = target.clone(), target.clone()
    t_ignore[:, :, :, 16:] = IGNORE_LABEL
    t_zero[:, :, :, 16:] = 0.0
    assert float(loss(logits, t_ignore)) < 0.5 * float(loss(logits, t_zero))


def test_other_out_of_range_targets_are_refused():
    loss = losses.build("bce")
    logits, target = _batch()
    target[0, 0, 0, 0] = 2.0
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        loss(logits, target)
