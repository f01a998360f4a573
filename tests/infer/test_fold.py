"""What makes the runner fast on the CPU: batch norms folded into the convolutions before them
(which pairs, the folded weights, found on the first pass, folded from the next, undone on
leaving), and batches run in forward passes of a bounded number of pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from microseg.infer.runner import EnsembleRunner, fold_batch_norms, unfold_batch_norms
from microseg.infer.tiling import predict_tiled


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters far from their defaults (mean 0, var 1), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 2 + 0.2)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    return model.eval()


def _bn_count(model: nn.Module) -> int:
    return sum(type(m) is nn.BatchNorm2d for m in model.modules())


class _Block(nn.Module):
    """A residual block as torchvision writes it: conv1/bn1 and conv2/bn2 called in forward."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class _AlsoUsed(nn.Module):
    """The convolution's output goes to the norm and is added back: folding would change it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class _AlsoReturned(_AlsoUsed):
    def forward(self, x):
        y = self.conv(x)
        return [y, self.bn(y)]


class _Shared(nn.Module):
    """One convolution called twice, once before the norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)

    def forward(self, x):
        return self.conv(self.bn(self.conv(x)))


class _NormAct(nn.BatchNorm2d):
    """A norm subclass that does more than normalising (as timm's BatchNormAct2d)."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def test_folded_weights_are_the_norm_applied_to_the_convolution():
    """Against the formula w * g / sqrt(v + eps), (b - m) * g / sqrt(v + eps) + beta, in numpy float64."""
    net = _randomise(nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU()))
    conv, bn = net[0], net[1]
    w, b = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()
    g, beta = bn.weight.detach().double().numpy(), bn.bias.detach().double().numpy()
    m, v = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
    scale = g / np.sqrt(v + bn.eps)
    x = torch.randn(2, 2, 9, 7)
    before = net(x).detach()
    swaps = fold_batch_norms(net, x)
    assert isinstance(net[1], nn.Identity) and net[0] is not conv
    np.testing.assert_allclose(net[0].weight.detach().numpy(), w * scale[:, None, None, None], rtol=1e-6)
    np.testing.assert_allclose(net[0].bias.detach().numpy(), (b - m) * scale + beta, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-6)
    unfold_batch_norms(swaps)
    assert net[0] is conv and net[1] is bn             # the very modules, untouched
    assert torch.equal(net(x), before)


def test_pairs_inside_a_block_written_out_in_forward_are_folded():
    net = _randomise(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), _Block(), _Block()))
    x = torch.randn(1, 1, 16, 16)
    before = net(x).detach()
    swaps = fold_batch_norms(net, x)
    assert len(swaps) == 2 * 5 and _bn_count(net) == 0
    torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)
    unfold_batch_norms(swaps)
    assert _bn_count(net) == 5


@pytest.mark.parametrize("model", [_AlsoUsed, _AlsoReturned, _Shared], ids=["also-used", "also-returned", "shared"])
def test_a_convolution_whose_output_is_used_elsewhere_is_not_folded(model):
    net = _randomise(model())
    x = torch.randn(1, net.conv.in_channels, 8, 8)
    assert fold_batch_norms(net, x) == [] and _bn_count(net) == 1


@pytest.mark.parametrize("norm", [lambda: nn.BatchNorm2d(3, track_running_stats=False), lambda: _NormAct(3),
                                  lambda: nn.BatchNorm2d(3).train()], ids=["batch-stats", "subclass", "training"])
def test_norms_that_are_not_a_fixed_affine_map_are_left_alone(norm):
    net = nn.Sequential(nn.Conv2d(1, 3, 3), norm())
    net[0].eval()
    x = torch.randn(2, 1, 8, 8)
    before = net(x).detach()
    assert fold_batch_norms(net, x) == []
    assert not isinstance(net[1], nn.Identity)
    torch.testing.assert_close(net(x), before)


def test_a_watched_module_is_left_alone():
    net = _randomise(nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3)))
    seen = []
    net[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert fold_batch_norms(net, torch.randn(1, 1, 6, 6)) == []


def _unet(seed: int = 0):
    from microseg import models

    torch.manual_seed(seed)
    return _randomise(models.build("unet_plain", base_channels=4, depth=2), seed)


def test_the_runner_folds_from_the_second_batch_and_puts_everything_back():
    net = _unet().train()
    norms = [m for m in net.modules() if type(m) is nn.BatchNorm2d]
    image = np.random.default_rng(0).random((1, 70, 90), dtype=np.float32)
    with EnsembleRunner([net], device="cpu", fold_norms=False) as plain:
        ref = predict_tiled(plain, image, tile_size=32, overlap=0.25, batch_size=2, align=4)
    runner = EnsembleRunner([net], device="cpu")
    with runner:
        first = runner(image[None, :, :32, :32])       # the pass that finds the pairs: nothing folded yet
        assert _bn_count(net) == len(norms)
        out = predict_tiled(runner, image, tile_size=32, overlap=0.25, batch_size=2, align=4)
        assert _bn_count(net) == 0                     # folded from the second batch on
    np.testing.assert_allclose(out, ref, atol=1e-6)
    with EnsembleRunner([net], device="cpu", fold_norms=False) as plain:
        np.testing.assert_array_equal(first, plain(image[None, :, :32, :32]))
    assert [m for m in net.modules() if type(m) is nn.BatchNorm2d] == norms and net.training
    assert all(p.is_contiguous() for p in net.parameters())


def test_one_module_twice_in_an_ensemble_gives_zero_spread():
    """Both entries see the module folded (or not) in the same batch, so their outputs are identical."""
    net = _unet(1)
    image = np.random.default_rng(1).random((1, 50, 50), dtype=np.float32)
    with EnsembleRunner([net, net], device="cpu") as runner:
        out = predict_tiled(runner, image, tile_size=24, overlap=0.25, batch_size=1, align=4)
    assert out.shape == (2, 50, 50) and np.array_equal(out[0], out[1])


# ------------------------------------------------------------------ forward passes on the CPU
def test_a_batch_is_run_in_passes_of_at_most_pass_pixels():
    seen = []

    def plus_one(t):
        seen.append(t.shape[0])
        return t + 1

    image = np.random.default_rng(2).random((5, 1, 16, 16), dtype=np.float32)
    with EnsembleRunner([plus_one], device="cpu", sigmoid=False, pass_pixels=2 * 16 * 16) as runner:
        out = runner(image)
    assert seen == [2, 2, 1]
    np.testing.assert_array_equal(out, image + 1)
    seen.clear()
    with EnsembleRunner([plus_one], device="cpu", sigmoid=False, pass_pixels=0) as runner:
        runner(image)
    assert seen == [5]                                     # 0: the whole batch at once
    from microseg.infer.runner import CPU_PASS_PIXELS

    assert EnsembleRunner([plus_one], device="cpu").pass_pixels == CPU_PASS_PIXELS == 512 * 512


@pytest.mark.parametrize("bad", [-1, 1.5, True, "all"])
def test_bad_pass_pixels_is_named(bad):
    from microseg._util import InputError

    with pytest.raises(InputError, match="pass_pixels"):
        EnsembleRunner([lambda t: t], device="cpu", pass_pixels=bad)
