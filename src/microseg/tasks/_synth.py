"""``synth``: a synthetic micrograph (or FIB-SEM stack) with its exact truth.

What ``microseg synth`` does, in one call. ``kind="polycrystal"``: a Laguerre polycrystal
with Σ3 twins and subgrains (:func:`microseg.synth.make_polycrystal`) rendered as an SE
or BSE micrograph; files ``image.tif`` (uint8), ``boundaries.tif``, ``classes.tif``
(1 HAGB, 2 LAGB, 3 Σ3), ``labels.tif`` and ``truth.json``. ``kind="porous"``: a porous
two-phase volume (:func:`microseg.synth.make_porous_volume`) rendered as a FIB-SEM stack;
files ``stack.tif`` (uint8), ``phases.tif`` and ``truth.json``. ``kind="pair"``: what a user
brings to ``microseg labels`` (:func:`microseg.synth.make_correlated_pair`: curved grains,
Σ3 lamellae, LAGBs and dislocation walls, a drifting SEM frame, a partial EBSD map with
misindexed points, 8 clicked fiducials); files ``scan.ang``, ``image.tif`` (the SE or BSE
micrograph), ``fiducials.csv``, the exact truth in the image frame ``boundaries.tif`` and
``classes.tif``, and ``truth.json``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import look_up_option
from microseg.tasks._base import TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["synth", "SynthResult", "KINDS", "OUTPUTS"]

KINDS = ("polycrystal", "porous", "pair")
#: The files each kind writes.
OUTPUTS = {"polycrystal": ["image.tif", "boundaries.tif", "classes.tif", "labels.tif", "truth.json"],
           "porous": ["stack.tif", "phases.tif", "truth.json"],
           "pair": ["scan.ang", "image.tif", "fiducials.csv", "boundaries.tif", "classes.tif", "truth.json"]}


def _u8(data: np.ndarray) -> np.ndarray:
    return np.round(np.clip(data, 0, 1) * 255).astype(np.uint8)


@dataclass(frozen=True)
class SynthResult(TaskResult):
    """A synthetic sample with its truth.

    Attributes
    ----------
    kind : {"polycrystal", "porous"}
    truth : dict
        What ``truth.json`` holds (counts, fractions, the settings).
    pixel_size : float
        µm per pixel (and between slices of a stack).
    image : ndarray of uint8 (polycrystal) or uint16 (pair, as a detector writes it), (Y, X), or None
        The rendered SE/BSE micrograph.
    boundaries, classes : ndarray of uint8, (Y, X), or None
        1 = boundary; classes 1 HAGB, 2 LAGB, 3 Σ3 (polycrystal).
    labels : ndarray of int32, (Y, X), or None
        Grain labels, 0 on boundaries (polycrystal).
    stack : ndarray of uint8, (Z, Y, X), or None
        The rendered FIB-SEM stack (porous).
    phases : ndarray of uint8, (Z, Y, X), or None
        The true phases: 1 solid, 0 pore (porous).
    ebsd : EBSDMap or None
        The EBSD map of part of the imaged area (pair).
    landmarks : Landmarks or None
        The fiducials clicked in both: EBSD µm -> image px (pair).
    """

    kind: str
    truth: dict = field(default_factory=dict)
    pixel_size: float = 0.05
    image: np.ndarray | None = None
    boundaries: np.ndarray | None = None
    classes: np.ndarray | None = None
    labels: np.ndarray | None = None
    stack: np.ndarray | None = None
    phases: np.ndarray | None = None
    ebsd: Any = None
    landmarks: Any = None

    @property
    def summary(self) -> dict:
        """``truth.json``."""
        return dict(self.truth)

    @property
    def text(self) -> str:
        t, files = self.truth, ", ".join(OUTPUTS[self.kind])
        if self.kind == "polycrystal":
            return (f"synthetic polycrystal: {t['n_cells']} cells, {t['mode'].upper()} image "
                    f"{t['shape'][1]}x{t['shape'][0]} ({files})")
        if self.kind == "pair":
            return (f"synthetic correlated pair: {t['mode'].upper()} image {t['shape'][1]}x{t['shape'][0]} "
                    f"at {t['pixel_size_um']:g} µm/px, EBSD map of {self.ebsd.shape[1]}x{self.ebsd.shape[0]} "
                    f"points, {len(self.landmarks)} fiducials ({files})")
        return (f"synthetic porous stack: {t['shape'][0]} slices of {t['shape'][2]}x{t['shape'][1]}, solid "
                f"fraction {t['solid_fraction']:.3f} ({files})")

    def files(self) -> list[tuple[str, Writer]]:
        from microseg import io

        px = self.pixel_size
        truth = [("truth.json", lambda p: io.write_json(p, self.truth, force=True))]
        if self.kind == "pair":
            from microseg.register import write_landmarks

            return [("scan.ang", lambda p: io.write_ebsd(p, self.ebsd, force=True)),
                    ("image.tif", lambda p: io.write_image(p, self.image, pixel_size=px, force=True)),
                    ("fiducials.csv", lambda p: write_landmarks(p, self.landmarks, force=True)),
                    ("boundaries.tif", lambda p: io.write_image(p, self.boundaries, pixel_size=px, force=True)),
                    ("classes.tif", lambda p: io.write_image(p, self.classes, pixel_size=px, force=True)), *truth]
        if self.kind == "polycrystal":
            return [("image.tif", lambda p: io.write_image(p, self.image, pixel_size=px, force=True)),
                    ("boundaries.tif", lambda p: io.write_image(p, self.boundaries, pixel_size=px, force=True)),
                    ("classes.tif", lambda p: io.write_image(p, self.classes, pixel_size=px, force=True)),
                    ("labels.tif", lambda p: io.write_labels(p, self.labels, force=True)), *truth]
        return [("stack.tif", lambda p: io.write_stack(p, self.stack, pixel_size=px, slice_spacing=px,
                                                       force=True)),
                ("phases.tif", lambda p: io.write_stack(p, self.phases, pixel_size=px, slice_spacing=px,
                                                        force=True)), *truth]


def synth(kind: str = "polycrystal", *, size: int = 512, seed: int = 0, mode: str = "se",
          mean_diameter: float = 40.0, twin_fraction: float = 0.3, subgrain_fraction: float = 0.1,
          pixel_size: float = 0.05, slices: int = 32, porosity: float = 0.25,
          output: str | os.PathLike | None = None, force: bool = False) -> SynthResult:
    """A synthetic micrograph or FIB-SEM stack with exact truth (what ``microseg synth`` does).

    Parameters
    ----------
    kind : {"polycrystal", "porous", "pair"}
        A polycrystal rendered as an SEM micrograph, a porous volume as a FIB-SEM stack, or
        a correlated SEM image + EBSD map + fiducials of one curved polycrystal.
    size : int
        Image edge in px (Y = X).
    seed : int
        Random seed (geometry and rendering).
    mode : {"se", "bse"}
        Polycrystal: the SEM contrast to render.
    mean_diameter, twin_fraction, subgrain_fraction : float
        Polycrystal and pair: mean grain ECD in px, fraction of grains with Σ3 lamellae;
        polycrystal: fraction split into subgrains.
    pixel_size : float
        µm per pixel (stored in the TIFFs; the stack's slice spacing too).
    slices, porosity
        Porous: number of slices, pore volume fraction.
    output : path, optional
        Folder to write the result to (checked first, written last, all files or none).
    force : bool
        Overwrite existing outputs.

    Returns
    -------
    SynthResult

    Examples
    --------
    >>> r = synth(size=96, mean_diameter=24, seed=1)
    >>> r.image.shape, r.image.dtype.name, r.truth["n_cells"] == int(r.labels.max())
    ((96, 96), 'uint8', True)
    """
    from microseg import synth as stage

    kind = look_up_option(kind, KINDS, what="kind")
    if output is not None:
        check_outputs(output, OUTPUTS[kind], force=force)
    if kind == "polycrystal":
        mode = look_up_option(mode, ("se", "bse"), what="mode")
        poly = stage.make_polycrystal((size, size), mean_diameter_px=mean_diameter, twin_fraction=twin_fraction,
                                      subgrain_fraction=subgrain_fraction, pixel_size=pixel_size, seed=seed)
        image = stage.render_sem(poly, mode=mode, seed=seed)
        truth = {"kind": "polycrystal", "mode": mode, "seed": seed, "shape": list(poly.labels.shape),
                 "pixel_size_um": pixel_size, "n_cells": int(poly.labels.max()),
                 "boundary_fraction": float(poly.boundaries.mean()),
                 "class_pixels": {name: int((poly.classes == k).sum())
                                  for k, name in ((1, "hagb"), (2, "lagb"), (3, "sigma3"))}}
        result = SynthResult(kind, truth, pixel_size, image=_u8(image.data), boundaries=poly.boundaries,
                             classes=poly.classes, labels=poly.labels)
    elif kind == "pair":
        mode = look_up_option(mode, ("se", "bse"), what="mode")
        pair = stage.make_correlated_pair((size, size), mode=mode, pixel_size=pixel_size,
                                          mean_diameter_um=mean_diameter * pixel_size, ebsd_step_um=pixel_size,
                                          twin_fraction=twin_fraction, seed=seed)
        truth = {"kind": "pair", "mode": mode, "seed": seed, "shape": [size, size], "pixel_size_um": pixel_size,
                 "boundary_fraction": float(pair.boundaries.mean()),
                 **{k: pair.metadata[k] for k in ("n_cells", "mean_ecd_um", "twin_fraction", "lagb_fraction",
                                                  "wall_fraction", "drift_px", "coverage", "boundary_share")}}
        result = SynthResult(kind, truth, pixel_size, image=pair.image.data, boundaries=pair.boundaries,
                             classes=pair.classes, ebsd=pair.ebsd, landmarks=pair.landmarks)
    else:
        phases = stage.make_porous_volume((slices, size, size), porosity=porosity, seed=seed)
        stack = stage.render_fib_sem(phases, seed=seed)
        truth = {"kind": "porous", "seed": seed, "shape": list(phases.shape),
                 "solid_fraction": float(phases.mean())}
        result = SynthResult(kind, truth, pixel_size, stack=_u8(stack.data), phases=phases.astype(np.uint8))
    if output is not None:
        result.write(output, force=force)
    return result
