"""The one name → class table of architectures, and ``build`` / ``available`` / ``describe``."""
from __future__ import annotations

import inspect
from typing import Any

import torch

from microseg._util import InputError, look_up_option
from microseg.models._base import SegmentationModel, parameter_count
from microseg.models.deepcrack import DeepCrack
from microseg.models.defectsegnet import DefectSegNet
from microseg.models.edges import HED, RCF
from microseg.models.fcn import FCN8s, FCN16s, FCN32s
from microseg.models.plain_unet import PlainUNet
from microseg.models.smp_models import UNet, UNetPlusPlus

__all__ = ["MODELS", "available", "build", "describe", "model_summary"]

#: Registry: architecture key → class. A new architecture is one module plus one line here.
MODELS: dict[str, type[SegmentationModel]] = {
    "unet": UNet,
    "unetpp": UNetPlusPlus,
    "fcn32s": FCN32s,
    "fcn16s": FCN16s,
    "fcn8s": FCN8s,
    "hed": HED,
    "rcf": RCF,
    "deepcrack": DeepCrack,
    "defectsegnet": DefectSegNet,
    "unet_plain": PlainUNet,
}


def available() -> list[str]:
    """Return the registry keys of all architectures, in registry order.

    Examples
    --------
    >>> "unetpp" in available()
    True
    """
    return list(MODELS)


def _lookup(name: str) -> type[SegmentationModel]:
    return MODELS[look_up_option(name, available(), what="model architecture")]


def describe(name: str) -> str:
    """Return a one-line description of the architecture ``name``.

    Examples
    --------
    >>> describe("fcn8s")
    'FCN-8s (Long et al. 2015): VGG16 with pool4 and pool3 score skips'
    """
    return _lookup(name).description


def build(name: str, *, in_channels: int = 1, classes: int = 1, **options: Any) -> SegmentationModel:
    """Build the architecture ``name`` with fresh (random) weights.

    Parameters
    ----------
    name : str
        A key of :func:`available` (``"unet"``, ``"unetpp"``, ``"fcn8s"``, ``"hed"``, ...).
    in_channels : int
        Channels of the input images ``(N, C, H, W)``.
    classes : int
        Channels of the output logits ``(N, classes, H, W)``.
    **options
        Architecture options (``encoder``, ``width``, ``deep_supervision``, ...); see
        the class of each architecture. An unknown option raises an error that lists
        the valid ones.

    Returns
    -------
    SegmentationModel

    Examples
    --------
    >>> model = build("defectsegnet", in_channels=1, classes=2)
    >>> model.arch, model.classes, model.config["width"]
    ('defectsegnet', 2, 1.0)
    """
    cls = _lookup(name)
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",)]
    for key in options:
        if key not in params:
            look_up_option(key, [p for p in params if p not in ("in_channels", "classes")],
                           what=f"option of model {cls.arch!r}")
    try:
        return cls(in_channels=in_channels, classes=classes, **options)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"model {cls.arch!r}: {exc}") from exc


def model_summary() -> list[dict[str, Any]]:
    """Return one row per architecture: name, class, parameters of the default model, ...

    The default models are built on PyTorch's ``meta`` device (no memory, no weights).

    Returns
    -------
    list of dict
        Keys ``name``, ``class``, ``params_default`` (int, ``in_channels=1``,
        ``classes=1``), ``side_outputs`` (bool, default options) and ``description``.
    """
    rows = []
    for name, cls in MODELS.items():
        with torch.device("meta"):
            model = build(name)
        rows.append({
            "name": name,
            "class": cls.__name__,
            "params_default": parameter_count(model),
            "side_outputs": bool(model.side_outputs),
            "description": cls.description,
        })
    return rows
