"""Per-grain properties as a column table, computed from run-length moments (no per-grain loops)."""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path

import numpy as np

from microseg._util import InputError, atomic_path
from microseg._validate import as_labels, check_ndim, check_pixel_size
from microseg.grains._runs import exposed_faces, raw_moments

logger = logging.getLogger(__name__)

#: Crofton-like factors turning counts of exposed pixel edges (2D) / voxel faces (3D) into
#: unbiased length / area estimates for boundaries of random orientation.
CROFTON_2D = math.pi / 4
CROFTON_3D = 2.0 / 3.0
_INT_COLUMNS = ("label", "area_px", "volume_px")


def measure_grains(labels: np.ndarray, *, pixel_size: float | tuple[float, ...] | None = None
                   ) -> dict[str, np.ndarray]:
    """Measure every grain of a label image; return a column table (dict of 1D arrays).

    Moments come from run-length sums and :func:`numpy.bincount`, so a 4096 x 4096 map
    with 20,000 grains takes a fraction of a second.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X) or (Z, Y, X)
        Grain labels, 0 = no grain. Labels need not be consecutive; absent ones are skipped.
    pixel_size : float or tuple of float, optional
        µm per pixel (one number, or one per axis); adds the ``*_um`` columns.

    Returns
    -------
    table : dict of str to ndarray
        One entry per grain, sorted by label. 2D columns: ``label``, ``area_px``, ``ecd_px``
        (equivalent circle diameter ``2 sqrt(area / pi)``), ``centroid_row``,
        ``centroid_col``, ``major_axis_px`` and ``minor_axis_px`` (``4 sqrt(lambda)`` of the
        eigenvalues of the pixel-coordinate covariance, as in
        :func:`skimage.measure.regionprops`), ``aspect_ratio`` (``sqrt(lambda_min /
        lambda_max)``, the square root of the ratio of PCA explained variances, in [0, 1];
        NaN for one-pixel grains), ``orientation_deg`` (angle of the major axis from the
        +column axis, counter-clockwise as displayed with rows going down, in [-90, 90)),
        ``perimeter_px`` (pi/4 times the number of exposed pixel edges, i.e. edges shared
        with another label, 0 or the image edge: a Crofton-like estimate, unbiased for
        randomly oriented boundaries; an axis-aligned square of side n gives pi n).
        With ``pixel_size``: ``area_um2``, ``ecd_um``, ``major_axis_um``, ``minor_axis_um``,
        ``perimeter_um``.
        3D columns: ``label``, ``volume_px``, ``esd_px`` (equivalent sphere diameter),
        ``centroid_plane``, ``centroid_row``, ``centroid_col``, ``major_axis_px``,
        ``minor_axis_px``, ``aspect_ratio`` (smallest over largest), ``surface_area_px``
        (2/3 times the exposed voxel faces); with ``pixel_size``: ``volume_um3``,
        ``esd_um``, ``major_axis_um``, ``minor_axis_um``, ``surface_area_um2``.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((6, 8), np.int32)
    >>> lab[1:3, 1:7] = 1                 # a 2 x 6 bar
    >>> t = measure_grains(lab, pixel_size=0.5)
    >>> int(t["area_px"][0]), float(t["centroid_col"][0]), float(t["orientation_deg"][0])
    (12, 3.5, 0.0)
    >>> round(float(t["aspect_ratio"][0]), 4)    # sqrt(var_row / var_col) = sqrt(0.25 / (35/12))
    0.2928
    >>> float(t["area_um2"][0])
    3.0
    """
    labels = as_labels(check_ndim(labels, (2, 3), "labels", allow_empty=False))
    size = check_pixel_size(pixel_size, ndim=labels.ndim)
    n_max = int(labels.max())
    count, s1, s2 = raw_moments(labels, n_max)
    present = np.flatnonzero(count[1:]) + 1
    count, s1, s2 = count[present], s1[present], s2[present]
    mean = s1 / count[:, None]
    cov = s2 / count[:, None, None] - mean[:, :, None] * mean[:, None, :]
    faces = exposed_faces(labels, n_max)[present]
    if labels.ndim == 2:
        table = _table_2d(present, count, mean, cov, faces, size)
    else:
        table = _table_3d(present, count, mean, cov, faces, size)
    logger.debug("measure_grains: %d grains", present.size)
    return table


