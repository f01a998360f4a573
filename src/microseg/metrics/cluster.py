"""Agreement between two labelings (partitions) of the same pixels: ARI and VI.

Each labeling assigns every pixel an integer; pixels with the same integer form one
cluster (a grain). Only the partition matters, not the label values, so relabelled
copies agree perfectly. Both functions build one contingency table (pixel counts of
every pair of labels that meet) with a bincount when the labels are small
non-negative integers, else with :func:`numpy.unique` on combined int64 keys.

``ignore_background=True`` drops every pixel that is 0 (boundary/background) in
*either* labeling before the table is built; this keeps both metrics symmetric.
(:func:`skimage.metrics.variation_of_information` with ``ignore_labels=[0]`` drops
only pixels that are 0 in its first argument.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microseg._validate import as_labels, check_same_shape

__all__ = ["adjusted_rand_index", "variation_of_information"]

# The joint table is built by bincount while it has at most this many cells (or 2 per
# pixel), by sorting the pair keys beyond.
_MIN_DENSE_TABLE = 1 << 20


@dataclass(frozen=True)
class Contingency:
    """Non-zero cells of a contingency table and its margins (pixel counts)."""

    joint: np.ndarray  # counts of each (a, b) label pair that occurs
    a: np.ndarray  # counts of each label of the first labeling that occurs
    b: np.ndarray  # counts of each label of the second labeling that occurs
    n: int  # pixels counted


def _dense_ids(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Map the labels in flat ``x`` to 0..k-1 (order-preserving); return ids and k."""
    if x.size and x.dtype.kind in "iu":
        lo, hi = int(x.min()), int(x.max())
        if hi - lo <= max(4 * x.size, 1 << 16):
            if lo == 0:
                shifted = x.astype(np.int64) if x.dtype == np.uint64 else x
            elif x.dtype.kind == "u":
                shifted = (x - x.dtype.type(lo)).astype(np.int64)
            else:
                shifted = x.astype(np.int64) - lo
            present = np.bincount(shifted.ravel(), minlength=hi - lo + 1) > 0
            lut = np.cumsum(present) - 1
            return lut[shifted], int(present.sum())
    uniq, inv = np.unique(x, return_inverse=True)
    return inv.ravel(), int(uniq.size)


def contingency(labels_a: object, labels_b: object, *, ignore_background: bool = False
                ) -> Contingency:
    """Validate two labelings of the same shape and build their contingency table."""
    a = as_labels(labels_a, "labels_a", allow_negative=True)
    b = as_labels(labels_b, "labels_b", allow_negative=True)
    check_same_shape(a, b, ("labels_a", "labels_b"))
    a, b = a.ravel(), b.ravel()
    if ignore_background:
        keep = (a != 0) & (b != 0)
        a, b = a[keep], b[keep]
    if a.size == 0:
        empty = np.zeros(0, np.int64)
        return Contingency(empty, empty, empty, 0)
    ia, ka = _dense_ids(a)
    ib, kb = _dense_ids(b)
    key = ia.astype(np.int64) * kb + ib
    if ka * kb <= max(2 * a.size, _MIN_DENSE_TABLE):
        joint = np.bincount(key, minlength=ka * kb)
        joint = joint[joint > 0]
    else:
        joint = np.unique(key, return_counts=True)[1]
    return Contingency(joint, np.bincount(ia, minlength=ka), np.bincount(ib, minlength=kb),
                       int(a.size))


def _sum_squares(counts: np.ndarray, n: int) -> int:
    """Exact sum of squared counts (int64 while it cannot overflow, Python ints beyond)."""
    if n < 3_000_000_000:  # the sum is at most n**2 < 2**63
        return int(np.dot(counts.astype(np.int64), counts.astype(np.int64)))
    return sum(int(c) * int(c) for c in counts)


