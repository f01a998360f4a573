"""Figures a person looks at: segmentation panels and grain-size / aspect-ratio distributions.

Matplotlib is imported inside the functions (Agg backend), so importing this module is cheap.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, force: bool = False, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` atomically (refusing to overwrite unless ``force``) and close it."""
    plt = _pyplot()
    path = Path(path)
    try:
        with atomic_path(path, force=force) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def boundary_overlay(image: np.ndarray, boundaries: np.ndarray, *,
                     color: tuple[float, float, float] = (1.0, 0.2, 0.1),
                     truth: np.ndarray | None = None) -> np.ndarray:
    """RGB float image with ``boundaries`` drawn over a grey ``image`` (and ``truth`` in cyan)."""
    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray[..., :3].mean(axis=-1)
    lo, hi = np.percentile(gray, [0.5, 99.5])
    gray = np.clip((gray - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    if truth is not None:
        rgb[np.asarray(truth) > 0] = (0.1, 0.9, 1.0)
    rgb[np.asarray(boundaries) > 0] = color
    return rgb


def plot_segmentation(panels: Mapping[str, np.ndarray], *, title: str | None = None,
                      ncols: int | None = None) -> Any:
    """A row (or grid) of named image panels; label maps (int) get a random colour map."""
    plt = _pyplot()
    n = len(panels)
    ncols = ncols or min(n, 4)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, arr) in zip(axes.ravel(), panels.items()):
        arr = np.asarray(arr)
        if arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer) and arr.max() > 1:
            ax.imshow(_label_colours(arr), interpolation="nearest")
        elif arr.ndim == 3:
            ax.imshow(arr, interpolation="nearest")
        else:
            ax.imshow(arr, cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Colours of the boundary classes (DESIGN: 1 HAGB, 2 LAGB, 3 Σ3 twin) on black.
CLASS_COLOURS = np.array([(0, 0, 0), (1.0, 1.0, 1.0), (1.0, 0.85, 0.1), (1.0, 0.25, 0.25)], dtype=np.float32)


def class_colours(classes: np.ndarray) -> np.ndarray:
    """RGB picture of a boundary-class map: HAGB white, LAGB yellow, Σ3 twin red."""
    classes = np.asarray(classes)
    return CLASS_COLOURS[np.clip(classes, 0, len(CLASS_COLOURS) - 1)]


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


def _label_colours(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lut = rng.uniform(0.25, 1.0, size=(int(labels.max()) + 1, 3))
    lut[0] = 0.0
    return lut[labels]


def plot_distributions(samples: Mapping[str, Sequence[float] | np.ndarray], *, xlabel: str,
                       fits: Mapping[str, Any] | None = None, ax: Any = None,
                       bins: int | np.ndarray = 30) -> Any:
    """Histograms (as densities) of one or more samples with fitted PDFs drawn over them.

    ``fits`` maps a legend name to an object with a ``pdf(x)`` method (see
    :func:`microseg.grains.fit_distribution`).
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
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
