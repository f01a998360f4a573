"""Tiled prediction of learned models: identity through tiling + TTA, agreement with the whole
image, ensembles in one pass, TTA on an equivariant model, pre-processing per tile, bad input."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from microseg._util import InputError
from microseg.infer import EnsembleRunner, predict_ensemble, predict_image, predict_probs, with_tta
from microseg.infer.tiling import predict_tiled, tile_starts

PER_IMAGE = {"normalize": {"mode": "per_image"}, "median": 0}


def _tiny(seed: int = 0, **options):
    from microseg import models

    torch.manual_seed(seed)
    return models.build("unet_plain", **{"base_channels": 2, "depth": 2, **options})


def test_importing_tiling_and_config_does_not_import_torch():
    code = ("import sys, microseg.infer.tiling, microseg.infer.config\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "import microseg.infer as infer\n"
            "for name in infer.__all__: getattr(infer, name)\n"
            "assert 'torch' in sys.modules\n")
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


# ----------------------------------------------------------------------------- (a) identity
@pytest.mark.parametrize("shape", [(1, 70, 45), (2, 97, 131), (1, 20, 17), (1, 1, 300), (3, 33, 64)])
@pytest.mark.parametrize("tta", ["none", "flip", "dihedral"])
@pytest.mark.parametrize("align", [1, 4])
def test_x_plus_one_comes_back_exactly_through_tiling_blending_and_tta(shape, tta, align):
    """The runner that predict_probs uses, with an x + 1 'model': tiles (odd sizes, smaller than
    a tile, aligned and padded past the end), Gaussian blending, every TTA transform undone."""
    image = np.random.default_rng(1).random(shape, dtype=np.float32) * 100
    runner = EnsembleRunner([lambda t: t + 1], sigmoid=False, tta=tta)
    with runner:
        out = predict_tiled(runner, image, tile_size=32, overlap=0.25, batch_size=3, align=align)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, image + 1)


def test_tta_undoes_each_transform_before_averaging():
    """Against an independent numpy computation, with a function that is not equivariant."""
    weights = torch.arange(1.0, 6.0)

    def f(t):   # position-dependent: a cumulative sum along rows, scaled per column
        return torch.cumsum(t, dim=-2) * weights[: t.shape[-1]] if t.shape[-1] <= 5 else torch.cumsum(t, dim=-2)

    x = np.random.default_rng(0).random((2, 1, 5, 5)).astype(np.float32)
    expected = []
    for flip in (False, True):
        for k in range(4):
            t = np.rot90(x[..., ::-1] if flip else x, k, axes=(-2, -1))
            y = np.rot90(f(torch.from_numpy(t.copy())).numpy(), -k, axes=(-2, -1))
            expected.append(y[..., ::-1] if flip else y)
    got = with_tta(f, "dihedral")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, np.mean(expected, axis=0), rtol=1e-6)
    assert not np.allclose(got, f(torch.from_numpy(x)).numpy(), rtol=1e-3)   # TTA did change it


# ------------------------------------------------------------------- (b) a trained model
@pytest.fixture(scope="module")
def trained():
    """A tiny plain U-Net trained for 30 steps on synthetic SE boundaries, and a 300 × 257 test image."""
    from microseg.data import apply_preprocessing
    from microseg.train.pretrain import synthetic_samples

    samples = synthetic_samples("se", n_images=2, size=128, seed=3, mean_diameter_px=14)
    test = synthetic_samples("se", n_images=1, size=(300, 257), seed=9, mean_diameter_px=14)[0]
    net = _tiny(0, base_channels=8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    xs = [apply_preprocessing(s.image, PER_IMAGE) for s in samples]
    for _ in range(30):
        picks = [(rng.integers(2), *rng.integers(0, 64, 2)) for _ in range(4)]
        x = torch.from_numpy(np.stack([xs[k][:, r:r + 64, c:c + 64] for k, r, c in picks]))
        y = torch.from_numpy(np.stack([samples[k].mask[None, r:r + 64, c:c + 64] for k, r, c in picks])
                             .astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y, pos_weight=torch.tensor(5.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (net, {"preprocessing": PER_IMAGE}), test.image


def test_a_trained_models_tiled_output_agrees_with_its_whole_image_output(trained):
    model, image = trained
    whole = predict_image(model, image, device="cpu")
    tiled = predict_image(model, image, device="cpu", tile_size=128, overlap=0.25)
    a, b = whole >= 0.5, tiled >= 0.5
    assert 0.05 < a.mean() < 0.6                          # the model draws something
    inner = (slice(16, -16), slice(16, -16))
    assert (a != b)[inner].mean() < 1e-3
    assert np.abs(whole - tiled).mean() < 1e-3
    # one tile as large as the image is the whole-image pass
    np.testing.assert_allclose(predict_image(model, image, device="cpu", tile_size=512), whole, atol=1e-6)


def test_tiles_are_preprocessed_with_the_whole_images_statistics(trained):
    """A per-image normalisation per tile would shift a dark tile's values; here tiles of an image
    with a bright half agree with the whole image as closely as tiles of a plain image do."""
    model, image = trained
    lopsided = image.copy()
    lopsided[:, :, 150:] = lopsided[:, :, 150:] * 0.3 + 0.7
    whole = predict_image(model, lopsided, device="cpu")
    tiled = predict_image(model, lopsided, device="cpu", tile_size=128)
    assert np.abs(whole - tiled)[16:-16, 16:-16].mean() < 2e-3


@pytest.mark.parametrize("spec", [
    {"normalize": {"mode": "per_image"}, "median": 5},
    {"normalize": {"mode": "minmax"}, "median": 3},
    {"normalize": {"mode": "per_image"}, "median": 0},
    {"normalize": {"mode": "none"}, "median": 4},
    None])
@pytest.mark.parametrize("channels", [(1, 1), (3, 1), (1, 3)])
def test_a_prepared_tile_is_the_window_of_the_whole_preprocessed_image(spec, channels, monkeypatch):
    from microseg.data import apply_preprocessing
    from microseg.infer import prepare
    from microseg.infer.prepare import match_channels

    monkeypatch.setattr(prepare, "BAND_ROWS", 16)          # statistics streamed over several bands
    c_in, c_model = channels
    image = np.random.default_rng(2).random((c_in, 61, 47), dtype=np.float32)
    view = prepare.PreparedImage(image, in_channels=c_model, spec=spec)
    whole = match_channels(image, c_model)
    whole = apply_preprocessing(whole, spec) if spec else whole
    assert view.shape == whole.shape
    for rows, cols in [(slice(0, 20), slice(0, 16)), (slice(17, 45), slice(30, 47)), (slice(50, 61), slice(3, 9))]:
        np.testing.assert_allclose(view[:, rows, cols], whole[:, rows, cols], rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------- (c) ensembles
class _Recorder(torch.nn.Module):
    """Wraps a model and keeps every batch it was given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.in_channels, self.pad_multiple = model, model.in_channels, model.pad_multiple
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.model(x)


