"""Distance metrics between two binary maps: Hausdorff, mean surface distance, boundary F-score.

The point sets compared are the positive pixels of each map, which is what a thin
boundary map (the usual input here) already is. For filled object masks pass
``surface=True`` to compare only the masks' border pixels (the pixels with a
face-neighbour outside the mask or on the image edge), as MONAI does.

Distances are Euclidean between pixel centres, in the units of ``pixel_size`` (a number
or one length per axis, e.g. ``(dz, dy, dx)`` in µm; the default None gives pixels).
Distances are exact: for sparse maps (thin boundaries) a k-d tree of the positive
pixels' coordinates (:class:`scipy.spatial.cKDTree`, all CPU cores) gives each pixel's
nearest neighbour in the other map; for dense maps one Euclidean distance transform per
map (:func:`scipy.ndimage.distance_transform_edt` with ``sampling=pixel_size``) is read at
the positive pixels of the other map.

Empty-input convention: when neither map has a positive pixel the distance is 0.0 and
the boundary F-scores are 1.0; when exactly one map is empty the distance is ``inf``
and the boundary F-scores are 0.0.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.metrics._pairs import apply_mask, as_mask_pair, lengths

__all__ = ["hausdorff_distance", "mean_surface_distance", "boundary_f_score", "boundary_match_counts",
           "scores_from_match_counts"]

# Below this fraction of positive pixels (both maps together, per pixel of the array) a
# k-d tree of the positive pixels is faster than a distance transform of the whole array
# (measured on 2048 x 2048 maps: 0.15 s against 0.6 s at 5 %, even at about 15-20 %).
KDTREE_MAX_FRACTION = 0.2

# Relative slack when comparing a distance with a tolerance, so that a distance that is
# mathematically equal to the tolerance (e.g. 4 px x 0.5 um = 2 um) counts as within it.
_TOL_EPS = 1e-9


def surface_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a face-neighbour outside it (the image edge counts as outside)."""
    if not mask.any():
        return mask
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def _nearest(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    tree = cKDTree(targets, balanced_tree=False, compact_nodes=False)
    return tree.query(points, workers=-1)[0]


def directed_distances(p: np.ndarray, t: np.ndarray, pixel_size: tuple[float, ...], *,
                       both: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Distance from each positive pixel of ``p`` to the nearest of ``t``, and vice versa.

    Both masks must be non-empty; distances come in the order of ``np.argwhere``. With
    ``both=False`` only the first array is computed. Sparse maps (thin boundaries) use a
    k-d tree of the pixel coordinates, dense ones a distance transform of the whole
    array; both are exact, the choice is only about speed.
    """
    if np.count_nonzero(p) + np.count_nonzero(t) <= KDTREE_MAX_FRACTION * p.size:
        scale = np.asarray(pixel_size, dtype=float)
        cp, ct = np.argwhere(p) * scale, np.argwhere(t) * scale
        return _nearest(cp, ct), (_nearest(ct, cp) if both else None)
    d_pt = ndimage.distance_transform_edt(~t, sampling=pixel_size)[p]
    d_tp = ndimage.distance_transform_edt(~p, sampling=pixel_size)[t] if both else None
    return d_pt, d_tp


def _prepare(pred: object, truth: object, pixel_size: float | Sequence[float] | None, surface: bool,
             threshold: float | None, mask: object | None = None
             ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    p, t = as_mask_pair(pred, truth, threshold=threshold)
    if p.ndim == 0:
        raise InputError("pred and truth must be arrays of at least one dimension; got scalars")
    sp = lengths(pixel_size, p.ndim)
    if surface:
        p, t = surface_pixels(p), surface_pixels(t)
    p, t = apply_mask(p, t, mask)
    return p, t, sp


def _check_percentile(percentile: float | None) -> float | None:
    if percentile is None:
        return None
    try:
        q = float(percentile)
    except (TypeError, ValueError):
        raise InputError(f"percentile must be a number in [0, 100] or None; got {percentile!r}") from None
    if not 0.0 <= q <= 100.0:
        raise InputError(f"percentile must be in [0, 100] or None; got {percentile!r}")
    return q


def reduce_distances(d: np.ndarray, percentile: float | None) -> float:
    """Maximum of ``d``, or its ``percentile``-th percentile (linear interpolation)."""
    return float(d.max()) if percentile is None else float(np.percentile(d, percentile))


def hausdorff_distance(pred: object, truth: object, *, percentile: float | None = None,
                       pixel_size: float | Sequence[float] | None = None, directed: bool = False,
                       surface: bool = False, threshold: float | None = None,
                       mask: object | None = None) -> float:
    """Hausdorff distance between the positive pixels of two maps, or a percentile of it.

    Parameters
    ----------
    pred, truth : array_like of bool or {0, 1}, same shape
        Predicted and true maps, ``(Y, X)`` or ``(Z, Y, X)`` (any dimensionality works).
    percentile : float in [0, 100], optional
        Replace the maximum by this percentile of the distances (95 gives HD95).
        Following MONAI, the symmetric value is the larger of the two directed
        percentiles, ``max(P_p(d(pred→truth)), P_p(d(truth→pred)))``, not the percentile
        of the pooled distances; percentiles interpolate linearly (:func:`numpy.percentile`).
    pixel_size : float or sequence of float, optional
        Pixel size, one number or one per axis, e.g. ``(dz, dy, dx)`` in µm; the result is
        in these units. None (the default) gives pixels.
    directed : bool, default False
        Return only the directed distance from ``pred`` to ``truth``: how far predicted
        pixels lie from the nearest true pixel (seed 000's "distance of a false positive
        to the nearest grain boundary pixel").
    surface : bool, default False
        Compare the border pixels of filled masks instead of all positive pixels.
    threshold : float, optional
        Binarise probability maps as ``value >= threshold``.
    mask : array_like of bool, optional
        Validity mask of the same shape: only pixels inside it count (e.g. where an EBSD
        map gave the truth); pixels outside are dropped from both maps.

    Returns
    -------
    float
        The distance in units of ``pixel_size``: 0.0 when neither map has a positive pixel,
        ``inf`` when exactly one has none (also in the directed case).

    Raises
    ------
    InputError
        If shapes differ, a map holds NaN or is not binary, or ``pixel_size``/``percentile``
        is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((5, 5), bool); a[2, 0] = True
    >>> b = np.zeros((5, 5), bool); b[2, 3] = True
    >>> hausdorff_distance(a, b)
    3.0
    >>> hausdorff_distance(a, b, pixel_size=0.5)
    1.5
    >>> hausdorff_distance(a, np.zeros((5, 5), bool))
    inf
    """
    q = _check_percentile(percentile)
    distances = _pair_distances(pred, truth, pixel_size, surface, threshold, directed, mask)
    if isinstance(distances, float):
        return distances
    d_pt, d_tp = distances
    if directed:
        return reduce_distances(d_pt, q)
    return max(reduce_distances(d_pt, q), reduce_distances(d_tp, q))


def _pair_distances(pred, truth, pixel_size, surface, threshold, directed, mask=None):
    """Both directed distance arrays, or the defined value for empty maps: 0.0 when neither
    map has a positive pixel, ``inf`` when exactly one has none."""
    p, t, sp = _prepare(pred, truth, pixel_size, surface, threshold, mask)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not (has_p or has_t):
        return 0.0
    if not (has_p and has_t):
        return float("inf")
    return directed_distances(p, t, sp, both=not directed)


def mean_surface_distance(pred: object, truth: object, *,
                          pixel_size: float | Sequence[float] | None = None,
                          directed: bool = False, surface: bool = False,
                          threshold: float | None = None, mask: object | None = None) -> float:
    """Mean distance from the positive pixels of one map to the nearest of the other.

    The symmetric value (the average symmetric surface distance, ASSD) is the mean of
    all distances in both directions pooled, i.e. each pixel of either map counts once.
    Parameters are those of :func:`hausdorff_distance`; ``directed=True`` averages over
    the pixels of ``pred`` only.

    Returns
    -------
    float
        The mean distance in units of ``pixel_size``: 0.0 when neither map has a positive
        pixel, ``inf`` when exactly one has none.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 6), bool); a[1, :] = True
    >>> b = np.zeros((4, 6), bool); b[3, :] = True
    >>> mean_surface_distance(a, b)
    2.0
    """
    distances = _pair_distances(pred, truth, pixel_size, surface, threshold, directed, mask)
    if isinstance(distances, float):
        return distances
    d_pt, d_tp = distances
    if directed:
        return float(d_pt.mean())
    return float((d_pt.sum() + d_tp.sum()) / (d_pt.size + d_tp.size))


def boundary_scores(d_pt: np.ndarray, d_tp: np.ndarray, tolerance: float) -> dict[str, float]:
    """Boundary precision, recall and F1 from directed distances (both sets non-empty)."""
    limit = tolerance * (1.0 + _TOL_EPS) + _TOL_EPS
    prec = float(np.count_nonzero(d_pt <= limit) / d_pt.size)
    rec = float(np.count_nonzero(d_tp <= limit) / d_tp.size)
    f1 = 2.0 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


def boundary_f_score(pred: object, truth: object, *, tolerance: float = 2.0,
                     pixel_size: float | Sequence[float] | None = None, threshold: float | None = None,
                     mask: object | None = None) -> dict[str, float]:
    """Boundary precision, recall and F-score with a distance tolerance.

    A predicted boundary pixel is correct when a true boundary pixel lies within
    ``tolerance`` of it (inclusive); a true pixel is found when a predicted pixel lies
    within ``tolerance`` of it. Precision is the fraction of correct predicted pixels,
    recall the fraction of found true pixels, F1 their harmonic mean. Unlike a
    one-to-one matching (Martin et al. 2004) one pixel may justify several; for thin
    boundaries of similar width the difference is small.

    Parameters
    ----------
    pred, truth : array_like of bool or {0, 1}, same shape
        Predicted and true boundary maps, ``(Y, X)`` or ``(Z, Y, X)``.
    tolerance : float, default 2.0
        Largest distance, in units of ``pixel_size``, at which two pixels still match;
        0 asks for the exact pixel.
    pixel_size : float or sequence of float, optional
        Pixel size, one number or one per axis (None, the default: pixels).
    threshold : float, optional
        Binarise probability maps as ``value >= threshold``.
    mask : array_like of bool, optional
        Validity mask: only pixels inside it count (see :func:`hausdorff_distance`).

    Returns
    -------
    dict
        ``{"precision", "recall", "f1"}`` as floats: all 1.0 when neither map has a
        positive pixel, all 0.0 when exactly one has none.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((8, 8), bool); t[4, :] = True
    >>> p = np.zeros((8, 8), bool); p[5, :] = True; p[0, 0] = True
    >>> boundary_f_score(p, t, tolerance=1.0)
    {'precision': 0.8888888888888888, 'recall': 1.0, 'f1': 0.9411764705882353}
    """
    c = boundary_match_counts(pred, truth, tolerance=tolerance, pixel_size=pixel_size,
                              threshold=threshold, mask=mask)
    return scores_from_match_counts(c)


def boundary_match_counts(pred: object, truth: object, *, tolerance: float = 2.0,
                          pixel_size: float | Sequence[float] | None = None,
                          threshold: float | None = None,
                          mask: object | None = None) -> dict[str, int]:
    """The counts behind :func:`boundary_f_score`, to pool over many tiles or images.

    Returns ``{"pred_matched", "pred", "truth_matched", "truth"}``: predicted pixels with
    a true pixel within ``tolerance``, all predicted pixels, true pixels found, all true
    pixels. Summed over the tiles of a validation area and passed to
    :func:`scores_from_match_counts` they give the boundary F-score of the whole area
    (each pixel weighs the same), not a mean of per-tile scores. Distances are measured
    within each call, so a pixel near a tile edge sees only its own tile.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((8, 8), bool); t[4, :] = True
    >>> p = np.zeros((8, 8), bool); p[5, :] = True; p[0, 0] = True
    >>> boundary_match_counts(p, t, tolerance=1.0)
    {'pred_matched': 8, 'pred': 9, 'truth_matched': 8, 'truth': 8}
    """
    tol = check_positive(tolerance, "tolerance", allow_zero=True)
    p, t, sp = _prepare(pred, truth, pixel_size, False, threshold, mask)
    n_p, n_t = int(np.count_nonzero(p)), int(np.count_nonzero(t))
    if not (n_p and n_t):
        return {"pred_matched": 0, "pred": n_p, "truth_matched": 0, "truth": n_t}
    d_pt, d_tp = directed_distances(p, t, sp)
    limit = tol * (1.0 + _TOL_EPS) + _TOL_EPS
    return {"pred_matched": int(np.count_nonzero(d_pt <= limit)), "pred": n_p,
            "truth_matched": int(np.count_nonzero(d_tp <= limit)), "truth": n_t}


def scores_from_match_counts(c: dict[str, int]) -> dict[str, float]:
    """Boundary precision, recall and F1 from (pooled) :func:`boundary_match_counts`.

    Same empty-map convention as :func:`boundary_f_score`: 1.0 when neither map has a
    positive pixel, 0.0 when exactly one has none.

    Examples
    --------
    >>> scores_from_match_counts({"pred_matched": 8, "pred": 10, "truth_matched": 9, "truth": 10})
    {'precision': 0.8, 'recall': 0.9, 'f1': 0.8470588235294118}
    """
    if not (c["pred"] or c["truth"]):
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    if not (c["pred"] and c["truth"]):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    prec, rec = c["pred_matched"] / c["pred"], c["truth_matched"] / c["truth"]
    f1 = 2.0 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": float(prec), "recall": float(rec), "f1": float(f1)}
