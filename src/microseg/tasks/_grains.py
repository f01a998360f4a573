"""``microseg grains``: a boundary map or probability → grains, their sizes and shapes,
distribution fits and the ASTM E112 grain size (:func:`microseg.grains.analyse_grains`).

``overlay.png`` is drawn pixel for pixel up to
:data:`~microseg.report.grain_report.OVERLAY_MAX_SIDE` px on the map's long side; a larger
map is drawn from every n-th pixel (:func:`overlay_step`), which is logged and recorded in
the summary (``summary["overlay"]``): drawing a 400-megapixel map 1:1 would take more memory
than its whole analysis, for a picture no one can look at in full.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg.grains.analysis import GrainAnalysis, analyse_grains
from microseg.grains.config import GrainsConfig
from microseg.io import Image
from microseg.tasks._base import TaskResult, Writer, check_outputs
from microseg.tasks._inputs import config_writer, section_config

log = logging.getLogger(__name__)

__all__ = ["GrainsResult", "OUTPUTS", "grains", "overlay_step"]

#: The files :meth:`GrainsResult.write` creates (``config.yaml``: the resolved ``grains`` section).
OUTPUTS = ("grains.csv", "summary.json", "labels.tif", "distributions.png", "overlay.png", "config.yaml")


@dataclass(frozen=True)
class GrainsResult(TaskResult):
    """What :func:`grains` measured: the :class:`~microseg.grains.GrainAnalysis` and its views.

    ``labels`` int32 (Y, X) grains 1..N (0 = boundary or excluded), ``table`` one row per
    grain (px and µm columns, as ``grains.csv``), ``summary`` what ``summary.json`` holds,
    ``fits`` the distribution fits, ``text`` the ASTM E112 lines the command prints;
    ``image`` the micrograph the overlay is drawn on, if one was given (every
    ``overlay_step``-th pixel of it); ``config`` the resolved ``grains`` section the grains
    were measured with (written as ``config.yaml``); ``overlay_step`` 1 when the overlay is
    drawn pixel for pixel, n when it is drawn from every n-th pixel of a large map
    (:func:`overlay_step`).
    """

    analysis: GrainAnalysis
    image: np.ndarray | None = None
    config: GrainsConfig = GrainsConfig()
    overlay_step: int = 1

    @property
    def labels(self) -> np.ndarray:
        return self.analysis.labels

    @property
    def table(self) -> dict[str, np.ndarray]:
        return self.analysis.table

    @property
    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` holds: the analysis' summary, and ``overlay`` when it is drawn
        downsampled."""
        if self.overlay_step == 1:
            return self.analysis.summary
        return {**self.analysis.summary, "overlay": _overlay_note(self.labels.shape, self.overlay_step)}

    @property
    def fits(self) -> dict[str, Any]:
        return self.analysis.fits

    @property
    def pixel_size(self) -> float | None:
        return self.analysis.pixel_size

    @property
    def text(self) -> str:
        from microseg.report.grain_report import astm_text

        return astm_text(self.summary["astm_e112"])

    def files(self) -> list[tuple[str, Writer]]:
        from microseg.grains import write_grain_table
        from microseg.io import write_json, write_labels
        from microseg.report.figures import save_figure
        from microseg.report.grain_report import grain_overlay_image, plot_grain_distributions

        a, step = self.analysis, self.overlay_step

        def overlay(path: Path) -> None:
            from PIL import Image as PILImage

            labels = a.labels if step == 1 else np.ascontiguousarray(a.labels[::step, ::step])
            PILImage.fromarray(grain_overlay_image(labels, image=self.image)).save(path, format="png")

        return [
            ("grains.csv", lambda p: write_grain_table(p, a.table, force=True)),
            ("summary.json", lambda p: write_json(p, self.summary, force=True)),
            ("labels.tif", lambda p: write_labels(p, a.labels, force=True)),
            ("distributions.png", lambda p: save_figure(plot_grain_distributions(a), p, force=True)),
            ("overlay.png", overlay),
            ("config.yaml", config_writer("grains", self.config)),
        ]