def ari_from_table(table: Contingency) -> float:
    """Adjusted Rand index from a contingency table (see :func:`adjusted_rand_index`)."""
    n = table.n
    s_joint = _sum_squares(table.joint, n)
    s_a = _sum_squares(table.a, n)
    s_b = _sum_squares(table.b, n)
    # Ordered pair counts (as in sklearn.metrics.pair_confusion_matrix), exact in Python ints.
    both = s_joint - n  # pairs together in both labelings
    only_b = s_b - s_joint  # together in b, apart in a
    only_a = s_a - s_joint  # together in a, apart in b
    neither = n * n - only_a - only_b - s_joint
    if only_a == 0 and only_b == 0:
        return 1.0
    num = 2 * (both * neither - only_a * only_b)
    den = (both + only_a) * (only_a + neither) + (both + only_b) * (only_b + neither)
    return float(num / den)


def adjusted_rand_index(labels_a: object, labels_b: object, *, ignore_background: bool = False
                        ) -> float:
    """Adjusted Rand index between two labelings of the same pixels (Hubert & Arabie 1985).

    The Rand index counts the pixel pairs on which the labelings agree (together in
    both, or apart in both); the adjusted index rescales it so that chance agreement
    gives 0 on average and identical partitions give 1. The value is symmetric and
    equals :func:`sklearn.metrics.adjusted_rand_score` on the flattened arrays.

    Parameters
    ----------
    labels_a, labels_b : array_like of int, same shape
        Two labelings, e.g. predicted and true grain labels ``(Y, X)`` or ``(Z, Y, X)``.
        Label values are arbitrary integers; only which pixels share one matters.
    ignore_background : bool, default False
        Drop pixels that are 0 in either labeling (by default 0 is one more cluster).

    Returns
    -------
    float
        In [-1, 1] (at most 1). 1.0 when the partitions are identical, including the
        cases where both put all pixels in one cluster, both put every pixel in its
        own cluster, and no pixel is left (empty arrays or all ignored).

    Raises
    ------
    InputError
        If the shapes differ or a labeling holds NaN or non-integral values.

    Examples
    --------
    >>> adjusted_rand_index([1, 1, 2, 2], [5, 5, 3, 3])
    1.0
    >>> adjusted_rand_index([1, 1, 2, 2], [1, 2, 1, 2])
    -0.5
    """
    return ari_from_table(contingency(labels_a, labels_b, ignore_background=ignore_background))


def _entropy_bits(counts: np.ndarray, n: int) -> float:
    """Shannon entropy in bits of the distribution ``counts / n``."""
    c = counts[counts > 0].astype(np.float64)
    return float(np.log2(n) - np.dot(c, np.log2(c)) / n)


def vi_from_table(table: Contingency) -> dict[str, float]:
    """Variation of information from a contingency table (see :func:`variation_of_information`)."""
    if table.n == 0:
        return {"vi": 0.0, "split": 0.0, "merge": 0.0}
    h_joint = _entropy_bits(table.joint, table.n)
    split = max(h_joint - _entropy_bits(table.b, table.n), 0.0)  # H(A | B)
    merge = max(h_joint - _entropy_bits(table.a, table.n), 0.0)  # H(B | A)
    return {"vi": split + merge, "split": split, "merge": merge}


def variation_of_information(labels_a: object, labels_b: object, *,
                             ignore_background: bool = False) -> dict[str, float]:
    """Variation of information between two labelings, in bits (Meilă 2007).

    ``VI = H(A | B) + H(B | A)``, the information lost and gained going from one
    partition to the other; 0 for identical partitions. With ``labels_a`` the
    prediction and ``labels_b`` the truth, ``split = H(A | B)`` measures
    over-segmentation (true grains cut into several predicted ones) and
    ``merge = H(B | A)`` under-segmentation (true grains merged).
    ``skimage.metrics.variation_of_information(labels_b, labels_a)`` returns
    ``[split, merge]``.

    Parameters
    ----------
    labels_a, labels_b : array_like of int, same shape
        Two labelings, e.g. predicted and true grain labels ``(Y, X)`` or ``(Z, Y, X)``.
    ignore_background : bool, default False
        Drop pixels that are 0 in either labeling.

    Returns
    -------
    dict
        ``{"vi", "split", "merge"}`` as non-negative floats in bits; all 0.0 when no
        pixel is left (empty arrays or all ignored).

    Examples
    --------
    >>> variation_of_information([1, 1, 2, 2], [1, 1, 1, 1])
    {'vi': 1.0, 'split': 1.0, 'merge': 0.0}
    """
    return vi_from_table(contingency(labels_a, labels_b, ignore_background=ignore_background))
