"""Every architecture with the same CPU budget on the synthetic SE pair (column fold A).

Each registered model trains for ``ARCH_MINUTES`` (default 1) on 128² crops of a synthetic
1792 × 1280 SE micrograph (columns B–G), BCE+Dice, Adam 1e-3; then boundary F1 at 2 px on the
held-out column A. Default (paper-size) models: the FCNs' 134 M parameters get far fewer steps
than DefectSegNet's 0.35 M in the same time — that is the point of an equal-budget table.

Usage: ARCH_MINUTES=1 python benchmarks/run.py archs
"""
from __future__ import annotations

import os
import tempfile
import time

ARCH_MINUTES = float(os.environ.get("ARCH_MINUTES", 1))


def run(report) -> None:
    from microseg import models
    from microseg.data import apply_preprocessing
    from microseg.infer import predict_image
    from microseg.metrics import boundary_f_score
    from microseg.models import load_model
    from microseg.config import load_config
    from microseg.train import synthetic_samples, train
    from microseg.train.cv import _fold_data, plan_folds

    sample = synthetic_samples("se", n_images=1, size=(1280, 1792), mean_diameter_px=40, seed=11)
    print(f"  {'architecture':<14}{'params':>13}{'steps':>7}{'F1@2px':>8}{'prec':>7}{'recall':>8}")
    for arch in models.available():
        extra = ["model.encoder=resnet18"] if arch in ("unet", "unetpp") else []
        cfg = load_config(None, overrides=[
            "data.split=columns", "data.chip=256", "data.patch=128", "data.fold=1",
            "data.crops_per_epoch=64", f"model.arch={arch}", *extra, "loss.name=bce_dice",
            "loss.pos_weight=3.0", "train.lr=1e-3", "train.schedule=constant", "train.batch=8",
            "train.epochs=1000", f"train.max_minutes={ARCH_MINUTES}", "train.channels_last=true",
            "train.deterministic=false"])
        plan = plan_folds(sample, cfg)[0]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train(cfg, out_dir=tmp, resume=False, data=_fold_data(sample, plan, cfg))
            model, meta = load_model(result.best_dir)
        (rows, cols), = [r.slices for r in plan.test_regions]
        image = apply_preprocessing(sample[0].image, meta["preprocessing"])[:, rows, cols]
        prob = predict_image((model, meta), image, preprocess=False)
        bf = boundary_f_score(prob >= 0.5, sample[0].mask[rows, cols], tolerance=2.0)
        n = models.parameter_count(model)
        print(f"  {arch:<14}{n:>13,}{result.steps:>7}{bf['f1']:>8.3f}{bf['precision']:>7.3f}"
              f"{bf['recall']:>8.3f}   ({time.perf_counter() - t0:.0f} s)", flush=True)
        report(f"{arch}: boundary F1 @2 px on column A after {ARCH_MINUTES:g} min", bf["f1"], "")
