"""train/build.py asks the registries (options, capabilities) instead of naming architectures."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from microseg._util import InputError  # noqa: E402
from microseg.config import load_config  # noqa: E402
from microseg.train.build import _model_options, build_loss, build_model  # noqa: E402


def test_loss_section_values_go_only_to_losses_that_take_them():
    bce = build_loss(load_config(None, overrides=["loss.name=bce", "loss.pos_weight=4.0"]).loss)
    assert float(bce.pos_weight) == 4.0
    dice = build_loss(load_config(None, overrides=["loss.name=dice"]).loss)  # no pos_weight option
    assert type(dice).__name__ == "DiceLoss"
    topo = build_loss(load_config(None, overrides=["loss.name=TopoDice", "loss.topo_lambda=0.5"]).loss)
    assert topo.topo_lambda == 0.5
    with pytest.raises(InputError, match="unknown loss 'bce_dise'.*did you mean 'bce_dice'"):
        build_loss(load_config(None, overrides=["loss.name=bce_dise"]).loss)


def test_default_encoder_goes_only_to_architectures_with_encoders():
    assert _model_options(load_config(None, overrides=["model.arch=unet"]))["encoder"] == "resnet34"
    assert "encoder" not in _model_options(load_config(None, overrides=["model.arch=hed"]))
    cfg = load_config(None, overrides=["model.arch=hed", "model.options={width: 0.0625}"])
    assert build_model(cfg).arch == "hed"


def test_weights_of_an_architecture_without_encoder_weights(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"")
    cfg = load_config(None, overrides=["model.arch=unet_plain", "model.options={base_channels: 2, depth: 1}",
                                       f"model.weights={tmp_path / 'w.pth'}"])
    with pytest.raises(InputError, match=r"w.pth: for unet_plain expected a \.safetensors state dict"):
        build_model(cfg)
