"""TopoLoss (Hu et al. 2019) on hand-built boundary maps with known topology."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg import losses
from microseg.losses.topo import persistence_pairs, target_betti, topo_loss

CONFIDENT = 20.0


def ring(size: int = 15) -> torch.Tensor:
    y = torch.zeros(1, 1, size, size)
    y[0, 0, 2:-2, 2:-2] = 1
    y[0, 0, 3:-3, 3:-3] = 0
    return y


def grid(size: int = 31, step: int = 10) -> torch.Tensor:
    """Grain-boundary grid: 1-pixel lines every ``step`` pixels, 3 × 3 enclosed grains."""
    y = torch.zeros(1, 1, size, size)
    y[0, 0, ::step, :] = 1
    y[0, 0, :, ::step] = 1
    return y


def confident(y: torch.Tensor) -> torch.Tensor:
    return torch.where(y > 0, CONFIDENT, -CONFIDENT)


@pytest.mark.parametrize("target", [ring(), grid()], ids=["ring", "grid"])
def test_zero_when_topology_matches(target):
    assert target_betti(target[0, 0].numpy()) in [(1, 1), (1, 9)]
    assert float(losses.build("topo")(confident(target), target)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("a", [1.0, 3.0])
def test_soft_copy_by_hand(a):
    """Logits ±a on a ring: f = e on the ring, 1 - e elsewhere, e = sigmoid(-a).

    dim 0: one essential dot (e, 1) -> e^2; dim 1: the hole (e, 1 - e) -> e^2 + e^2.
    """
    y = ring()
    e = float(torch.sigmoid(torch.tensor(-a)))
    value = float(losses.build("topo")(torch.where(y > 0, a, -a), y))
    assert value == pytest.approx(3 * e**2, rel=1e-5)


@pytest.mark.parametrize("target,gap", [(ring(), (2, 7)), (grid(), (10, 5))], ids=["ring", "grid"])
def test_gap_in_a_boundary_costs_and_gradient_closes_it(target, gap):
    closed = confident(target)
    opened = closed.clone()
    opened[(0, 0) + gap] = -1.0  # p = 0.27: two grains merge / the hole is lost above 0.27
    opened.requires_grad_(True)
    loss = losses.build("topo")
    value = loss(opened, target)
    value.backward()
    value = float(value.detach())
    assert value > float(loss(closed, target)) + 0.1
    p = torch.sigmoid(torch.tensor(-1.0))
    assert value == pytest.approx(float((1 - p) ** 2), rel=1e-5)  # b = 1 - p_gap, d = 1
    assert opened.grad[(0, 0) + gap] < 0  # gradient descent raises the logit in the gap
    assert int((opened.grad != 0).sum()) == 1  # gradient reaches the critical pixel only


def test_spurious_component_is_pushed_to_the_diagonal():
    y = ring()
    x = confident(y)
    x[0, 0, 7, 7] = 0.0  # a blob (p = 0.5) inside the grain: extra component in dim 0
    x.requires_grad_(True)
    value = losses.build("topo")(x, y)
    value.backward()
    value = float(value.detach())
    # dim 0: the blob is a dot (0.5, 1), unmatched -> (d - b)^2 / 2; the ring's component
    # and hole stay at the perfect point.
    assert value == pytest.approx(0.5 * 0.5**2, rel=1e-5)
    assert x.grad[0, 0, 7, 7] > 0  # descent lowers the blob's probability


def test_dims_option_restricts_the_loss():
    y = grid()
    x = confident(y)
    x[0, 0, 10, 5] = -1.0
    assert float(losses.build("topo", dims=[0])(x, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.build("topo", dims=[1])(x, y)) > 0.1


def test_patches_sum_per_patch_losses():
    y = grid(size=40, step=10)
    x = confident(y) + torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    whole = topo_loss(x, y, patch=20)
    parts = sum(float(topo_loss(x[..., r:r + 20, c:c + 20], y[..., r:r + 20, c:c + 20]))
                for r in (0, 20) for c in (0, 20))
    assert float(whole) == pytest.approx(parts, rel=1e-5)


def test_empty_target_pushes_everything_to_the_diagonal():
    y = torch.zeros(1, 1, 8, 8)
    x = torch.full_like(y, -CONFIDENT)
    x[0, 0, 3, 3] = 0.0  # one spurious dot at p = 0.5 (birth 0.5, essential death 1)
    assert float(losses.build("topo")(x, y)) == pytest.approx(0.5 * 0.5**2, rel=1e-5)
    assert float(losses.build("topo")(torch.full_like(y, -CONFIDENT), y)) == pytest.approx(0, abs=1e-6)


def test_target_betti_matches_cripser_diagram_of_the_target():
    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = rng.random((12, 14)) < 0.45
        ph = persistence_pairs(np.where(mask, 0.0, 1.0))
        alive = (ph[:, 1] < 0.5) & (ph[:, 2] > 0.5)
        expected = (int(np.sum(alive & (ph[:, 0] == 0))), int(np.sum(alive & (ph[:, 0] == 1))))
        assert target_betti(mask.astype(float)) == expected


def test_persistence_pairs_locate_critical_pixels():
    rng = np.random.default_rng(0)
    f = rng.random((20, 20))
    ph = persistence_pairs(f)
    rows, cols = ph[:, 3].astype(int), ph[:, 4].astype(int)
    np.testing.assert_array_equal(f[rows, cols], ph[:, 1])
    finite = np.isfinite(ph[:, 2])
    np.testing.assert_array_equal(f[ph[finite, 6].astype(int), ph[finite, 7].astype(int)], ph[finite, 2])
    assert np.sum(~finite) == 1  # one essential component


def test_diagonal_touching_pixels_are_one_component():
    """Foreground is 8-connected: a diagonal staircase boundary closes a grain."""
    y = torch.zeros(1, 1, 9, 9)
    for k in range(1, 8):
        y[0, 0, k, 8 - k] = 1  # anti-diagonal
        y[0, 0, k, 7] = y[0, 0, 7, k] = 1
    assert target_betti(y[0, 0].numpy()) == (1, 1)
    assert float(losses.build("topo")(confident(y), y)) == pytest.approx(0.0, abs=1e-6)


def test_combinations_are_weighted_sums():
    y = grid()
    x = confident(y) * 0.1 + torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    topo = float(losses.build("topo")(x, y))
    dice = float(losses.build("dice")(x, y))
    bce = float(losses.build("bce", pos_weight=9.0)(x, y))
    assert float(losses.build("topodice")(x, y)) == pytest.approx(dice + 0.04 * topo, rel=1e-5)
    assert float(losses.build("topodice", topo_lambda=0.5)(x, y)) == pytest.approx(dice + 0.5 * topo, rel=1e-5)
    assert float(losses.build("bce_topo", pos_weight=9.0)(x, y)) == pytest.approx(bce + 0.04 * topo, rel=1e-5)
    assert float(losses.build("topodice", topo_lambda=0.0)(x, y)) == pytest.approx(dice, rel=1e-6)


def test_bad_topo_options():
    from microseg._util import InputError

    with pytest.raises(InputError, match="dims"):
        losses.build("topo", dims=[2])
    with pytest.raises(InputError, match="patch"):
        losses.build("topo", patch=1)
    with pytest.raises(InputError, match="topo_lambda"):
        losses.build("bce_topo", topo_lambda=-0.1)
