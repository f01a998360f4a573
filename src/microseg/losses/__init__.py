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
A new loss is one module plus one ``LOSSES.register`` line below; its class is then also
``microseg.losses.<ClassName>``. ``LOSSES.describe(name)`` gives its options and defaults.

Examples
--------
>>> from microseg import losses
>>> "topodice" in losses.available()
True
>>> loss = losses.build("bce", pos_weight=9.0)
>>> type(loss).__name__
'WeightedBCELoss'
>>> losses.available(family="skeleton")
['cldice', 'skeleton_recall']
>>> losses.LOSSES.describe("bce")["options"]
{'pos_weight': 1.0, 'side_weights': None}
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from microseg._registry import Registry
from microseg.losses.config import LossConfig  # noqa: F401  (the loss section of a run config)

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: Registry: loss key -> class (imported when first built). Capability ``family``:
#: ``"pixel"``, ``"topology"`` (persistent homology, needs cripser) or ``"skeleton"``.
LOSSES = Registry("loss", capabilities={"family": "pixel"})

LOSSES.register("bce", "microseg.losses.pixel:WeightedBCELoss", description="class-weighted BCE (001: ratio 9.0)")
LOSSES.register("dice", "microseg.losses.pixel:DiceLoss", description="soft Dice on sigmoid probabilities")
LOSSES.register("bce_dice", "microseg.losses.pixel:BCEDiceLoss", description="BCE + Dice (004)")
LOSSES.register("topo", "microseg.losses.topo:TopoLoss", family="topology",
                description="persistent homology (Hu et al. 2019)")
LOSSES.register("topodice", "microseg.losses.topo:TopoDiceLoss", family="topology",
                description="Dice + λ·Topo (000's TopoDICE)")
LOSSES.register("bce_topo", "microseg.losses.topo:BCETopoLoss", family="topology",
                description="weighted BCE + λ·Topo (001, λ = 0.04)")
LOSSES.register("cldice", "microseg.losses.skeleton:CLDiceLoss", family="skeleton",
                description="soft-clDice (+ Dice) (Shit et al. 2021)")
LOSSES.register("skeleton_recall", "microseg.losses.skeleton:SkeletonRecallLoss", family="skeleton",
                description="recall of the tubed target skeleton")

__all__ = ["LOSSES", "build", "available", *LOSSES.exports()]


def available(**capabilities: Any) -> list[str]:
    """Names accepted by :func:`build`, in registry order (``family=`` filters)."""
    return LOSSES.available(**capabilities)


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
    return LOSSES.build(name, **options)


def __getattr__(attr: str) -> type:
    exports = LOSSES.exports()
    if attr in exports:
        return LOSSES.get(exports[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
