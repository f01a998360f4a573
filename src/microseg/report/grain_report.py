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


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def astm_text(astm: dict[str, Any]) -> str:
    """ASTM E112 results of a grain summary (``summary["astm_e112"]``) as lines to print.

    Examples
    --------
    >>> print(astm_text({"pixel_size_um": None, "length_unit": "px", "planimetric": None,
    ...                  "intercept_lines": None, "intercept_circles": None,
    ...                  "notes": ["G and the planimetric N_A need a pixel size; intercepts are in px"]}))
    ASTM E112 (no pixel size: lengths in px, no G; give --pixel-size)
      note: G and the planimetric N_A need a pixel size; intercepts are in px
    """
    size = astm.get("pixel_size_um")
    lines = [f"ASTM E112 (pixel size {size:g} µm)" if size else
             "ASTM E112 (no pixel size: lengths in px, no G; give --pixel-size)"]
    plan = astm.get("planimetric")
    if plan:
        lines.append(f"  planimetric:  G {plan['g']:.1f}   N_A {plan['n_a_per_mm2']:.0f} /mm²")
    for key, name in (("intercept_circles", "3 circles:  "), ("intercept_lines", "line grid:  ")):
        r = astm.get(key)
        if not r:
            continue
        g = f"G {r['g']:.1f}   " if r.get("g") is not None else ""
        lines.append(f"  {name}  {g}P_L {_num(r['p_l'])} ± {_num(r['p_l_ci95'])} {r['density_unit']} "
                     f"(95 % CI, RA {r['relative_accuracy_pct']:.1f} %, {r['n_fields']} fields of "
                     f"{r['field_size_px']} px)   mean intercept {r['mean_intercept']:.3g} {r['length_unit']}")
        if r.get("note"):
            lines.append(f"    note: {r['note']}")
    lines += [f"  note: {n}" for n in astm.get("notes", [])]
    return "\n".join(lines)
