"""``microseg evaluate``: a prediction against the truth, with every metric of the ``metrics``
stage and, for boundaries, the grains labelled in both maps and compared."""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, look_up_option
from microseg.io import Image
from microseg.tasks._base import TaskResult, Writer, check_outputs, write_all

log = logging.getLogger(__name__)

__all__ = ["EvaluateResult", "KINDS", "OUTPUTS", "evaluate", "evaluate_maps"]

KINDS = ("boundaries", "phase")
#: The files :meth:`EvaluateResult.write` creates in a folder.
OUTPUTS = ("evaluation.json", "evaluation.csv")


@dataclass(frozen=True)
class EvaluateResult(TaskResult):
    """The metrics of one prediction: ``metrics`` (= ``summary``) a flat JSON-ready dict,
    ``table`` its numbers as the columns ``metric`` and ``value`` (the CSV), ``text`` the
    JSON the command prints without ``-o``."""

    metrics: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        return self.metrics

    @property
    def table(self) -> dict[str, np.ndarray]:
        numbers = self._numbers()
        return {"metric": np.array(list(numbers), dtype=str),
                "value": np.array(list(numbers.values()), dtype=np.float64)}

    @property
    def text(self) -> str:
        from microseg.io import json_text

        return json_text(self.metrics).rstrip("\n")

    def _numbers(self) -> dict[str, int | float]:
        return {k: v for k, v in self.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def _csv(self) -> str:
        return "metric,value\n" + "".join(f"{k},{v}\n" for k, v in self._numbers().items())

    def _writers(self, json_name: str, csv_name: str) -> list[tuple[str, Writer]]:
        from microseg._util import write_text_atomic
        from microseg.io import write_json

        return [(json_name, lambda p: write_json(p, self.metrics, force=True)),
                (csv_name, lambda p: write_text_atomic(p, self._csv(), force=True))]

    def files(self) -> list[tuple[str, Writer]]:
        return self._writers(*OUTPUTS)

    @staticmethod
    def check_file(path_json: str | os.PathLike, *, force: bool = False) -> tuple[Path, Path]:
        """The JSON file and the CSV beside it that :meth:`write_file` writes; refuses
        (before any work) to overwrite either unless ``force``."""
        path = Path(path_json)
        csv = path.with_suffix(".csv")
        if csv == path:
            raise InputError(f"{path}: the evaluation is written as JSON with a CSV beside it; "
                             "name the JSON file (e.g. eval.json)")
        check_outputs(path.parent, [path.name, csv.name], force=force)
        return path, csv

    def write_file(self, path_json: str | os.PathLike, *, force: bool = False) -> list[Path]:
        """Write ``path_json`` and the CSV beside it (``eval.json`` → ``eval.csv``), both or
        neither; no overwrite without ``force``. What ``microseg evaluate -o FILE`` writes."""
        path, csv = self.check_file(path_json, force=force)
        written = write_all(path.parent, self._writers(path.name, csv.name), force=force)
        log.info("wrote %s and %s", path, csv)
        return written


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
        from microseg._validate import as_area_mask

        mask = as_area_mask(mask, "mask", shape=pred.shape)
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
    g = metrics.evaluate_grains(labels_pred, grains_true.labels, pixel_size=pixel_size)
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


def _read(value: Any, pixel_size: float | None, what: str) -> tuple[np.ndarray, float | None, str | None]:
    """A map as an array, its own pixel size and its name (a path or ``Image.source``)."""
    if isinstance(value, (str, os.PathLike)):
        from microseg import io

        image = io.read_prob_image(value, pixel_size=pixel_size)
        return image.data, image.pixel_size, str(value)
    if isinstance(value, Image):
        return np.asarray(value.data), value.pixel_size, value.source
    if value is None:
        raise InputError(f"{what}: expected an array, an Image or a path, got None")
    return np.asarray(value), None, None


def evaluate(pred: np.ndarray | Image | str | os.PathLike, truth: np.ndarray | Image | str | os.PathLike,
             *, kind: str = "boundaries", pixel_size: float | None = None, tolerance: float = 2.0,
             threshold: float = 0.5, min_diameter: float = 0.0,
             mask: np.ndarray | str | os.PathLike | None = None, output: str | os.PathLike | None = None,
             force: bool = False, progress: bool = False) -> EvaluateResult:
    """Score a predicted map against the truth (:func:`evaluate_maps`).

    Parameters
    ----------
    pred, truth : ndarray, Image or path
        Predicted probability or mask and the true mask, same shape: (Y, X), or (Z, Y, X)
        for ``kind="phase"``. Paths are read with :func:`microseg.io.read_prob_image`.
    kind, tolerance, threshold, min_diameter
        As for :func:`evaluate_maps`.
    pixel_size : float, optional
        µm per pixel; default the prediction's, else the truth's (from the files).
    mask : ndarray of bool or path, optional
        Where the truth is known (nonzero = scored), e.g. the EBSD coverage; a path is read
        with :func:`microseg.io.read_mask`.
    output : path, optional
        Folder to write ``evaluation.json`` and ``evaluation.csv`` to (checked before any
        work); :meth:`EvaluateResult.write_file` writes one named JSON file and its CSV.
    force : bool
        Overwrite existing outputs.
    progress : bool
        Accepted like every task's (this one has no long loop to show).

    Examples
    --------
    >>> import numpy as np
    >>> from microseg import tasks
    >>> b = np.zeros((40, 40), np.uint8); b[::10, :] = 1; b[:, ::10] = 1
    >>> result = tasks.evaluate(b, b, pixel_size=0.5)
    >>> result.summary["f1"], result.summary["ari"], result.summary["n_grains_true"]
    (1.0, 1.0, 9)
    """
    if output is not None:
        check_outputs(output, OUTPUTS, force=force)
    p, p_size, p_name = _read(pred, pixel_size, "pred")
    t, t_size, t_name = _read(truth, pixel_size, "truth")
    if p.shape != t.shape:
        raise InputError(f"{p_name or 'pred'} has shape {p.shape} but {t_name or 'truth'} has shape "
                         f"{t.shape}; the prediction and the truth must cover the same pixels")
    pixel_size = pixel_size or p_size or t_size
    if isinstance(mask, (str, os.PathLike)):
        from microseg import io

        mask = io.read_mask(mask, shape=p.shape)
    scores = evaluate_maps(p, t, kind=kind, pixel_size=pixel_size, tolerance=tolerance, threshold=threshold,
                           min_diameter=min_diameter, mask=mask)
    result = EvaluateResult({"pred": p_name, "truth": t_name, **scores})
    if output is not None:
        result.write(output, force=force)
        log.info("wrote %s", ", ".join(str(Path(output) / n) for n in OUTPUTS))
    return result
