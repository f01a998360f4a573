"""Grains: boundary map -> grain labels -> properties -> distributions, ASTM size, 3D phases and meshes.

Grain labels are int32, 0 = boundary/background/excluded, 1..N grains; arrays are 2D
(Y, X) or 3D (Z, Y, X); lengths are in px, or µm where a ``pixel_size`` is given.
"""
from __future__ import annotations

from microseg.grains.analysis import GrainAnalysis, analyse_grains, check_boundary_map
from microseg.grains.astm import (FieldStatistics, GrainSizeNumber, InterceptGrainSize, LineCount, centre_lines,
                                  count_intersections, field_statistics, g_from_intercept, g_from_n_a,
                                  grain_size_intercept, grain_size_planimetric)
from microseg.grains.config import GrainsConfig
from microseg.grains.distributions import FittedDistribution, fit_distribution, jensen_shannon_distance
from microseg.grains.label import CLOSE_GAPS, border_labels, fill_unlabelled, label_grains
from microseg.grains.measure import grain_summary, measure_grains, read_grain_table, write_grain_table
from microseg.grains._mesh import write_mesh
from microseg.grains.volume import (VolumeStats, connected_components_3d, orthogonal_views, percolates,
                                    phase_fraction_per_slice, phase_fraction_summary, view_positions,
                                    volume_stats)

__all__ = [
    "CLOSE_GAPS", "FieldStatistics", "FittedDistribution", "GrainAnalysis", "GrainsConfig", "GrainSizeNumber",
    "InterceptGrainSize", "LineCount", "VolumeStats", "analyse_grains", "border_labels", "centre_lines",
    "check_boundary_map",
    "connected_components_3d", "count_intersections", "field_statistics",
    "fill_unlabelled", "fit_distribution", "g_from_intercept", "g_from_n_a", "grain_size_intercept",
    "grain_size_planimetric", "grain_summary", "jensen_shannon_distance", "label_grains",
    "measure_grains", "orthogonal_views", "percolates", "phase_fraction_per_slice", "phase_fraction_summary",
    "read_grain_table", "view_positions", "volume_stats", "write_grain_table", "write_mesh",
]
