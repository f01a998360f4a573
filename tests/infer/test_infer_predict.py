"""Whole-image prediction, ensembles and their spread, and the predict/train/models CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg._util import InputError
from microseg.cli import main
from microseg.infer import LoadedModel, predict_ensemble, predict_image


class _Echo(torch.nn.Module):
    """Logits = the (pre-processed) input: shows what the model saw."""

    def forward(self, x):
        return x[:, :1]


def _tiny(seed: int = 0):
    from microseg import models

    torch.manual_seed(seed)
    return models.build("unet_plain", base_channels=2, depth=2)


@pytest.mark.parametrize("shape", [(17, 23), (1, 32, 40), (3, 9, 64)])
def test_predict_image_shapes(shape):
    prob = predict_image(_tiny(), np.random.default_rng(0).random(shape[-2:]).astype(np.float32),
                         device="cpu")
    assert prob.shape == shape[-2:] and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0


def test_preprocessing_from_metadata_is_applied():
    image = np.linspace(0.2, 0.4, 64, dtype=np.float32).reshape(8, 8)
    meta = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}
    logits = np.log(predict_image((_Echo(), meta), image) / (1 - predict_image((_Echo(), meta), image)))
    assert abs(logits.mean()) < 1e-4 and logits.std() == pytest.approx(1.0, rel=1e-3)
    raw = predict_image(_Echo(), image)           # no metadata: the image as it is
    assert raw == pytest.approx(1 / (1 + np.exp(-image)), rel=1e-5)


def test_ensemble_spread():
    image = np.random.default_rng(1).random((24, 24)).astype(np.float32)
    mean, spread = predict_ensemble([_tiny(0), _tiny(0), _tiny(0)], image)
    assert np.array_equal(spread, np.zeros_like(spread))
    assert mean == pytest.approx(predict_image(_tiny(0), image), abs=1e-6)
    mean2, spread2 = predict_ensemble([LoadedModel(_tiny(0)), LoadedModel(_tiny(1))], image)
    a, b = predict_image(_tiny(0), image), predict_image(_tiny(1), image)
    assert spread2 == pytest.approx(np.abs(a - b) / 2, abs=1e-6)
    assert mean2 == pytest.approx((a + b) / 2, abs=1e-6)
    with pytest.raises(InputError, match="models"):
        predict_image([], image)


def test_predict_cli_round_trip(tmp_path, capsys):
    from microseg import io
    from microseg.models import save_model

    meta = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}
    for k in (1, 2):
        save_model(_tiny(k), tmp_path / f"m{k}", metadata=meta)
    image = (np.random.default_rng(2).random((40, 56)) * 255).astype(np.uint8)
    io.write_image(tmp_path / "img.tif", image, pixel_size=0.05)
    out = tmp_path / "pred"
    argv = ["predict", str(tmp_path / "m1"), str(tmp_path / "m2"), "--image", str(tmp_path / "img.tif"),
            "-o", str(out)]
    assert main(argv) == 0
    prob = io.read_prob_image(out / "img_prob.tif")
    assert prob.data.shape == (40, 56) and prob.pixel_size == pytest.approx(0.05)
    assert (out / "img_mask.tif").is_file() and (out / "img_spread.tif").is_file()
    assert main(argv) == 2                              # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0
    assert main(["predict", str(tmp_path / "m1"), "--image", str(tmp_path / "img.tif"), "-o",
                 str(tmp_path / "one")]) == 0
    assert not (tmp_path / "one" / "img_spread.tif").exists()


def test_models_cli_lists_architectures_and_losses(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "unetpp" in text and "unet_plain" in text and "topodice" in text and "parameters" in text


def test_train_cli_round_trip(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("data:\n  pairs: 'synthetic:se'\n  synthetic: {n_images: 1, size: 64, mean_diameter_px: 14}\n"
                   "  split: random\n  patch: 32\nmodel: {arch: unet_plain, options: {base_channels: 2, depth: 1}}\n"
                   "loss: {name: bce}\ntrain: {epochs: 1, batch: 4, device: cpu}\n")
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--set", "train.lr=1e-2", "-o", str(out)]) == 0
    assert (out / "best" / "model.json").is_file() and (out / "config.yaml").is_file()
    assert "lr: 0.01" in (out / "config.yaml").read_text()
    assert main(["train", str(cfg), "-o", str(out)]) == 0          # resumes: nothing left to do
    assert main(["train", str(cfg), "--no-resume", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["train", str(cfg), "--set", "train.lrr=1", "-o", str(tmp_path / "x")]) == 2
    assert "did you mean 'lr'" in capsys.readouterr().err
    assert main(["predict", str(out / "best"), "--image", str(tmp_path / "missing.tif"), "-o",
                 str(tmp_path / "p")]) == 2


def test_images_at_another_pixel_size_are_resampled_to_the_models():
    """A 30 nm/px image for a 15 nm/px model is enlarged 2x, predicted, and brought back."""
    import torch

    from microseg.infer import LoadedModel, predict_probs, rescale_factor
    from microseg.io import Image

    class SizeOf(torch.nn.Module):
        """Logits follow the input; records the shape it was given."""

        def __init__(self):
            super().__init__()
            self.seen = None

        def forward(self, x):
            self.seen = tuple(x.shape[-2:])
            return 20.0 * (x - 0.5)

    net = SizeOf()
    m = LoadedModel(net, {"pixel_size_um": 0.015}, "m")
    image = np.zeros((40, 60), np.float32)
    image[:, 30:] = 1.0
    prob = predict_probs([m], Image(image, pixel_size=0.03), preprocess=False)[0]
    assert net.seen == (80, 120)                       # enlarged 2x to 15 nm/px
    assert prob.shape == (40, 60)                      # and back on the image's grid
    assert prob[:, :28].max() < 0.01 and prob[:, 32:].min() > 0.99
    predict_probs([m], Image(image, pixel_size=0.03), preprocess=False, rescale=False)
    assert net.seen == (40, 60)
    predict_probs([m], image, preprocess=False)        # no pixel size known: as it is
    assert net.seen == (40, 60)
    assert rescale_factor(0.0151, 0.015) == 1.0 and rescale_factor(0.03, 0.015) == 2.0


class _Seen(torch.nn.Module):
    """A grey (1-channel) model whose logits are its input; keeps what it was given."""

    in_channels = 1

    def __init__(self):
        super().__init__()
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return x[:, :1]


def _grey(shape=(24, 40), dtype=np.uint8):
    top = np.iinfo(dtype).max
    return (np.random.default_rng(3).random(shape) * top).astype(dtype)


def _layouts():
    g8, g16 = _grey(), _grey(dtype=np.uint16)
    colour = np.stack([g8, g8[::-1], g8[:, ::-1]], axis=-1)
    return {
        "grey (H, W)": g8,
        "equal RGB (H, W, 3)": np.repeat(g8[..., None], 3, axis=-1),
        "equal RGBA (H, W, 4)": np.concatenate([np.repeat(g8[..., None], 3, axis=-1),
                                                np.full((*g8.shape, 1), 255, np.uint8)], axis=-1),
        "grey + alpha (H, W, 2)": np.stack([g8, np.full_like(g8, 255)], axis=-1),
        "16-bit equal RGB": np.repeat(g16[..., None], 3, axis=-1),
        "colour RGB (H, W, 3)": colour,
        "channels first (1, H, W)": g8[None].astype(np.float32) / 255,
    }


@pytest.mark.parametrize("layout", list(_layouts()))
def test_predict_takes_every_layout_training_reads(layout):
    """The model sees what load_samples trains on: one grey channel scaled by the dtype's range."""
    from microseg.data import to_float_image
    from microseg.infer import as_image_array, predict_probs

    data = _layouts()[layout]
    net = _Seen()
    prob = predict_probs([net], data, preprocess=False, device="cpu")
    assert prob.shape == (1, 24, 40) and tuple(net.seen.shape) == (1, 1, 24, 40)
    trained_on = data if layout.startswith("channels first") else to_float_image(data, channels=1)
    tol = 0.5 / 255 if layout.startswith("colour") else 1e-6      # luma of floats vs luma rounded to uint8
    np.testing.assert_allclose(net.seen[0].numpy(), trained_on, atol=tol)
    expected_channels = 3 if layout.startswith("colour") else 1
    assert as_image_array(data).shape == (expected_channels, 24, 40)


