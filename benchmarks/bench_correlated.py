"""Boundaries learned from EBSD labels on a realistic correlated SE + EBSD pair (issue 7).

The pair comes from :func:`microseg.synth.make_correlated_pair` (curved, non-convex grains,
straight Σ3 lamellae, LAGB subgrains, dislocation walls that show contrast but are no
boundaries, channeling contrast, shot noise, a drifting and distorted SEM frame, 8 Pt
fiducials; an EBSD map with beam spread, noise, misindexed and non-indexed points that
covers part of the frame). It goes through the user's path as files: ``scan.ang`` +
``se.tif`` + ``fiducials.csv`` -> :func:`microseg.register.make_training_pair` (the
defaults of ``microseg labels``: lab clean-up, crop to the common area, valid mask) ->
``configs/boundaries.yaml`` trained for ``MINUTES`` on the CPU with column A held out ->
scores on column A inside the valid mask, beside the same network trained on the exact
truth and the classical baselines (ridge, gradient, Otsu, Sauvola).

Printed: label quality (label -> truth distance), the share of truth boundary pixels no
detector can see (contrast below the shot-noise floor), an ideal detector that sees exactly
the truth boundaries of contrast >= 2x and 3x that floor (what the physics allows: dislocation
walls, which are no boundaries, show 1-2x), then per method boundary F1 at 2 px,
HD95 (px), ARI, mean ECD (µm), grain count against the truth's, and recall per band of
boundary contrast (where the misses are).

Usage: python benchmarks/run.py correlated
   MINUTES=10 SIZE=1886,2048 MODE=se SKIP_EXACT=0 SKIP_EBSD=0 SAVE=dir SET="data.patch=96;..." \
   python benchmarks/run.py correlated
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

MINUTES = float(os.environ.get("MINUTES", 10))
SIZE = tuple(int(v) for v in os.environ.get("SIZE", "1886,2048").split(","))
MODE = os.environ.get("MODE", "se")
SEED = int(os.environ.get("SEED", 0))
CONFIG = os.environ.get("CONFIG", str(Path(__file__).resolve().parents[1] / "configs" / "boundaries.yaml"))
SKIP_EXACT = os.environ.get("SKIP_EXACT", "0") == "1"
SKIP_EBSD = os.environ.get("SKIP_EBSD", "0") == "1"
OVERRIDES = [s for s in os.environ.get("SET", "").split(";") if s.strip()]
SAVE = os.environ.get("SAVE")  # a folder: keep the predictions and the truth of column A there


def write_user_files(root: Path, pair) -> dict[str, Path]:
    """The files a user brings: the EBSD map, the SEM image, the clicked fiducials."""
    from microseg.io import write_ebsd, write_image
    from microseg.register import write_landmarks

    files = {"ebsd": root / "scan.ang", "image": root / f"{MODE}.tif", "points": root / "fiducials.csv"}
    write_ebsd(files["ebsd"], pair.ebsd)
    write_image(files["image"], pair.image.data, pixel_size=pair.image.pixel_size)
    write_landmarks(files["points"], pair.landmarks)
    return files


def make_pairs(root: Path, pair, report) -> tuple[Path, Path, dict]:
    """``labels`` on the user's files, and the same crop with the exact truth as label."""
    from microseg.io import read_ebsd, read_image, write_image
    from microseg.register import read_landmarks
    from microseg.register.pairs import make_training_pair, write_training_pair

    files = write_user_files(root, pair)
    t0 = time.perf_counter()
    tp = make_training_pair(read_ebsd(files["ebsd"]), read_image(files["image"]),
                            landmarks=read_landmarks(files["points"]))
    report(f"labels: EBSD + {MODE.upper()} -> registered pair", time.perf_counter() - t0, "s")
    ebsd_dir = write_training_pair(tp, root / "pair_ebsd", sources=files)
    crop = tp.meta["crop"]
    rows, cols = slice(*crop["rows"]), slice(*crop["cols"])
    truth = pair.boundaries[rows, cols]
    exact = root / "pair_exact"
    exact.mkdir()
    write_image(exact / "image.tif", tp.image.data, pixel_size=tp.image.pixel_size)
    write_image(exact / "boundaries.tif", truth)
    write_image(exact / "valid.tif", tp.valid.astype(np.uint8))
    _label_quality(tp.boundaries, truth, tp.valid, report)
    report("pair: common area width", tp.image.data.shape[1], "px")
    report("pair: common area height", tp.image.data.shape[0], "px")
    report("pair: valid fraction", float(tp.valid.mean()), "")
    contrast = pair.contrast[rows, cols]
    floor = pair.image.metadata["contrast_floor"]
    report("truth boundary pixels below the contrast floor (invisible)", float(np.mean(contrast[truth > 0] < floor)), "")
    return ebsd_dir, exact, {"truth": truth, "valid": tp.valid, "pixel_size": tp.image.pixel_size,
                             "image": tp.image.data, "contrast": contrast, "floor": floor}


def recall_by_contrast(prob: np.ndarray, truth: np.ndarray, valid: np.ndarray, contrast: np.ndarray,
                       threshold: float, report, name: str) -> None:
    """Share of truth boundary pixels within 2 px of the thinned prediction, per band of the
    boundary's contrast in the image (``CorrelatedPair.contrast``): where the misses are."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    near = ndimage.distance_transform_edt(~skeletonize(prob >= threshold)) <= 2
    on = (truth > 0) & valid
    for lo, hi in ((0.0, 0.04), (0.04, 0.08), (0.08, np.inf)):
        band = on & (contrast >= lo) & (contrast < hi)
        report(f"{name}:   recall at contrast {lo:g}-{hi:g} ({band.sum() / max(on.sum(), 1):.0%} of truth)",
               float(near[band].mean()) if band.any() else float("nan"), "")


def _label_quality(label: np.ndarray, truth: np.ndarray, valid: np.ndarray, report) -> None:
    from scipy import ndimage

    d = ndimage.distance_transform_edt(truth == 0)[(label > 0) & valid]
    report("label -> truth distance, median", float(np.median(d)), "px")
    report("label -> truth distance, p95", float(np.percentile(d, 95)), "px")
    report("label pixels > 5 px from any true boundary", float((d > 5).mean()), "", "< 0.02")


def column_a(samples_shape: tuple[int, int], chip: int) -> tuple[slice, slice]:
    h = (samples_shape[0] // chip) * chip
    return slice(0, h), slice(0, chip)


def score(prob: np.ndarray, ctx: dict, region, config, report, name: str, threshold: float = 0.5) -> dict:
    from microseg.train.cv import region_metrics

    rows, cols = region
    if SAVE:
        Path(SAVE).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(Path(SAVE) / f"{name.replace(' ', '_').replace('/', '')}.npz", prob=prob,
                            truth=ctx["truth"][rows, cols], valid=ctx["valid"][rows, cols],
                            image=ctx["image"][rows, cols], pixel_size=ctx["pixel_size"],
                            contrast=ctx["contrast"][rows, cols])
    m = region_metrics(prob, ctx["truth"][rows, cols], config, pixel_size=ctx["pixel_size"],
                       threshold=threshold, valid=ctx["valid"][rows, cols])
    report(f"{name}: boundary F1 @2 px", m["bf_f1"], "", "≥ 0.80")
    report(f"{name}: HD95", m["hd95"], "px", "≤ 8")
    report(f"{name}: ARI", m["ari"], "")
    report(f"{name}: mean ECD pred / true", m.get("ecd_pred", float("nan")), "µm")
    report(f"{name}:   true mean ECD", m.get("ecd_true", float("nan")), "µm")
    report(f"{name}: grains pred / true", m.get("n_grains_pred", float("nan")) /
           max(m.get("n_grains_true", float("nan")), 1), "ratio", "0.9-1.1")
    report(f"{name}:   true grains (wholly inside the valid column)", m.get("n_grains_true", float("nan")), "")
    recall_by_contrast(prob, ctx["truth"][rows, cols], ctx["valid"][rows, cols], ctx["contrast"][rows, cols],
                       threshold, report, name)
    return m


def train_and_predict(pair_dir: Path, out: Path, ctx: dict, region, report, name: str):
    from microseg.infer import load_models, predict_probs
    from microseg.config import load_config
    from microseg.train import train

    cfg = load_config(CONFIG, overrides=[f"data.pairs={pair_dir}", "data.fold=1",
                                         f"train.max_minutes={MINUTES}", *OVERRIDES])
    t0 = time.perf_counter()
    result = train(cfg, out_dir=out, progress=False)
    report(f"{name}: training ({result.steps} steps, {result.stop_reason})", time.perf_counter() - t0, "s")
    from microseg.io import Image

    rows, cols = region
    image = Image(ctx["image"][rows, cols], pixel_size=ctx["pixel_size"])
    out_probs = {}
    for which in ("best", "last"):
        folder = out / which
        if (folder / "model.json").is_file():
            out_probs[which] = predict_probs(load_models([folder]), image, device="cpu")[0]
    return cfg, out_probs


def run(report) -> None:
    import logging

    from microseg import classic, synth
    from microseg.config import load_config

    logging.getLogger("microseg").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    pair = synth.make_correlated_pair(SIZE, mode=MODE, seed=SEED)
    report(f"make_correlated_pair {SIZE[1]}×{SIZE[0]} {MODE}", time.perf_counter() - t0, "s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ebsd_dir, exact_dir, ctx = make_pairs(root, pair, report)
        cfg = load_config(CONFIG, overrides=OVERRIDES)
        region = column_a(ctx["truth"].shape, cfg.data.chip)
        rows, cols = region
        grey = ctx["image"][rows, cols]
        for k in (2, 3):  # what the physics allows: a detector that sees every boundary above k x floor
            seen = (ctx["truth"][rows, cols] > 0) & (ctx["contrast"][rows, cols] >= k * ctx["floor"])
            score(seen.astype(np.float32), ctx, region, cfg, report, f"ideal detector ≥ {k}× floor")
        for name, seg in (("ridge", classic.build("ridge")), ("gradient", classic.build("gradient")),
                          ("otsu", classic.build("otsu")), ("sauvola", classic.build("sauvola"))):
            score(seg.predict(grey), ctx, region, cfg, report, name)
        if not SKIP_EBSD:
            cfg, probs = train_and_predict(ebsd_dir, root / "run_ebsd", ctx, region, report, "EBSD labels")
            for which, prob in probs.items():
                score(prob, ctx, region, cfg, report, f"U-Net EBSD labels {which}/")
        if not SKIP_EXACT:
            cfg, probs = train_and_predict(exact_dir, root / "run_exact", ctx, region, report, "exact labels")
            for which, prob in probs.items():
                score(prob, ctx, region, cfg, report, f"U-Net exact labels {which}/")
