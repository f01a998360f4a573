"""Prediction vs truth: every metric of the ``metrics`` stage for one pair of maps."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from microseg._util import InputError, look_up_option

KINDS = ("boundaries", "phase")


def _phase_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from microseg import metrics

    c = metrics.confusion_counts(pred, truth)
    out: dict[str, Any] = {
        "precision": metrics.precision(pred, truth), "recall": metrics.recall(pred, truth),
        "tpr": metrics.true_positive_rate(pred, truth), "tnr": metrics.true_negative_rate(pred, truth),
        "f1": metrics.f1_score(pred, truth), "dice": metrics.dice_score(pred, truth),
        "iou": metrics.iou_score(pred, truth), **{k: int(v) for k, v in c.items()},
        "fraction_pred": float(pred.mean()), "fraction_true": float(truth.mean()),
    }
    if pred.ndim == 3:
        fp = pred.reshape(pred.shape[0], -1).mean(axis=1)
        ft = truth.reshape(truth.shape[0], -1).mean(axis=1)
        out.update({"slice_fraction_pred_mean": float(fp.mean()), "slice_fraction_pred_std": float(fp.std()),
                    "slice_fraction_true_mean": float(ft.mean()), "slice_fraction_true_std": float(ft.std())})
    return out


def evaluate_maps(pred: np.ndarray, truth: np.ndarray, *, kind: str = "boundaries",
                  pixel_size: float | None = None, tolerance: float = 2.0, threshold: float = 0.5,
                  min_diameter: float = 0.0, mask: np.ndarray | None = None) -> dict[str, Any]:
    """All metrics of a predicted map against the truth, as a flat JSON-ready dict.

    Parameters
    ----------
    pred : ndarray
        Predicted probability or mask, (Y, X) — or (Z, Y, X) for ``kind="phase"``.
    truth : ndarray
        True mask of the same shape (1 = boundary or phase).
    kind : {"boundaries", "phase"}
        ``"boundaries"``: pixel, distance (HD, HD95 and tolerance in px as in seed 000) and
        topology metrics, then grains labelled in both maps and compared (ARI, VI, grain
        counts, mean ECD and its error in µm when the pixel size is known, Jensen–Shannon
        distances of the ECD and aspect-ratio distributions as in seed 001). ``"phase"``:
        confusion-matrix metrics (IoU as in seed 004) and, for stacks, phase fraction per slice.
    pixel_size : float, optional
        µm per pixel, for the grain-level lengths.
    tolerance : float
        Boundary F-score tolerance in px.
    threshold : float
        Probability at or above which a pixel is positive.
    min_diameter : float
        Smallest grain kept (ECD in µm, or px without pixel size).
    mask : ndarray of bool, optional
        Where the truth is known (same shape; True = scored): every metric counts the pixels
        inside only, and grains cut by the mask's edge are left out as at the image edge.
    """
    from microseg import metrics

    kind = look_up_option(kind, KINDS, what="kind")
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise InputError(f"pred has shape {pred.shape} but truth has shape {truth.shape}")
    p, t = pred >= threshold, truth >= 0.5
    if mask is not None:
        from microseg.grains.analysis import check_mask

        mask = check_mask(mask, pred.shape, source="mask")
    if kind == "phase":
        if mask is not None and pred.ndim == 2:
            return {"kind": kind, "masked_fraction": float(1 - mask.mean()), **_phase_metrics(p[mask], t[mask])}
        return {"kind": kind, **_phase_metrics(p if mask is None else p & mask, t if mask is None else t & mask)}
    if pred.ndim != 2:
        raise InputError(f"pred: boundary evaluation needs 2D maps, got shape {pred.shape}")
    if not t.any():
        raise InputError("truth: has no boundary pixels; expected a boundary map (1 = boundary)")
    out: dict[str, Any] = {"kind": kind, "tolerance_px": tolerance}
    out.update(metrics.evaluate_boundaries(p, t, tolerance=tolerance, mask=mask))
    from microseg.grains import analyse_grains

    grains_true = analyse_grains(truth.astype(np.float32), pixel_size=pixel_size, min_diameter=min_diameter,
                                 mask=mask, source="truth")
    try:
        grains_pred = analyse_grains(pred.astype(np.float32), pixel_size=pixel_size, mask=mask,
                                     min_diameter=min_diameter, threshold=threshold, source="pred")
        labels_pred = grains_pred.labels
    except InputError:  # a prediction with no boundaries or no grains is a valid (bad) answer
        grains_pred, labels_pred = None, np.zeros_like(grains_true.labels)
    g = metrics.evaluate_grains(labels_pred, grains_true.labels, pixel_size=pixel_size or 1.0)
    unit = "um" if pixel_size else "px"
    out.update({"ari": g["ari"], "vi": g["vi"], "vi_split": g["vi_split"], "vi_merge": g["vi_merge"],
                "n_grains_pred": g["n_grains_pred"], "n_grains_true": g["n_grains_true"],
                f"mean_ecd_pred_{unit}": g["mean_ecd_pred"], f"mean_ecd_true_{unit}": g["mean_ecd_true"],
                f"ecd_error_{unit}": g["ecd_error"],
                "ecd_relative_error": (g["ecd_error"] / g["mean_ecd_true"]) if g["mean_ecd_true"] else math.nan})
    out.update(_distribution_distances(grains_pred, grains_true, unit))
    return out


def _distribution_distances(pred: Any, truth: Any, unit: str) -> dict[str, float]:
    """Jensen–Shannon distances (seed 001) between the predicted and true grain-size and
    aspect-ratio distributions, on histograms and on the fitted PDFs; NaN when undefined."""
    from microseg.grains import jensen_shannon_distance

    out = {"js_ecd": math.nan, "js_aspect_ratio": math.nan, "js_ecd_lognormal_fit": math.nan,
           "js_aspect_ratio_beta_fit": math.nan}
    if pred is None:
        return out
    pairs = {"js_ecd": (pred.table[f"ecd_{unit}"], truth.table[f"ecd_{unit}"]),
             "js_aspect_ratio": (pred.table["aspect_ratio"], truth.table["aspect_ratio"])}
    for key, (a, b) in pairs.items():
        a, b = np.asarray(a, float), np.asarray(b, float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size and b.size:
            out[key] = jensen_shannon_distance(a, b, bins=30)
    for key, kind in (("js_ecd_lognormal_fit", "lognormal"), ("js_aspect_ratio_beta_fit", "beta")):
        if kind in pred.fits and kind in truth.fits:
            out[key] = jensen_shannon_distance(pred.fits[kind], truth.fits[kind], bins=200)
    return out
