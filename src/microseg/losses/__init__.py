"""Registry of segmentation losses: pixel-wise, topological and skeleton-based.

Every loss is a :class:`torch.nn.Module` called as ``loss(pred, target)``:

- ``pred``: logits ``(N, C, H, W)`` (``C = 1`` for a boundary map), or a list of such
  tensors (side outputs / deep supervision), whose losses are averaged (weighted by the
  option ``side_weights`` if given: :math:`\\sum_i w_i L_i / \\sum_i w_i`);
- ``target``: float ``(N, C, H, W)`` with values in [0, 1] (1 = boundary);
- returns a scalar tensor that carries gradients to ``pred``.

===================  ==========================  =======================================
name                 class                       what
===================  ==========================  =======================================
``bce``              :class:`WeightedBCELoss`    class-weighted BCE (001: ratio 9.0)
``dice``             :class:`DiceLoss`           soft Dice on sigmoid probabilities
``bce_dice``         :class:`BCEDiceLoss`        BCE + Dice (004)
``topo``             :class:`TopoLoss`           persistent homology (Hu et al. 2019)
``topodice``         :class:`TopoDiceLoss`       Dice + λ·Topo (000's TopoDICE)
``bce_topo``         :class:`BCETopoLoss`        weighted BCE + λ·Topo (001, λ = 0.04)
``cldice``           :class:`CLDiceLoss`         soft-clDice (+ Dice) (Shit et al. 2021)
``skeleton_recall``  :class:`SkeletonRecallLoss` recall of the tubed target skeleton
===================  ==========================  =======================================

Importing this package does not import torch; :func:`build` and the class names do.

Examples
--------
>>> from microseg import losses
>>> "topodice" in losses.available()
True
>>> loss = losses.build("bce", pos_weight=9.0)
>>> type(loss).__name__
'WeightedBCELoss'
"""
from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from microseg._util import look_up_option

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = [
    "build", "available", "WeightedBCELoss", "DiceLoss", "BCEDiceLoss", "TopoLoss",
    "TopoDiceLoss", "BCETopoLoss", "CLDiceLoss", "SkeletonRecallLoss",
]

_REGISTRY: dict[str, tuple[str, str]] = {
    "bce": ("pixel", "WeightedBCELoss"),
    "dice": ("pixel", "DiceLoss"),
    "bce_dice": ("pixel", "BCEDiceLoss"),
    "topo": ("topo", "TopoLoss"),
    "topodice": ("topo", "TopoDiceLoss"),
    "bce_topo": ("topo", "BCETopoLoss"),
    "cldice": ("skeleton", "CLDiceLoss"),
    "skeleton_recall": ("skeleton", "SkeletonRecallLoss"),
}
_CLASSES = {cls: module for module, cls in _REGISTRY.values()}


def available() -> list[str]:
    """Names accepted by :func:`build`, in registry order."""
    return list(_REGISTRY)


def _load(module: str, cls: str) -> type:
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def build(name: str, **options: Any) -> nn.Module:
    """Build the loss registered as ``name`` with keyword ``options``.

    Parameters
    ----------
    name : str
        One of :func:`available` (case-insensitive).
    **options
        Keyword options of the loss class (e.g. ``pos_weight``, ``topo_lambda``).

    Returns
    -------
    torch.nn.Module
        The loss, called as ``loss(pred, target)``.

    Raises
    ------
    InputError
        For an unknown name or option; the message lists the valid ones and suggests the
        nearest.
    """
    name = look_up_option(name, available(), what="loss")
    cls = _load(*_REGISTRY[name])
    valid = [p for p in inspect.signature(cls).parameters if p not in ("self",)]
    options = {look_up_option(key, valid, what=f"option of loss {name!r}"): value
               for key, value in options.items()}
    return cls(**options)


def __getattr__(attr: str) -> type:
    if attr in _CLASSES:
        return _load(_CLASSES[attr], attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
