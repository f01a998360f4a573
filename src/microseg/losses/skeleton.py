"""Skeleton-based connectivity losses: soft-clDice and Skeleton Recall.

Both reward predictions that cover the centre lines (skeletons) of thin structures such
as grain boundaries, where a one-pixel gap costs little Dice but breaks a grain apart.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.losses._base import SegmentationLoss
from microseg.losses.pixel import soft_dice_loss

__all__ = ["CLDiceLoss", "SkeletonRecallLoss", "soft_skeleton", "tubed_skeleton"]


def _soft_erode(x: torch.Tensor) -> torch.Tensor:
    # min over the 4-neighbourhood (plus cross), as min of a 3x1 and a 1x3 min-pool
    a = -F.max_pool2d(-x, (3, 1), stride=1, padding=(1, 0))
    b = -F.max_pool2d(-x, (1, 3), stride=1, padding=(0, 1))
    return torch.minimum(a, b)


def _soft_dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def soft_skeleton(x: torch.Tensor, *, iterations: int = 3) -> torch.Tensor:
    """Soft skeleton of a map ``(N, C, H, W)`` in [0, 1] (Shit et al. 2021, Algorithm 1).

    Iterated soft erosion (min-pooling) and soft opening; differentiable.

    Examples
    --------
    >>> import torch
    >>> bar = torch.zeros(1, 1, 5, 7); bar[0, 0, 1:4, 1:6] = 1.0
    >>> soft_skeleton(bar)[0, 0, 2].tolist()  # the middle row of a 3-pixel-wide bar
    [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    """
    opened = _soft_dilate(_soft_erode(x))
    skel = F.relu(x - opened)
    for _ in range(iterations):
        x = _soft_erode(x)
        delta = F.relu(x - _soft_dilate(_soft_erode(x)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


class CLDiceLoss(SegmentationLoss):
    r"""Soft-clDice loss (Shit et al., CVPR 2021), optionally mixed with soft Dice.

    With :math:`P = \sigma(x)`, target :math:`L`, soft skeletons :math:`S_P, S_L`
    (:func:`soft_skeleton`) and smoothing :math:`s`:

    .. math::

        T_\mathrm{prec} = \frac{\sum S_P L + s}{\sum S_P + s}, \quad
        T_\mathrm{sens} = \frac{\sum S_L P + s}{\sum S_L + s}, \quad
        L_\mathrm{cl} = 1 - \frac{2\, T_\mathrm{prec} T_\mathrm{sens}}
                                 {T_\mathrm{prec} + T_\mathrm{sens}}

        L = (1 - \alpha)\, L_\mathrm{Dice} + \alpha\, L_\mathrm{cl}

    Sums run over the batch and pixels of a channel; the mean is taken over channels.

    Parameters
    ----------
    alpha : float, default 0.5
        Weight of clDice in [0, 1]; 1 gives pure clDice, 0 pure Dice. Shit et al. train
        with the mixture (their reference code uses 0.5).
    iterations : int, default 3
        Iterations of the soft skeleton; should exceed the half-width of the structures.
    smooth : float, default 1.0
        Smoothing term :math:`s`.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.
    """

    def __init__(self, *, alpha: float = 0.5, iterations: int = 3, smooth: float = 1.0,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        alpha = check_positive(alpha, "alpha", allow_zero=True)
        if alpha > 1:
            raise InputError(f"alpha must lie in [0, 1]; got {alpha}")
        if int(iterations) != iterations or iterations < 0:
            raise InputError(f"iterations must be an integer >= 0; got {iterations!r}")
        self.alpha = alpha
        self.iterations = int(iterations)
        self.smooth = check_positive(smooth, "smooth", allow_zero=True)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = torch.sigmoid(logits)
        s, dims = self.smooth, (0, 2, 3)
        skel_p = soft_skeleton(prob, iterations=self.iterations)
        skel_t = soft_skeleton(target, iterations=self.iterations)
        tprec = ((skel_p * target).sum(dims) + s) / (skel_p.sum(dims) + s)
        tsens = ((skel_t * prob).sum(dims) + s) / (skel_t.sum(dims) + s)
        cl = (1.0 - 2.0 * tprec * tsens / (tprec + tsens).clamp_min(1e-12)).mean()
        if self.alpha == 1:
            return cl
        return (1.0 - self.alpha) * soft_dice_loss(prob, target, smooth=s) + self.alpha * cl


def tubed_skeleton(mask: np.ndarray, *, tube_radius: int = 2) -> np.ndarray:
    """Skeleton of a 2D binary mask, dilated into a tube of diamond radius ``tube_radius``.

    The tube is cut to the mask (as in Kirchhoff et al.'s code, which multiplies it by the
    label map), so that a perfect prediction has recall 1.

    Examples
    --------
    >>> import numpy as np
    >>> bar = np.zeros((7, 9), bool); bar[2:5, 1:8] = True
    >>> tubed_skeleton(bar, tube_radius=0)[:, 3].astype(int).tolist()  # one skeleton pixel
    [0, 0, 0, 1, 0, 0, 0]
    >>> tubed_skeleton(bar, tube_radius=1)[:, 3].astype(int).tolist()  # a 3-pixel tube
    [0, 0, 1, 1, 1, 0, 0]
    """
    from scipy import ndimage
    from skimage.morphology import skeletonize

    mask = np.asarray(mask, dtype=bool)
    skel = skeletonize(mask)
    if tube_radius > 0 and skel.any():
        cross = ndimage.generate_binary_structure(2, 1)
        skel = ndimage.binary_dilation(skel, structure=cross, iterations=tube_radius) & mask
    return skel


class SkeletonRecallLoss(SegmentationLoss):
    r"""Skeleton Recall loss (Kirchhoff et al., ECCV 2024): soft recall of the target's skeleton.

    The target of each map is skeletonised on the CPU (:func:`skimage.morphology.skeletonize`)
    and dilated into a tube :math:`T` (diamond of radius ``tube_radius``, i.e. that many
    4-neighbour dilations, cut to the target); the loss is one minus the soft recall of that tube:

    .. math::

        L = 1 - \frac{\sum_i p_i T_i + s}{\sum_i T_i + s}, \qquad p = \sigma(x)

    with sums over the batch and pixels of a channel, mean over channels. Kirchhoff et al.
    return :math:`-\mathrm{recall}` and add it to CE + Dice; :math:`1 - \mathrm{recall}`
    differs by a constant. Use it beside a pixel loss: alone it is minimised by predicting
    everything as boundary. Targets are binarised at 0.5; the tube carries no gradient.

    Parameters
    ----------
    tube_radius : int, default 2
        Dilation radius of the skeleton (0 = the bare skeleton).
    smooth : float, default 1.0
        Smoothing term :math:`s`; a map without skeleton has loss 0.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.
    """

    def __init__(self, *, tube_radius: int = 2, smooth: float = 1.0,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        if int(tube_radius) != tube_radius or tube_radius < 0:
            raise InputError(f"tube_radius must be an integer >= 0; got {tube_radius!r}")
        self.tube_radius = int(tube_radius)
        self.smooth = check_positive(smooth, "smooth", allow_zero=True)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        masks = target.detach().cpu().numpy() >= 0.5
        tube = np.zeros(masks.shape, dtype=np.float32)
        for i in range(masks.shape[0]):
            for j in range(masks.shape[1]):
                tube[i, j] = tubed_skeleton(masks[i, j], tube_radius=self.tube_radius)
        tube_t = torch.from_numpy(tube).to(device=logits.device, dtype=logits.dtype)
        prob = torch.sigmoid(logits)
        dims = (0, 2, 3)
        recall = ((prob * tube_t).sum(dims) + self.smooth) / (tube_t.sum(dims) + self.smooth)
        return (1.0 - recall).mean()