def overlay_step(shape: tuple[int, ...], max_side: int | None = None) -> int:
    """Every how many pixels ``overlay.png`` samples a map of ``shape``: 1 (pixel for pixel)
    up to ``max_side`` px on its long side (default
    :data:`~microseg.report.grain_report.OVERLAY_MAX_SIDE`), else the smallest step that
    brings the long side within it.

    Examples
    --------
    >>> overlay_step((3000, 4000)), overlay_step((20000, 20000)), overlay_step((8192, 8192))
    (1, 5, 3)
    """
    if max_side is None:
        from microseg.report.grain_report import OVERLAY_MAX_SIDE as max_side
    return max(1, math.ceil(max(shape) / max_side))


def _overlay_note(shape: tuple[int, ...], step: int) -> dict[str, Any]:
    drawn = [math.ceil(n / step) for n in shape]
    return {"every_nth_pixel": step, "drawn_shape": drawn,
            "note": f"the {shape[0]} x {shape[1]} px map is drawn at 1/{step} scale (one pixel in {step} "
                    f"along each axis, {drawn[0]} x {drawn[1]} px per panel); labels.tif has every pixel"}


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _read_map(prob_map: Any, pixel_size: float | None) -> tuple[np.ndarray, float | None, str]:
    """The map as an array, its pixel size (``pixel_size`` wins) and its name for messages."""
    from microseg import io

    if _is_path(prob_map):
        image = io.read_prob_image(prob_map, pixel_size=pixel_size)
        return image.data, image.pixel_size, str(prob_map)
    if isinstance(prob_map, Image):
        return (np.asarray(prob_map.data), pixel_size if pixel_size is not None else prob_map.pixel_size,
                prob_map.source or "prob_map")
    return np.asarray(prob_map), pixel_size, "prob_map"


