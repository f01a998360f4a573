"""Shared machinery of the losses: input checks and side-output (deep supervision) reduction.

Every loss in :mod:`microseg.losses` is a :class:`SegmentationLoss`: it is called as
``loss(pred, target)`` with ``pred`` the raw logits of a network, shape ``(N, C, H, W)``,
or a list of such tensors (side outputs of HED, RCF, DeepCrack, ...), and ``target`` a float
tensor of the same shape with values in [0, 1]. Subclasses implement :meth:`_compute` for
one tensor; the base class checks the inputs and reduces a list.

Pixels whose target is :data:`~microseg._util.IGNORE_LABEL` (255: no EBSD data there, a
fiducial) are left out of every loss: the base class sets their target to 0 and their
logit to a confident 0 (-30), so they add nothing to the loss (< 1e-12 per pixel) and get
no gradient, whatever the loss (pixel, Dice, topological, skeleton). Pixel-mean losses
still divide by all pixels of the batch, so every valid pixel weighs the same.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from microseg._util import IGNORE_LABEL, InputError
from microseg._validate import check_positive

__all__ = ["SegmentationLoss"]


def _check_pair(pred: object, target: torch.Tensor, index: int | None) -> torch.Tensor:
    where = "pred" if index is None else f"pred[{index}]"
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f"{where} must be a torch.Tensor of logits; got {type(pred).__name__}")
    if not pred.is_floating_point():
        raise TypeError(f"{where} must be a floating-point tensor of logits; got dtype {pred.dtype}")
    if pred.ndim != 4:
        raise InputError(f"{where} must have shape (N, C, H, W); got shape {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise InputError(
            f"{where} and target must have the same shape; got {where} {tuple(pred.shape)} and "
            f"target {tuple(target.shape)} (resize side outputs to the target before the loss)"
        )
    return pred


_IGNORED_LOGIT = -30.0


def _check_target(target: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The target in [0, 1] and the mask of its valid pixels (None when all are valid)."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor; got {type(target).__name__}")
    if not target.is_floating_point():
        target = target.float()
    if target.ndim != 4:
        raise InputError(f"target must have shape (N, C, H, W); got shape {tuple(target.shape)}")
    valid = None
    if target.numel():
        ignored = target == IGNORE_LABEL
        if bool(ignored.any()):
            valid = ~ignored
            target = torch.where(valid, target, torch.zeros_like(target))
        lo, hi = float(target.min()), float(target.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
            raise InputError(
                f"target values must lie in [0, 1] (1 = boundary / foreground, "
                f"{IGNORE_LABEL} = unknown); got range [{lo}, {hi}]"
            )
    return target, valid


def _masked(logits: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return logits
    return torch.where(valid, logits, torch.full_like(logits, _IGNORED_LOGIT))


class SegmentationLoss(nn.Module):
    """Base class: checks ``(pred, target)`` and averages over side outputs.

    Parameters
    ----------
    side_weights : sequence of float, optional
        Weights :math:`w_i` of the outputs when ``pred`` is a list. The loss of a list is
        the weighted mean :math:`\\sum_i w_i L_i / \\sum_i w_i`; without weights, the plain
        mean. (HED and RCF sum their side losses; the mean differs only by a constant
        factor, which the learning rate absorbs.)
    """

    def __init__(self, *, side_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if side_weights is not None:
            weights = [check_positive(w, "side_weights[i]", allow_zero=True) for w in side_weights]
            if not weights or sum(weights) <= 0:
                raise InputError(f"side_weights must hold at least one positive weight; got {side_weights!r}")
            side_weights = tuple(weights)
        self.side_weights = side_weights

    def forward(self, pred: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Loss of logits ``pred`` (tensor or list of tensors) against ``target``; a scalar."""
        target, valid = _check_target(target)
        if isinstance(pred, torch.Tensor):
            return self._compute(_masked(_check_pair(pred, target, None), valid), target.to(pred.dtype))
        if not isinstance(pred, Sequence) or isinstance(pred, (str, bytes)) or len(pred) == 0:
            raise TypeError(
                f"pred must be a tensor or a non-empty list of tensors; got {type(pred).__name__}"
            )
        if self.side_weights is not None and len(self.side_weights) != len(pred):
            raise InputError(
                f"side_weights has {len(self.side_weights)} weights but pred holds {len(pred)} outputs"
            )
        weights = self.side_weights or (1.0,) * len(pred)
        total = None
        for i, (p, w) in enumerate(zip(pred, weights)):
            term = w * self._compute(_masked(_check_pair(p, target, i), valid), target.to(p.dtype))
            total = term if total is None else total + term
        return total / sum(weights)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover
