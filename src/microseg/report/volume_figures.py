"""Figures of a (Z, Y, X) volume: orthogonal sections with the phase, and the phase fraction per slice.

- :func:`fig_orthogonal_views`: the XY, XZ and YZ sections of the image with the mask
  outlined and tinted over it, drawn to scale (slice spacing vs pixel size);
- :func:`fig_phase_fraction`: the phase fraction of every slice against the slice number,
  its mean as a line and ± one standard deviation as a band, mean ± std in the title (the
  plot of seed 004's Fig. 6 and the numbers of its Table 2), for one or several
  segmentations.

Volumes are read one slice at a time (:func:`microseg.grains.orthogonal_views`). Each
``fig_*`` returns a :class:`matplotlib.figure.Figure` made without pyplot
(:mod:`microseg._figures`); each ``save_*`` writes it as a PNG (or the format of the
suffix), atomically, and refuses to overwrite without ``force``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microseg._figures import save_figure, subplots
from microseg._util import InputError
from microseg._validate import as_mask, check_pixel_size
from microseg.grains.volume import orthogonal_views, view_positions

__all__ = ["fig_orthogonal_views", "save_orthogonal_views", "fig_phase_fraction", "save_phase_fraction"]

_PHASE_RGB = np.array([1.0, 0.25, 0.1])          # the phase: outline, and a tint inside
_SERIES = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")


# ---------------------------------------------------------------------- orthogonal views
def fig_orthogonal_views(stack: Any, mask: Any = None, *, z: int | None = None, y: int | None = None,
                         x: int | None = None, spacing: float | Sequence[float] | None = None,
                         title: str | None = None, tint: float = 0.3) -> Any:
    """XY, XZ and YZ sections of a (Z, Y, X) image, with the phase of ``mask`` over them.

    Parameters
    ----------
    stack : array or object with ``.shape`` and ``stack[z]``
        ``(Z, Y, X)`` grey image (any number type), read one slice at a time.
    mask : same, optional
        ``(Z, Y, X)`` phase mask (bool or 0/1) of the same shape: its outline is drawn
        and its inside tinted by ``tint`` (0 = outline only).
    z, y, x : int, optional
        Sections (default the middles; negative counts from the end); dashed lines in
        each panel mark the other two.
    spacing : float or (dz, dy, dx), optional
        Voxel size in µm: panels are drawn to scale with axes in µm (in voxels, cubic,
        without).
    title : str, optional
        Figure title.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((6, 20, 30))
    >>> fig = fig_orthogonal_views(img, img > 0.5, spacing=(0.2, 0.05, 0.05))
    >>> [ax.get_title() for ax in fig.axes]
    ['XY (z = 3)', 'XZ (y = 10)', 'YZ (x = 15)']
    """
    shape = tuple(int(s) for s in getattr(stack, "shape", ()))
    views = orthogonal_views(stack, z=z, y=y, x=x)
    pos = view_positions(shape, z=z, y=y, x=x)
    masks = None
    if mask is not None:
        if tuple(getattr(mask, "shape", ())) != shape:
            raise InputError(f"mask: has shape {tuple(getattr(mask, 'shape', ()))} but the stack has {shape}; "
                             "give the mask of this stack")
        masks = {k: as_mask(v, f"mask ({k.upper()} section)") for k, v in
                 orthogonal_views(mask, z=z, y=y, x=x).items()}
    size = check_pixel_size(spacing, "spacing", ndim=3)
    dz, dy, dx = (1.0, 1.0, 1.0) if size is None else (float(s) for s in size)
    unit = "voxels" if size is None else "µm"
    lo, hi = _grey_range(views)
    z_size, y_size, x_size = shape
    panels = (("xy", f"XY (z = {pos['z']})", (x_size * dx, y_size * dy), ("x", "y"),
               (pos["x"], pos["y"]), (dx, dy)),
              ("xz", f"XZ (y = {pos['y']})", (x_size * dx, z_size * dz), ("x", "z"),
               (pos["x"], pos["z"]), (dx, dz)),
              ("yz", f"YZ (x = {pos['x']})", (y_size * dy, z_size * dz), ("y", "z"),
               (pos["y"], pos["z"]), (dy, dz)))
    widths = [p[2][0] for p in panels]
    fig, axes = subplots(1, 3, figsize=(12.0, 4.2), gridspec_kw={"width_ratios": widths})
    for ax, (key, name, (w, h), (xl, yl), (cx, cy), (sx, sy)) in zip(axes, panels):
        rgb = _overlay(views[key], None if masks is None else masks[key], lo, hi, tint)
        ax.imshow(rgb, extent=(0, w, h, 0), interpolation="nearest", aspect="equal")
        ax.axvline((cx + 0.5) * sx, color="yellow", lw=0.6, ls="--", alpha=0.8)
        ax.axhline((cy + 0.5) * sy, color="yellow", lw=0.6, ls="--", alpha=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"{xl} ({unit})")
        ax.set_ylabel(f"{yl} ({unit})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_orthogonal_views(stack: Any, path: str | os.PathLike, mask: Any = None, *, z: int | None = None,
                          y: int | None = None, x: int | None = None,
                          spacing: float | Sequence[float] | None = None, title: str | None = None,
                          force: bool = False) -> Path:
    """Write :func:`fig_orthogonal_views` to ``path`` (PNG, or the format of the suffix)."""
    fig = fig_orthogonal_views(stack, mask, z=z, y=y, x=x, spacing=spacing, title=title)
    return save_figure(fig, path, force=force)


def _grey_range(views: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """0.5 and 99.5 percentiles over the three sections together (one grey scale for all)."""
    values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in views.values()])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(max(hi, lo + 1e-12))


def _overlay(image: np.ndarray, mask: np.ndarray | None, lo: float, hi: float, tint: float) -> np.ndarray:
    grey = np.clip((np.asarray(image, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    rgb = np.repeat(np.nan_to_num(grey)[..., None], 3, axis=-1)
    if mask is not None:
        from scipy import ndimage as ndi

        rgb[mask] = (1 - tint) * rgb[mask] + tint * _PHASE_RGB
        outline = mask & ~ndi.binary_erosion(mask, border_value=1)
        rgb[outline] = _PHASE_RGB
    return rgb


# ---------------------------------------------------------------------- phase fraction
def fig_phase_fraction(per_slice: Any, *, ddof: int = 0, title: str | None = None,
                       ylabel: str = "phase fraction") -> Any:
    """The phase fraction of each slice against the slice number, with mean and ± std.

    Parameters
    ----------
    per_slice : array, phase dict, or mapping of name to either
        ``(Z,)`` fractions (NaN = a slice without area: left out), or a phase's dict of
        :func:`microseg.grains.volume_stats` (its ``per_slice``), or several of those by
        name (``{"U-Net": ..., "Otsu": ...}``) to compare segmentations in one plot.
    ddof : int, default 0
        Of the standard deviation (as :func:`microseg.grains.phase_fraction_summary`).
    title : str, optional
        Replaces the default title, the mean ± std of each series (seed 004, Table 2).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([0.70, 0.72, 0.74, 0.72])
    >>> fig = fig_phase_fraction({"U-Net": f})
    >>> fig.axes[0].get_title()
    'phase fraction per slice, mean ± std: U-Net 0.7200 ± 0.0141 (4 slices)'
    """
    series = _series(per_slice)
    fig, ax = subplots(figsize=(7.0, 4.0))
    parts = []
    for i, (name, values) in enumerate(series.items()):
        colour = _SERIES[i % len(_SERIES)]
        z = np.arange(values.size)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise InputError(f"per_slice: {name or 'the series'} has no finite fraction (no slice with area)")
        mean = float(finite.mean())
        std = float(finite.std(ddof=ddof)) if finite.size > ddof else float("nan")
        ax.plot(z, values, color=colour, lw=1.0, label=name or "per slice")
        ax.axhline(mean, color=colour, lw=1.5, ls="--", label=f"{name + ' ' if name else ''}mean", gid="mean")
        if np.isfinite(std):
            ax.axhspan(mean - std, mean + std, color=colour, alpha=0.15, lw=0,
                       label=f"{name + ' ' if name else ''}± std")
        parts.append(f"{name + ' ' if name else ''}{mean:.4f} ± {std:.4f} ({finite.size} slices)")
    ax.set_title(title or "phase fraction per slice, mean ± std: " + "; ".join(parts), fontsize=10)
    ax.set_xlabel("slice (z)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, max(values.size for values in series.values()) - 1 or 1)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def save_phase_fraction(per_slice: Any, path: str | os.PathLike, *, ddof: int = 0, title: str | None = None,
                        ylabel: str = "phase fraction", force: bool = False) -> Path:
    """Write :func:`fig_phase_fraction` to ``path`` (PNG, or the format of the suffix)."""
    return save_figure(fig_phase_fraction(per_slice, ddof=ddof, title=title, ylabel=ylabel), path, force=force)


def _series(per_slice: Any) -> dict[str, np.ndarray]:
    if isinstance(per_slice, Mapping) and "per_slice" not in per_slice:
        if not per_slice:
            raise InputError("per_slice: got an empty mapping; give (Z,) fractions or {name: fractions}")
        return {str(k): _fractions(v, f"per_slice[{k!r}]") for k, v in per_slice.items()}
    return {"": _fractions(per_slice, "per_slice")}


def _fractions(values: Any, name: str) -> np.ndarray:
    if isinstance(values, Mapping):
        if "per_slice" not in values:
            raise InputError(f"{name}: a dict without 'per_slice'; give a phase of volume_stats(...) or fractions")
        values = values["per_slice"]
    try:
        arr = np.asarray(values, dtype=np.float64) if not isinstance(values, str) else np.array([])
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected (Z,) fractions (numbers), got {type(values).__name__}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name}: expected (Z,) fractions, one per slice; got shape {arr.shape}")
    return arr
