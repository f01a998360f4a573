"""Pixel-wise metrics of a binary prediction against a binary truth.

Positive pixels are the class of interest (for boundary maps: boundary pixels).
Every function takes ``pred`` and ``truth`` of the same shape, any dimensionality
(``(Y, X)`` or ``(Z, Y, X)``), as bool or 0/1 arrays, or as probability maps with
``threshold=`` (a pixel is positive where ``value >= threshold``).

Empty-input convention (the same for every score here): when a score's denominator
is zero because *both* maps lack the pixels it counts, the agreement is perfect and
the score is 1.0 (e.g. F1 = IoU = precision = recall = 1.0 when neither map has a
positive pixel); when the denominator is zero otherwise the score is 0.0.
"""
from __future__ import annotations

import numpy as np

from microseg.metrics._pairs import as_mask_pair

__all__ = [
    "confusion_counts",
    "precision",
    "recall",
    "true_positive_rate",
    "true_negative_rate",
    "f1_score",
    "dice_score",
    "iou_score",
]


def counts_from_masks(p: np.ndarray, t: np.ndarray) -> dict[str, int]:
    tp = int(np.count_nonzero(p & t))
    n_pred = int(np.count_nonzero(p))
    n_true = int(np.count_nonzero(t))
    fp, fn = n_pred - tp, n_true - tp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(p.size) - tp - fp - fn}


def _ratio(num: int, den: int, *, both_empty: bool) -> float:
    """``num / den``; 1.0 when ``den == 0`` because both maps are empty, else 0.0."""
    if den == 0:
        return 1.0 if both_empty else 0.0
    return num / den


def scores_from_counts(c: dict[str, int]) -> dict[str, float]:
    """Precision, recall, TNR, F1 and IoU from confusion counts (empty convention applied)."""
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    no_pos = tp + fp + fn == 0  # neither map has a positive pixel
    no_neg = tn + fp + fn == 0  # neither map has a negative pixel
    return {
        "precision": _ratio(tp, tp + fp, both_empty=no_pos),
        "recall": _ratio(tp, tp + fn, both_empty=no_pos),
        "tnr": _ratio(tn, tn + fp, both_empty=no_neg),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, both_empty=no_pos),
        "iou": _ratio(tp, tp + fp + fn, both_empty=no_pos),
    }


def confusion_counts(pred: object, truth: object, *, threshold: float | None = None
                     ) -> dict[str, int]:
    """Count true/false positives and negatives of a binary prediction.

    Parameters
    ----------
    pred, truth : array_like of bool or {0, 1}, same shape
        Predicted and true masks, any dimensionality; 1 (True) is the positive class.
    threshold : float, optional
        Binarise probability maps as ``value >= threshold`` (applied to both arrays;
        a 0/1 truth is unchanged by any threshold in (0, 1]). Without it both arrays
        must hold only 0 and 1 (or be boolean).

    Returns
    -------
    dict
        ``{"tp", "fp", "fn", "tn"}`` as Python ints; all zero for empty arrays.

    Raises
    ------
    InputError
        If the shapes differ, an array holds NaN, or a mask is not binary.

    Examples
    --------
    >>> confusion_counts([1, 1, 0, 0], [1, 0, 1, 0])
    {'tp': 1, 'fp': 1, 'fn': 1, 'tn': 1}
    """
    p, t = as_mask_pair(pred, truth, threshold=threshold)
    return counts_from_masks(p, t)


def precision(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """Fraction of predicted positive pixels that are truly positive, TP / (TP + FP).

    Parameters are those of :func:`confusion_counts`. When ``pred`` has no positive
    pixel the value is 1.0 if ``truth`` has none either, and 0.0 otherwise.

    Examples
    --------
    >>> precision([1, 1, 0, 0], [1, 0, 0, 0])
    0.5
    >>> precision([0, 0], [0, 0])
    1.0
    """
    return scores_from_counts(confusion_counts(pred, truth, threshold=threshold))["precision"]


def recall(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """Fraction of truly positive pixels that are predicted positive, TP / (TP + FN).

    Also called sensitivity or true positive rate (:func:`true_positive_rate`).
    Parameters are those of :func:`confusion_counts`. When ``truth`` has no positive
    pixel the value is 1.0 if ``pred`` has none either, and 0.0 otherwise.

    Examples
    --------
    >>> recall([1, 0, 0, 0], [1, 1, 0, 0])
    0.5
    >>> recall([1, 0], [0, 0])
    0.0
    """
    return scores_from_counts(confusion_counts(pred, truth, threshold=threshold))["recall"]


def true_positive_rate(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """True positive rate TP / (TP + FN); identical to :func:`recall`.

    Examples
    --------
    >>> true_positive_rate([1, 0, 0, 0], [1, 1, 0, 0])
    0.5
    """
    return recall(pred, truth, threshold=threshold)


def true_negative_rate(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """Fraction of truly negative pixels predicted negative, TN / (TN + FP) (specificity).

    Parameters are those of :func:`confusion_counts`. When ``truth`` has no negative
    pixel the value is 1.0 if ``pred`` has none either, and 0.0 otherwise.

    Examples
    --------
    >>> true_negative_rate([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    >>> true_negative_rate([1, 1], [1, 1])
    1.0
    """
    return scores_from_counts(confusion_counts(pred, truth, threshold=threshold))["tnr"]


def f1_score(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """F1 score 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall.

    Identical to the Dice coefficient (:func:`dice_score`). Parameters are those of
    :func:`confusion_counts`. The value is 1.0 when neither map has a positive pixel
    and 0.0 when exactly one of them has none.

    Examples
    --------
    >>> f1_score([1, 1, 0, 0], [1, 0, 1, 0])
    0.5
    >>> f1_score([0, 0], [0, 0])
    1.0
    """
    return scores_from_counts(confusion_counts(pred, truth, threshold=threshold))["f1"]


def dice_score(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """Dice coefficient 2 TP / (2 TP + FP + FN); identical to :func:`f1_score`.

    Examples
    --------
    >>> dice_score([1, 1, 0, 0], [1, 0, 1, 0])
    0.5
    """
    return f1_score(pred, truth, threshold=threshold)


def iou_score(pred: object, truth: object, *, threshold: float | None = None) -> float:
    """Intersection over union (Jaccard index) TP / (TP + FP + FN).

    Parameters are those of :func:`confusion_counts`. The value is 1.0 when neither
    map has a positive pixel and 0.0 when exactly one of them has none. It relates to
    F1 by ``F1 = 2 IoU / (1 + IoU)``.

    Examples
    --------
    >>> iou_score([1, 1, 0, 0], [1, 0, 1, 0])
    0.3333333333333333
    >>> import numpy as np
    >>> iou_score(np.array([0.2, 0.9, 0.7]), np.array([0, 1, 1]), threshold=0.5)
    1.0
    """
    return scores_from_counts(confusion_counts(pred, truth, threshold=threshold))["iou"]
