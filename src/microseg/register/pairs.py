"""Training pairs: an SEM image with the EBSD boundary label registered onto it.

``make_training_pair`` runs the whole path of seeds 000/001 — EBSD clean-up, boundary
classes, cells, landmark transform (optionally tilt-corrected), automatic refinement with a
drift field, warping of the cell map into the image frame and the 1-px boundary raster —
and ``write_training_pair`` writes the pair folder of DESIGN.md: ``image.tif``,
``boundaries.tif``, ``classes.tif``, ``cells.tif``, ``valid.tif`` and ``meta.json``
(:func:`training_pair_files` is the one list of them; ``microseg labels`` draws
``overlay.png`` beside them).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, check_output_path, look_up_option
from microseg.io import EBSDMap, Image
from microseg.register._landmarks import Landmarks
from microseg.register._transform import LandmarkTransform, estimate_transform, tilt_correction
from microseg.register._warp import Registration

log = logging.getLogger(__name__)

PAIR_FILES = ("image.tif", "boundaries.tif", "classes.tif", "cells.tif", "valid.tif", "meta.json")


@dataclass(frozen=True)
class TrainingPair:
    """An image and its EBSD-derived labels in the image frame.

    ``image`` (Y, X) as read; ``boundaries`` uint8 (1 = boundary), ``classes`` uint8
    (1 HAGB, 2 LAGB, 3 Σ3, 4 phase boundary, 5+ other CSL), ``cells`` int32 (EBSD cells
    warped into the image, 0 outside the EBSD field), ``valid`` bool (pixels covered by
    EBSD data), ``registration``, and ``meta`` (JSON-ready provenance).
    """

    image: Image
    boundaries: np.ndarray
    classes: np.ndarray
    cells: np.ndarray
    valid: np.ndarray
    registration: Registration
    meta: dict[str, Any] = field(default_factory=dict)


def common_area(valid: np.ndarray, *, max_cells: int = 512) -> tuple[slice, slice]:
    """The largest axis-aligned rectangle wholly inside ``valid`` (seed 000's common area).

    Seed 000 crops every registered SEM-EBSD pair to the area both cover (1792 × 1280 px)
    before cutting chips. The search runs on a grid of at most ``max_cells`` cells per side
    in which a cell counts only when every pixel in it is valid, so the rectangle found
    always lies inside ``valid`` (it may be up to one cell smaller than the exact optimum).

    Returns
    -------
    (slice, slice)
        ``(rows, cols)`` of the rectangle in ``valid``.

    Examples
    --------
    >>> v = np.zeros((10, 12), bool); v[2:9, 1:11] = True; v[2, 1] = False
    >>> common_area(v)
    (slice(2, 9, None), slice(2, 11, None))
    """
    valid = np.asarray(valid, bool)
    if valid.ndim != 2 or not valid.any():
        raise InputError("common_area: valid must be a 2D mask with at least one valid pixel")
    h, w = valid.shape
    f = max(1, int(np.ceil(max(h, w) / max_cells)))
    hc, wc = -(-h // f), -(-w // f)
    padded = np.zeros((hc * f, wc * f), bool)
    padded[:h, :w] = valid
    cells = padded.reshape(hc, f, wc, f).all(axis=(1, 3))
    best, where = 0, (0, 0, 0, 0)
    heights = np.zeros(wc, int)
    for r in range(hc):
        heights = np.where(cells[r], heights + 1, 0)
        stack: list[int] = []
        for c in range(wc + 1):
            height = heights[c] if c < wc else 0
            while stack and heights[stack[-1]] >= height:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = int(heights[top]) * (c - left)
                if area > best:
                    best, where = area, (r - int(heights[top]) + 1, r + 1, left, c)
            stack.append(c)
    if best == 0:  # no cell wholly valid: fall back to the bounding box of single pixels
        return common_area(valid, max_cells=max(h, w))
    r0, r1, c0, c1 = where
    return slice(r0 * f, min(r1 * f, h)), slice(c0 * f, min(c1 * f, w))


def fiducial_mask(shape: tuple[int, int], landmarks: Landmarks | None, radius_px: float) -> np.ndarray:
    """True within ``radius_px`` of every landmark's image position (the fiducial marks).

    A Pt fiducial or a FIB-milled cross shows in the SEM image but is no microstructure:
    its pixels are left out of training and scoring.

    Examples
    --------
    >>> lm = Landmarks([[0, 0], [1, 0], [0, 1]], [[2, 2], [7, 2], [2, 7]])
    >>> int(fiducial_mask((10, 10), lm, 1.0).sum())
    15
    """
    out = np.zeros(shape, bool)
    if landmarks is None or radius_px <= 0:
        return out
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    for c, r in landmarks.dst_px:
        r0, r1 = max(0, int(r - radius_px) - 1), min(shape[0], int(r + radius_px) + 2)
        c0, c1 = max(0, int(c - radius_px) - 1), min(shape[1], int(c + radius_px) + 2)
        if r0 < r1 and c0 < c1:
            out[r0:r1, c0:c1] |= (rows[r0:r1] - r) ** 2 + (cols[:, c0:c1] - c) ** 2 <= radius_px ** 2
    return out


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (provenance in meta.json)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def initial_transform(ebsd_shape_um: tuple[float, float], image: Image, *,
                      landmarks: Landmarks | None = None, kind: str = "affine",
                      tilt_deg: float | None = None) -> LandmarkTransform:
    """EBSD µm → image px from landmarks, or, without them, a guess that puts the EBSD
    field on the middle of the image at the image's pixel size (or scaled to fit).

    With ``tilt_deg`` the image is taken to be foreshortened by ``cos(tilt)`` along its
    rows (a tilted-sample SEM image): the landmark pixel coordinates are un-tilted before
    fitting and the transform maps into the tilted image.
    """
    tilt = None if not tilt_deg else tilt_correction(float(tilt_deg), axis="y")
    if landmarks is not None:
        dst = landmarks.dst_px
        if tilt is not None:
            dst = (np.c_[dst, np.ones(len(dst))] @ tilt.T)[:, :2]
        t = estimate_transform(landmarks.src_um, dst, kind=kind)
        if tilt is not None:
            residuals = t.residuals
            t = LandmarkTransform(np.linalg.inv(tilt) @ t.matrix, kind=t.kind, residuals=residuals)
        return t
    height_um, width_um = ebsd_shape_um
    rows, cols = image.data.shape[:2]
    if image.pixel_size:
        scale = 1.0 / image.pixel_size
    else:
        scale = min(cols / width_um, rows / height_um)
        log.warning("no landmarks and no pixel size: the EBSD field is scaled to fit the image; "
                    "give --points or --pixel-size for a reliable start")
    ty = (rows - 1) / 2 - scale * height_um / 2
    tx = (cols - 1) / 2 - scale * width_um / 2
    m = np.array([[scale, 0, tx], [0, scale, ty], [0, 0, 1.0]])
    t = LandmarkTransform(m, kind="similarity")
    if tilt is not None:
        t = LandmarkTransform(np.linalg.inv(tilt) @ t.matrix, kind="affine")
    return t


def _grey(image: Image) -> np.ndarray:
    from microseg.classic import to_gray_float

    return to_gray_float(image.data, name=image.source or "image")


def _square_cells(m: EBSDMap, cells: np.ndarray) -> np.ndarray:
    """Cells on a square grid at the EBSD step (hexagonal or anisotropic grids resampled)."""
    from microseg.ebsd import rasterize_cells

    if m.grid == "square" and abs(m.row_step - m.step) < 1e-9 * m.step:
        return cells
    return rasterize_cells(m, cells, pixel_size=m.step)


def make_training_pair(ebsd: EBSDMap, image: Image, *, landmarks: Landmarks | None = None,
                       transform_kind: str = "affine", tilt_deg: float | None = None,
                       cleanup: str = "lab", min_quality: dict[str, float] | str | None = "auto",
                       fill: bool = True, max_hole: int | None = 50, min_grain_size: int = 5,
                       lagb: float = 2.0, hagb: float = 15.0,
                       csl: tuple[str, ...] = ("3",), refine: bool = True, drift: bool = True,
                       crop: bool = True, fiducial_radius_um: float = 1.0,
                       progress: bool = False) -> TrainingPair:
    """EBSD map + SEM image → the image with its registered boundary label.

    Parameters
    ----------
    ebsd : EBSDMap
        The orientation map (square or hexagonal grid).
    image : Image
        The SEM micrograph of the same area; its pixel size helps the start without landmarks.
    landmarks : Landmarks, optional
        Fiducial pairs (EBSD µm ↔ image px); without them the start is a guess (see
        :func:`initial_transform`) and refinement must do the rest (capture range ≈ 16 px).
    transform_kind : {"similarity", "affine", "projective"}
        Model fitted to the landmarks.
    tilt_deg : float, optional
        Sample tilt of the SEM image (e.g. 70 for an image taken in the EBSD geometry).
    cleanup : {"lab", "none"}
        ``"lab"`` (default) cleans as a lab does before reconstructing boundaries
        (:func:`microseg.ebsd.lab_cleanup`): quality threshold where the file has one
        (``min_quality="auto"``: CI ≥ 0.1 for EDAX, MAD ≤ 1.0 for Oxford), wild-spike removal,
        merge of grains below ``min_grain_size`` points, bounded neighbour fill. Without it
        misindexed points draw closed loops of false boundary into the label. ``"none"``
        applies only ``min_quality`` (a dict) and ``fill`` (:func:`microseg.ebsd.clean_ebsd`).
        What was done is recorded in ``meta["clean_up"]``.
    min_quality, fill, max_hole, min_grain_size
        Quality thresholds (``"auto"``, a dict such as ``{"ci": 0.1}``, or None), neighbour
        filling of non-indexed points, largest hole filled (points), smallest grain kept.
    lagb, hagb, csl
        Boundary classes (seed defaults: walls ≤ 2° excluded, HAGB > 15°, Σ3 by Brandon).
    refine, drift
        Automatic refinement (global affine, then a smooth drift field).
    crop : bool
        Crop the pair to the largest rectangle the EBSD map covers (:func:`common_area`),
        as seed 000 does before cutting chips; ``meta["crop"]`` says where it lies in the
        image. Without it the pair keeps the image's frame.
    fiducial_radius_um : float
        Pixels within this distance of a landmark (a fiducial mark) are not valid; 0 keeps
        them. Without a pixel size the radius is taken as 25 px per µm.
    progress : bool
        Log the steps.

    Notes
    -----
    ``valid`` (written as ``valid.tif``) is True where the label is known: inside the EBSD
    field after warping, on indexed points (those left non-indexed after clean-up have no
    cell), away from fiducials. Training and every metric ignore the rest.
    """
    from microseg import ebsd as E
    from microseg.register import alignment_score, refine_registration, warp_cells
    from microseg.register._evidence import cell_boundaries

    steps = ["clean", "classify", "register", "warp"]
    say = log.info if progress else log.debug
    if look_up_option(cleanup, ("lab", "none"), what="cleanup") == "lab":
        m = E.lab_cleanup(ebsd, min_quality=min_quality, fill=fill, max_hole=max_hole if fill else None,
                          min_grain_size=min_grain_size, lagb=lagb)
    else:
        limits = None if min_quality in (None, "auto", "none") else min_quality
        m = E.clean_ebsd(ebsd, min_quality=limits, fill=fill, max_hole=max_hole) if (fill or limits) else ebsd
    say("1/%d %s: %.1f%% indexed", len(steps), steps[0], 100 * float(m.indexed.mean()))
    edges = E.classify_boundaries(m, lagb=lagb, hagb=hagb, csl=tuple(csl))
    cells = E.segment_cells(m, lagb=lagb, edges=edges)
    table = E.pair_classes(m, cells, edges)
    grid_cells = _square_cells(m, cells)
    say("2/%d %s: %d cells", len(steps), steps[1], int(cells.max()))
    grey = _grey(image)
    extent = (grid_cells.shape[0] * m.step, grid_cells.shape[1] * m.step)
    start = initial_transform(extent, image, landmarks=landmarks, kind=transform_kind, tilt_deg=tilt_deg)
    if refine:
        reg = refine_registration(grey, grid_cells, start, step_um=m.step, drift=drift)
        warped = warp_cells(grid_cells, reg, grey.shape, step_um=m.step)
        say("3/%d %s: alignment score %.3f -> %.3f, drift max %.1f px", len(steps), steps[2],
            reg.score_before, reg.score_after, reg.drift_summary.get("max", 0.0))
    else:  # the landmark transform as it is, scored once as refinement scores its start
        warped = warp_cells(grid_cells, start, grey.shape, step_um=m.step)
        score = alignment_score(grey, cell_boundaries(warped), mask=warped != 0)
        reg = Registration(start, score_before=score, score_after=score)
        say("3/%d %s: alignment score %.3f (not refined)", len(steps), steps[2], score)
    boundaries, classes = E.boundaries_from_cells(warped, table)
    valid = warped > 0
    if not valid.any():
        raise InputError("the EBSD map does not overlap the image after registration; check the "
                         "landmarks (--points) or the pixel size")
    radius_px = fiducial_radius_um / image.pixel_size if image.pixel_size else 25.0 * fiducial_radius_um
    valid &= ~fiducial_mask(valid.shape, landmarks, radius_px)
    crop_info = None
    if crop:
        from scipy import ndimage

        rows, cols = common_area(ndimage.binary_fill_holes(warped > 0))
        crop_info = {"rows": [rows.start, rows.stop], "cols": [cols.start, cols.stop],
                     "of_shape": list(valid.shape)}
        image = dataclasses.replace(image, data=image.data[rows, cols])
        boundaries, classes, warped, valid = (a[rows, cols] for a in (boundaries, classes, warped, valid))
        say("crop to the common area: rows %d-%d, cols %d-%d of %d × %d", rows.start, rows.stop,
            cols.start, cols.stop, *crop_info["of_shape"])
    meta = _meta(m, image, start, reg, boundaries, classes, valid,
                 {"mode": cleanup, "min_quality": min_quality, "fill": fill,
                  "max_hole": max_hole if fill else None, "min_grain_size": min_grain_size if cleanup == "lab" else None},
                 {"lagb_deg": lagb, "hagb_deg": hagb, "csl": list(csl), "walls_excluded_below_deg": lagb,
                  "sigma_tolerance": "Brandon 15°/√Σ"},
                 {"landmarks": len(landmarks) if landmarks is not None else 0, "kind": transform_kind,
                  "tilt_deg": tilt_deg, "refine": refine, "drift": drift})
    meta["crop"] = crop_info
    meta["valid"] = {"fraction": float(valid.mean()), "fiducial_radius_px": float(radius_px) if landmarks else 0.0,
                     "meaning": "1 = label known (EBSD field, indexed, away from fiducials)"}
    say("4/%d %s: %.2f%% boundary pixels over %.1f%% of the image", len(steps), steps[3],
        100 * meta["boundary_fraction"], 100 * meta["ebsd_coverage"])
    return TrainingPair(image, boundaries, classes, warped, valid, reg, meta)


def _meta(m, image, start, reg, boundaries, classes, valid, clean, thresholds, registration) -> dict:
    from microseg import __version__

    names = {1: "hagb", 2: "lagb", 3: "sigma3", 4: "phase"}
    n_b = max(int(boundaries.sum()), 1)
    return {
        "microseg_version": __version__,
        "pixel_size_um": image.pixel_size, "image_shape": list(image.data.shape[:2]),
        "ebsd": {"shape": list(m.shape), "grid": m.grid, "step_um": m.step,
                 "indexed_fraction": float(m.indexed.mean()),
                 "phases": {str(k): p.name for k, p in m.phases.items()}},
        "clean_up": {**clean, **({"counts": m.metadata["clean_ebsd"]} if "clean_ebsd" in m.metadata else {})},
        "thresholds": thresholds,
        "registration": {**registration, "initial_transform": start.to_dict(),
                         **reg.to_dict()},
        "boundary_fraction": float(boundaries.mean()), "ebsd_coverage": float(valid.mean()),
        "class_fractions": {names.get(k, f"class{k}"): float((classes == k).sum() / n_b)
                            for k in np.unique(classes[boundaries > 0]).tolist()},
        "labels": {"boundaries": "uint8, 1 = boundary (1 px, closed)",
                   "classes": "uint8, 1 HAGB, 2 LAGB, 3 Σ3, 4 phase boundary, 5+ other CSL",
                   "cells": "int32 EBSD cells in the image frame, 0 = no EBSD data"},
    }


def source_records(sources: dict[str, str | Path] | None) -> dict[str, dict[str, str]]:
    """``{name: {"path", "sha256"}}`` of the source files (provenance in meta.json)."""
    return {k: {"path": str(v), "sha256": file_sha256(v)} for k, v in (sources or {}).items()}


def training_pair_files(pair: TrainingPair, *, sources: dict[str, str | Path] | None = None
                        ) -> list[tuple[str, Callable[[Path], Any]]]:
    """The pair folder of DESIGN.md as ``(name, writer)`` pairs, one per :data:`PAIR_FILES`.

    ``writer(path)`` writes that file at ``path`` (overwriting: the caller decides whether
    it may): ``image.tif`` (with pixel size), ``boundaries.tif``, ``classes.tif``,
    ``cells.tif``, ``valid.tif`` (1 = label known) and ``meta.json`` (``pair.meta``, with
    the SHA-256 of ``sources`` when given, else the ``"sources"`` it already holds).
    :func:`write_training_pair` and ``microseg.tasks.labels`` both write these.
    """
    from microseg.io import write_image, write_json, write_labels

    meta = dict(pair.meta)
    if sources is not None:
        meta["sources"] = source_records(sources)
    meta.setdefault("sources", {})
    px = pair.image.pixel_size
    writers: dict[str, Callable[[Path], Any]] = {
        "image.tif": lambda p: write_image(p, pair.image, force=True),
        "boundaries.tif": lambda p: write_image(p, pair.boundaries, pixel_size=px, force=True),
        "classes.tif": lambda p: write_image(p, pair.classes, pixel_size=px, force=True),
        "cells.tif": lambda p: write_labels(p, pair.cells, force=True),
        "valid.tif": lambda p: write_image(p, pair.valid.astype(np.uint8), pixel_size=px, force=True),
        "meta.json": lambda p: write_json(p, meta, force=True),
    }
    return [(name, writers[name]) for name in PAIR_FILES]


def write_training_pair(pair: TrainingPair, out: str | Path, *, sources: dict[str, str | Path] | None = None,
                        force: bool = False) -> Path:
    """Write the pair folder of DESIGN.md (:func:`training_pair_files`) into ``out``.

    Every file is checked before any is written (nothing is overwritten without ``force``).
    ``microseg labels`` (``microseg.tasks.labels``) writes the same files all or nothing
    and adds ``overlay.png`` (:func:`microseg.report.figures.plot_training_pair`) for a
    person to check.
    """
    out = Path(out)
    files = training_pair_files(pair, sources=sources)
    for name, _ in files:
        check_output_path(out / name, force=force)
    out.mkdir(parents=True, exist_ok=True)
    for name, write in files:
        write(out / name)
    return out
