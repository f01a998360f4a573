"""EBSD map → clean-up → boundary classes → grains: the summary ``microseg ebsd`` prints and saves."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg.io import EBSDMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EBSDAnalysis:
    """The cleaned map, its boundary edges, grains and a JSON-ready summary."""

    ebsd: EBSDMap
    edges: Any
    grains: np.ndarray
    table: dict[str, np.ndarray]
    summary: dict[str, Any]


def parse_quality(items: list[str] | None, *, what: str) -> dict[str, float] | None:
    """``["ci=0.1", "iq=500"]`` → ``{"ci": 0.1, "iq": 500.0}`` (for ``--min-quality``)."""
    from microseg._util import InputError

    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip().lower()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"{what}: expected FIELD=VALUE such as ci=0.1, got {item!r}")
    return out


def analyse_ebsd(m: EBSDMap, *, min_quality: dict[str, float] | None = None,
                 max_quality: dict[str, float] | None = None, fill: bool = False, max_hole: int | None = 50,
                 merge_phases: bool = False, lagb: float = 2.0, hagb: float = 15.0,
                 csl: tuple[str, ...] = ("3",), min_grain_size: int = 5) -> EBSDAnalysis:
    """Clean, classify boundaries, reconstruct grains (at ``hagb``) and summarise.

    Clean-up is explicit: points failing ``min_quality``/``max_quality`` become non-indexed;
    with ``fill`` non-indexed holes of at most ``max_hole`` points are filled from their
    neighbours; ``merge_phases`` joins phases with the same point group (e.g. γ/γ′).
    Grains are connected regions below ``hagb`` with at least ``min_grain_size`` points.
    """
    from microseg import ebsd as E

    indexed_before = float(m.indexed.mean())
    if merge_phases:
        m = E.merge_phases(m)
    if min_quality or max_quality or fill:
        m = E.clean_ebsd(m, min_quality=min_quality, max_quality=max_quality, fill=fill,
                         max_hole=max_hole if fill else None)
    edges = E.classify_boundaries(m, lagb=lagb, hagb=hagb, csl=tuple(csl))
    grains = E.reconstruct_grains(m, threshold=hagb, min_size=min_grain_size)
    table = E.grain_table(m, grains)
    b = E.boundary_summary(m, edges)
    inner = ~np.asarray(table["touches_border"], bool)
    ecd = np.asarray(table["ecd_um"], float)
    summary: dict[str, Any] = {
        "source": m.source, "shape": list(m.shape), "grid": m.grid, "step_um": m.step,
        "phases": {str(k): {"name": p.name, "point_group": p.point_group} for k, p in m.phases.items()},
        "indexed_fraction_read": indexed_before, "indexed_fraction": float(m.indexed.mean()),
        "clean_up": {"min_quality": min_quality, "max_quality": max_quality, "fill": fill,
                     "max_hole": max_hole if fill else None, "merge_phases": merge_phases,
                     **({"counts": m.metadata["clean_ebsd"]} if "clean_ebsd" in m.metadata else {})},
        "thresholds_deg": {"lagb": lagb, "hagb": hagb, "csl": list(csl),
                           "sigma_tolerance": "Brandon 15°/√Σ"},
        "n_grains": int(len(ecd)), "min_grain_size_points": min_grain_size,
        "n_grains_inside": int(inner.sum()),
        "mean_ecd_um": float(ecd.mean()) if ecd.size else float("nan"),
        "mean_ecd_um_inside": float(ecd[inner].mean()) if inner.any() else float("nan"),
        "boundaries": {"percent": b["percent"], "percent_by_angle": b["percent_by_angle"],
                       "length_um": b["length_um"], "total_um": b["total_um"],
                       "phase_boundary_um": b["phase_boundary_um"]},
    }
    return EBSDAnalysis(m, edges, grains, table, summary)


def summary_text(s: dict[str, Any]) -> str:
    """A few lines for the terminal."""
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
        f"  by angle: LAGB {by_angle['lagb']:.1f} %, HAGB {by_angle['hagb']:.1f} % (Σ3 counted in HAGB)",
    ])


def write_ebsd_outputs(a: EBSDAnalysis, out: Path, *, force: bool = False) -> list[Path]:
    """summary.json, grains.csv and ebsd.png (IPF-Z map with boundaries by class)."""
    from microseg import ebsd as E
    from microseg._util import write_json
    from microseg.grains import write_grain_table
    from microseg.report.figures import save_figure

    out = Path(out)
    table = {k: v for k, v in a.table.items() if np.ndim(v) == 1}
    q = np.asarray(a.table["mean_orientation"])
    for i, name in enumerate(("q0", "q1", "q2", "q3")):
        table[f"mean_orientation_{name}"] = q[:, i] if len(q) else np.zeros(0)
    paths = [write_json(out / "summary.json", a.summary, force=force),
             write_grain_table(out / "grains.csv", table, force=force)]
    fig = E.plot_ebsd(a.ebsd, a.edges)
    fig.suptitle(f"IPF-Z, boundaries by class: {Path(str(a.summary['source'])).name}")
    paths.append(save_figure(fig, out / "ebsd.png", force=force))
    return paths
