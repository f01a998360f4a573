"""``labels``: an EBSD map and an SEM image of the same area -> a registered training pair."""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg.io import EBSDMap, Image
from microseg.register.pairs import PAIR_FILES, TrainingPair, source_records, training_pair_files
from microseg.tasks._base import TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["LabelsResult", "labels"]

OVERLAY = "overlay.png"


@dataclass(frozen=True)
class LabelsResult(TaskResult):
    """A registered training pair (:class:`~microseg.register.pairs.TrainingPair`).

    ``pair`` holds the (cropped) image, ``boundaries``, ``classes``, ``cells``, ``valid``,
    the registration and ``meta`` (what ``meta.json`` holds, sources included);
    ``ebsd_name`` and ``image_name`` say what was given. :meth:`write` writes the pair
    folder of DESIGN.md (``image.tif``, ``boundaries.tif``, ``classes.tif``, ``cells.tif``,
    ``valid.tif``, ``meta.json``) and ``overlay.png``.
    """

    pair: TrainingPair
    ebsd_name: str = "EBSD map"
    image_name: str = "image"

    # plain data access
    @property
    def image(self) -> Image:
        return self.pair.image

    @property
    def boundaries(self) -> np.ndarray:
        return self.pair.boundaries

    @property
    def classes(self) -> np.ndarray:
        return self.pair.classes

    @property
    def cells(self) -> np.ndarray:
        return self.pair.cells

    @property
    def valid(self) -> np.ndarray:
        return self.pair.valid

    @property
    def meta(self) -> dict:
        return self.pair.meta

    @property
    def registration(self):
        """The :class:`~microseg.register.Registration` (transform, drift, alignment scores)."""
        return self.pair.registration

    @property
    def refined(self) -> bool:
        return bool(self.pair.meta["registration"].get("refine", True))

    @property
    def summary(self) -> dict:
        """The headline numbers: alignment scores, coverage, boundary fractions, crop, clean-up."""
        meta, reg = self.pair.meta, self.pair.registration
        counts = meta.get("clean_up", {}).get("counts", {})
        return {
            "ebsd": self.ebsd_name, "image": self.image_name,
            "shape": list(self.pair.boundaries.shape), "pixel_size_um": self.pair.image.pixel_size,
            "refined": self.refined,
            "alignment_score_before": float(reg.score_before),
            "alignment_score_after": float(reg.score_after),
            "drift_max_px": float(reg.drift_summary.get("max", 0.0)),
            "boundary_fraction": meta["boundary_fraction"], "ebsd_coverage": meta["ebsd_coverage"],
            "valid_fraction": float(self.pair.valid.mean()),
            "class_fractions": dict(meta.get("class_fractions", {})),
            "crop": meta.get("crop"),
            "clean_up": {"mode": meta.get("clean_up", {}).get("mode"),
                         **{k: counts[k] for k in ("removed", "filled", "not_indexed") if k in counts}},
        }

    @property
    def text(self) -> str:
        """What ``microseg labels`` prints: the alignment score, coverage and the clean-up done."""
        meta, reg = self.pair.meta, self.pair.registration
        if self.refined:
            score = f"alignment score {reg.score_before:.3f} -> {reg.score_after:.3f}"
        else:
            score = f"alignment score {reg.score_after:.3f} (not refined)"
        h, w = self.pair.image.data.shape[:2]
        lines = [f"{self.ebsd_name} -> {self.image_name}: {score}; boundaries on "
                 f"{meta['boundary_fraction']:.1%} of the pixels; EBSD covers {meta['ebsd_coverage']:.1%} "
                 "of the pair" + (f" (cropped to the common area {w} × {h} px)" if meta.get("crop") else "")]
        c = meta.get("clean_up", {})
        if c.get("mode") == "lab" and "counts" in c:
            n = c["counts"]
            lines.append(f"EBSD clean-up ({', '.join(n.get('steps', []))}): {n.get('removed', 0)} points "
                         f"removed, {n.get('filled', 0)} filled, {n.get('not_indexed', 0)} left non-indexed "
                         "(--clean none to skip)")
        return "\n".join(lines)

    def files(self) -> list[tuple[str, Writer]]:
        return [*training_pair_files(self.pair), (OVERLAY, self._write_overlay)]

    def _write_overlay(self, path: Path) -> None:
        from microseg.report.figures import plot_training_pair, save_figure

        p = self.pair
        save_figure(plot_training_pair(_grey01(p.image.data), p.boundaries, p.classes, p.valid), path,
                    force=True)


