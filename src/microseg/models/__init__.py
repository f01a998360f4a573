"""Segmentation networks: one registry, a shared model contract, weights on disk.

This is the only part of microseg that imports torch; importing the package does not (the
registry is lazy), building a model or using a class does.

>>> from microseg import models
>>> model = models.build("unet", in_channels=1, classes=1, encoder="resnet18")
>>> sorted(models.available())[:3]
['deepcrack', 'defectsegnet', 'fcn16s']
>>> models.available(side_outputs=True)
['unetpp', 'hed', 'rcf', 'deepcrack']
>>> models.MODELS.describe("hed")["options"]
{'in_channels': 1, 'classes': 1, 'width': 1.0, 'batch_norm': True}

Every model maps ``(N, in_channels, H, W)`` float images of any ``H, W`` to logits
``(N, classes, H, W)``; side-output models (HED, RCF, DeepCrack, UNet++ with
``deep_supervision=True``) return, in training mode, a list of logits with the fused
output last (:func:`final_output` picks it). :func:`save_model` / :func:`load_model`
write and read ``model.safetensors`` + ``model.json``; :func:`load_encoder_weights`
loads ImageNet or MicroNet encoder weights from a local file into the architectures of
``available(takes_encoder_weights=True)``.

A new architecture is one module plus one ``MODELS.register`` line in
:mod:`microseg.models._registry`; its class is then also ``microseg.models.<ClassName>``.
"""
from __future__ import annotations

import importlib
from typing import Any

from microseg.models._registry import MODELS, available, build, describe, encoders, model_summary
from microseg.models.config import ModelConfig

#: Names exported from the torch modules, imported on first access.
_LAZY = {
    "SegmentationModel": "microseg.models._base", "final_output": "microseg.models._base",
    "parameter_count": "microseg.models._base",
    "save_model": "microseg.models.io", "load_model": "microseg.models.io",
    "load_encoder_weights": "microseg.models.io", "EncoderLoadReport": "microseg.models.io",
}

__all__ = ["MODELS", "ModelConfig", "available", "build", "describe", "encoders", "model_summary", *_LAZY,
           *MODELS.exports()]


def __getattr__(attr: str) -> Any:
    if attr in _LAZY:
        return getattr(importlib.import_module(_LAZY[attr]), attr)
    exports = MODELS.exports()
    if attr in exports:
        return MODELS.get(exports[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
