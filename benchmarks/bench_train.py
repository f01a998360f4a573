"""Training speed and a short accuracy run.

1. Seconds per training iteration (batch 8 × 1 × 256², smp U-Net ResNet-18, BCE + Adam) in
   fp32, fp32 + channels_last, bf16 autocast, and bf16 + channels_last (CUDA: fp16 autocast).
   bf16 only helps on CPUs with AMX; ``precision: auto`` therefore stays fp32 on the CPU.
2. Boundary F1 at 2 px on the held-out column A of a synthetic SE pair (seed 000's
   1792 × 1280 layout, 256 px chips) after ``MINUTES`` of training (the issue's target: F1 ≥ 0.8
   within 10 minutes of CPU training).

Usage: python benchmarks/run.py train      (MINUTES=10 python benchmarks/run.py train;
BENCH_TRAIN_SKIP_SPEED=1 runs only the accuracy part)
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

MINUTES = float(os.environ.get("MINUTES", 2))
ITERATIONS = int(os.environ.get("BENCH_TRAIN_ITERS", 3))


def _iteration_speed(report) -> None:
    import torch

    from microseg import losses, models
    from microseg.train.loop import autocast

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    low = "fp16" if device.type == "cuda" else "bf16"
    x = torch.rand(8, 1, 256, 256, device=device)
    y = (torch.rand(8, 1, 256, 256, device=device) > 0.9).float()
    loss_fn = losses.build("bce", pos_weight=9.0).to(device)
    for precision, channels_last in (("fp32", False), ("fp32", True), (low, False), (low, True)):
        torch.manual_seed(0)
        model = models.build("unet", encoder="resnet18").to(device).train()
        xx = x
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            xx = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        times = []
        for i in range(ITERATIONS + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with autocast(device, precision):
                out = model(xx)
            loss = loss_fn(out.float(), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first iteration warms up
                times.append(time.perf_counter() - t0)
        tag = f"{precision}{' + channels_last' if channels_last else ''}"
        report(f"U-Net r18 train step 8×256² {tag} ({device.type})", float(np.median(times)), "s/iter")


def _cpu_has_amx() -> bool:
    """bf16 autocast pays off on CPUs with AMX (TORCH.md: 2.5x); without it bf16 is slower."""
    try:
        with open("/proc/cpuinfo") as fh:
            return "amx_bf16" in fh.read()
    except OSError:
        return False


def _short_run(report) -> None:
    from microseg.infer import predict_image
    from microseg.metrics import boundary_f_score
    from microseg.config import load_config
    from microseg.train import synthetic_samples, train
    from microseg.train.cv import plan_folds

    import torch

    on_gpu = torch.cuda.is_available()
    precision = "fp16" if on_gpu else ("bf16" if _cpu_has_amx() else "fp32")
    sample = synthetic_samples("se", n_images=1, size=(1280, 1792), mean_diameter_px=40, seed=11)
    cfg = load_config(None, overrides=[
        "data.split=columns", "data.chip=256", "data.patch=128", "data.fold=1", "data.crops_per_epoch=64",
        "model.arch=unet", "model.encoder=resnet18", "loss.name=bce_dice", "loss.pos_weight=3.0",
        "train.lr=1e-3", "train.schedule=constant", "train.batch=8", "train.epochs=1000",
        f"train.max_minutes={MINUTES}", f"train.precision={precision}",
        "train.channels_last=true", "train.deterministic=false"])
    plan = plan_folds(sample, cfg)[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(cfg, out_dir=tmp, resume=False, data=_data(sample, plan, cfg))
        elapsed = time.perf_counter() - t0
        from microseg.models import load_model

        model, meta = load_model(result.best_dir)
    (rows, cols), = [r.slices for r in plan.test_regions]
    from microseg.data import apply_preprocessing

    image = apply_preprocessing(sample[0].image, meta["preprocessing"])[:, rows, cols]
    prob = predict_image((model, meta), image, preprocess=False)
    truth = sample[0].mask[rows, cols]
    bf = boundary_f_score(prob >= 0.5, truth, tolerance=2.0)
    report(f"short run ({precision}, 8×128² crops): {result.steps} steps in {elapsed / 60:.1f} min "
           f"(budget {MINUTES:g})", result.steps, "steps")
    report("held-out column A boundary F1 @2 px", bf["f1"], "", target=">= 0.8 within 10 min CPU")
    report("held-out column A boundary precision / recall", bf["precision"], f"/{bf['recall']:.3f}")


def _data(samples, plan, cfg):
    from microseg.train.cv import _fold_data

    return _fold_data(samples, plan, cfg)


def run(report) -> None:
    if not os.environ.get("BENCH_TRAIN_SKIP_SPEED"):
        _iteration_speed(report)
    _short_run(report)