def _eigen(cov: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of stacked symmetric matrices, clipped at 0."""
    if cov.shape[0] == 0:
        return np.zeros((0, cov.shape[-1]))
    return np.clip(np.linalg.eigvalsh(cov), 0.0, None)


def _axes(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lam = _eigen(cov)
    major, minor = 4 * np.sqrt(lam[:, -1]), 4 * np.sqrt(lam[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(lam[:, -1] > 0, np.sqrt(lam[:, 0] / np.where(lam[:, -1] > 0, lam[:, -1], 1)), np.nan)
    return major, minor, ratio


def _scaled(cov: np.ndarray, size: np.ndarray) -> np.ndarray:
    return cov * size[:, None] * size[None, :]


def _table_2d(label, count, mean, cov, faces, size) -> dict[str, np.ndarray]:
    major, minor, ratio = _axes(cov)
    a, b, c = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    theta = -np.degrees(0.5 * np.arctan2(2 * b, c - a))
    theta = np.where(theta >= 90.0, theta - 180.0, theta)
    table = {
        "label": label.astype(np.int64),
        "area_px": count.astype(np.int64),
        "ecd_px": 2 * np.sqrt(count / np.pi),
        "centroid_row": mean[:, 0],
        "centroid_col": mean[:, 1],
        "major_axis_px": major,
        "minor_axis_px": minor,
        "aspect_ratio": ratio,
        "orientation_deg": theta + 0.0,
        "perimeter_px": CROFTON_2D * faces.sum(axis=1),
    }
    if size is not None:
        area_um2 = count * size.prod()
        major_um, minor_um, _ = _axes(_scaled(cov, size))
        table.update({
            "area_um2": area_um2,
            "ecd_um": 2 * np.sqrt(area_um2 / np.pi),
            "major_axis_um": major_um,
            "minor_axis_um": minor_um,
            # edges between rows are as long as a pixel is wide, and vice versa
            "perimeter_um": CROFTON_2D * (faces[:, 0] * size[1] + faces[:, 1] * size[0]),
        })
    return table


def _table_3d(label, count, mean, cov, faces, size) -> dict[str, np.ndarray]:
    major, minor, ratio = _axes(cov)
    table = {
        "label": label.astype(np.int64),
        "volume_px": count.astype(np.int64),
        "esd_px": np.cbrt(6 * count / np.pi),
        "centroid_plane": mean[:, 0],
        "centroid_row": mean[:, 1],
        "centroid_col": mean[:, 2],
        "major_axis_px": major,
        "minor_axis_px": minor,
        "aspect_ratio": ratio,
        "surface_area_px": CROFTON_3D * faces.sum(axis=1),
    }
    if size is not None:
        volume = count * size.prod()
        major_um, minor_um, _ = _axes(_scaled(cov, size))
        face_area = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]])
        table.update({
            "volume_um3": volume,
            "esd_um": np.cbrt(6 * volume / np.pi),
            "major_axis_um": major_um,
            "minor_axis_um": minor_um,
            "surface_area_um2": CROFTON_3D * faces @ face_area,
        })
    return table


def _stats(values: np.ndarray, weights: np.ndarray, prefix: str, out: dict[str, float]) -> None:
    ok = np.isfinite(values)
    values, weights = values[ok], weights[ok]
    nan = float("nan")
    out[f"mean_{prefix}"] = float(values.mean()) if values.size else nan
    out[f"median_{prefix}"] = float(np.median(values)) if values.size else nan
    out[f"std_{prefix}"] = float(values.std(ddof=1)) if values.size > 1 else nan
    total = float(weights.sum())
    out[f"area_weighted_mean_{prefix}"] = float((values * weights).sum() / total) if total > 0 else nan


def grain_summary(table: dict[str, np.ndarray]) -> dict[str, float]:
    """Summarise a grain table from :func:`measure_grains`.

    Returns ``n_grains`` and, for the equivalent diameter in px (and µm when present):
    ``mean_ecd_px``, ``median_ecd_px``, ``std_ecd_px`` (sample standard deviation, ddof=1),
    ``area_weighted_mean_ecd_px`` (sum of area x ECD over total area), and
    ``mean_aspect_ratio`` (NaN ratios of one-pixel grains skipped). 3D tables give the same
    with ``esd`` (weighted by volume). Statistics of an empty table are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> t = {"label": np.array([1, 2]), "area_px": np.array([1, 3]),
    ...      "ecd_px": np.array([2.0, 4.0]), "aspect_ratio": np.array([0.5, 1.0])}
    >>> s = grain_summary(t)
    >>> s["n_grains"], s["mean_ecd_px"], s["area_weighted_mean_ecd_px"], s["mean_aspect_ratio"]
    (2, 3.0, 3.5, 0.75)
    """
    if "label" not in table:
        raise InputError("table: expected a grain table from measure_grains (no 'label' column)")
    three_d = "esd_px" in table
    name, weight = ("esd", "volume_px") if three_d else ("ecd", "area_px")
    weights = np.asarray(table[weight], dtype=float)
    out: dict[str, float] = {"n_grains": int(len(table["label"]))}
    for unit in ("px", "um"):
        column = f"{name}_{unit}"
        if column in table:
            _stats(np.asarray(table[column], dtype=float), weights, column, out)
    ratio = np.asarray(table.get("aspect_ratio", np.zeros(0)), dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    out["mean_aspect_ratio"] = float(ratio.mean()) if ratio.size else float("nan")
    return out


def write_grain_table(path: str | os.PathLike, table: dict[str, np.ndarray], *, force: bool = False) -> Path:
    """Write a grain table as CSV (header row of column names), atomically.

    Floats are written with ``repr`` so that :func:`read_grain_table` gives them back exactly.
    An existing file is kept unless ``force`` is true.
    """
    columns = list(table)
    arrays = [np.asarray(table[c]) for c in columns]
    lengths = {a.shape for a in arrays}
    if len(lengths) > 1 or any(a.ndim != 1 for a in arrays):
        raise InputError(f"table: every column must be 1D of one length, got shapes {sorted(lengths)}")
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for row in zip(*(a.tolist() for a in arrays)):
                writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return Path(path)


def read_grain_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a CSV grain table written by :func:`write_grain_table`."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{path}: empty file, expected a header row")
    columns = rows[0]
    body = rows[1:]
    table = {}
    for i, name in enumerate(columns):
        dtype = np.int64 if name in _INT_COLUMNS else np.float64
        table[name] = np.array([r[i] for r in body], dtype=float).astype(dtype)
    return table
