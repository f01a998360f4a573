"""What the default boundary model predicts on real BSE channeling-contrast images (no labels).

``../shared/data/sem/openecci/`` holds two real images of a recrystallised austenitic steel
with annealing twins (FEI Verios, CBS detector, 66.9 and 77.1 nm/px, a 70-row data bar).
Boundaries there are steps of orientation contrast, not grooves. There is no EBSD map of
them, so the model is trained the way a user without one would start: on a synthetic
correlated BSE + EBSD pair at the real images' pixel size and grain size
(:func:`microseg.synth.make_correlated_pair`, through ``labels`` as files), with
``configs/boundaries.yaml`` for ``MINUTES``. Printed per image: boundary pixel fraction,
grains and mean ECD of the model and of the gradient/ridge detectors. With ``FIGURE=path``
the figure (image, model probability, grains; gradient detector beside it) is written.

Usage: MINUTES=10 FIGURE=docs/ecci_prediction.png python benchmarks/run.py ecci
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

MINUTES = float(os.environ.get("MINUTES", 10))
FIGURE = os.environ.get("FIGURE")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sem" / "openecci"
CONFIG = os.environ.get("CONFIG", str(ROOT / "configs" / "boundaries.yaml"))
OVERRIDES = [s for s in os.environ.get("SET", "").split(";") if s.strip()]


def specimen(path: Path):
    """The image without the FEI data bar (``read_image`` cuts it from the file's own tags)."""
    from microseg.io import read_image

    return read_image(path)


def grains_of(prob, pixel_size, cfg):
    from microseg.grains import analyse_grains

    a = analyse_grains(prob, pixel_size=pixel_size, min_diameter=1.0, exclude_border=cfg.grains.exclude_border,
                       close_gaps=cfg.grains.close_gaps, threshold=0.5)
    return a.labels, a.summary


def run(report) -> None:
    import logging

    import bench_correlated as bc
    from microseg import classic, synth
    from microseg.infer import load_models, predict_probs
    from microseg.config import load_config
    from microseg.train import train

    logging.getLogger("microseg").setLevel(logging.WARNING)
    images = sorted(DATA.glob("steel_SEM_*.tif"))
    if not images:
        report(f"no images in {DATA}", 0, "")
        return
    real = [specimen(p) for p in images]
    px = float(np.mean([r.pixel_size for r in real]))
    bc.MODE = "bse"
    pair = synth.make_correlated_pair((1536, 2048), mode="bse", pixel_size=px, mean_diameter_um=9.0,
                                      ebsd_step_um=0.2, seed=3)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ebsd_dir, _, _ = bc.make_pairs(root, pair, report)
        cfg = load_config(CONFIG, overrides=[f"data.pairs={ebsd_dir}", f"train.max_minutes={MINUTES}",
                                             *OVERRIDES])
        t0 = time.perf_counter()
        result = train(cfg, out_dir=root / "run")
        report(f"training on the synthetic BSE pair ({result.steps} steps)", time.perf_counter() - t0, "s")
        models = load_models([root / "run" / "last"])
        for path, im in zip(images, real):
            prob = predict_probs(models, im, device="cpu")[0]
            grad = classic.build("gradient").predict(im.data)
            row = {"name": path.name, "image": im, "prob": prob, "gradient": grad}
            for name, p in (("model", prob), ("gradient", grad), ("ridge", classic.build("ridge").predict(im.data))):
                labels, summary = grains_of(p, im.pixel_size, cfg)
                row[f"{name}_labels"] = labels
                report(f"{path.name} {name}: boundary pixels", float((p >= 0.5).mean()), "")
                report(f"{path.name} {name}: grains ≥ 1 µm (not cut by the edge)", summary["n_grains"], "")
                report(f"{path.name} {name}: mean ECD", summary.get("mean_ecd_um", float("nan")), "µm")
            results.append(row)
    if FIGURE:
        _figure(results, Path(FIGURE))
        report(f"figure written: {FIGURE}", 1, "")


def _figure(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    fig, axes = plt.subplots(len(results), 4, figsize=(20, 4.4 * len(results)))
    axes = np.atleast_2d(axes)
    for ax, r in zip(axes, results):
        grey = r["image"].data.astype(np.float32)
        grey = (grey - np.percentile(grey, 0.5)) / max(np.ptp(np.percentile(grey, [0.5, 99.5])), 1e-6)
        grey = np.clip(grey, 0, 1)
        ax[0].imshow(grey, cmap="gray")
        ax[0].set_title(f"{r['name']} ({r['image'].pixel_size * 1000:.1f} nm/px, data bar cut)")
        ax[1].imshow(grey, cmap="gray")
        ax[1].imshow(np.ma.masked_less(r["prob"], 0.5), cmap="autumn", alpha=0.8, vmin=0.5, vmax=1)
        ax[1].set_title("U-Net (configs/boundaries.yaml, synthetic BSE pair): p ≥ 0.5")
        ax[2].imshow(label2rgb(r["model_labels"], image=grey, bg_label=0, alpha=0.35))
        ax[2].set_title(f"model grains ≥ 1 µm: {int(r['model_labels'].max())}")
        ax[3].imshow(label2rgb(r["gradient_labels"], image=grey, bg_label=0, alpha=0.35))
        ax[3].set_title(f"gradient detector grains: {int(r['gradient_labels'].max())}")
        for a in ax:
            a.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=55)
    plt.close(fig)
