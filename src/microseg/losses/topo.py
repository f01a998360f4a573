r"""Topological loss of Hu et al. (NeurIPS 2019) and its combinations with Dice and BCE.

Conventions
-----------
Filtration. The likelihood map :math:`p = \sigma(x)` is filtered by superlevel sets
:math:`\{p \ge t\}`, computed as the sublevel filtration of :math:`f = 1 - p` with
cripser's T-construction (pixels are the top cells of the cubical complex). A dot of the
persistence diagram is a pair (birth :math:`b`, death :math:`d`) of values of :math:`f`,
:math:`0 \le b < d \le 1`; a perfectly confident structure is born at 0 and dies at 1.
The one component that never dies is given death 1 (the top of the range).

Connectivity. The foreground (:math:`p` high, boundaries) is 8-connected and the background
4-connected, the dual pair under which a closed 8-connected curve encloses its inside:
:math:`\beta_0` counts boundary networks, :math:`\beta_1` the grains they enclose;
background regions open to the image border are not holes. This is the convention of
:func:`microseg.metrics.topology.betti_numbers`.

Matching (Hu et al. 2019, Eq. 3). For each dimension :math:`k`, the :math:`\beta_k` most
persistent dots of the prediction (:math:`\beta_k` = Betti number of the target, binarised
at 0.5) are matched to the perfect point (0, 1) and all other dots to the diagonal:

.. math::

    L_\mathrm{topo} = \sum_k \Bigl[ \sum_{\text{matched}} b^2 + (1 - d)^2
        + \sum_{\text{others}} \tfrac{1}{2} (d - b)^2 \Bigr]

where :math:`\frac12 (d - b)^2` is the squared distance to the diagonal. Values are read
from :math:`f` at the critical pixels cripser returns, so the gradient flows to those
pixels only (the birth and death pixels of each dot).

Limits and differences from Hu et al.'s released code. A structure of the target that
leaves no dot at all in the prediction (e.g. a grain wall predicted with exactly the same
value as the grains on both sides) gives no gradient: there is no pixel to push; the pixel
term (Dice, BCE) has to start it. Hu's code (i) uses dimension 1 only in 2D, (ii) ignores
dots of persistence < 0.03 when pushing to the diagonal, (iii) moves those dots by a force
of length persistence/√2 rather than the projection, and (iv) computes on 65 × 65 patches;
here both dimensions are used (``dims``), all dots count, the penalty is the exact squared
distance of Eq. 3, and patches are optional (``patch``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.losses._base import SegmentationLoss
from microseg.losses.pixel import _check_pos_weight, soft_dice_loss, weighted_bce

__all__ = ["TopoLoss", "TopoDiceLoss", "BCETopoLoss", "topo_loss", "persistence_pairs", "target_betti"]

_ESSENTIAL = 1e300  # cripser encodes an infinite death as DBL_MAX


def _compute_ph():
    try:
        import cripser
    except ImportError as exc:  # pragma: no cover - cripser is a dependency
        raise ImportError(
            "TopoLoss needs cripser (cubical persistent homology): pip install cripser"
        ) from exc
    return cripser.computePH_T


def persistence_pairs(f: np.ndarray, *, maxdim: int = 1) -> np.ndarray:
    """Persistence pairs of the sublevel filtration of a 2D map (T-construction).

    Parameters
    ----------
    f : ndarray, shape (H, W)
        Filtration values, e.g. ``1 - prob``.
    maxdim : int, default 1
        Highest homology dimension.

    Returns
    -------
    ndarray, shape (n, 9)
        Rows ``(dim, birth, death, by, bx, 0, dy, dx, 0)``: birth and death values and the
        row/column of the birth and death pixels. An essential class has death ``inf`` and
        death pixel ``(-1, -1)``.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.ones((5, 5)); ring[1:4, 1:4] = 0.0; ring[2, 2] = 1.0  # f = 1 - p
    >>> persistence_pairs(ring)[:, :3].tolist()
    [[0.0, 0.0, inf], [1.0, 0.0, 1.0]]
    """
    ph = np.array(_compute_ph()(np.ascontiguousarray(f, dtype=np.float64), maxdim=maxdim))
    if ph.size:
        ph[ph[:, 2] >= _ESSENTIAL, 2] = np.inf
    return ph


def _patches(size: int, patch: int | None) -> list[slice]:
    if patch is None or patch >= size:
        return [slice(0, size)]
    return [slice(s, min(s + patch, size)) for s in range(0, size, patch)]


def _check_topo_options(dims: Sequence[int], patch: int | None) -> tuple[tuple[int, ...], int | None]:
    dims = tuple(sorted(set(int(k) for k in dims)))
    if not dims or any(k not in (0, 1) for k in dims):
        raise InputError(f"dims must be a non-empty subset of (0, 1); got {dims!r}")
    if patch is not None and (int(patch) != patch or patch < 2):
        raise InputError(f"patch must be an integer >= 2 (e.g. 64) or None; got {patch!r}")
    return dims, None if patch is None else int(patch)


_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def target_betti(target: np.ndarray) -> tuple[int, int]:
    """Betti numbers (β0, β1) of a target map ``(H, W)`` binarised at 0.5.

    β0: 8-connected foreground components; β1: 4-connected background components that do
    not touch the border. This equals the count of dots of :func:`persistence_pairs` of
    the binary map born at 0 and alive at 1, computed faster with :func:`scipy.ndimage.label`.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((7, 7)); ring[1:6, 1:6] = 1; ring[2:5, 2:5] = 0
    >>> target_betti(ring)
    (1, 1)
    """
    from scipy import ndimage

    mask = np.asarray(target) >= 0.5
    b0 = int(ndimage.label(mask, structure=_EIGHT)[1])
    bg, n_bg = ndimage.label(~mask, structure=_FOUR)
    edge = np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]])
    return b0, int(n_bg - np.unique(edge[edge > 0]).size)


def _critical_points(f: np.ndarray, target: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Dots of one map: rows ``(by, bx, dy, dx, essential, matched)`` (int64).

    ``f`` is ``1 - prob`` of one map or patch. For each dimension the β_k most persistent
    dots are flagged ``matched`` (to go to the perfect point (0, 1)); the others go to the
    diagonal. Essential dots (death ∞) have death pixel (0, 0), unused.
    """
    ph = persistence_pairs(f, maxdim=max(dims))
    betti = target_betti(target)
    out = []
    for k in dims:
        rows = ph[ph[:, 0] == k]
        if rows.shape[0] == 0:
            continue
        essential = ~np.isfinite(rows[:, 2])
        pers = np.where(essential, 1.0, rows[:, 2]) - rows[:, 1]
        matched = np.zeros(rows.shape[0], dtype=bool)
        matched[np.argsort(-pers, kind="stable")[: betti[k]]] = True
        death = np.where(essential[:, None], 0.0, rows[:, 6:8])
        out.append(np.column_stack([rows[:, 3:5], death, essential, matched]).astype(np.int64))
    return np.concatenate(out) if out else np.zeros((0, 6), dtype=np.int64)


