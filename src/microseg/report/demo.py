"""The figures of the demo (:func:`microseg.tasks.demo` computes what they show).

- :func:`plot_demo`: the synthetic SE micrograph, its true boundaries by class, the
  Sauvola probability and grains, the true grains, and the Otsu mask over the truth.
- :func:`plot_fib_sem`: a FIB-SEM slice, its true solid phase, each method's mask, and
  the solid fraction per slice of each method beside the truth.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["plot_demo", "plot_fib_sem"]


def plot_demo(image: np.ndarray, classes: np.ndarray, truth_boundaries: np.ndarray, truth_labels: np.ndarray,
              prob: np.ndarray, labels: np.ndarray, otsu_mask: np.ndarray, *, n_grains: int,
              n_grains_true: int) -> Any:
    """The demo's 2 × 3 panel figure.

    Parameters
    ----------
    image : ndarray, (Y, X)
        The synthetic micrograph.
    classes, truth_boundaries, truth_labels : ndarray, (Y, X)
        The truth: boundary classes (1 HAGB, 2 LAGB, 3 Σ3), boundaries, grain labels.
    prob, labels : ndarray, (Y, X)
        Sauvola's boundary probability and the grains found from it.
    otsu_mask : ndarray of bool, (Y, X)
        Otsu's boundary mask.
    n_grains, n_grains_true : int
        The grain counts of ``labels`` and ``truth_labels`` (as the grain analysis counts them).
    """
    from microseg.report.figures import boundary_overlay, class_colours, plot_segmentation

    panels = {
        "synthetic SE micrograph": image,
        "true boundaries: HAGB white, LAGB yellow, Σ3 red": class_colours(classes),
        "Sauvola boundary probability": prob,
        f"Sauvola + merge grains (n={n_grains})": labels,
        f"true grains (n={n_grains_true})": truth_labels,
        "Otsu mask (red) over truth (cyan)": boundary_overlay(image, otsu_mask, truth=truth_boundaries),
    }
    return plot_segmentation(panels, ncols=3, title="microseg demo: classical baseline vs exact truth")


def plot_fib_sem(stack: np.ndarray, phases: np.ndarray, masks: Mapping[str, np.ndarray],
                 fractions: Mapping[str, np.ndarray], ious: Mapping[str, float],
                 true_fraction: np.ndarray, *, z: int | None = None) -> Any:
    """A FIB-SEM slice, its truth and each method's mask, and the solid fraction per slice.

    Parameters
    ----------
    stack, phases : ndarray, (Z, Y, X)
        The FIB-SEM stack and its true solid phase.
    masks, fractions, ious : mappings by method name
        Each method's (Z, Y, X) mask, its solid fraction per slice and its IoU.
    true_fraction : ndarray, (Z,)
        The true solid fraction per slice.
    z : int, optional
        The slice shown (default: the middle one).
    """
    from microseg._figures import subplots

    z = stack.shape[0] // 2 if z is None else z
    shown = [("FIB-SEM slice", stack[z]), ("true solid phase", phases[z])]
    shown += [(name.capitalize(), m[z]) for name, m in masks.items()]
    fig, axes = subplots(1, len(shown) + 1, figsize=(3.6 * (len(shown) + 1), 3.8))
    for ax, (title, arr) in zip(axes[:-1], shown):
        ax.imshow(arr, cmap="gray", interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    ax = axes[-1]
    ax.plot(true_fraction, "k-", lw=2, label="truth")
    for name, frac in fractions.items():
        ax.plot(frac, "o-", ms=3, label=f"{name} (IoU {ious[name]:.3f})")
    ax.set_xlabel("slice")
    ax.set_ylabel("solid phase fraction")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
