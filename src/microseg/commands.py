"""Implementations of the ``microseg`` sub-commands: read arguments, call the library, write.

Each ``cmd_*`` takes the parsed arguments; the library does the work. Outputs are checked
for existence *before* any work starts, so a refused overwrite costs nothing.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, check_output_path, write_json, write_text_atomic

log = logging.getLogger("microseg")


def _check_outputs(folder: Path, names: list[str], force: bool) -> list[Path]:
    paths = [folder / n for n in names]
    for p in paths:
        check_output_path(p, force=force)
    return paths


# --------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> None:
    from microseg.report.demo import run_demo

    out = args.output or Path("demo-output")
    summary = run_demo(out, size=args.size, seed=args.seed, force=args.force, progress=True)
    print(summary["text"])
    print(f"\nwrote {out}/ (open {out}/demo.png and {out}/distributions.png)")


# -------------------------------------------------------------------------------------- synth
def cmd_synth(args: argparse.Namespace) -> None:
    from microseg import io, synth

    out: Path = args.output
    if args.kind == "polycrystal":
        names = ["image.tif", "boundaries.tif", "classes.tif", "labels.tif", "truth.json"]
        _check_outputs(out, names, args.force)
        poly = synth.make_polycrystal((args.size, args.size), mean_diameter_px=args.mean_diameter,
                                      twin_fraction=args.twin_fraction,
                                      subgrain_fraction=args.subgrain_fraction,
                                      pixel_size=args.pixel_size, seed=args.seed)
        image = synth.render_sem(poly, mode=args.mode, seed=args.seed)
        u8 = np.round(np.clip(image.data, 0, 1) * 255).astype(np.uint8)
        io.write_image(out / "image.tif", u8, pixel_size=args.pixel_size, force=args.force)
        io.write_image(out / "boundaries.tif", poly.boundaries, pixel_size=args.pixel_size, force=args.force)
        io.write_image(out / "classes.tif", poly.classes, pixel_size=args.pixel_size, force=args.force)
        io.write_labels(out / "labels.tif", poly.labels, force=args.force)
        n_cells = int(poly.labels.max())
        write_json(out / "truth.json", {
            "kind": "polycrystal", "mode": args.mode, "seed": args.seed, "shape": list(poly.labels.shape),
            "pixel_size_um": args.pixel_size, "n_cells": n_cells,
            "boundary_fraction": float(poly.boundaries.mean()),
            "class_pixels": {name: int((poly.classes == k).sum())
                             for k, name in ((1, "hagb"), (2, "lagb"), (3, "sigma3"))},
        }, force=args.force)
        log.info("wrote %s: %d cells, %s image %dx%d", out, n_cells, args.mode.upper(), args.size, args.size)
    else:
        names = ["stack.tif", "phases.tif", "truth.json"]
        _check_outputs(out, names, args.force)
        phases = synth.make_porous_volume((args.slices, args.size, args.size), porosity=args.porosity,
                                          seed=args.seed)
        stack = synth.render_fib_sem(phases, seed=args.seed)
        u8 = np.round(np.clip(stack.data, 0, 1) * 255).astype(np.uint8)
        io.write_stack(out / "stack.tif", u8, pixel_size=args.pixel_size, slice_spacing=args.pixel_size,
                       force=args.force)
        io.write_stack(out / "phases.tif", phases.astype(np.uint8), pixel_size=args.pixel_size,
                       slice_spacing=args.pixel_size, force=args.force)
        write_json(out / "truth.json", {"kind": "porous", "seed": args.seed, "shape": list(phases.shape),
                                        "solid_fraction": float(phases.mean())}, force=args.force)
        log.info("wrote %s: %d slices of %dx%d", out, *phases.shape)


# ------------------------------------------------------------------------------------ segment
def cmd_segment(args: argparse.Namespace) -> None:
    from microseg import classic, io
    from microseg._util import progress

    method = args.method.lower()
    options: dict[str, Any] = {}
    if method != "gradient" and (args.polarity or not args.tune):
        options["polarity"] = args.polarity or "dark"
    keys = ("sigma", "sigmas") if method in ("ridge", "gradient") else ("window_size", "k", "sigma")
    for key in keys:
        if getattr(args, key, None) is not None:
            options[key] = tuple(args.sigmas) if key == "sigmas" else getattr(args, key)
    if method in ("ridge", "gradient") and args.thin:
        options["thin"] = True
    ignored = [f"--{k.replace('_', '-')}" for k in ("window_size", "k", "sigmas") if getattr(args, k, None)
               is not None and k not in keys]
    if ignored:
        raise InputError(f"{' '.join(ignored)} do(es) not apply to --method {args.method}")
    segmenter = classic.build(method, **options)   # bad options fail before anything is read
    out: Path = args.output
    planned = ["tune.csv"] if args.tune else []
    for path in args.images:
        stem = path.stem
        planned += [f"{stem}_prob.tif", f"{stem}_mask.tif"]
    _check_outputs(out, planned, args.force)
    tuned = _tune_segmenter(method, options, args) if args.tune else None
    if tuned is not None:
        segmenter = tuned.build()
    area = io.read_mask(args.mask) if args.mask else None
    for path in args.images:
        reader = io.read_stack if _is_stack(path) else io.read_image
        image = reader(path, pixel_size=args.pixel_size)
        stem = path.stem
        shape = image.data.shape[:2] if image.metadata.get("axes") == "YXS" else image.data.shape
        if area is not None and area.shape not in (tuple(shape), tuple(shape[-2:])):
            raise InputError(f"{args.mask}: the mask has shape {area.shape} but {path} has shape "
                             f"{tuple(shape)}; it must cover the same pixels (a (Y, X) mask serves every slice)")
        if image.data.ndim == 3 and image.metadata.get("axes") == "ZYX":
            slices = progress(range(image.data.shape[0]), enabled=True, desc=f"segment {path.name}")
            prob = np.stack([segmenter.predict(image.data[z]) for z in slices])
            mask = (prob >= 0.5).astype(np.uint8)
            io.write_stack(out / f"{stem}_prob.tif", prob, pixel_size=image.pixel_size, force=args.force)
            io.write_stack(out / f"{stem}_mask.tif", mask, pixel_size=image.pixel_size, force=args.force)
            inside = np.ones(mask.shape, bool) if area is None else np.broadcast_to(area, mask.shape)
            fraction = (mask & inside).reshape(mask.shape[0], -1).sum(axis=1) / np.maximum(
                inside.reshape(mask.shape[0], -1).sum(axis=1), 1)
            rows = "slice,phase_fraction\n" + "".join(f"{z},{f:.6f}\n" for z, f in enumerate(fraction))
            write_text_atomic(out / f"{stem}_phase_fraction.csv", rows, force=args.force)
            log.info("%s: %d slices, phase fraction %.4f ± %.4f", path, len(fraction),
                     fraction.mean(), fraction.std())
        else:
            prob = segmenter.predict(image.data)
            io.write_prob(out / f"{stem}_prob.tif", prob, pixel_size=image.pixel_size, force=args.force)
            io.write_image(out / f"{stem}_mask.tif", (prob >= 0.5).astype(np.uint8),
                           pixel_size=image.pixel_size, force=args.force)
            positive = prob >= 0.5
            log.info("%s: positive fraction %.4f%s", path,
                     float(positive.mean() if area is None else positive[area].mean()),
                     "" if area is None else " inside the mask")
    if tuned is not None:
        keys = list(dict.fromkeys(k for row in tuned.table for k in row if k not in ("scores", "error")))
        rows = [",".join(keys)] + [",".join(str(row.get(k, "")).replace(",", ";") for k in keys)
                                   for row in tuned.table]
        write_text_atomic(out / "tune.csv", "\n".join(rows) + "\n", force=args.force)
    write_json(out / "segment.json", {"segmenter": segmenter.describe(),
                                      "images": [str(p) for p in args.images],
                                      "tuned": None if tuned is None else {
                                          "on": str(args.tune), "metric": tuned.metric,
                                          "score": tuned.score, "params": tuned.params}}, force=True)


def _tune_segmenter(method: str, options: dict[str, Any], args: argparse.Namespace):
    """The classical method's parameters chosen on the labelled images of ``--tune``."""
    from microseg import classic
    from microseg.data import load_samples

    samples = load_samples(args.tune, channels=1, positive=args.positive)
    result = classic.tune(method, [s.image[0] for s in samples], [s.target() for s in samples],
                          metric=args.tune_metric, options=options, progress=True)
    log.info("tuned %s on %d labelled image(s): %s, %s %.3f", method, len(samples), result.params,
             result.metric, result.score)
    return result