def topo_loss(logits: torch.Tensor, target: torch.Tensor, *, dims: Sequence[int] = (0, 1),
              patch: int | None = None) -> torch.Tensor:
    """TopoLoss of logits ``(N, C, H, W)`` against ``target``: sum over dots and patches of
    each map, mean over maps (see :class:`TopoLoss`).

    The persistence diagrams are computed on the CPU, maps in parallel threads (cripser
    releases the GIL); the loss is one gather of ``1 - sigmoid(logits)`` at the critical
    pixels.
    """
    n, c, h, w = logits.shape
    f = 1.0 - torch.sigmoid(logits)
    f_np = f.detach().cpu().double().numpy()
    t_np = target.detach().cpu().numpy()
    jobs = [(i, j, rs, cs) for i in range(n) for j in range(c)
            for rs in _patches(h, patch) for cs in _patches(w, patch)]

    def run(job: tuple[int, int, slice, slice]) -> np.ndarray:
        i, j, rs, cs = job
        pts = _critical_points(f_np[i, j, rs, cs], t_np[i, j, rs, cs], dims)
        offset = np.array([rs.start, cs.start, rs.start, cs.start])
        base = (i * c + j) * h * w
        birth = base + (pts[:, 0] + offset[0]) * w + pts[:, 1] + offset[1]
        death = base + (pts[:, 2] + offset[2]) * w + pts[:, 3] + offset[3]
        return np.column_stack([birth, death, pts[:, 4], pts[:, 5]])

    workers = min(len(jobs), os.cpu_count() or 1, 8)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, jobs))
    else:
        parts = [run(job) for job in jobs]
    dots = torch.as_tensor(np.concatenate(parts), device=logits.device)
    flat = f.reshape(-1)
    b = flat[dots[:, 0]]
    d = torch.where(dots[:, 2].bool(), torch.ones_like(b), flat[dots[:, 1]])
    to_perfect = b**2 + (1.0 - d) ** 2
    to_diagonal = 0.5 * (d - b) ** 2
    total = torch.where(dots[:, 3].bool(), to_perfect, to_diagonal).sum()
    return total / (n * c) + 0.0 * logits.sum()  # keeps the graph when there are no dots


