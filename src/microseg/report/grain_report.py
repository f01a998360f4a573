"""Figures and files of a grain analysis (:func:`microseg.grains.analyse_grains`): the size
and shape distributions, the overlay, and the outputs of ``microseg grains``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from microseg.grains.analysis import GrainAnalysis


def plot_grain_distributions(analysis: GrainAnalysis, *, reference: GrainAnalysis | None = None,
                             names: tuple[str, str] = ("grains", "reference")) -> Any:
    """Figure with the ECD histogram (exponential + lognormal fits) and the aspect-ratio
    histogram (beta fit); a ``reference`` analysis is drawn beside it for comparison."""
    from microseg.report.figures import _pyplot, plot_distributions

    plt = _pyplot()
    unit = "um" if analysis.pixel_size else "px"
    label = "µm" if analysis.pixel_size else "px"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    samples = {names[0]: analysis.table[f"ecd_{unit}"]}
    ratios = {names[0]: analysis.table["aspect_ratio"][np.isfinite(analysis.table["aspect_ratio"])]}
    if reference is not None:
        samples[names[1]] = reference.table[f"ecd_{unit}"]
        ratios[names[1]] = reference.table["aspect_ratio"][np.isfinite(reference.table["aspect_ratio"])]
    size_fits = {f"{names[0]}: {k} fit": v for k, v in analysis.fits.items() if k != "beta"}
    plot_distributions(samples, xlabel=f"equivalent circle diameter ({label})", fits=size_fits, ax=ax1)
    beta = {f"{names[0]}: beta fit": analysis.fits["beta"]} if "beta" in analysis.fits else {}
    plot_distributions(ratios, xlabel="aspect ratio (minor / major)", fits=beta, ax=ax2,
                       bins=np.linspace(0, 1, 26))
    ax1.set_title(f"grain size, n = {analysis.summary['n_grains']}")
    ax2.set_title("grain shape")
    fig.tight_layout()
    return fig


def write_grain_outputs(analysis: GrainAnalysis, out: Path, *, image: np.ndarray | None = None,
                        force: bool = False) -> list[Path]:
    """Write grains.csv, summary.json, labels.tif, distributions.png and overlay.png to ``out``."""
    from microseg._util import write_json
    from microseg.grains import write_grain_table
    from microseg.io import write_labels
    from microseg.report.figures import boundary_overlay, plot_segmentation, save_figure

    out = Path(out)
    paths = [write_grain_table(out / "grains.csv", analysis.table, force=force)]
    paths.append(write_json(out / "summary.json", analysis.summary, force=force))
    write_labels(out / "labels.tif", analysis.labels, force=force)
    paths.append(out / "labels.tif")
    paths.append(save_figure(plot_grain_distributions(analysis), out / "distributions.png", force=force))
    from skimage.segmentation import find_boundaries

    edges = find_boundaries(analysis.labels, mode="inner")
    panels: dict[str, np.ndarray] = {}
    if image is not None:
        panels["image with grain outlines"] = boundary_overlay(image, edges)
    panels[f"grains (n = {analysis.summary['n_grains']})"] = analysis.labels
    paths.append(save_figure(plot_segmentation(panels), out / "overlay.png", force=force))
    return paths