def test_an_ensemble_in_one_pass_is_the_mean_and_spread_of_its_models():
    image = np.random.default_rng(4).random((90, 75)).astype(np.float32)
    options = dict(device="cpu", tile_size=32, overlap=0.25, batch_size=5)
    models = [(_Recorder(_tiny(k)), {"preprocessing": PER_IMAGE}) for k in range(3)]
    mean, spread = predict_ensemble(models, image, **options)
    separate = np.stack([predict_probs((_tiny(k), {"preprocessing": PER_IMAGE}), image, **options)[0]
                         for k in range(3)])
    np.testing.assert_allclose(mean, separate.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(spread, separate.std(axis=0), atol=1e-6)
    first = models[0][0].seen
    n_tiles = len(tile_starts(90, 32, 8, align=4)) * len(tile_starts(75, 32, 8, align=4))
    assert n_tiles == 12 and len(first) == 3 and all(len(b) <= 5 for b in first)   # 5 tiles per batch
    for m, _ in models[1:]:                                # every model saw the very same batches
        assert len(m.seen) == len(first) and all(torch.equal(a, b) for a, b in zip(m.seen, first))


def test_models_with_other_preprocessing_get_their_own_pass():
    image = np.random.default_rng(5).random((40, 50)).astype(np.float32)
    a = (_tiny(1), {"preprocessing": PER_IMAGE})
    b = (_tiny(2), {"preprocessing": {"normalize": {"mode": "minmax"}, "median": 3}})
    both = predict_probs([a, b], image, device="cpu", tile_size=24)
    np.testing.assert_allclose(both[0], predict_probs(a, image, device="cpu", tile_size=24)[0], atol=1e-6)
    np.testing.assert_allclose(both[1], predict_probs(b, image, device="cpu", tile_size=24)[0], atol=1e-6)


def test_models_come_back_as_they_were():
    net = _tiny(3).train()
    predict_image(net, np.zeros((20, 20), np.float32), device="cpu", tile_size=16)
    assert net.training
    assert all(p.is_contiguous() for p in net.parameters())


def test_a_plain_callable_is_a_model():
    """A non-torch backend (onnxruntime) is a callable on tensors: no .eval(), .parameters()."""
    def half(x):
        return torch.zeros(x.shape[0], 1, *x.shape[-2:])

    prob = predict_image(half, np.random.rand(50, 33), device="cpu", tile_size=16, tta=True)
    assert prob.shape == (50, 33) and np.all(prob == 0.5)


# -------------------------------------------------------------------------- (d) TTA
class _Symmetric(torch.nn.Module):
    """Equivariant to flips and quarter turns by construction: symmetric 3 × 3 kernels, zero padding."""

    in_channels = 1

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = (torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(2))
        with torch.no_grad():
            for conv in (self.a, self.b):
                w = conv.weight[0, 0]
                conv.weight[0, 0] = (w + w.T + w.flip(0) + w.flip(1) + w.T.flip(0) + w.T.flip(1)
                                     + w.flip(0).flip(1) + w.T.flip(0).flip(1)) / 8

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


@pytest.mark.parametrize("tile_size", [None, 24])
def test_tta_on_an_equivariant_model_changes_nothing(tile_size):
    image = np.random.default_rng(6).random((53, 40)).astype(np.float32)
    plain = predict_image(_Symmetric(), image, device="cpu", tile_size=tile_size)
    for tta in ("flip", "dihedral"):
        np.testing.assert_allclose(predict_image(_Symmetric(), image, device="cpu", tile_size=tile_size, tta=tta),
                                   plain, atol=1e-6)
    # a model that is not equivariant: TTA changes its prediction
    asym = _tiny(7)
    assert not np.allclose(predict_image(asym, image, device="cpu", tta=True), predict_image(asym, image,
                                                                                            device="cpu"),
                           atol=1e-4)


# ------------------------------------------------------------------ precision, options
def test_bf16_on_the_cpu_only_when_asked_and_close_to_fp32():
    image = np.random.default_rng(7).random((48, 48)).astype(np.float32)
    net = (_tiny(8), {"preprocessing": PER_IMAGE})
    fp32 = predict_image(net, image, device="cpu", tile_size=32)
    auto = predict_image(net, image, device="cpu", tile_size=32, precision="auto")
    np.testing.assert_array_equal(auto, fp32)             # auto on the CPU is fp32
    bf16 = predict_image(net, image, device="cpu", tile_size=32, precision="bf16")
    assert np.abs(bf16 - fp32).max() < 0.05 and not np.array_equal(bf16, fp32)
    with pytest.raises(InputError, match="fp16.*CUDA"):
        predict_image(net, image, device="cpu", precision="fp16")
    with pytest.raises(InputError, match="did you mean 'bf16'"):
        predict_image(net, image, device="cpu", precision="bf61")


@pytest.mark.parametrize("options,match", [
    (dict(tile_size=-4), "tile_size"), (dict(tile_size="big"), "tile_size"), (dict(overlap=-0.5), "overlap"),
    (dict(tile_size=32, overlap=40), "overlap"), (dict(batch_size=0), "batch_size"), (dict(tta="rot"), "tta"),
    (dict(window="hann"), "blend window")])
def test_bad_options_are_named(options, match):
    with pytest.raises(InputError, match=match):
        predict_image(_tiny(), np.zeros((20, 20), np.float32), device="cpu", **options)


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", ["all", "one"])
def test_nan_images_are_refused(bad):
    image = np.full((30, 30), np.nan, np.float32) if bad == "all" else np.zeros((30, 30), np.float32)
    if bad == "one":
        image[3, 4] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        predict_image(_tiny(), image, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(InputError, match=r"no CUDA GPU.*'auto' or 'cpu'"):
        predict_image(_tiny(), np.zeros((8, 8), np.float32), device="cuda")
    with pytest.raises(InputError, match="device must be"):
        predict_image(_tiny(), np.zeros((8, 8), np.float32), device="gpu")


def test_a_whole_image_too_large_for_memory_is_refused_with_what_to_do(monkeypatch):
    from microseg.infer import prepare

    monkeypatch.setattr(prepare, "CHECK_ABOVE_PX", 0)
    monkeypatch.setattr(prepare, "available_memory", lambda device="cpu": 10_000)
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(InputError, match=r"64 x 64 image at once needs about .* GiB.*--tile 512"):
        predict_image(_tiny(), image, device="cpu")
    assert predict_image(_tiny(), image, device="cpu", tile_size=32).shape == (64, 64)   # tiles: no check


def test_the_memory_estimate_scales_with_the_pixels_and_is_sane():
    from microseg.infer.prepare import available_memory, estimate_whole_image_bytes

    net = _tiny(0, base_channels=32, depth=4).eval()
    small = estimate_whole_image_bytes([net], (1000, 1000), in_channels=1)
    large = estimate_whole_image_bytes([net], (2000, 2000), in_channels=1)
    assert large == pytest.approx(4 * small, rel=1e-6)
    assert 300 < small / 1e6 < 3000       # measured peak ~940 MB for 1000² ... 2048² (0.94 kB/px)
    assert estimate_whole_image_bytes([lambda x: x], (10, 10), in_channels=1) is None
    assert available_memory() > 0


def test_running_out_of_memory_says_to_use_tiles():
    class Greedy(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    with pytest.raises(InputError, match="out of memory.*--tile"):
        predict_image(Greedy(), np.zeros((16, 16), np.float32), device="cpu")


@pytest.mark.parametrize("tile_size", [None, 32])
def test_rgb_images_have_three_channels_not_their_width(tile_size):
    """Issue 10: an RGB image reported as having '64 channels'."""
    from microseg.infer.predict import as_image_array

    rng = np.random.default_rng(8)
    colour = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    assert as_image_array(colour).shape == (3, 64, 64)
    grey_model, rgb_model = _tiny(0), _tiny(0, in_channels=3)
    for model in (grey_model, rgb_model):
        assert predict_image(model, colour, device="cpu", tile_size=tile_size).shape == (64, 64)
    with pytest.raises(InputError, match=r"takes 2 channel\(s\); the image has 3 "):
        predict_image(_tiny(0, in_channels=2), colour, device="cpu", tile_size=tile_size)