def test_rgb_tiff_of_a_grey_micrograph_predicts_like_the_grey_file(tmp_path):
    """Issue 8: 'model takes 1 channel(s); the image has 512' for a 512 × 512 × 3 grey TIFF."""
    import tifffile

    from microseg import io
    from microseg.infer import predict_image
    from microseg.models import save_model

    grey = _grey((512, 512))
    tifffile.imwrite(tmp_path / "rgb.tif", np.repeat(grey[..., None], 3, axis=-1), photometric="rgb")
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    with pytest.warns(UserWarning, match="pixel size unknown"):
        image = io.read_image(tmp_path / "rgb.tif")
    assert image.shape == (512, 512, 3)
    net = _Seen()
    predict_image(net, image, device="cpu")
    assert tuple(net.seen.shape) == (1, 1, 512, 512)
    save_model(_tiny(0), tmp_path / "m", metadata={"preprocessing": {"normalize": {"mode": "per_image"},
                                                                      "median": 0}})
    for name in ("rgb", "grey"):
        assert main(["predict", str(tmp_path / "m"), "--image", str(tmp_path / f"{name}.tif"), "--pixel-size",
                     "0.01", "-o", str(tmp_path / "out")]) == 0
    a = io.read_prob_image(tmp_path / "out" / "rgb_prob.tif").data
    b = io.read_prob_image(tmp_path / "out" / "grey_prob.tif").data
    assert a.shape == (512, 512) and np.array_equal(a, b)


def test_channel_mismatch_and_stacks_are_errors():
    from microseg.infer import as_image_array
    from microseg.infer.prepare import match_channels
    from microseg.io import Image

    with pytest.raises(InputError, match=r"takes 1 channel\(s\); the image has 5"):
        match_channels(np.zeros((5, 8, 8), np.float32), 1, name="best")
    with pytest.raises(InputError, match="stack of 6 slices"):
        as_image_array(Image(np.zeros((6, 8, 8), np.uint8), metadata={"axes": "ZYX"}))
    with pytest.raises(InputError, match="must be numeric"):
        as_image_array(np.array([["a"]]))
    colour = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    assert np.array_equal(match_channels(colour, 3), colour)
