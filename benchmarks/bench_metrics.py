"""Speed of the metrics on 2048 x 2048 synthetic Voronoi grain maps.

Truth: a Voronoi tessellation of ~2000 random seeds (cKDTree nearest seed per pixel),
boundaries where the label changes. Prediction: the same seeds moved by ~2 px, with
5 % of them dropped (merged grains).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from _common import best_of

from microseg import metrics

SIZE = 2048
N_SEEDS = 2000


def voronoi_labels(seeds: np.ndarray, size: int) -> np.ndarray:
    """Label map (int32, 1..N) of the Voronoi cells of ``seeds`` (N, 2) on a size² grid."""
    yy, xx = np.mgrid[:size, :size]
    _, idx = cKDTree(seeds).query(np.column_stack([yy.ravel(), xx.ravel()]))
    return (idx.reshape(size, size) + 1).astype(np.int32)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """1-px boundary map: pixels whose right or lower neighbour has another label."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return b


def synthetic_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, SIZE, (N_SEEDS, 2))
    moved = seeds + rng.normal(0, 2.0, seeds.shape)
    moved = moved[rng.random(N_SEEDS) > 0.05]
    return voronoi_labels(moved, SIZE), voronoi_labels(seeds, SIZE)


def run(report) -> None:
    lab_p, lab_t = synthetic_pair()
    b_p, b_t = boundaries(lab_p), boundaries(lab_t)
    name = f"{SIZE}x{SIZE}"

    t, hd95 = best_of(lambda: metrics.hausdorff_distance(b_p, b_t, percentile=95))
    report(f"hausdorff_distance(percentile=95) {name}", t, "s", "< 1 s")
    t, bf = best_of(lambda: metrics.boundary_f_score(b_p, b_t, tolerance=2.0))
    report(f"boundary_f_score(tolerance=2) {name}", t, "s", "< 1 s")
    t, ari = best_of(lambda: metrics.adjusted_rand_index(lab_p, lab_t))
    report(f"adjusted_rand_index {name}, ~{N_SEEDS} grains", t, "s", "< 1 s")
    t, _ = best_of(lambda: metrics.variation_of_information(lab_p, lab_t))
    report(f"variation_of_information {name}", t, "s", "< 1 s")
    t, _ = best_of(lambda: metrics.evaluate_boundaries(b_p, b_t))
    report(f"evaluate_boundaries {name} (all 14 values)", t, "s")
    t, _ = best_of(lambda: metrics.evaluate_grains(lab_p, lab_t))
    report(f"evaluate_grains {name} (all 9 values)", t, "s")
    report("  value: HD95 (px)", hd95, "px")
    report("  value: boundary F1 at 2 px", bf["f1"], "")
    report("  value: ARI", ari, "")
