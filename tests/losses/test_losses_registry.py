"""Registry, calling convention, invariances and input checks shared by every loss."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from microseg import losses
from microseg._util import InputError

ALL = losses.available()


def _batch(n: int = 3, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A grain-boundary grid target per image (shifted) and noisy logits around it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, 1, size, size)
    for i in range(n):
        for k in range(i % 4, size, 8):
            y[i, 0, k, :] = 1
            y[i, 0, :, k] = 1
    x = torch.where(y > 0, 1.5, -1.5) + torch.randn(y.shape, generator=g)
    return x, y


def test_available_lists_the_contract_names():
    assert ALL == ["bce", "dice", "bce_dice", "topo", "topodice", "bce_topo", "cldice",
                   "skeleton_recall"]


def test_build_returns_named_classes():
    names = {"bce": "WeightedBCELoss", "dice": "DiceLoss", "bce_dice": "BCEDiceLoss",
             "topo": "TopoLoss", "topodice": "TopoDiceLoss", "bce_topo": "BCETopoLoss",
             "cldice": "CLDiceLoss", "skeleton_recall": "SkeletonRecallLoss"}
    for key, cls in names.items():
        loss = losses.build(key)
        assert isinstance(loss, torch.nn.Module)
        assert isinstance(loss, getattr(losses, cls))
    assert isinstance(losses.build("TopoDice"), losses.TopoDiceLoss)  # case-insensitive


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(InputError, match=r"unknown loss 'topodise'.*bce, dice.*did you mean 'topodice'"):
        losses.build("topodise")


def test_unknown_option_suggests_nearest():
    with pytest.raises(InputError, match=r"unknown option of loss 'bce' 'pos_weigth'.*did you mean 'pos_weight'"):
        losses.build("bce", pos_weigth=9.0)
    with pytest.raises(InputError, match="topo_lambda"):
        losses.build("topodice", lambda_=0.04)


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="NoSuchLoss"):
        losses.NoSuchLoss  # noqa: B018


def test_import_does_not_import_torch():
    code = ("import sys, microseg, microseg.losses as L; L.available(); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name", ALL)
def test_backward_gives_finite_gradients(name):
    x, y = _batch()
    x.requires_grad_(True)
    value = losses.build(name)(x, y)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_batch_permutation_invariance(name):
    x, y = _batch(n=4)
    perm = torch.tensor([2, 0, 3, 1])
    loss = losses.build(name)
    assert float(loss(x[perm], y[perm])) == pytest.approx(float(loss(x, y)), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_list_input_is_mean_of_outputs(name):
    x, y = _batch(n=2)
    outputs = [x, 0.5 * x, x + 1.0]
    loss = losses.build(name)
    parts = [float(loss(o, y)) for o in outputs]
    assert float(loss(outputs, y)) == pytest.approx(sum(parts) / 3, rel=1e-5)
    weighted = losses.build(name, side_weights=[1.0, 0.0, 3.0])
    assert float(weighted(outputs, y)) == pytest.approx((parts[0] + 3 * parts[2]) / 4, rel=1e-5)


def test_list_gradients_reach_every_output():
    x, y = _batch(n=2)
    outputs = [x.clone().requires_grad_(True) for _ in range(2)]
    losses.build("bce_dice")(outputs, y).backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outputs)


def test_shape_mismatch_names_both_shapes():
    x, y = _batch(n=2)
    with pytest.raises(InputError, match=r"pred and target .* \(2, 1, 24, 24\) .* \(2, 1, 12, 12\)"):
        losses.build("dice")(x, y[:, :, :12, :12])
    with pytest.raises(InputError, match=r"pred\[1\] and target"):
        losses.build("dice")([x, x[:, :, :12, :12]], y)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        losses.build("dice")(x[0], y[0])


@pytest.mark.parametrize("bad", [2.0, -0.5, float("nan")])
def test_target_outside_unit_interval(bad):
    x, y = _batch(n=1)
    y[0, 0, 0, 0] = bad
    with pytest.raises(InputError, match=r"target values must lie in \[0, 1\]"):
        losses.build("bce")(x, y)


def test_wrong_types_and_side_weights():
    x, y = _batch(n=1)
    with pytest.raises(TypeError, match="pred must be a tensor.*got ndarray"):
        losses.build("bce")(x.numpy(), y)
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        losses.build("bce")(x, y.numpy())
    with pytest.raises(TypeError, match="floating-point"):
        losses.build("bce")(x.long(), y)
    with pytest.raises(TypeError, match="non-empty list"):
        losses.build("bce")([], y)
    with pytest.raises(InputError, match="2 weights but pred holds 3"):
        losses.build("bce", side_weights=[1, 1])([x, x, x], y)
    with pytest.raises(InputError, match="at least one positive"):
        losses.build("bce", side_weights=[0, 0])


@pytest.mark.parametrize("name", ALL)
def test_multichannel_is_mean_over_channels_of_single_channel_losses(name):
    x, y = _batch(n=2)
    x2 = torch.cat([x, -x], 1)
    y2 = torch.cat([y, 1 - y], 1)
    loss = losses.build(name)
    both = float(loss(x2, y2))
    parts = (float(loss(x2[:, :1], y2[:, :1])) + float(loss(x2[:, 1:], y2[:, 1:]))) / 2
    assert both == pytest.approx(parts, rel=1e-5)


def test_registry_records_and_capability_filter():
    assert losses.available(family="pixel") == ["bce", "dice", "bce_dice"]
    assert losses.available(family="topology") == ["topo", "topodice", "bce_topo"]
    assert losses.available(family="skeleton") == ["cldice", "skeleton_recall"]
    record = losses.LOSSES.describe("BCE_Topo")
    assert record["name"] == "bce_topo" and record["capabilities"] == {"family": "topology"}
    assert record["options"]["topo_lambda"] == 0.04 and record["options"]["pos_weight"] == 1.0
    assert record["description"] == "weighted BCE + λ·Topo (001, λ = 0.04)"
    classes = {type(losses.build(n)).__name__: n for n in ALL}
    assert losses.LOSSES.exports() == classes and set(classes) <= set(losses.__all__)
    with pytest.raises(InputError, match="unknown capability of loss 'familly'"):
        losses.available(familly="pixel")
