"""Segmentation networks: one registry, a shared model contract, weights on disk.

This is the only part of microseg that imports torch.

>>> from microseg import models
>>> model = models.build("unet", in_channels=1, classes=1, encoder="resnet18")
>>> sorted(models.available())[:3]
['deepcrack', 'defectsegnet', 'fcn16s']

Every model maps ``(N, in_channels, H, W)`` float images of any ``H, W`` to logits
``(N, classes, H, W)``; side-output models (HED, RCF, DeepCrack, UNet++ with
``deep_supervision=True``) return, in training mode, a list of logits with the fused
output last (:func:`final_output` picks it). :func:`save_model` / :func:`load_model`
write and read ``model.safetensors`` + ``model.json``; :func:`load_encoder_weights`
loads ImageNet or MicroNet encoder weights from a local file.
"""
from __future__ import annotations

from microseg.models._base import SegmentationModel, final_output, parameter_count
from microseg.models._registry import MODELS, available, build, describe, model_summary
from microseg.models.deepcrack import DeepCrack
from microseg.models.defectsegnet import DefectSegNet
from microseg.models.edges import HED, RCF
from microseg.models.fcn import FCN8s, FCN16s, FCN32s
from microseg.models.io import EncoderLoadReport, load_encoder_weights, load_model, save_model
from microseg.models.plain_unet import PlainUNet
from microseg.models.smp_models import UNet, UNetPlusPlus

__all__ = [
    "MODELS", "SegmentationModel", "available", "build", "describe", "final_output",
    "model_summary", "parameter_count",
    "save_model", "load_model", "load_encoder_weights", "EncoderLoadReport",
    "UNet", "UNetPlusPlus", "FCN32s", "FCN16s", "FCN8s", "HED", "RCF", "DeepCrack",
    "DefectSegNet", "PlainUNet",
]
