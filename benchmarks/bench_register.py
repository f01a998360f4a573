"""EBSD -> SEM registration: landmark-only affine vs automatic refinement (affine + drift).

Synthetic pairs with exact truth (``make_registration_pair``): a random affine plus a
smooth scan drift; the landmark affine is fitted to 6 noisy fiducials. Reports the
median / mean distance (px) from the registered label boundaries to the true SEM
boundaries, before and after refinement, and the time to refine a 2048 x 2048 pair.
"""
from __future__ import annotations

import time

import numpy as np

from _common import best_of


def _boundaries(cells: np.ndarray) -> np.ndarray:
    b = np.zeros(cells.shape, dtype=bool)
    b[:, :-1] |= (cells[:, :-1] != cells[:, 1:]) & (cells[:, :-1] != 0) & (cells[:, 1:] != 0)
    b[:-1] |= (cells[:-1] != cells[1:]) & (cells[:-1] != 0) & (cells[1:] != 0)
    return b.astype(np.uint8)


def _distances(pair, registration):
    from microseg.register import boundary_distance, warp_cells

    cells = warp_cells(pair.cells, registration, pair.image.shape, step_um=pair.step_um)
    return boundary_distance(_boundaries(cells), pair.poly.boundaries)


def _one(report, size, mode, seed, drift, *, timed=False):
    from microseg.register import estimate_transform, refine_registration
    from microseg.synth._registration import make_registration_pair

    t0 = time.perf_counter()
    pair = make_registration_pair((size, size), mode=mode, seed=seed, drift_amplitude_px=drift)
    t_make = time.perf_counter() - t0
    start = estimate_transform(pair.landmarks, kind="affine")

    def work():
        return refine_registration(pair.image, pair.cells, start, step_um=pair.step_um)

    t, reg = best_of(work, repeat=1)
    before, after = _distances(pair, start), _distances(pair, reg)
    tag = f"{size}^2 {mode} seed {seed} drift {drift:g}px"
    report(f"{tag}: median dist landmark-only", before["median"], "px")
    report(f"{tag}: median dist refined", after["median"], "px", target="<= 1.5")
    report(f"{tag}: mean dist landmark-only", before["mean"], "px")
    report(f"{tag}: mean dist refined", after["mean"], "px")
    report(f"{tag}: p95 dist landmark-only", before["p95"], "px")
    report(f"{tag}: p95 dist refined", after["p95"], "px")
    report(f"{tag}: refine time", t, "s", target="< 60 s" if size >= 2048 else None)
    if timed:
        report(f"{tag}: make_registration_pair time", t_make, "s")


def run(report) -> None:
    for mode in ("se", "bse"):
        for seed, drift in ((0, 10.0), (1, 15.0), (2, 20.0)):
            _one(report, 384, mode, seed, drift)
    for mode in ("se", "bse"):
        _one(report, 2048, mode, 0, 15.0, timed=True)


if __name__ == "__main__":
    from _common import print_report

    run(print_report)