def _is_stack(path: Path) -> bool:
    if path.is_dir():
        return True
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return len(series.shape) == 3 and series.shape[-1] not in (3, 4)
    except Exception:  # unreadable: let read_image produce the proper error
        return False


# ------------------------------------------------------------------------------------- grains
def cmd_grains(args: argparse.Namespace) -> None:
    from microseg import io
    from microseg.grains import analyse_grains
    from microseg.report.grain_report import astm_text, write_grain_outputs

    out: Path = args.output
    _check_outputs(out, ["grains.csv", "summary.json", "labels.tif", "distributions.png", "overlay.png"],
                   args.force)
    prob_image = io.read_prob_image(args.map, pixel_size=args.pixel_size)
    mask = io.read_mask(args.mask, shape=prob_image.data.shape) if args.mask else None
    image = io.read_image(args.image, pixel_size=prob_image.pixel_size).data if args.image else None
    analysis = analyse_grains(prob_image.data, pixel_size=prob_image.pixel_size,
                              min_diameter=args.min_diameter, exclude_border=not args.keep_border,
                              close_gaps=args.close_gaps, threshold=args.threshold,
                              merge_threshold=args.merge_threshold, mask=mask, source=str(args.map))
    write_grain_outputs(analysis, out, image=image, force=args.force)
    s = analysis.summary
    unit = "µm" if prob_image.pixel_size else "px"
    mean = s.get("mean_ecd_um") if prob_image.pixel_size else s.get("mean_ecd_px")
    log.info("%s: %d grains, mean ECD %.3f %s -> %s", args.map, s["n_grains"], mean, unit, out)
    print(astm_text(s["astm_e112"]))


