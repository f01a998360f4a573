"""Learned models on the real superalloy SEM images, from scratch and after synthetic pretraining.

For U-Net and UNet++ (ResNet-18 encoders): pretrain on seeded synthetic SE polycrystals
(``synthetic:se``, no download) for ``PRETRAIN_MINUTES``, then train on ``super1`` (10 training
images) and ``super3`` (ONE training image) for ``MINUTES`` each, from scratch and from the
pretrained weights; report the mean test IoU of the γ′ precipitate class beside Otsu/Sauvola
(benchmarks/bench_sem_classic.py). CPU budgets are small, so read the numbers as "what a few
minutes on a laptop CPU give", not as converged results.

Usage: MINUTES=3 PRETRAIN_MINUTES=4 python benchmarks/run.py sem_learned
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sem"
MINUTES = float(os.environ.get("MINUTES", 3))
PRETRAIN_MINUTES = float(os.environ.get("PRETRAIN_MINUTES", 4))
ARCHS = os.environ.get("ARCHS", "unet,unetpp").split(",")
DATASETS = os.environ.get("DATASETS", "super1,super3").split(",")


def _common(arch: str) -> list[str]:
    return [f"model.arch={arch}", "model.encoder=resnet18", "loss.name=bce_dice",
            "train.batch=8", "train.epochs=1000", "train.deterministic=false",
            "train.channels_last=true", "train.checkpoint_every_steps=1000000"]


def _pretrain(arch: str, out: Path):
    from microseg.config import load_config
    from microseg.train import train

    cfg = load_config(None, overrides=_common(arch) + [
        "data.pairs=synthetic:se", "data.split=random", "data.patch=256", "data.crops_per_epoch=64",
        "loss.pos_weight=3.0", "train.lr=1e-3", "train.schedule=constant",
        f"train.max_minutes={PRETRAIN_MINUTES}"])
    return train(cfg, out_dir=out, resume=False)


def _finetune(arch: str, dataset: str, out: Path, init_from: Path | None):
    from microseg.config import load_config
    from microseg.train import train

    d = DATA / dataset
    overrides = _common(arch) + [
        f"data.pairs={d / 'train'}:{d / 'train_annot'}", f"data.val_pairs={d / 'val'}:{d / 'val_annot'}",
        "data.positive=blue", "data.target=phase", "data.split=random", "data.patch=256",
        "data.crops_per_epoch=64", "train.lr=3e-4", "train.schedule=constant",
        f"train.max_minutes={MINUTES}"]
    if init_from is not None:
        overrides.append(f"train.init_from={init_from}")
    return train(load_config(None, overrides=overrides), out_dir=out, resume=False)


def _test_iou(best: Path, dataset: str) -> float:
    from microseg import metrics
    from microseg.data import load_image_mask_folders
    from microseg.infer import predict_image
    from microseg.models import load_model

    model = load_model(best)
    samples = load_image_mask_folders(DATA / dataset / "test", DATA / dataset / "test_annot")
    return float(np.mean([metrics.iou_score(predict_image(model, s.image) >= 0.5, s.mask > 0)
                          for s in samples]))


def run(report) -> None:
    if not DATA.is_dir():
        print(f"  {DATA} is absent: skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for arch in ARCHS:
            pre = _pretrain(arch, tmp / f"pre_{arch}")
            report(f"{arch}: synthetic pretraining {pre.steps} steps, val F1", pre.best_metric or 0.0, "")
            for dataset in DATASETS:
                for start, init in (("scratch", None), ("synthetic-pretrained", pre.best_dir)):
                    res = _finetune(arch, dataset, tmp / f"{arch}_{dataset}_{start}", init)
                    report(f"{dataset} {arch} {start} ({res.steps} steps, {MINUTES:g} min): test IoU",
                           _test_iou(res.best_dir, dataset), "")
