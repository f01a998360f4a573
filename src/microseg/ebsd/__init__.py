"""EBSD maps -> misorientation -> boundary classes -> grains, KAM and the boundary raster.

Crystallography comes from :mod:`orix` (symmetry operators, quaternion products, CSL
equivalents, IPF colour keys); the kernels are vectorised numpy over all neighbour pairs.

- :func:`clean_ebsd`: quality thresholds, filling of non-indexed points; the lab clean-up
  :func:`lab_cleanup` (quality, :func:`remove_wild_spikes`, :func:`merge_small_grains`,
  bounded fill)
- :func:`neighbour_misorientation` -> :class:`NeighbourMisorientation` (disorientation
  angle and CSL deviation per neighbour edge)
- :func:`classify_boundaries` -> :class:`BoundaryEdges` (0 none, 1 HAGB, 2 LAGB, 3 Σ3,
  4 phase boundary, 5+ other CSL; :data:`CLASS_NAMES`) and :func:`boundary_summary`
- :func:`reconstruct_grains`, :func:`grain_table`, :func:`kernel_average_misorientation`
- the boundary raster, the label the networks learn: :func:`segment_cells`,
  :func:`pair_classes`, :func:`rasterize_cells`, :func:`boundaries_from_cells`, and the
  whole chain :func:`boundary_raster` -> :class:`BoundaryRaster`
- :func:`ipf_map`, :func:`plot_ebsd`
- the whole analysis of ``microseg ebsd``: :func:`analyse_ebsd` -> :class:`EBSDAnalysis`
  (clean-up, boundary classes, grains and a JSON-ready summary)
"""
from __future__ import annotations

from microseg.ebsd._cleanup import (
    CLEANUP_MODES, auto_quality, lab_cleanup, merge_small_grains, remove_wild_spikes,
)
from microseg.ebsd._orientation import CSL
from microseg.ebsd.analysis import EBSDAnalysis, analyse_ebsd
from microseg.ebsd.boundaries import (
    CLASS_NAMES, HAGB, LAGB, NONE, PHASE, SIGMA3, BoundaryEdges, boundary_summary, classify_boundaries,
)
from microseg.ebsd.clean import clean_ebsd, merge_phases
from microseg.ebsd.grains import grain_table, reconstruct_grains, segment_cells
from microseg.ebsd.misorientation import (
    NeighbourMisorientation, kernel_average_misorientation, neighbour_misorientation,
)
from microseg.ebsd.plot import BOUNDARY_COLORS, ipf_map, plot_ebsd
from microseg.ebsd.raster import (
    CLASS_PRIORITY, BoundaryRaster, boundaries_from_cells, boundary_raster, pair_classes,
    rasterize_cells,
)

__all__ = [
    "CSL", "CLASS_NAMES", "CLASS_PRIORITY", "BOUNDARY_COLORS", "NONE", "HAGB", "LAGB", "SIGMA3", "PHASE",
    "BoundaryEdges", "BoundaryRaster", "NeighbourMisorientation",
    "clean_ebsd", "merge_phases", "lab_cleanup", "remove_wild_spikes", "merge_small_grains",
    "auto_quality", "CLEANUP_MODES", "neighbour_misorientation", "classify_boundaries", "boundary_summary",
    "reconstruct_grains", "grain_table", "segment_cells", "kernel_average_misorientation",
    "pair_classes", "boundaries_from_cells", "rasterize_cells", "boundary_raster",
    "ipf_map", "plot_ebsd", "EBSDAnalysis", "analyse_ebsd",
]
