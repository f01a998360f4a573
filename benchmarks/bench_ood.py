"""Out-of-distribution grain size with a fold ensemble, in the form of seed 000's Table 4.

Seed 000 trains one model per column fold (A, D, F) on a registered BSE/SE + EBSD pair and
applies the ensemble to BSE images of other samples, taken at another pixel size (27 vs
15 nm/px) with other grain sizes; it reports the mean absolute error of the mean ECD over
those images (0.34 µm for its best ensemble). Here: the realistic correlated pair of
:func:`microseg.synth.make_correlated_pair` goes through ``labels`` (as files, as a user
would), ``cv`` with ``configs/boundaries.yaml`` trains the three fold models
(``MINUTES`` each), and the ensemble — every image resampled to the models' pixel size —
predicts the five images of :func:`microseg.synth.make_ood_set` (1.5–4.7 µm mean ECD,
27 nm/px, other contrast, dose and blur). Ridge/gradient are scored on the same images, and
an ideal detector that sees every truth boundary of contrast >= 2x / 3x the image's shot-noise
floor (what the physics allows).

Usage: MINUTES=10 python benchmarks/run.py ood      (MODE=bse SIZE=2048,2560 N_OOD=5 OOD_SIZE=1024;
the common area must hold 7 chip columns for the folds A, D, F)
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

MINUTES = float(os.environ.get("MINUTES", 10))
SIZE = tuple(int(v) for v in os.environ.get("SIZE", "2048,2560").split(","))
MODE = os.environ.get("MODE", "bse")
N_OOD = int(os.environ.get("N_OOD", 5))
OOD_SIZE = int(os.environ.get("OOD_SIZE", 1024))
CONFIG = os.environ.get("CONFIG", str(Path(__file__).resolve().parents[1] / "configs" / "boundaries.yaml"))
OVERRIDES = [s for s in os.environ.get("SET", "").split(";") if s.strip()]
SAVE = os.environ.get("SAVE")  # a folder: keep each OOD image's probabilities and truth there


def mean_ecd_of(prob: np.ndarray, pixel_size: float, grains_cfg, threshold: float = 0.5,
                close_gaps: str | None = None) -> tuple[float, int]:
    from microseg.metrics import mean_ecd
    from microseg.grains import analyse_grains

    a = analyse_grains(prob, pixel_size=pixel_size, min_diameter=grains_cfg.min_diameter_um,
                       exclude_border=grains_cfg.exclude_border, close_gaps=close_gaps or grains_cfg.close_gaps,
                       threshold=threshold)
    n = int(a.labels.max())
    return (float(mean_ecd(a.labels, pixel_size=pixel_size)) if n else float("nan")), n


def ideal_detector(ood, grains_cfg, report) -> None:
    """What the physics allows on the OOD set: the MAE in mean ECD of a detector that sees
    exactly the truth boundaries of contrast >= k x the image's shot-noise floor."""
    for k in (2, 3):
        errors = []
        for o in ood:
            true_ecd, _ = mean_ecd_of(o.boundaries.astype(np.float32), o.image.pixel_size, grains_cfg,
                                      close_gaps="none")
            seen = (o.boundaries > 0) & (o.contrast >= k * o.image.metadata["contrast_floor"])
            ecd, _ = mean_ecd_of(seen.astype(np.float32), o.image.pixel_size, grains_cfg)
            errors.append(abs(ecd - true_ecd))
        report(f"OOD MAE mean ECD, ideal detector >= {k}x floor", float(np.nanmean(errors)), "µm")


def run(report) -> None:
    import logging

    import bench_correlated as bc
    from microseg import classic, synth
    from microseg.infer import load_models, predict_probs
    from microseg.config import load_config
    from microseg.train import cross_validate

    logging.getLogger("microseg").setLevel(logging.WARNING)
    bc.MODE = MODE
    pair = synth.make_correlated_pair(SIZE, mode=MODE, seed=1)
    ood = synth.make_ood_set(N_OOD, shape=(OOD_SIZE, OOD_SIZE), pixel_size=0.027, mode="bse", seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ebsd_dir, _, _ = bc.make_pairs(root, pair, report)
        ideal_detector(ood, load_config(CONFIG, overrides=OVERRIDES).grains, report)
        cfg = load_config(CONFIG, overrides=[f"data.pairs={ebsd_dir}", f"train.max_minutes={MINUTES}",
                                             *OVERRIDES])
        t0 = time.perf_counter()
        cv = cross_validate(cfg, out_dir=root / "cv")
        report(f"cv: 3 folds × {MINUTES:g} min", time.perf_counter() - t0, "s")
        for fold in cv.folds:
            report(f"cv {fold['name']} (column {fold['test']}): boundary F1 @2 px", fold["bf_f1"], "")
            report(f"cv {fold['name']} (column {fold['test']}): HD95", fold["hd95"], "px")
            report(f"cv {fold['name']} (column {fold['test']}): |Δ mean ECD|", fold["mae_ecd"], "µm")
        report("cv mean: boundary F1 @2 px", cv.mean["bf_f1"], "")
        report("cv MAE mean ECD over folds", cv.mean["mae_ecd"], "µm")
        models = load_models([Path(f["model_dir"]) for f in cv.folds])
        errors: dict[str, list[float]] = {"ensemble": [], "ensemble_mean": [], "ridge": [], "gradient": []}
        k = len(models)
        for i, o in enumerate(ood):
            true_ecd, n_true = mean_ecd_of(o.boundaries.astype(np.float32), o.image.pixel_size, cfg.grains,
                                           close_gaps="none")   # the truth is closed
            probs = predict_probs(models, o.image, device="cpu")
            # seed 000 sums the fold models' maps; the sum >= 0.5 is the mean >= 0.5 / k
            ens = np.clip(probs.sum(axis=0), 0, 1)
            if SAVE:
                Path(SAVE).mkdir(parents=True, exist_ok=True)
                np.savez_compressed(Path(SAVE) / f"ood{i + 1}.npz", probs=probs, truth=o.boundaries,
                                    image=o.image.data, pixel_size=o.image.pixel_size)
            found = {"ensemble": ens, "ensemble_mean": probs.mean(axis=0),
                     "ridge": classic.build("ridge").predict(o.image.data),
                     "gradient": classic.build("gradient").predict(o.image.data)}
            for name, prob in found.items():
                ecd, n = mean_ecd_of(prob, o.image.pixel_size, cfg.grains)
                errors[name].append(abs(ecd - true_ecd))
                report(f"OOD {i + 1} (true {true_ecd:.2f} µm, {n_true} grains) {name}", ecd, "µm")
        for name, e in errors.items():
            label = {"ensemble": f" ({k} fold models, sum >= 0.5)", "ensemble_mean": f" ({k} models, mean >= 0.5)"}
            report(f"OOD MAE mean ECD, {name}" + label.get(name, ""),
                   float(np.nanmean(e)), "µm", "≤ 0.2" if name == "ensemble" else None)
