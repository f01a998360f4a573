"""Train a boundary network on a synthetic micrograph, predict a new one, measure its grains.

A small U-Net and a short run so that it finishes in a minute on a CPU; for a real run start
from configs/boundaries.yaml (python: ``tasks.train("configs/boundaries.yaml", ...)``).

    python examples/train_and_predict.py [OUTPUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from microseg import tasks

RUN = {"data": {"pairs": "synthetic:se", "synthetic": {"n_images": 3, "size": 160, "mean_diameter_px": 30},
                "patch": 64, "split": "random"},
       "model": {"arch": "unet_plain", "options": {"base_channels": 8, "depth": 2}},
       "loss": {"name": "bce_dice"},
       "train": {"epochs": 20, "batch": 8, "lr": 1e-2, "schedule": "cosine", "device": "cpu"}}


def main(out: Path) -> dict:
    run = tasks.train(RUN, output=out / "run")
    new = tasks.synth(size=192, mean_diameter=30, seed=7, output=out / "new")
    pred = tasks.predict(run.folder / "last", out / "new" / "image.tif", device="cpu", output=out / "pred")
    grains = tasks.grains(pred.prob, pixel_size=new.pixel_size, output=out / "grains")
    truth = tasks.grains(new.boundaries, pixel_size=new.pixel_size)
    print(run.text)
    print(pred.text)
    print(f"{grains.summary['n_grains']} grains (truth {truth.summary['n_grains']}), mean ECD "
          f"{grains.summary['mean_ecd_um']:.2f} µm (truth {truth.summary['mean_ecd_um']:.2f})")
    return {"run": run, "pred": pred, "grains": grains, "truth": truth}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="microseg-")))
