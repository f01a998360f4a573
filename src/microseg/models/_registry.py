"""The registry of architectures, and ``build`` / ``available`` / ``describe`` / ``model_summary``.

A new architecture is one module (a :class:`~microseg.models.SegmentationModel` subclass
whose ``arch`` is its key) plus one ``MODELS.register`` line below. Entries are lazy, so
``available()`` and the capabilities need no torch; building a model imports it.

Capabilities of an architecture:

- ``side_outputs``: it can return side outputs in training mode (HED, RCF, DeepCrack
  always; UNet++ with ``deep_supervision=True``);
- ``takes_encoder_weights``: pretrained encoder weights load into it
  (:func:`microseg.models.load_encoder_weights`);
- ``encoders``: the family of encoders its ``encoder`` option names (``"smp"``: any
  encoder of segmentation_models_pytorch, see :func:`microseg.models.encoders`), or
  ``None`` for an architecture without an encoder option.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from microseg._registry import Registry
from microseg._util import InputError

if TYPE_CHECKING:  # pragma: no cover
    from microseg.models._base import SegmentationModel

__all__ = ["MODELS", "available", "build", "describe", "encoders", "model_summary"]

#: Registry: architecture key → class (imported when first built).
MODELS = Registry("model architecture", option_label="option of model {name!r}",
                  capabilities={"side_outputs": False, "takes_encoder_weights": False,
                                "encoders": None})

MODELS.register("unet", "microseg.models.smp_models:UNet", takes_encoder_weights=True, encoders="smp")
MODELS.register("unetpp", "microseg.models.smp_models:UNetPlusPlus", side_outputs=True,
                takes_encoder_weights=True, encoders="smp")
MODELS.register("fcn32s", "microseg.models.fcn:FCN32s")
MODELS.register("fcn16s", "microseg.models.fcn:FCN16s")
MODELS.register("fcn8s", "microseg.models.fcn:FCN8s")
MODELS.register("hed", "microseg.models.edges:HED", side_outputs=True)
MODELS.register("rcf", "microseg.models.edges:RCF", side_outputs=True)
MODELS.register("deepcrack", "microseg.models.deepcrack:DeepCrack", side_outputs=True)
MODELS.register("defectsegnet", "microseg.models.defectsegnet:DefectSegNet")
MODELS.register("unet_plain", "microseg.models.plain_unet:PlainUNet")


def available(**capabilities: Any) -> list[str]:
    """Return the keys of the architectures, in registry order.

    Parameters
    ----------
    **capabilities
        Keep only architectures with these capability values (``side_outputs``,
        ``takes_encoder_weights``, ``encoders``).

    Examples
    --------
    >>> "unetpp" in available()
    True
    >>> available(takes_encoder_weights=True)
    ['unet', 'unetpp']
    """
    return MODELS.available(**capabilities)


def describe(name: str) -> str:
    """Return a one-line description of the architecture ``name``.

    ``MODELS.describe(name)`` gives the whole record (capabilities, options and defaults).

    Examples
    --------
    >>> describe("fcn8s")
    'FCN-8s (Long et al. 2015): VGG16 with pool4 and pool3 score skips'
    """
    return MODELS.describe(name)["description"]


def encoders(name: str) -> list[str]:
    """The encoder names the ``encoder`` option of architecture ``name`` accepts ([] if none).

    Examples
    --------
    >>> "resnet18" in encoders("unet"), encoders("hed")
    (True, [])
    """
    family = MODELS.capabilities(name)["encoders"]
    if family is None:
        return []
    if family == "smp":
        from microseg.models.smp_models import _encoder_names

        return _encoder_names()
    raise InputError(f"architecture {name!r}: unknown encoder family {family!r}")  # pragma: no cover


def build(name: str, *, in_channels: int = 1, classes: int = 1, **options: Any) -> SegmentationModel:
    """Build the architecture ``name`` with fresh (random) weights.

    Parameters
    ----------
    name : str
        A key of :func:`available` (``"unet"``, ``"unetpp"``, ``"fcn8s"``, ``"hed"``, ...),
        case-insensitive.
    in_channels : int
        Channels of the input images ``(N, C, H, W)``.
    classes : int
        Channels of the output logits ``(N, classes, H, W)``.
    **options
        Architecture options (``encoder``, ``width``, ``deep_supervision``, ...); see
        the class of each architecture or ``MODELS.describe(name)``. An unknown option
        raises an error that lists the valid ones.

    Returns
    -------
    SegmentationModel

    Examples
    --------
    >>> model = build("defectsegnet", in_channels=1, classes=2)
    >>> model.arch, model.classes, model.config["width"]
    ('defectsegnet', 2, 1.0)
    """
    name = MODELS.key(name)
    try:
        return MODELS.build(name, in_channels=in_channels, classes=classes, **options)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"model {name!r}: {exc}") from exc


def model_summary() -> list[dict[str, Any]]:
    """Return one row per architecture: name, class, parameters of the default model, ...

    The default models are built on PyTorch's ``meta`` device (no memory, no weights).

    Returns
    -------
    list of dict
        Keys ``name``, ``class``, ``params_default`` (int, ``in_channels=1``,
        ``classes=1``), ``side_outputs`` (bool, default options), ``takes_encoder_weights``
        (bool) and ``description``.
    """
    import torch

    from microseg.models._base import parameter_count

    rows = []
    for name in available():
        with torch.device("meta"):
            model = build(name)
        rows.append({
            "name": name,
            "class": type(model).__name__,
            "params_default": parameter_count(model),
            "side_outputs": bool(model.side_outputs),
            "takes_encoder_weights": bool(MODELS.capabilities(name)["takes_encoder_weights"]),
            "description": describe(name),
        })
    return rows
