"""Boundary map → grains → table, summary, distribution fits and ASTM E112 grain size, in one call.

What ``microseg grains`` measures and what ``cv`` scores grains with; the figures and files
of it are drawn and written by :mod:`microseg.report.grain_report`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._validate import as_area_mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrainAnalysis:
    """Everything measured from one boundary map.

    ``labels`` int32 (Y, X), 0 = excluded; ``table`` the per-grain columns of
    :func:`microseg.grains.measure_grains`; ``summary`` JSON-ready numbers (``n_grains``,
    ``mean_ecd_um`` ...); ``fits`` name → fitted distribution.
    """

    labels: np.ndarray
    table: dict[str, np.ndarray]
    summary: dict[str, Any]
    fits: dict[str, Any] = field(default_factory=dict)
    pixel_size: float | None = None
    boundaries: np.ndarray | None = None


def check_boundary_map(prob: np.ndarray, *, threshold: float = 0.5, source: str = "map") -> np.ndarray:
    """Refuse maps that cannot be boundary maps: wrong shape, NaN, none or all boundary."""
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise InputError(f"{source}: expected a 2D (Y, X) boundary map, got shape {prob.shape}")
    if prob.dtype.kind == "f" and not np.isfinite(prob).all():
        raise InputError(f"{source}: contains {int((~np.isfinite(prob)).sum())} NaN or infinite values")
    boundary = prob >= threshold
    if not boundary.any():
        raise InputError(f"{source}: has no boundary pixels (all values below {threshold}); "
                         "expected a boundary map (1 = boundary) or a boundary probability")
    if boundary.all():
        raise InputError(f"{source}: every pixel is boundary (all values >= {threshold}); "
                         "there are no grain interiors to label")
    return boundary


def _fits(table: dict[str, np.ndarray], size_column: str) -> dict[str, Any]:
    from microseg.grains.distributions import fit_distribution

    fits: dict[str, Any] = {}
    sizes = np.asarray(table.get(size_column, []), dtype=float)
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    ratios = np.asarray(table.get("aspect_ratio", []), dtype=float)
    ratios = ratios[np.isfinite(ratios)]
    for kind, values in (("exponential", sizes), ("lognormal", sizes), ("beta", ratios)):
        if values.size >= 3 and np.unique(values).size >= 2:
            try:
                fits[kind] = fit_distribution(values, kind)
            except InputError as exc:  # e.g. all aspect ratios exactly 1
                log.info("no %s fit: %s", kind, exc)
    return fits


def _fit_summary(fit: Any) -> dict[str, Any]:
    return {"params": list(fit.params), "ks_statistic": fit.ks_statistic, "n": fit.n}


def _astm(boundaries: np.ndarray, labels_all: np.ndarray, pixel_size: float | None,
          mask: np.ndarray | None = None) -> dict[str, Any]:
    """ASTM E112 grain size: Jeffries' planimetric count (on all grains, cut ones counted as
    E112 says; in ``mask`` if given) and the intercept counts of Heyn's line grid and Abrams'
    three circles over fields of the boundary map as drawn (its centre lines), wholly inside
    ``mask`` if given.
    Without a pixel size the intercepts are in px and there is no G (``notes`` says so); a
    method that cannot count is ``None`` with its reason in ``notes``."""
    from dataclasses import asdict

    from microseg.grains.astm import grain_size_intercept, grain_size_planimetric, centre_lines

    out: dict[str, Any] = {"pixel_size_um": pixel_size, "length_unit": "µm" if pixel_size else "px",
                           "planimetric": None, "intercept_lines": None, "intercept_circles": None,
                           "notes": []}
    if pixel_size is None:
        out["notes"].append("G and the planimetric N_A need a pixel size; intercepts are in px")
    else:
        try:
            out["planimetric"] = asdict(grain_size_planimetric(
                labels_all, pixel_size=pixel_size, mask=None if mask is None or mask.all() else mask))
        except InputError as exc:
            out["notes"].append(f"planimetric: {exc}")
    centre_lines = centre_lines(boundaries)  # once for both patterns
    for pattern in ("lines", "circles"):
        try:
            result = grain_size_intercept(centre_lines, pixel_size=pixel_size, pattern=pattern, thin=False,
                                          mask=None if mask is None or mask.all() else mask)
            out[f"intercept_{pattern}"] = asdict(result)
        except InputError as exc:
            out["notes"].append(f"intercept {pattern}: {exc}")
    for note in out["notes"]:
        log.info("ASTM E112: %s", note)
    return out


#: A grain covering more of the analysed area than this share is suspicious (a background, an
#: open boundary network); fewer grains than ``FEW_GRAINS`` make E112's statistics unreliable.
LARGEST_SHARE, FEW_GRAINS = 0.25, 50


def sanity_warnings(labels: np.ndarray, analysed_px: int, n_grains: int) -> list[str]:
    """What a metallographer should know before trusting the numbers: one grain covering more
    than a quarter of the analysed area (a dark background or holes read as a grain, or a
    boundary network that does not close), or fewer than about 50 grains (ASTM E112's
    statistics need more fields or a lower magnification)."""
    out = []
    if labels.any() and analysed_px:
        from microseg.grains.label import label_counts

        largest = int(label_counts(labels)[1:].max())
        if largest > LARGEST_SHARE * analysed_px:
            out.append(f"one grain covers {largest / analysed_px:.0%} of the analysed area: a background, "
                       "holes or an unclosed boundary network may have been read as a grain (give a mask "
                       "of the specimen, --mask)")
    if n_grains < FEW_GRAINS:
        out.append(f"only {n_grains} grains measured: ASTM E112 asks for about {FEW_GRAINS} or more "
                   "(measure more fields or at a lower magnification)")
    return out


def analyse_grains(prob: np.ndarray, *, pixel_size: float | None = None, min_diameter: float = 0.0,
                   exclude_border: bool = True, close_gaps: str = "merge", threshold: float = 0.5,
                   merge_threshold: float | None = None, mask: np.ndarray | None = None,
                   source: str = "map") -> GrainAnalysis:
    """Label, measure and summarise the grains of a 2D boundary map or probability.

    Parameters
    ----------
    prob : ndarray, shape (Y, X)
        Boundary map (1 = boundary) or boundary probability in [0, 1].
    pixel_size : float, optional
        µm per pixel. Without it every length is in px and ``min_diameter`` is in px.
    min_diameter : float
        Smallest grain kept, as equivalent circle diameter (µm, or px without pixel size).
    exclude_border, close_gaps, threshold, merge_threshold
        As for :func:`microseg.grains.label_grains`.
    mask : ndarray of bool, shape (Y, X), optional
        The area to analyse (True): the specimen without background, holes, fiducials or
        scale bars. Outside it nothing is labelled, and its edge cuts grains as the image edge
        does (``exclude_border`` drops them too).
    source : str
        Name used in error messages (the file).

    Notes
    -----
    ``summary["warnings"]`` (also logged) says when one grain covers more than a quarter of
    the analysed area or fewer than 50 grains were measured (:func:`sanity_warnings`).
    """
    from microseg.grains.label import border_labels, fill_unlabelled, label_grains, relabel
    from microseg.grains.measure import grain_summary, measure_grains

    boundary = check_boundary_map(prob, threshold=threshold, source=source)
    inside = None if mask is None else as_area_mask(mask, f"{source}: the mask", shape=boundary.shape)
    if inside is not None and not inside.all():
        prob = np.where(inside, prob, max(float(np.max(prob)), 1.0)).astype(np.float32, copy=False)
    options: dict[str, Any] = {"threshold": threshold, "close_gaps": close_gaps,
                               "exclude_border": False, "pixel_size": pixel_size,
                               "merge_threshold": merge_threshold}
    if min_diameter and min_diameter > 0:
        if pixel_size:
            options["min_diameter"] = float(min_diameter)
        else:
            options["min_size"] = int(math.ceil(math.pi * (min_diameter / 2.0) ** 2))
    interiors = label_grains(prob, fill_boundaries=False, **options)
    n = int(interiors.max()) if interiors.size else 0
    cut = border_labels(interiors)  # decided on interiors, as label_grains does
    masked = inside is not None and not inside.all()
    if masked:   # the mask's edge cuts grains like the image edge
        from scipy import ndimage

        outside = ndimage.binary_dilation(~inside, structure=np.ones((3, 3), bool))
        cut = np.union1d(cut, np.unique(interiors[outside & (interiors > 0)]))
        del outside
    # the interiors are filled in place: no second label image (memory per pixel, issue 10)
    labels_all = fill_unlabelled(interiors) if n else interiors
    del interiors
    if masked:
        labels_all[~inside] = 0
    lut = None
    if exclude_border:   # keep the others, renumbered 1.. in label order (relabel_sequential's order)
        keep = np.ones(n + 1, bool)
        keep[0] = False
        keep[cut] = False
        if masked:       # grains wholly outside the mask are gone
            from scipy import ndimage

            keep[1:] &= np.array([sl is not None for sl in ndimage.find_objects(labels_all, max_label=n)], bool)
        lut = np.zeros(n + 1, np.int32)
        lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        left = bool(keep.any())
    else:
        left = bool(labels_all.any())
    if not left:
        hint = " (all grains touch the image edge; try --keep-border)" if exclude_border else ""
        raise InputError(f"{source}: no grains found{hint}")
    # ASTM before the second label image exists: its intercept counts are the peak of memory
    astm = _astm(boundary, labels_all, pixel_size, mask=inside)
    labels = labels_all if lut is None else relabel(labels_all.copy(), lut)
    table = measure_grains(labels, pixel_size=pixel_size)
    unit = "um" if pixel_size else "px"
    summary: dict[str, Any] = {"source": source, **grain_summary(table), "pixel_size_um": pixel_size,
                               "length_unit": "µm" if pixel_size else "px"}
    fits = _fits(table, f"ecd_{unit}")
    summary["fits"] = {k: _fit_summary(v) for k, v in fits.items()}
    summary["astm_e112"] = astm
    analysed = int(inside.sum()) if inside is not None else int(labels.size)
    summary["analysed_fraction"] = analysed / labels.size
    summary["warnings"] = sanity_warnings(labels_all, analysed, int(summary["n_grains"]))
    for text in summary["warnings"]:
        log.warning("%s: %s", source, text)
    summary["settings"] = {"min_diameter": min_diameter, "min_diameter_unit": summary["length_unit"],
                           "exclude_border": exclude_border, "close_gaps": close_gaps,
                           "threshold": threshold, "merge_threshold": merge_threshold,
                           "mask": inside is not None}
    return GrainAnalysis(labels, table, summary, fits, pixel_size, boundary)