def _grey01(data: np.ndarray) -> np.ndarray:
    """Grey float32 in [0, 1] for drawing: colour by BT.709 luma (:func:`microseg.io.to_gray`),
    integers scaled by their dtype's range."""
    from microseg.io import to_gray

    arr = np.asarray(data)
    if arr.ndim == 3:
        arr = to_gray(arr)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    return arr.astype(np.float32)


def _name(item: Any, default: str) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return getattr(item, "source", None) or default


def _ebsd(item: Any) -> EBSDMap:
    from microseg.io import read_ebsd

    if isinstance(item, EBSDMap):
        return item
    if isinstance(item, (str, os.PathLike)):
        return read_ebsd(item)
    raise InputError(f"ebsd_map: expected a path or a microseg.io.EBSDMap; got {type(item).__name__}")


def _landmarks(points: Any):
    from microseg.register import Landmarks, read_landmarks

    if points is None or isinstance(points, Landmarks):
        return points
    if isinstance(points, (str, os.PathLike)):
        return read_landmarks(points)
    raise InputError(f"points: expected a landmark CSV path or a microseg.register.Landmarks; got "
                     f"{type(points).__name__}")


def labels(ebsd_map: str | os.PathLike | EBSDMap, image: str | os.PathLike | Image | np.ndarray, *,
           points: str | os.PathLike | Any = None, pixel_size: float | None = None,
           transform: str = "affine", tilt: float | None = None, refine: bool = True, drift: bool = True,
           clean: str = "lab", min_grain_size: int = 5, crop: bool = True, fiducial_radius: float = 1.0,
           min_quality: dict[str, float] | str | None = "auto", fill: bool = True, max_hole: int | None = 50,
           lagb: float = 2.0, hagb: float = 15.0, csl: Sequence[str] = ("3",),
           output: str | os.PathLike | None = None, force: bool = False,
           progress: bool = False) -> LabelsResult:
    """An EBSD map registered onto an SEM image of the same area: a training pair.

    Parameters
    ----------
    ebsd_map : path or EBSDMap
        The orientation map (any format :func:`microseg.io.read_ebsd` reads).
    image : path, Image or ndarray
        The SEM micrograph of the same area.
    points : path or Landmarks, optional
        Fiducial pairs (CSV ``x_um, y_um, col, row``); without them the start is a guess
        from the pixel size and refinement does the rest.
    pixel_size : float, optional
        µm per image pixel (wins over the file's).
    transform, tilt, refine, drift, clean, min_grain_size, crop, fiducial_radius,
    min_quality, fill, max_hole, lagb, hagb, csl
        As :func:`microseg.register.pairs.make_training_pair` (``transform_kind``,
        ``tilt_deg``, ``cleanup``, ``fiducial_radius_um``); the defaults are the CLI's.
        With ``refine=False`` the landmark transform is used as it is and its alignment
        score is still measured (reported as "not refined").
    output : path, optional
        Write the pair folder and ``overlay.png`` there (refused before any work if one
        exists, unless ``force``).
    progress : bool
        Log the steps.

    Returns
    -------
    LabelsResult
    """
    from microseg.register.pairs import make_training_pair
    from microseg.tasks._inputs import as_inputs

    if output is not None:
        check_outputs(output, [*PAIR_FILES, OVERLAY], force=force)
    landmarks = _landmarks(points)
    img = as_inputs(image, what="image", stacks=False)[0].read(pixel_size=pixel_size)
    ebsd = _ebsd(ebsd_map)
    pair = make_training_pair(ebsd, img, landmarks=landmarks, transform_kind=transform, tilt_deg=tilt,
                              refine=refine, drift=drift, progress=progress, cleanup=clean,
                              min_grain_size=min_grain_size, crop=crop, fiducial_radius_um=fiducial_radius,
                              min_quality=min_quality, fill=fill, max_hole=max_hole, lagb=lagb, hagb=hagb,
                              csl=tuple(csl))
    sources = {name: item for name, item in (("ebsd", ebsd_map), ("image", image), ("points", points))
               if isinstance(item, (str, os.PathLike))}
    pair = dataclasses.replace(pair, meta={**pair.meta, "sources": source_records(sources)})
    result = LabelsResult(pair, _name(ebsd_map, "EBSD map"), _name(image, "image"))
    if output is not None:
        result.write(output, force=force)
        log.info("wrote %s/ (%s)", output, ", ".join(result.output_names()))
    return result