# --------------------------------------------------------------------------------------- ebsd
def _ebsd_options(args: argparse.Namespace) -> dict[str, Any]:
    from microseg.report.ebsd_report import parse_quality

    return {"min_quality": parse_quality(args.min_quality, what="--min-quality"),
            "max_quality": parse_quality(args.max_quality, what="--max-quality"),
            "fill": args.fill, "max_hole": args.max_hole, "merge_phases": args.merge_phases,
            "lagb": args.lagb, "hagb": args.hagb, "csl": tuple(args.csl)}


def cmd_ebsd(args: argparse.Namespace) -> None:
    from microseg.io import read_ebsd
    from microseg.report.ebsd_report import analyse_ebsd, summary_text, write_ebsd_outputs

    out: Path = args.output
    _check_outputs(out, ["summary.json", "grains.csv", "ebsd.png"], args.force)
    options = _ebsd_options(args)  # bad options fail before the file is read
    analysis = analyse_ebsd(read_ebsd(args.map), min_grain_size=args.min_grain_size, **options)
    write_ebsd_outputs(analysis, out, force=args.force)
    print(summary_text(analysis.summary))
    print(f"wrote {out}/ (summary.json, grains.csv, ebsd.png)")


def cmd_labels(args: argparse.Namespace) -> None:
    from microseg.io import read_ebsd, read_image
    from microseg.register import read_landmarks
    from microseg.classic import to_gray_float
    from microseg.register.pairs import PAIR_FILES, make_training_pair, write_training_pair
    from microseg.report.figures import plot_training_pair, save_figure

    out: Path = args.output
    _check_outputs(out, [*PAIR_FILES, "overlay.png"], args.force)
    options = _ebsd_options(args)
    del options["max_quality"], options["merge_phases"]
    if options["min_quality"] is None:
        options["min_quality"] = "auto"
    landmarks = read_landmarks(args.points) if args.points else None
    image = read_image(args.image, pixel_size=args.pixel_size)
    ebsd = read_ebsd(args.ebsd)
    pair = make_training_pair(ebsd, image, landmarks=landmarks, transform_kind=args.transform,
                              tilt_deg=args.tilt, refine=args.refine, drift=args.drift, progress=True,
                              cleanup=args.clean, min_grain_size=args.min_grain_size, crop=args.crop,
                              fiducial_radius_um=args.fiducial_radius, **options)
    sources = {"ebsd": args.ebsd, "image": args.image, **({"points": args.points} if args.points else {})}
    write_training_pair(pair, out, sources=sources, force=args.force)
    grey = to_gray_float(pair.image.data, name=str(args.image))
    save_figure(plot_training_pair(grey, pair.boundaries, pair.classes, pair.valid), out / "overlay.png",
                force=args.force)
    reg = pair.meta["registration"]
    print(f"{args.ebsd} -> {args.image}: alignment score {reg.get('score_before', float('nan')):.3f} -> "
          f"{reg.get('score_after', float('nan')):.3f}; boundaries on {pair.meta['boundary_fraction']:.1%} "
          f"of the pixels; EBSD covers {pair.meta['ebsd_coverage']:.1%} of the pair"
          + (f" (cropped to the common area {pair.image.data.shape[1]} × {pair.image.data.shape[0]} px)"
             if pair.meta.get("crop") else ""))
    c = pair.meta["clean_up"]
    if c.get("mode") == "lab" and "counts" in c:
        n = c["counts"]
        print(f"EBSD clean-up ({', '.join(n.get('steps', []))}): {n.get('removed', 0)} points removed, "
              f"{n.get('filled', 0)} filled, {n.get('not_indexed', 0)} left non-indexed (--clean none to skip)")
    print(f"wrote {out}/ ({', '.join(PAIR_FILES)}, overlay.png)")


