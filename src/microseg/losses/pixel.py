"""Pixel-wise losses: class-weighted binary cross-entropy, soft Dice and their sum.

All take logits ``(N, C, H, W)`` and a target of the same shape in [0, 1]; each channel
is an independent binary (sigmoid) problem, so ``C > 1`` means multi-label maps (e.g. one
channel per boundary class: HAGB, LAGB, Σ3 twin).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.losses._base import SegmentationLoss

__all__ = ["WeightedBCELoss", "DiceLoss", "BCEDiceLoss", "weighted_bce", "soft_dice_loss"]


def _pos_weight_tensor(pos_weight: float | tuple[float, ...], logits: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    if w.ndim == 1:
        if w.numel() != logits.shape[1]:
            raise InputError(
                f"pos_weight has {w.numel()} values but pred has {logits.shape[1]} channels"
            )
        w = w.view(1, -1, 1, 1)
    return w


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, *,
                 pos_weight: float | tuple[float, ...] = 1.0) -> torch.Tensor:
    """Mean class-weighted binary cross-entropy of logits (see :class:`WeightedBCELoss`)."""
    return F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=_pos_weight_tensor(pos_weight, logits), reduction="mean"
    )


def soft_dice_loss(prob: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0,
                   per_image: bool = False) -> torch.Tensor:
    """Soft Dice loss of probabilities ``(N, C, H, W)``, averaged over channels (see :class:`DiceLoss`)."""
    dims = (2, 3) if per_image else (0, 2, 3)
    inter = (prob * target).sum(dims)
    total = prob.sum(dims) + target.sum(dims)
    return (1.0 - (2.0 * inter + smooth) / (total + smooth)).mean()


def _check_pos_weight(pos_weight: float | Sequence[float]) -> float | tuple[float, ...]:
    if isinstance(pos_weight, Sequence) and not isinstance(pos_weight, str):
        return tuple(check_positive(w, "pos_weight") for w in pos_weight)
    return check_positive(pos_weight, "pos_weight")


class WeightedBCELoss(SegmentationLoss):
    r"""Class-weighted binary cross-entropy with logits (seed 001, section 2.4).

    .. math::

        L = -\frac{1}{NCHW} \sum_i \left[ w\, y_i \log \sigma(x_i)
            + (1 - y_i) \log\bigl(1 - \sigma(x_i)\bigr) \right]

    with logits :math:`x`, target :math:`y` and ``pos_weight`` :math:`w`, the weight of a
    positive (boundary, :math:`y = 1`) pixel relative to a negative (grain interior) pixel.
    Seed 001 used a ratio of 9.0 (boundaries are < 10 % of the pixels); a larger ratio
    trades precision for recall and widens the predicted boundaries.

    Parameters
    ----------
    pos_weight : float or sequence of float, default 1.0
        Weight ratio :math:`w` > 0; a sequence gives one ratio per channel.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list (see :class:`SegmentationLoss`).

    Examples
    --------
    >>> import torch
    >>> loss = WeightedBCELoss(pos_weight=9.0)
    >>> x = torch.zeros(1, 1, 2, 2); y = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    >>> round(float(loss(x, y)), 4)  # (9 + 3) * log 2 / 4
    2.0794
    """

    def __init__(self, *, pos_weight: float | Sequence[float] = 1.0,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.pos_weight = _check_pos_weight(pos_weight)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return weighted_bce(logits, target, pos_weight=self.pos_weight)


class DiceLoss(SegmentationLoss):
    r"""Soft Dice loss on sigmoid probabilities (Milletari et al. 2016; seeds 000 and 004).

    .. math::

        L = 1 - \frac{2 \sum_i p_i y_i + s}{\sum_i p_i + \sum_i y_i + s},
        \qquad p = \sigma(x)

    The sums run over the batch and the pixels of one channel (or over the pixels of one
    image when ``per_image``); the loss is the mean over channels (and images). The
    smoothing :math:`s` keeps the loss defined, and zero, for an empty target predicted
    empty.

    Parameters
    ----------
    smooth : float, default 1.0
        Smoothing term :math:`s` >= 0 (004's :math:`\gamma`).
    per_image : bool, default False
        Compute the Dice of each image separately and average (instead of one Dice over
        the whole batch).
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    >>> float(DiceLoss(smooth=0.0)(torch.where(y > 0, 50.0, -50.0), y))
    0.0
    """

    def __init__(self, *, smooth: float = 1.0, per_image: bool = False,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.smooth = check_positive(smooth, "smooth", allow_zero=True)
        self.per_image = bool(per_image)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_dice_loss(torch.sigmoid(logits), target, smooth=self.smooth,
                              per_image=self.per_image)


class BCEDiceLoss(SegmentationLoss):
    r"""Binary cross-entropy plus soft Dice (seed 004, Eq. 2).

    .. math::

        L = a\, L_\mathrm{BCE}(x, y; w) + b\, L_\mathrm{Dice}(\sigma(x), y; s)

    with :math:`a` = ``bce_weight``, :math:`b` = ``dice_weight``; see
    :class:`WeightedBCELoss` and :class:`DiceLoss`. Seed 004 used :math:`a = b = 1`,
    :math:`w = 1`. (004 writes the Dice term as a per-pixel mean, which is a transcription
    of the usual Keras soft Dice; we use the soft Dice over the whole map.)

    Parameters
    ----------
    bce_weight, dice_weight : float, default 1.0
        Weights :math:`a, b` >= 0 of the two terms.
    pos_weight : float or sequence of float, default 1.0
        Weight ratio of positive pixels in the BCE term.
    smooth : float, default 1.0
        Smoothing of the Dice term.
    per_image : bool, default False
        Dice per image (see :class:`DiceLoss`).
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.
    """

    def __init__(self, *, bce_weight: float = 1.0, dice_weight: float = 1.0,
                 pos_weight: float | Sequence[float] = 1.0, smooth: float = 1.0,
                 per_image: bool = False, side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.bce_weight = check_positive(bce_weight, "bce_weight", allow_zero=True)
        self.dice_weight = check_positive(dice_weight, "dice_weight", allow_zero=True)
        self.pos_weight = _check_pos_weight(pos_weight)
        self.smooth = check_positive(smooth, "smooth", allow_zero=True)
        self.per_image = bool(per_image)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = weighted_bce(logits, target, pos_weight=self.pos_weight)
        dice = soft_dice_loss(torch.sigmoid(logits), target, smooth=self.smooth,
                              per_image=self.per_image)
        return self.bce_weight * bce + self.dice_weight * dice
