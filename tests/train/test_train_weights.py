"""``model.weights`` in a run config: pretrained encoder checkpoints from a local file."""
from __future__ import annotations

import pytest
import torch

from microseg._util import InputError
from microseg.config import load_config
from microseg.train.build import build_model


def test_imagenet_style_encoder_checkpoint_is_loaded(tmp_path):
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(reference, path)  # a plain tensor state dict, loaded with weights_only=True
    cfg = load_config(None, overrides=["model.arch=unet", "model.encoder=resnet18", "model.in_channels=3",
                                       f"model.weights={path}"])
    model = build_model(cfg)
    encoder = {k: v for k, v in model.state_dict().items() if ".encoder." in k or k.startswith("encoder.")}
    layer = next(k for k in encoder if k.endswith("layer1.0.conv1.weight"))
    assert torch.equal(encoder[layer], reference["layer1.0.conv1.weight"])


def test_missing_weights_file_is_a_clear_error(tmp_path):
    cfg = load_config(None, overrides=["model.arch=unet", "model.encoder=resnet18",
                                       f"model.weights={tmp_path / 'nope.pth'}"])
    with pytest.raises(InputError, match="nope.pth: no such file"):
        build_model(cfg)
