"""``microseg grains``: a boundary map or probability → grains, their sizes and shapes,
distribution fits and the ASTM E112 grain size (:func:`microseg.grains.analyse_grains`)."""
from __future__ import annotations

import logging
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

__all__ = ["GrainsResult", "OUTPUTS", "grains"]

#: The files :meth:`GrainsResult.write` creates (``config.yaml``: the resolved ``grains`` section).
OUTPUTS = ("grains.csv", "summary.json", "labels.tif", "distributions.png", "overlay.png", "config.yaml")


@dataclass(frozen=True)
class GrainsResult(TaskResult):
    """What :func:`grains` measured: the :class:`~microseg.grains.GrainAnalysis` and its views.

    ``labels`` int32 (Y, X) grains 1..N (0 = boundary or excluded), ``table`` one row per
    grain (px and µm columns, as ``grains.csv``), ``summary`` what ``summary.json`` holds,
    ``fits`` the distribution fits, ``text`` the ASTM E112 lines the command prints;
    ``image`` the micrograph the overlay is drawn on, if one was given; ``config`` the
    resolved ``grains`` section the grains were measured with (written as ``config.yaml``).
    """

    analysis: GrainAnalysis
    image: np.ndarray | None = None
    config: GrainsConfig = GrainsConfig()

    @property
    def labels(self) -> np.ndarray:
        return self.analysis.labels

    @property
    def table(self) -> dict[str, np.ndarray]:
        return self.analysis.table

    @property
    def summary(self) -> dict[str, Any]:
        return self.analysis.summary

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
        from microseg.report.grain_report import plot_grain_distributions, plot_grain_overlay

        a = self.analysis
        return [
            ("grains.csv", lambda p: write_grain_table(p, a.table, force=True)),
            ("summary.json", lambda p: write_json(p, a.summary, force=True)),
            ("labels.tif", lambda p: write_labels(p, a.labels, force=True)),
            ("distributions.png", lambda p: save_figure(plot_grain_distributions(a), p, force=True)),
            ("overlay.png", lambda p: plot_grain_overlay(a.labels, image=self.image).savefig(
                p, dpi="figure", format="png")),
            ("config.yaml", config_writer("grains", self.config)),
        ]


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
                source: str) -> np.ndarray | None:
    """The micrograph of the overlay, refused unless it covers the map's pixels."""
    from microseg import io

    if image is None:
        return None
    name = str(image) if _is_path(image) else "image"
    if _is_path(image):
        data = io.read_image(image, pixel_size=pixel_size).data
    else:
        data = np.asarray(image.data if isinstance(image, Image) else image)
    if data.ndim not in (2, 3) or tuple(data.shape[:2]) != tuple(shape):
        raise InputError(f"{name}: the image has shape {tuple(data.shape[:2])} but {source} has shape "
                         f"{tuple(shape)}; the overlay needs the micrograph of the same pixels")
    return data


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
        :func:`microseg.io.read_image`); another shape is an error before any work.
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
    overlay_image = _read_image(image, prob.shape, pixel_size, source)
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
    result = GrainsResult(analysis, overlay_image, cfg)
    s = analysis.summary
    unit = "µm" if pixel_size else "px"
    mean = s.get("mean_ecd_um") if pixel_size else s.get("mean_ecd_px")
    if output is not None:
        result.write(output, force=force)
    log.info("%s: %d grains, mean ECD %.3f %s%s", source, s["n_grains"], mean, unit,
             "" if output is None else f" -> {Path(output)}")
    return result
