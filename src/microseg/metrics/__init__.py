"""Metrics: pixel, distance, cluster, topology and grain-level scores of a segmentation.

Every metric is a pure function of numpy arrays with a documented result on empty
inputs. Masks are bool or 0/1 arrays (1 = positive, e.g. boundary) or probability
maps with ``threshold=``; grain labels are integers (0 = boundary/background).
Lengths are in the units of ``pixel_size`` (a number, or one per axis such as
``(dz, dy, dx)``; None, the default, gives pixels).

- pixel: :func:`confusion_counts`, :func:`precision`, :func:`recall`,
  :func:`true_positive_rate`, :func:`true_negative_rate`, :func:`f1_score`,
  :func:`dice_score`, :func:`iou_score`
- distance: :func:`hausdorff_distance` (``percentile=95`` for HD95),
  :func:`mean_surface_distance`, :func:`boundary_f_score` (and its poolable
  :func:`boundary_match_counts`); every one takes ``mask=``, a validity mask outside
  which no pixel counts
- cluster: :func:`adjusted_rand_index`, :func:`variation_of_information`
- grain: :func:`grain_count`, :func:`mean_ecd`, :func:`ecd_error`,
  :func:`grain_count_error`, :func:`mean_absolute_error`
- topology: :func:`betti_numbers`, :func:`betti_error`
- all at once: :func:`evaluate_boundaries`, :func:`evaluate_grains`
"""
from __future__ import annotations

from microseg.metrics.cluster import adjusted_rand_index, variation_of_information
from microseg.metrics.distance import (
    boundary_f_score,
    boundary_match_counts,
    hausdorff_distance,
    mean_surface_distance,
    scores_from_match_counts,
)
from microseg.metrics.evaluate import (
    BOUNDARY_KEYS,
    GRAIN_KEYS,
    evaluate_boundaries,
    evaluate_grains,
)
from microseg.metrics.grain import (
    ecd_error,
    grain_count,
    grain_count_error,
    mean_absolute_error,
    mean_ecd,
)
from microseg.metrics.pixel import (
    confusion_counts,
    dice_score,
    f1_score,
    iou_score,
    precision,
    recall,
    true_negative_rate,
    true_positive_rate,
)
from microseg.metrics.topology import betti_error, betti_numbers

__all__ = [
    "confusion_counts", "precision", "recall", "true_positive_rate", "true_negative_rate",
    "f1_score", "dice_score", "iou_score",
    "hausdorff_distance", "mean_surface_distance", "boundary_f_score", "boundary_match_counts",
    "scores_from_match_counts",
    "adjusted_rand_index", "variation_of_information",
    "grain_count", "mean_ecd", "ecd_error", "grain_count_error", "mean_absolute_error",
    "betti_numbers", "betti_error",
    "evaluate_boundaries", "evaluate_grains", "BOUNDARY_KEYS", "GRAIN_KEYS",
]