class TopoLoss(SegmentationLoss):
    r"""Persistent-homology loss of Hu et al. (NeurIPS 2019), on cripser.

    Penalises the difference between the topology of the likelihood map and that of the
    target: the :math:`\beta_k` most persistent dots of the prediction are pushed to
    (birth 0, death 1), all others to the diagonal (formula and conventions in
    :mod:`microseg.losses.topo`). It is zero when the prediction is a confident map with
    the target's Betti numbers and grows when, e.g., a gap in a boundary merges two grains.
    Per map the loss is the sum over dots (and patches); over the batch and channels, the
    mean.

    Parameters
    ----------
    dims : sequence of int, default (0, 1)
        Homology dimensions: 0 = connected boundary networks, 1 = enclosed grains.
    patch : int, optional
        Compute on non-overlapping ``patch`` × ``patch`` tiles (Hu et al. used 65 × 65),
        each matched to the Betti numbers of its own target tile. Faster for large maps and
        more local; None = the whole map.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.

    Examples
    --------
    >>> import torch
    >>> y = torch.zeros(1, 1, 7, 7); y[0, 0, 1:6, 1:6] = 1; y[0, 0, 2:5, 2:5] = 0  # a ring
    >>> float(TopoLoss()(torch.where(y > 0, 30.0, -30.0), y))  # same topology
    0.0
    >>> gap = torch.where(y > 0, 30.0, -30.0); gap[0, 0, 1, 3] = 0.0  # p = 0.5 in the wall
    >>> float(TopoLoss()(gap, y))  # the hole is born at f = 0.5 instead of 0: 0.5 ** 2
    0.25
    """

    def __init__(self, *, dims: Sequence[int] = (0, 1), patch: int | None = None,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.dims, self.patch = _check_topo_options(dims, patch)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return topo_loss(logits, target, dims=self.dims, patch=self.patch)


class TopoDiceLoss(SegmentationLoss):
    r"""Dice plus λ · TopoLoss: seed 000's TopoDICE (its Eq. 1).

    .. math:: L = L_\mathrm{Dice} + \lambda L_\mathrm{topo}

    Seed 000 does not state λ; it builds on seed 001 (same group), which used
    λ = 0.04 with BCE, so 0.04 is the default here.

    Parameters
    ----------
    topo_lambda : float, default 0.04
        Weight λ >= 0 of the topological term.
    smooth : float, default 1.0
        Smoothing of the Dice term (see :class:`~microseg.losses.pixel.DiceLoss`).
    dims, patch
        As in :class:`TopoLoss`.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.
    """

    def __init__(self, *, topo_lambda: float = 0.04, smooth: float = 1.0,
                 dims: Sequence[int] = (0, 1), patch: int | None = None,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.topo_lambda = check_positive(topo_lambda, "topo_lambda", allow_zero=True)
        self.smooth = check_positive(smooth, "smooth", allow_zero=True)
        self.dims, self.patch = _check_topo_options(dims, patch)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dice = soft_dice_loss(torch.sigmoid(logits), target, smooth=self.smooth)
        if self.topo_lambda == 0:
            return dice
        return dice + self.topo_lambda * topo_loss(logits, target, dims=self.dims, patch=self.patch)


class BCETopoLoss(SegmentationLoss):
    r"""Class-weighted BCE plus λ · TopoLoss: seed 001's dual loss (its Eq. 1).

    .. math:: L = L_\mathrm{BCE}(x, y; w) + \lambda L_\mathrm{topo}

    Seed 001 fine-tuned a BCE-trained U-Net with this loss (Adam, lr 1e-5, λ = 0.04),
    keeping the BCE of its first stage (weight ratio :math:`w` = 9.0; pass ``pos_weight=9.0``
    to reproduce it — the default 1.0 matches the other losses here).

    Parameters
    ----------
    topo_lambda : float, default 0.04
        Weight λ >= 0 of the topological term.
    pos_weight : float or sequence of float, default 1.0
        Weight ratio of boundary pixels in the BCE term.
    dims, patch
        As in :class:`TopoLoss`.
    side_weights : sequence of float, optional
        Weights of side outputs when ``pred`` is a list.
    """

    def __init__(self, *, topo_lambda: float = 0.04, pos_weight: float | Sequence[float] = 1.0,
                 dims: Sequence[int] = (0, 1), patch: int | None = None,
                 side_weights: Sequence[float] | None = None) -> None:
        super().__init__(side_weights=side_weights)
        self.topo_lambda = check_positive(topo_lambda, "topo_lambda", allow_zero=True)
        self.pos_weight = _check_pos_weight(pos_weight)
        self.dims, self.patch = _check_topo_options(dims, patch)

    def _compute(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = weighted_bce(logits, target, pos_weight=self.pos_weight)
        if self.topo_lambda == 0:
            return bce
        return bce + self.topo_lambda * topo_loss(logits, target, dims=self.dims, patch=self.patch)
