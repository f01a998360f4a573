"""What ``microseg ebsd`` shows of an :class:`microseg.ebsd.analysis.EBSDAnalysis`: the lines
printed in the terminal and the IPF-Z map with the boundaries by class."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _csl_note(s: dict[str, Any]) -> str:
    """Where the CSL boundaries sit in the split by angle, e.g. ``" (Σ3 counted in HAGB)"``;
    nothing when none were looked for (no cubic phase: Σ3 twins are a cubic CSL)."""
    from microseg.ebsd import CSL

    thresholds = s["thresholds_deg"]
    names = thresholds.get("csl_classified", thresholds.get("csl", []))
    bands: dict[str, list[str]] = {"HAGB": [], "LAGB": []}
    for name in names:
        if name in CSL:
            bands["HAGB" if CSL[name][1] > thresholds["hagb"] else "LAGB"].append(f"Σ{name}")
    parts = [f"{', '.join(v)} counted in {k}" for k, v in bands.items() if v]
    return f" ({'; '.join(parts)})" if parts else ""


def summary_text(s: dict[str, Any]) -> str:
    """A few lines for the terminal from :attr:`EBSDAnalysis.summary`.

    Examples
    --------
    >>> s = {"source": "scan.ang", "shape": [10, 20], "grid": "square", "step_um": 0.5,
    ...      "phases": {"1": {"name": "Ti", "point_group": "6/mmm"}},
    ...      "indexed_fraction_read": 0.9, "indexed_fraction": 0.95, "min_grain_size_points": 5,
    ...      "thresholds_deg": {"lagb": 2.0, "hagb": 15.0, "csl": ["3"], "csl_classified": []},
    ...      "n_grains": 3, "n_grains_inside": 1, "mean_ecd_um": 2.0, "mean_ecd_um_inside": 2.5,
    ...      "boundaries": {"percent": {"hagb": 80.0, "lagb": 20.0},
    ...                     "percent_by_angle": {"lagb": 20.0, "hagb": 80.0}}}
    >>> print(summary_text(s).splitlines()[-1])
      by angle: LAGB 20.0 %, HAGB 80.0 %
    """
    pct = s["boundaries"]["percent"]
    by_angle = s["boundaries"]["percent_by_angle"]
    phases = ", ".join(f"{v['name']} ({v['point_group']})" for v in s["phases"].values())
    classes = ", ".join(f"{k} {v:.1f} %" for k, v in pct.items() if v > 0)
    return "\n".join([
        f"{s['source']}: {s['shape'][0]} × {s['shape'][1]} {s['grid']} grid, step {s['step_um']:g} µm; "
        f"{phases}",
        f"  indexed {s['indexed_fraction_read']:.1%} as read, {s['indexed_fraction']:.1%} after clean-up",
        f"  grains (≥ {s['min_grain_size_points']} points, < {s['thresholds_deg']['hagb']:g}°): {s['n_grains']} "
        f"({s['n_grains_inside']} not cut by the edge), mean ECD {s['mean_ecd_um']:.3g} µm "
        f"({s['mean_ecd_um_inside']:.3g} µm inside)",
        f"  boundary length: {classes}",
        f"  by angle: LAGB {by_angle['lagb']:.1f} %, HAGB {by_angle['hagb']:.1f} %{_csl_note(s)}",
    ])


def plot_ebsd_summary(analysis: Any) -> Any:
    """The figure of ``ebsd.png``: the IPF-Z map with the boundaries coloured by class."""
    from microseg.ebsd import plot_ebsd

    fig = plot_ebsd(analysis.ebsd, analysis.edges)
    fig.suptitle(f"IPF-Z, boundaries by class: {Path(str(analysis.summary['source'])).name}")
    return fig