# ----------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> dict | None:
    from microseg import io
    from microseg.report.evaluation import evaluate_maps

    if args.output is not None:
        check_output_path(args.output, force=args.force)
        check_output_path(args.output.with_suffix(".csv"), force=args.force)
    pred = io.read_prob_image(args.pred, pixel_size=args.pixel_size)
    truth = io.read_prob_image(args.truth, pixel_size=args.pixel_size)
    if pred.data.shape != truth.data.shape:
        raise InputError(f"{args.pred} has shape {pred.data.shape} but {args.truth} has shape "
                         f"{truth.data.shape}; the prediction and the truth must cover the same pixels")
    pixel_size = args.pixel_size or pred.pixel_size or truth.pixel_size
    mask = io.read_mask(args.mask, shape=pred.data.shape) if args.mask else None
    result = evaluate_maps(pred.data, truth.data, kind=args.kind, pixel_size=pixel_size,
                           tolerance=args.tolerance, threshold=args.threshold,
                           min_diameter=args.min_diameter, mask=mask)
    result = {"pred": str(args.pred), "truth": str(args.truth), **result}
    if args.output is None:
        return result
    write_json(args.output, result, force=args.force)
    rows = "metric,value\n" + "".join(f"{k},{v}\n" for k, v in result.items()
                                       if isinstance(v, (int, float)))
    write_text_atomic(args.output.with_suffix(".csv"), rows, force=args.force)
    log.info("wrote %s and %s", args.output, args.output.with_suffix(".csv"))
    return None


# -------------------------------------------------------------------------- train and cv
_TRAIN_OUTPUTS = ("best", "last", "metrics.json", "metrics.csv")


