"""EBSD map → clean-up → boundary classes → grains → a JSON-ready summary, in one call.

What ``microseg ebsd`` (:func:`microseg.tasks.ebsd`) measures; the figure and the terminal
lines of it are drawn by :mod:`microseg.report.ebsd_report`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from microseg.io import EBSDMap

log = logging.getLogger(__name__)

__all__ = ["EBSDAnalysis", "analyse_ebsd"]


@dataclass(frozen=True)
class EBSDAnalysis:
    """The cleaned map, its boundary edges, grains and a JSON-ready summary.

    ``ebsd`` the map after clean-up; ``edges`` its :class:`~microseg.ebsd.BoundaryEdges`;
    ``grains`` int (Y, X) grain ids (0 = none); ``table`` the per-grain columns of
    :func:`microseg.ebsd.grain_table`; ``summary`` counts, boundary fractions, mean ECD and
    the clean-up used.
    """

    ebsd: EBSDMap
    edges: Any
    grains: np.ndarray
    table: dict[str, np.ndarray]
    summary: dict[str, Any]


def analyse_ebsd(m: EBSDMap, *, min_quality: Mapping[str, float] | None = None,
                 max_quality: Mapping[str, float] | None = None, fill: bool = False,
                 max_hole: int | None = 50, merge_phases: bool = False, lagb: float = 2.0,
                 hagb: float = 15.0, csl: Iterable[str] = ("3",), min_grain_size: int = 5) -> EBSDAnalysis:
    """Clean, classify boundaries, reconstruct grains (at ``hagb``) and summarise.

    Clean-up is explicit: points failing ``min_quality``/``max_quality`` (field name →
    value, e.g. ``{"ci": 0.1}``) become non-indexed; with ``fill`` non-indexed holes of at
    most ``max_hole`` points are filled from their neighbours; ``merge_phases`` joins phases
    with the same point group (e.g. γ/γ′). Boundaries are classified with ``lagb``/``hagb``
    in degrees and the CSL boundaries ``csl`` (Brandon criterion). CSL boundaries are cubic:
    ``summary["thresholds_deg"]["csl_classified"]`` lists those looked for, empty when the map
    has no cubic phase. Grains are connected regions below ``hagb`` with at least
    ``min_grain_size`` points.
    """
    from microseg import ebsd as E
    from microseg.ebsd._orientation import is_cubic

    min_quality = dict(min_quality) if min_quality else None
    max_quality = dict(max_quality) if max_quality else None
    csl = tuple(str(c) for c in csl)
    indexed_before = float(m.indexed.mean())
    if merge_phases:
        m = E.merge_phases(m)
    if min_quality or max_quality or fill:
        m = E.clean_ebsd(m, min_quality=min_quality, max_quality=max_quality, fill=fill,
                         max_hole=max_hole if fill else None)
    edges = E.classify_boundaries(m, lagb=lagb, hagb=hagb, csl=csl)
    grains = E.reconstruct_grains(m, threshold=hagb, min_size=min_grain_size)
    table = E.grain_table(m, grains)
    b = E.boundary_summary(m, edges)
    cubic = any(is_cubic(p.point_group) for p in m.phases.values())   # CSL exists only there
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
                           "csl_classified": list(edges.csl) if cubic else [],
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