def _read_image(image: Any, shape: tuple[int, ...], pixel_size: float | None,
                source: str, step: int = 1) -> np.ndarray | None:
    """The micrograph of the overlay (every ``step``-th pixel of it), refused unless it covers
    the map's pixels; a file sampled with ``step > 1`` is read band by band."""
    from microseg import io

    if image is None:
        return None
    name = str(image) if _is_path(image) else "image"
    if _is_path(image) and step > 1:
        data = io.open_image(image, pixel_size=pixel_size, as_gray=False)   # read below, once checked
    elif _is_path(image):
        data = io.read_image(image, pixel_size=pixel_size).data
    else:
        data = np.asarray(image.data if isinstance(image, Image) else image)
    if data.ndim not in (2, 3) or tuple(data.shape[:2]) != tuple(shape):
        raise InputError(f"{name}: the image has shape {tuple(data.shape[:2])} but {source} has shape "
                         f"{tuple(shape)}; the overlay needs the micrograph of the same pixels")
    if step == 1:
        return data
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data[::step, ::step])
    band = step * max(1, 1024 // step)
    return np.concatenate([data[r:min(r + band, shape[0]), :][::step, ::step]
                           for r in range(0, shape[0], band)])


def _is_binary(prob: np.ndarray) -> bool:
    return bool(prob.dtype == bool or np.isin(prob, (0, 1)).all())


def grains(prob_map: np.ndarray | Image | str | os.PathLike, *, pixel_size: float | None = None,
           image: np.ndarray | Image | str | os.PathLike | None = None,
           mask: np.ndarray | str | os.PathLike | None = None,
           min_diameter: float | None = None, exclude_border: bool | None = None,
           close_gaps: str | None = None, threshold: float = 0.5, merge_threshold: float | None = None,
           config: Any = None, output: str | os.PathLike | None = None, force: bool = False,
           progress: bool = False) -> GrainsResult:
    """Label, measure and summarise the grains of a 2D boundary map or boundary probability.

    Parameters
    ----------
    prob_map : ndarray (Y, X), Image or path
        Boundary map (1 = boundary) or probability in [0, 1]; a path is read with
        :func:`microseg.io.read_prob_image` (with its pixel size).
    pixel_size : float, optional
        µm per pixel; overrides the file's. Without one, lengths are in px.
    image : ndarray, Image or path, optional
        The micrograph of the same pixels, to draw the overlay on (a path is read with
        :func:`microseg.io.read_image`); another shape is an error before any work. Of a map
        too large to draw pixel for pixel (:func:`overlay_step`) only the pixels drawn are kept
        (a file is read band by band).
    mask : ndarray of bool or path, optional
        The area to analyse (nonzero = specimen; a path is read with
        :func:`microseg.io.read_mask`): nothing outside is measured, its edge cuts grains.
    min_diameter : float, optional
        Smallest grain kept, as ECD in µm (in px without a pixel size). Default: the
        config's ``min_diameter_um`` (which applies only where the map has a pixel size),
        0 without one: every grain kept; a physical threshold belongs to the material and
        the magnification (seed 000 uses 0.4 µm for its steel).
    exclude_border, close_gaps, merge_threshold : optional
        As for :func:`microseg.grains.label_grains`; ``close_gaps="hysteresis"`` on a binary
        map equals ``"none"`` (logged). Default: the config's, else
        :class:`microseg.grains.config.GrainsConfig`'s (``True``, ``"merge"``, the library's).
    threshold : float
        Probability threshold for boundaries.
    config : path, Config or GrainsConfig, optional
        A run configuration whose ``grains`` section gives the options not given here (a
        YAML file is read for that section only); the resolved section is written with the
        outputs as ``config.yaml``.
    output : path, optional
        Folder to write ``grains.csv``, ``summary.json``, ``labels.tif``,
        ``distributions.png``, ``overlay.png`` and ``config.yaml`` to (checked before any work).
    force : bool
        Overwrite existing outputs.
    progress : bool
        Accepted like every task's (this one has no long loop to show).

    Returns
    -------
    GrainsResult

    Examples
    --------
    >>> import numpy as np
    >>> from microseg import tasks
    >>> b = np.zeros((40, 40), np.uint8); b[::10, :] = 1; b[:, ::10] = 1
    >>> result = tasks.grains(b, pixel_size=0.5)
    >>> result.summary["n_grains"], float(result.table["area_um2"][0])
    (9, 25.0)
    """
    if output is not None:
        check_outputs(output, OUTPUTS, force=force)
    from microseg import io

    cfg = section_config(config, "grains", min_diameter_um=min_diameter, exclude_border=exclude_border,
                         close_gaps=close_gaps, merge_threshold=merge_threshold)

    prob, pixel_size, source = _read_map(prob_map, pixel_size)
    if _is_path(mask):
        mask = io.read_mask(mask, shape=prob.shape)
    step = overlay_step(prob.shape) if prob.ndim == 2 else 1
    overlay_image = _read_image(image, prob.shape, pixel_size, source, step)
    if step > 1:
        log.info("%s: overlay.png: %s", source, _overlay_note(prob.shape, step)["note"])
    if min_diameter is None and cfg.min_diameter_um > 0 and not pixel_size:
        log.info("%s: grains.min_diameter_um %g of the config does not apply: the map has no pixel size "
                 "(give one, or min_diameter in px)", source, cfg.min_diameter_um)
        min_diameter = 0.0
    elif min_diameter is None:
        min_diameter = cfg.min_diameter_um
    if str(cfg.close_gaps).lower() == "hysteresis" and prob.ndim == 2 and _is_binary(prob):
        log.info("%s: close_gaps 'hysteresis' on a binary map (only 0 and 1) is the same as 'none': "
                 "hysteresis extends strong boundaries through weak ones, and a binary map has none",
                 source)
    analysis = analyse_grains(prob, pixel_size=pixel_size, min_diameter=min_diameter,
                              exclude_border=cfg.exclude_border, close_gaps=cfg.close_gaps, threshold=threshold,
                              merge_threshold=cfg.merge_threshold, mask=mask, source=source)
    del prob   # the map is not needed for writing (memory per pixel, issue 10)
    result = GrainsResult(analysis, overlay_image, cfg, overlay_step=step)
    s = analysis.summary
    unit = "µm" if pixel_size else "px"
    mean = s.get("mean_ecd_um") if pixel_size else s.get("mean_ecd_px")
    if output is not None:
        result.write(output, force=force)
    log.info("%s: %d grains, mean ECD %.3f %s%s", source, s["n_grains"], mean, unit,
             "" if output is None else f" -> {Path(output)}")
    return result
