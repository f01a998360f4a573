"""All metrics of a prediction in one flat dict, for tables and the CLI's JSON output.

Inputs are validated once and the expensive parts (distance transforms, contingency
table) computed once, so these are faster than calling each metric in turn.
Values are plain Python ``float`` and ``int``; distances may be ``inf`` when exactly
one map is empty, which :func:`microseg.io.write_json` writes as ``null`` (JSON has no
infinity; every JSON microseg writes follows that one rule).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microseg._validate import check_ndim, check_positive, check_same_shape
from microseg.metrics._pairs import as_mask_pair, as_metric_mask, lengths
from microseg.metrics.cluster import ari_from_table, contingency, vi_from_table
from microseg.metrics.distance import boundary_scores, directed_distances, reduce_distances
from microseg.metrics.grain import mean_ecd_of, grain_label_pair, grain_sizes
from microseg.metrics.pixel import counts_from_masks, scores_from_counts
from microseg.metrics.topology import betti_error_masks

__all__ = ["evaluate_boundaries", "evaluate_grains", "BOUNDARY_KEYS", "GRAIN_KEYS"]

BOUNDARY_KEYS = ("precision", "recall", "tpr", "tnr", "f1", "dice", "iou", "hd", "hd95",
                 "bf_precision", "bf_recall", "bf_f1", "betti0_error", "betti1_error")
GRAIN_KEYS = ("ari", "vi", "vi_split", "vi_merge", "n_grains_pred", "n_grains_true",
              "mean_ecd_pred", "mean_ecd_true", "ecd_error")


def _distance_metrics(p: np.ndarray, t: np.ndarray, pixel_size: tuple[float, ...],
                      tolerance: float) -> dict[str, float]:
    has_p, has_t = bool(p.any()), bool(t.any())
    if not (has_p and has_t):
        hd, bf = (0.0, 1.0) if not (has_p or has_t) else (float("inf"), 0.0)
        return {"hd": hd, "hd95": hd, "bf_precision": bf, "bf_recall": bf, "bf_f1": bf}
    d_pt, d_tp = directed_distances(p, t, pixel_size)
    bf = boundary_scores(d_pt, d_tp, tolerance)
    return {
        "hd": max(reduce_distances(d_pt, None), reduce_distances(d_tp, None)),
        "hd95": max(reduce_distances(d_pt, 95.0), reduce_distances(d_tp, 95.0)),
        "bf_precision": bf["precision"], "bf_recall": bf["recall"], "bf_f1": bf["f1"],
    }


def evaluate_boundaries(pred: object, truth: object, *,
                        pixel_size: float | Sequence[float] | None = None, tolerance: float = 2.0,
                        threshold: float | None = None, mask: object | None = None) -> dict[str, float | int]:
    """Pixel, distance and topology metrics of a boundary prediction, in one flat dict.

    Parameters
    ----------
    pred, truth : array_like of bool or {0, 1}, same shape (Y, X) or (Z, Y, X)
        Predicted and true boundary maps (1 = boundary).
    pixel_size : float or sequence of float, optional
        Pixel size, one number or one per axis; ``hd``, ``hd95`` and ``tolerance`` are in
        its units. None (the default) gives pixels.
    tolerance : float, default 2.0
        Matching distance of the boundary F-score (:func:`boundary_f_score`).
    threshold : float, optional
        Binarise probability maps as ``value >= threshold``.
    mask : array_like of bool, optional
        Validity mask (e.g. where the EBSD map covers the image): pixels outside it are
        left out of every score, in both maps; the pixel scores count only pixels inside.

    Returns
    -------
    dict
        Keys, always these and in this order (``BOUNDARY_KEYS``):

        - ``precision``, ``recall``, ``tpr`` (= recall), ``tnr``, ``f1``, ``dice``
          (= f1), ``iou``: pixel scores, see :mod:`microseg.metrics.pixel`;
        - ``hd``, ``hd95``: symmetric Hausdorff distance and its 95th percentile
          (MONAI convention), see :func:`hausdorff_distance`;
        - ``bf_precision``, ``bf_recall``, ``bf_f1``: boundary F-score at ``tolerance``;
        - ``betti0_error``, ``betti1_error`` (int): :func:`betti_error`; summed over
          Z slices for a 3D stack.

        Empty inputs follow each metric's convention: both maps empty gives perfect
        scores (1.0, distances 0.0, Betti errors 0); exactly one empty gives 0.0 for
        the overlap and boundary scores and ``inf`` for ``hd`` and ``hd95``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((16, 16), np.uint8); t[8, :] = 1
    >>> p = np.roll(t, 1, axis=0)
    >>> m = evaluate_boundaries(p, t, tolerance=1.0)
    >>> m["f1"], m["hd95"], m["bf_f1"], m["betti0_error"]
    (0.0, 1.0, 1.0, 0)
    """
    p, t = as_mask_pair(pred, truth, threshold=threshold)
    check_ndim(p, (2, 3), "pred and truth")
    sp = lengths(pixel_size, p.ndim)
    tol = check_positive(tolerance, "tolerance", allow_zero=True)
    if mask is not None:
        m = as_metric_mask(mask, "mask")
        check_same_shape(p, m, ("pred", "mask"))
        p, t = p & m, t & m
        s = scores_from_counts(counts_from_masks(p[m], t[m]))
    else:
        s = scores_from_counts(counts_from_masks(p, t))
    out: dict[str, float | int] = {
        "precision": s["precision"], "recall": s["recall"], "tpr": s["recall"], "tnr": s["tnr"],
        "f1": s["f1"], "dice": s["f1"], "iou": s["iou"],
    }
    out.update(_distance_metrics(p, t, sp, tol))
    betti = betti_error_masks(p, t)
    out["betti0_error"], out["betti1_error"] = betti["b0"], betti["b1"]
    return {k: out[k] for k in BOUNDARY_KEYS}


def evaluate_grains(labels_pred: object, labels_truth: object, *,
                    pixel_size: float | Sequence[float] | None = None, ignore_background: bool = False
                    ) -> dict[str, float | int]:
    """Cluster and grain-level metrics of a predicted grain labeling, in one flat dict.

    Parameters
    ----------
    labels_pred, labels_truth : array_like of int, same shape (Y, X) or (Z, Y, X)
        Predicted and true grain labels (0 = boundary/background, 1..N grains).
    pixel_size : float or sequence of float, optional
        Pixel size; the ECD values are in its units (None, the default: pixels).
    ignore_background : bool, default False
        Leave out of ARI and VI the pixels that are 0 in either labeling; by default
        the background is one more cluster.

    Returns
    -------
    dict
        Keys, always these and in this order (``GRAIN_KEYS``): ``ari``
        (:func:`adjusted_rand_index`), ``vi``, ``vi_split``, ``vi_merge`` (bits,
        :func:`variation_of_information` with the prediction first), ``n_grains_pred``,
        ``n_grains_true`` (int), ``mean_ecd_pred``, ``mean_ecd_true``, ``ecd_error``
        (:func:`mean_ecd`, :func:`ecd_error`). With no pixels left ARI is 1.0 and VI
        0.0; a map with no grain has mean ECD 0.0.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), np.int32); truth[:, :4] = 1; truth[:, 4:] = 2
    >>> m = evaluate_grains(truth * 3, truth)
    >>> m["ari"], m["vi"], m["n_grains_pred"], m["ecd_error"]
    (1.0, 0.0, 2, 0.0)
    """
    p, t = grain_label_pair(labels_pred, labels_truth)
    table = contingency(p, t, ignore_background=ignore_background)
    vi = vi_from_table(table)
    ecd_p, ecd_t = mean_ecd_of(p, pixel_size), mean_ecd_of(t, pixel_size)
    return {
        "ari": ari_from_table(table),
        "vi": vi["vi"], "vi_split": vi["split"], "vi_merge": vi["merge"],
        "n_grains_pred": int(grain_sizes(p).size), "n_grains_true": int(grain_sizes(t).size),
        "mean_ecd_pred": ecd_p, "mean_ecd_true": ecd_t, "ecd_error": ecd_p - ecd_t,
    }
