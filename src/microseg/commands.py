"""The ``microseg`` sub-commands: each ``cmd_*`` calls one task of :mod:`microseg.tasks`.

A command converts its parsed arguments, calls the task with ``output=``, ``force=`` and
``progress=True`` (the task refuses an overwrite before any work and writes all its files
or none) and prints the result's ``text`` (unless ``-q``). Nothing is computed here.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _show(args: argparse.Namespace, text: str) -> None:
    """The command's summary on standard output; ``-q`` silences it."""
    if text and not getattr(args, "quiet", False):
        print(text)


# --------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> None:
    from microseg.tasks import demo

    out = args.output or Path("demo-output")
    result = demo(size=args.size, seed=args.seed, output=out, force=args.force, progress=True)
    _show(args, result.text)
    _show(args, f"\nwrote {out}/ (open {out}/demo.png and {out}/distributions.png)")


# -------------------------------------------------------------------------------------- synth
def cmd_synth(args: argparse.Namespace) -> None:
    from microseg.tasks import synth

    result = synth(args.kind, size=args.size, seed=args.seed, mode=args.mode, mean_diameter=args.mean_diameter,
                   twin_fraction=args.twin_fraction, subgrain_fraction=args.subgrain_fraction,
                   pixel_size=args.pixel_size, slices=args.slices, porosity=args.porosity,
                   output=args.output, force=args.force)
    _show(args, result.text)


# ------------------------------------------------------------------------------------ segment
def cmd_segment(args: argparse.Namespace) -> None:
    from microseg.tasks import segment

    result = segment(args.images, method=args.method, polarity=args.polarity, window_size=args.window_size,
                     k=args.k, sigma=args.sigma, sigmas=args.sigmas, thin=args.thin,
                     pixel_size=args.pixel_size, mask=args.mask, tune=args.tune, positive=args.positive,
                     tune_metric=args.tune_metric, dask=args.dask, workers=args.workers, output=args.output,
                     force=args.force, progress=True)
    _show(args, result.text)


# ------------------------------------------------------------------------------------- grains
def cmd_grains(args: argparse.Namespace) -> None:
    from microseg import tasks

    result = tasks.grains(args.map, pixel_size=args.pixel_size, image=args.image, mask=args.mask,
                          min_diameter=args.min_diameter, exclude_border=args.exclude_border,
                          close_gaps=args.close_gaps, threshold=args.threshold,
                          merge_threshold=args.merge_threshold, config=args.config, output=args.output,
                          force=args.force,
                          progress=True)
    _show(args, result.text)


# --------------------------------------------------------------------------------------- ebsd
def _ebsd_options(args: argparse.Namespace) -> dict[str, Any]:
    from microseg.tasks._ebsd import parse_quality

    return {"min_quality": parse_quality(args.min_quality, what="--min-quality"),
            "max_quality": parse_quality(args.max_quality, what="--max-quality"),
            "fill": args.fill, "max_hole": args.max_hole, "merge_phases": args.merge_phases,
            "lagb": args.lagb, "hagb": args.hagb, "csl": tuple(args.csl)}


def cmd_ebsd(args: argparse.Namespace) -> None:
    from microseg import tasks

    result = tasks.ebsd(args.map, min_grain_size=args.min_grain_size, **_ebsd_options(args),
                        output=args.output, force=args.force, progress=True)
    _show(args, result.text)


def cmd_labels(args: argparse.Namespace) -> None:
    from microseg.tasks import labels

    options = _ebsd_options(args)  # bad options fail before any file is read
    del options["max_quality"], options["merge_phases"]
    if options["min_quality"] is None:
        options["min_quality"] = "auto"
    result = labels(args.ebsd, args.image, points=args.points, pixel_size=args.pixel_size,
                    transform=args.transform, tilt=args.tilt, refine=args.refine, drift=args.drift,
                    clean=args.clean, min_grain_size=args.min_grain_size, crop=args.crop,
                    fiducial_radius=args.fiducial_radius, **options, output=args.output, force=args.force,
                    progress=True)
    _show(args, result.text)


# ----------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> None:
    from microseg import tasks
    from microseg.tasks._evaluate import EvaluateResult

    if args.output is not None:   # -o FILE.json writes FILE.json and FILE.csv; checked first
        EvaluateResult.check_file(args.output, force=args.force)
    result = tasks.evaluate(args.pred, args.truth, kind=args.kind, pixel_size=args.pixel_size,
                            tolerance=args.tolerance, threshold=args.threshold,
                            min_diameter=args.min_diameter, mask=args.mask, progress=True)
    if args.output is None:
        _show(args, result.text)
    else:
        result.write_file(args.output, force=args.force)


# -------------------------------------------------------------------------- train and cv
def cmd_train(args: argparse.Namespace) -> None:
    from microseg.tasks import train

    result = train(args.config, overrides=args.set or (), output=args.output, resume=args.resume,
                   force=args.force, progress=True)
    _show(args, result.text)


def cmd_cv(args: argparse.Namespace) -> None:
    from microseg.tasks import cv

    result = cv(args.config, overrides=args.set or (), output=args.output, folds=args.folds,
                resume=args.resume, force=args.force, progress=True)
    _show(args, result.text)


# ------------------------------------------------------------------------------ predict
def cmd_predict(args: argparse.Namespace) -> None:
    from microseg.tasks import predict

    result = predict(args.models, args.image, pixel_size=args.pixel_size, device=args.device,
                     rescale=args.rescale, threshold=args.threshold, thin=args.thin, tile_size=args.tile,
                     overlap=args.overlap, batch_size=args.batch, tta=args.tta, precision=args.precision,
                     backend=args.backend, grains=args.grains, config=args.config, dask=args.dask,
                     workers=args.workers, output=args.output, force=args.force, progress=True)
    _show(args, result.text)


# ------------------------------------------------------------------------------- volume
def cmd_volume(args: argparse.Namespace) -> None:
    from microseg.tasks import volume

    result = volume(args.stack, models=args.models, method=args.method, context=args.context,
                    threshold=args.threshold, pixel_size=args.pixel_size, slice_spacing=args.slice_spacing,
                    polarity=args.polarity, window_size=args.window_size, k=args.k, sigma=args.sigma,
                    tile_size="auto" if args.tile is None else args.tile, tta=args.tta or False,
                    device=args.device, fmt=args.fmt, mesh=args.mesh, mesh_step=args.mesh_step,
                    connectivity=args.connectivity, dask=args.dask, workers=args.workers,
                    chunk_slices=args.chunk_slices, output=args.output, force=args.force, progress=True)
    _show(args, result.text)


# ------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> None:
    from microseg.tasks import models

    _show(args, models().text)


# ------------------------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> None:
    from microseg.tasks import export

    result = export(args.model, output=args.output, force=args.force, opset=args.opset, check=args.check,
                    progress=True)
    _show(args, result.text)