def _prepare_train_dir(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse to overwrite a finished or foreign run; ``--force --no-resume`` starts afresh."""
    import shutil

    from microseg._util import OutputExistsError
    from microseg.train.checkpoint import find_checkpoint

    present = [n for n in _TRAIN_OUTPUTS if (out / n).exists()]
    if not present:
        return
    if resume and find_checkpoint(out / "last") is not None:
        log.info("%s: resuming from %s", out, out / "last")
        return
    if not force:
        raise OutputExistsError(f"{out}: holds a training run ({', '.join(present)}); pass --force to "
                                "start afresh, or leave out --no-resume to continue it")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def cmd_train(args: argparse.Namespace) -> None:
    from microseg.train import load_config, train

    config = load_config(args.config, overrides=args.set or [])
    out: Path = args.output
    _prepare_train_dir(out, resume=args.resume, force=args.force)
    result = train(config, out_dir=out, resume=args.resume, progress=True)
    best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
    print(f"{result.stop_reason}: {result.epochs} epochs, {result.steps} steps; best {result.monitor} "
          f"{best} at epoch {result.best_epoch + 1}")
    print(f"wrote {out}/ (best/, last/, metrics.csv, config.yaml)")


def cmd_cv(args: argparse.Namespace) -> None:
    from microseg.train import cross_validate, load_config

    config = load_config(args.config, overrides=args.set or [])
    out: Path = args.output
    _check_outputs(out, ["cv_results.csv", "cv_results.md", "cv_results.json"], args.force)
    if not args.resume:
        for fold_dir in sorted(out.glob("fold*")):
            _prepare_train_dir(fold_dir, resume=False, force=args.force)
    result = cross_validate(config, out_dir=out, folds=args.folds, progress=True, resume=args.resume)
    print(result.table)
    print(f"wrote {out}/ (fold*/, cv_results.csv, cv_results.md, cv_results.json)")


# ------------------------------------------------------------------------------ predict
def cmd_predict(args: argparse.Namespace) -> None:
    from microseg import io
    from microseg.infer import load_models, predict_probs

    out: Path = args.output
    several = len(args.models) > 1
    planned = []
    for path in args.image:
        planned += [f"{path.stem}_prob.tif", f"{path.stem}_mask.tif"] + ([f"{path.stem}_spread.tif"] if several else [])
    if len({p for p in planned}) != len(planned):
        raise InputError("two --image files have the same name stem; their outputs would collide")
    _check_outputs(out, planned, args.force)
    models = load_models(args.models)
    for path in args.image:
        image = io.read_image(path, pixel_size=args.pixel_size)
        probs = predict_probs(models, image, device=args.device, rescale=args.rescale)
        prob = probs.mean(axis=0)
        stem = path.stem
        mask = prob >= args.threshold
        if args.thin and all(m.metadata.get("thin") for m in models):
            from microseg.data import thin_boundaries

            mask = thin_boundaries(mask)
        io.write_prob(out / f"{stem}_prob.tif", prob, pixel_size=image.pixel_size, force=args.force)
        io.write_image(out / f"{stem}_mask.tif", mask.astype(np.uint8),
                       pixel_size=image.pixel_size, force=args.force)
        if several:
            io.write_prob(out / f"{stem}_spread.tif", np.clip(probs.std(axis=0), 0.0, 1.0),
                          pixel_size=image.pixel_size, force=args.force)
        log.info("%s: %d model(s), positive fraction %.4f", path, len(models), float(mask.mean()))
    print(f"wrote {out}/ ({', '.join(planned[:3])}{' ...' if len(planned) > 3 else ''})")


# ------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> None:
    from microseg import losses, models

    rows = models.model_summary()
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'architecture':<{width}}  {'parameters':>11}  side outputs  description"]
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['params_default']:>11,}  {'yes' if r['side_outputs'] else 'no':<12}  "
                     f"{r['description']}")
    lines.append("")
    lines.append("losses: " + ", ".join(losses.available()))
    print("\n".join(lines))
