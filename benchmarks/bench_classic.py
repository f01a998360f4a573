"""Accuracy of the classical baseline on synthetic micrographs with exact truth.

For SE- and BSE-like renderings of a synthetic polycrystal: Otsu and Sauvola thresholds
and the ridge (Sato, for grooves) and gradient (Sobel, for contrast steps) detectors give
a boundary probability -> watershed gap closing -> grains; prints boundary F1 (pixel, and
boundary F-score at 2 px), HD95, ARI, grain count and the error in mean ECD against the
truth.
Also IoU of the solid phase in a synthetic FIB-SEM stack. These are the numbers learned
models must beat.
"""
from __future__ import annotations

import time

import numpy as np

SIZE = 1024
SETTINGS = {
    "otsu": {"polarity": "dark", "sigma": 1.0},
    "sauvola": {"polarity": "dark", "window_size": 31, "k": 0.1, "sigma": 1.0},
    "ridge": {"filter": "sato", "sigmas": (1.5,), "polarity": "dark"},
    "gradient": {"filter": "sobel", "sigmas": (1.0,)},
}


def _polycrystal(report) -> None:
    from microseg import classic, metrics, synth
    from microseg.grains import analyse_grains

    poly = synth.make_polycrystal((SIZE, SIZE), mean_diameter_px=40.0, pixel_size=0.05, seed=1)
    truth = analyse_grains(poly.boundaries.astype(np.float32), pixel_size=0.05, min_diameter=0.4)
    t_ecd = truth.summary["mean_ecd_um"]
    print(f"  synthetic polycrystal {SIZE}², {truth.summary['n_grains']} true grains, "
          f"mean ECD {t_ecd:.3f} µm (min diameter 0.4 µm, border grains excluded)")
    for mode in ("se", "bse"):
        image = synth.render_sem(poly, mode=mode, seed=1).data
        for name, options in SETTINGS.items():
            t0 = time.perf_counter()
            prob = classic.build(name, **options).predict(image)
            grains = analyse_grains(prob, pixel_size=0.05, min_diameter=0.4)
            elapsed = time.perf_counter() - t0
            b = metrics.evaluate_boundaries(prob >= 0.5, poly.boundaries, tolerance=2.0)
            g = metrics.evaluate_grains(grains.labels, truth.labels, pixel_size=0.05)
            tag = f"{mode.upper()} {name}"
            report(f"{tag}: boundary F1 (pixel)", b["f1"], "")
            report(f"{tag}: boundary F-score at 2 px", b["bf_f1"], "")
            report(f"{tag}: HD95", b["hd95"], "px")
            report(f"{tag}: ARI of grains", g["ari"], "")
            report(f"{tag}: grains found (true {truth.summary['n_grains']})", g["n_grains_pred"], "")
            report(f"{tag}: mean ECD error", g["ecd_error"], "µm")
            report(f"{tag}: relative mean ECD error", 100 * g["ecd_error"] / t_ecd, "%")
            report(f"{tag}: segmentation + grains time", elapsed, "s")


def _fib(report) -> None:
    from microseg import classic, metrics, synth

    phases = synth.make_porous_volume((16, 256, 256), porosity=0.25, seed=1)
    stack = synth.render_fib_sem(phases, seed=1).data
    truth = phases > 0
    for name, options in (("otsu", {}), ("sauvola", {"window_size": 51, "k": 0.2, "sigma": 1.0})):
        seg = classic.build(name, polarity="bright", **options)
        mask = np.stack([seg.predict(s) >= 0.5 for s in stack])
        report(f"FIB-SEM {name}: IoU of solid phase", metrics.iou_score(mask, truth), "")
        frac = mask.reshape(mask.shape[0], -1).mean(axis=1)
        report(f"FIB-SEM {name}: phase fraction (true {truth.mean():.3f})", frac.mean(), "")


def run(report) -> None:
    _polycrystal(report)
    _fib(report)
