"""Figures a person looks at: segmentation panels and grain-size / aspect-ratio distributions.

Figures are made with the primitives of :mod:`microseg._figures`: a Figure on its own Agg
canvas, without pyplot and without touching matplotlib's backend, so drawing in a notebook
leaves the user's backend and figures alone. Matplotlib is imported inside the functions,
so importing this module is cheap.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from microseg._figures import CLASS_COLOURS, class_colours, label_colours, save_figure, subplots

__all__ = ["save_figure", "boundary_overlay", "plot_segmentation", "CLASS_COLOURS", "class_colours",
           "plot_training_pair", "plot_distributions"]


def boundary_overlay(image: np.ndarray, boundaries: np.ndarray, *,
                     color: tuple[float, float, float] = (1.0, 0.2, 0.1),
                     truth: np.ndarray | None = None, dtype: Any = np.float32) -> np.ndarray:
    """RGB image with ``boundaries`` drawn over a grey ``image`` (and ``truth`` in cyan).

    ``dtype`` float32 (values in [0, 1]) or uint8 (times 255, truncated as matplotlib makes
    8-bit pixels of floats: the same picture in 3 bytes per pixel).
    """
    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray[..., :3].mean(axis=-1)
    lo, hi = np.percentile(gray, [0.5, 99.5])
    gray = np.clip((gray - lo) / max(hi - lo, 1e-6), 0, 1)
    cyan = (0.1, 0.9, 1.0)
    if np.dtype(dtype) == np.uint8:
        gray *= 255
        gray = gray.astype(np.uint8)
        cyan, color = ((np.array(c, np.float32) * 255).astype(np.uint8) for c in (cyan, color))
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    if truth is not None:
        rgb[np.asarray(truth) > 0] = cyan
    rgb[np.asarray(boundaries) > 0] = color
    return rgb


def plot_segmentation(panels: Mapping[str, np.ndarray], *, title: str | None = None,
                      ncols: int | None = None) -> Any:
    """A row (or grid) of named image panels; label maps (int) get a random colour map."""
    n = len(panels)
    ncols = ncols or min(n, 4)
    nrows = int(np.ceil(n / ncols))
    fig, axes = subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, arr) in zip(axes.ravel(), panels.items()):
        arr = np.asarray(arr)
        if arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer) and arr.max() > 1:
            ax.imshow(label_colours(arr), interpolation="nearest")
        elif arr.ndim == 3:
            ax.imshow(arr, interpolation="nearest")
        else:
            ax.imshow(arr, cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_pair(image: np.ndarray, boundaries: np.ndarray, classes: np.ndarray,
                       valid: np.ndarray) -> Any:
    """The pair overlay for a person to check: the SEM image beside the registered EBSD
    boundaries by class (HAGB cyan, LAGB yellow, Σ3 red) on it, the unknown area dimmed.
    ``image`` grey in [0, 1]."""
    overlay = boundary_overlay(image, np.zeros_like(boundaries))
    drawn = boundaries > 0
    overlay[drawn] = class_colours(classes)[drawn] * 0.9 + 0.1
    overlay[drawn & (classes == 1)] = (0.1, 0.9, 1.0)  # HAGB cyan on grey
    overlay[~valid] *= 0.35                            # no label there
    return plot_segmentation({"SEM image": image, "EBSD boundaries registered (HAGB cyan, LAGB yellow, Σ3 red)":
                              overlay}, ncols=2)


def plot_distributions(samples: Mapping[str, Sequence[float] | np.ndarray], *, xlabel: str,
                       fits: Mapping[str, Any] | None = None, ax: Any = None,
                       bins: int | np.ndarray = 30) -> Any:
    """Histograms (as densities) of one or more samples with fitted PDFs drawn over them.

    ``fits`` maps a legend name to an object with a ``pdf(x)`` method (see
    :func:`microseg.grains.fit_distribution`).
    """
    if ax is None:
        _, ax = subplots(figsize=(5, 3.6))
    values = [np.asarray(v, dtype=float) for v in samples.values()]
    allv = np.concatenate([v for v in values if v.size] or [np.zeros(1)])
    if isinstance(bins, int):
        bins = np.linspace(float(allv.min()), float(allv.max()) + 1e-9, bins + 1)
    for name, v in zip(samples, values):
        if v.size:
            ax.hist(v, bins=bins, density=True, alpha=0.45, label=f"{name} (n={v.size})")
    x = np.linspace(float(bins[0]), float(bins[-1]), 300)
    for name, fit in (fits or {}).items():
        with np.errstate(all="ignore"):
            ax.plot(x, fit.pdf(x), lw=2, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density")
    ax.legend(fontsize=8)
    return ax
