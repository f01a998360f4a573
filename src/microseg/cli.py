"""microseg: electron micrographs to measured microstructure.

Each sub-command is one task a materials scientist does; run ``microseg COMMAND --help``
for its options and an example. Lengths are in µm wherever a pixel size is known (read
from the image file or given with --pixel-size).

Examples
--------
  microseg demo -o demo-output                        # the whole path on built-in synthetic data
  microseg synth -o synth/ --size 1024 --mode se      # a synthetic SE micrograph with exact truth
  microseg segment synth/image.tif --method sauvola -o seg/
  microseg grains seg/image_prob.tif --min-diameter 0.4 -o grains/
  microseg evaluate seg/image_prob.tif synth/boundaries.tif -o eval.json
  microseg train configs/unet_synthetic.yaml -o runs/unet # train (resumable) from a YAML config
  microseg predict runs/unet/best --image synth/image.tif -o pred/
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from microseg import __version__
from microseg._util import MicrosegError

log = logging.getLogger("microseg")


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Examples kept as written; "(default: X)" only where it tells something: not for flags
    (on/off switches say it in their name), not for None, not where the help names the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool)
                or "default" in text
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return super()._get_help_string(action)


def _add_output(p: argparse.ArgumentParser, *, required: bool = True, help: str = "output folder") -> None:
    p.add_argument("-o", "--output", type=Path, required=required, help=help)
    p.add_argument("--force", action="store_true", help="overwrite existing results")


def _add_dask(p: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    g = p.add_argument_group("scale-out on a dask cluster (pip install \"microseg[dask]\")")
    g.add_argument("--dask", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"run {what} on dask.distributed: --dask alone starts a local cluster (one worker "
                        "process per core, see --workers), --dask tcp://host:8786 uses that scheduler (the "
                        "files must be on a file system its workers see); the results equal the "
                        "single-process ones; the dashboard's address is printed")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="--dask without an address: worker processes of the local cluster (default: one per core)")
    return g


def _sub(subs, name: str, func, help: str, epilog: str = "") -> argparse.ArgumentParser:
    p = subs.add_parser(name, help=help, description=help, epilog=epilog, formatter_class=_Formatter)
    p.set_defaults(func=func)
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="more log output (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    from microseg import commands as c

    parser = argparse.ArgumentParser(prog="microseg", description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"microseg {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _sub(subs, "demo", c.cmd_demo, "synthetic micrograph -> classical segmentation -> grains -> "
             "metrics and figures, all on built-in data",
             "example:\n  microseg demo -o demo-output --size 768")
    p.add_argument("--size", type=int, default=768, help="edge of the synthetic micrograph in px")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _add_output(p, required=False, help="output folder (default: demo-output)")

    p = _sub(subs, "synth", c.cmd_synth, "write a synthetic micrograph (or FIB-SEM stack) with exact truth",
             "examples:\n  microseg synth -o poly/ --size 1024 --mean-diameter 40 --mode bse\n"
             "  microseg synth -o fib/ --kind porous --slices 32 --size 256\n"
             "  microseg synth -o pair/ --kind pair --size 512   # scan.ang + image.tif + fiducials.csv\n"
             "      # for microseg labels, with the exact boundaries in the image frame")
    p.add_argument("--kind", choices=["polycrystal", "porous", "pair"], default="polycrystal",
                   help="polycrystal: SEM micrograph with exact boundaries; porous: FIB-SEM stack; pair: "
                        "SEM image + partial EBSD map + fiducials of one curved polycrystal (drifting frame, "
                        "misindexed points, dislocation walls)")
    p.add_argument("--size", type=int, default=512, help="image edge in px (Y = X)")
    p.add_argument("--slices", type=int, default=32, help="number of slices (porous only)")
    p.add_argument("--mean-diameter", type=float, default=40.0, help="mean grain ECD in px")
    p.add_argument("--twin-fraction", type=float, default=0.3, help="fraction of grains with Σ3 lamellae")
    p.add_argument("--subgrain-fraction", type=float, default=0.1, help="fraction of grains split into subgrains")
    p.add_argument("--porosity", type=float, default=0.25, help="pore volume fraction (porous only)")
    p.add_argument("--mode", choices=["se", "bse"], default="se", help="SEM contrast to render")
    p.add_argument("--pixel-size", type=float, default=0.05, help="pixel size in µm")
    p.add_argument("--seed", type=int, default=0)
    _add_output(p)

    p = _sub(subs, "segment", c.cmd_segment, "segment images or stacks with a classical method "
             "(Otsu, Sauvola; ridge and gradient boundary detectors); writes probability and mask maps",
             "examples:\n  microseg segment image.tif --method ridge -o seg/           # grain-boundary grooves (SE)\n"
             "  microseg segment bse.tif --method gradient -o seg/          # contrast steps (BSE channeling)\n"
             "  microseg segment image.tif --method sauvola --window-size 41 -o seg/\n"
             "  microseg segment stack.tif --method otsu --polarity bright -o seg/   # per slice,"
             " plus phase fraction per slice\n"
             "  microseg segment new/*.tif --method sauvola --tune train/images:train/masks -o seg/\n"
             "      # window and k chosen on labelled images (IoU), written to tune.csv")
    p.add_argument("images", nargs="+", type=Path, help="image files (2D) or stacks (multi-page TIFF)")
    p.add_argument("--method", default="sauvola",
                   help="otsu | sauvola (intensity thresholds: phases, pores) | ridge (Sato ridges + "
                        "hysteresis: boundary grooves) | gradient (Sobel + hysteresis: contrast steps)")
    p.add_argument("--polarity", default=None, choices=["dark", "bright", "both"],
                   help="which side of the threshold is the target: dark (default: boundary grooves, "
                        "pores) or bright; ridge also takes both")
    p.add_argument("--sigmas", type=float, nargs="+", default=None,
                   help="ridge/gradient filter scales in px (ridge default 1.5, gradient 1.0)")
    p.add_argument("--window-size", type=int, default=None, help="Sauvola window in px (default 25)")
    p.add_argument("--k", type=float, default=None, help="Sauvola k (default 0.2)")
    p.add_argument("--sigma", type=float, default=None, help="Gaussian pre-filter in px (Sauvola default 1)")
    p.add_argument("--thin", action="store_true", help="ridge/gradient: thin the mask to 1-px lines")
    p.add_argument("--tune", default=None, metavar="PAIRS",
                   help="choose the method's parameters on labelled images first (grid search): "
                        "IMAGES_DIR:MASKS_DIR, a training-pair folder or a CSV of image,mask, as "
                        "data.pairs; options you give (--k, --polarity ...) stay fixed")
    p.add_argument("--positive", default="blue",
                   help="--tune: the positive class of the masks (blue, red, nonzero, a class label ...)")
    p.add_argument("--tune-metric", default="iou", choices=["iou", "f1", "bf_f1"],
                   help="--tune: the score to maximise (bf_f1 suits ridge/gradient boundaries)")
    p.add_argument("--mask", type=Path, default=None,
                   help="image of the area to measure (nonzero = specimen): stacks' phase fraction per "
                        "slice is taken inside it ((Y, X) serves every slice)")
    p.add_argument("--pixel-size", type=float, default=None,
                   help="µm per pixel, stored with the outputs (default: read from the file)")
    _add_dask(p, "one task per image")
    _add_output(p)

    p = _sub(subs, "grains", c.cmd_grains, "boundary map or boundary probability -> grains, their "
             "sizes and shapes, distribution fits and ASTM E112 grain size",
             "example:\n  microseg grains boundaries.tif --pixel-size 0.05 --min-diameter 0.4 -o grains/\n\n"
             "writes grains.csv (one row per grain, px and µm columns), summary.json (n_grains,\n"
             "mean_ecd_um, fits, ASTM G), labels.tif, overlay.png and distributions.png")
    from microseg.grains.config import GrainsConfig

    grains_defaults = GrainsConfig()   # one set of defaults: the CLI, tasks.grains and configs
    p.add_argument("map", type=Path, help="boundary map (1 = boundary) or probability in [0, 1]")
    p.add_argument("--pixel-size", type=float, default=None,
                   help="µm per pixel (default: read from the file)")
    p.add_argument("--config", type=Path, default=None, metavar="YAML",
                   help="a run configuration: its grains section gives the options not given here "
                        "(min_diameter_um, exclude_border, close_gaps, merge_threshold); the resolved "
                        "section is written as config.yaml")
    p.add_argument("--min-diameter", type=float, default=None,
                   help="smallest grain kept, as ECD in µm (in px when the pixel size is unknown); "
                        f"default: the config's, else {grains_defaults.min_diameter_um:g} (every grain kept)")
    p.add_argument("--keep-border", action="store_const", const=False, dest="exclude_border", default=None,
                   help="keep grains cut by the image edge (default: excluded, as "
                        "grains.exclude_border: true)")
    p.add_argument("--close-gaps", default=None,
                   choices=("merge", "watershed", "hysteresis", "none"),
                   help="how open boundaries become closed grains: merge (default: grains joined "
                        "through gaps are cut by a watershed and merged again where the boundary "
                        "between the pieces is weak), watershed (cuts kept only where a boundary "
                        "stops short: binary maps with gaps), hysteresis (a probability map's weak "
                        "boundary joined to strong; on a binary map the same as none), none. On a "
                        "complete map every mode gives the plain labelling")
    p.add_argument("--merge-threshold", type=float, default=None,
                   help="merge: regions stay apart where their shared boundary's mean strength is at "
                        "least this (0-1, default 0.2; higher merges more)")
    p.add_argument("--threshold", type=float, default=0.5, help="probability threshold for boundaries")
    p.add_argument("--image", type=Path, default=None,
                   help="micrograph of the same pixels to draw the overlay on (overlay.png shows the "
                        "map pixel for pixel, up to 4000 px a side)")
    p.add_argument("--mask", type=Path, default=None,
                   help="image of the area to analyse (nonzero = specimen; 0 = background, holes, "
                        "fiducials, scale bar): nothing outside is measured, its edge cuts grains "
                        "like the image edge")
    _add_output(p)

    p = _sub(subs, "ebsd", c.cmd_ebsd, "EBSD map (.ang, .ctf, Oxford .cpr/.crc, .h5oina, EDAX .h5) -> "
             "boundary classes "
             "(HAGB, LAGB, Σ3), grains, boundary fractions, IPF map",
             "examples:\n  microseg ebsd scan.ang -o ebsd/\n"
             "  microseg ebsd scan.ang --min-quality ci=0.1 --fill --max-hole 50 -o ebsd/\n"
             "  microseg ebsd scan.ctf --merge-phases -o ebsd/   # γ/γ′ of one point group as one\n\n"
             "writes summary.json (counts, boundary length % by class, mean ECD, the clean-up used),\n"
             "grains.csv and ebsd.png. Nothing is cleaned unless asked.")
    p.add_argument("map", type=Path, help="EBSD map file")
    _add_ebsd_options(p)
    p.add_argument("--min-grain-size", type=int, default=5, help="smallest grain in EBSD points")
    _add_output(p)

    p = _sub(subs, "labels", c.cmd_labels, "EBSD map + SEM image of the same area -> registered "
             "training pair (image, boundary label, classes, meta.json, overlay.png)",
             "examples:\n  microseg labels scan.ang --image sem.tif --points fiducials.csv -o pair/\n"
             "  microseg labels scan.ctf --image sem.tif --pixel-size 0.02 -o pair/   # no landmarks\n\n"
             "fiducials.csv has a header and the columns x_um, y_um, col, row: a point in the EBSD\n"
             "frame (µm from the first EBSD point) and the same point in the image (px from the\n"
             "top-left pixel centre). Registration is then refined automatically (global affine,\n"
             "then a smooth drift field); meta.json records the clean-up, transform, residuals,\n"
             "drift and alignment scores before/after. valid.tif marks where the label is known\n"
             "(EBSD field, indexed points, away from fiducials): training and scoring ignore the\n"
             "rest. Check overlay.png at a glance (the unknown area is dimmed).")
    p.add_argument("ebsd", type=Path,
                   help="EBSD map: .ang (header in any order; the grid from the x/y columns when the "
                        "step lines are missing), .ctf, Oxford Channel 5 .cpr or .crc (the other beside "
                        "it), .h5oina, EDAX .h5; other formats are refused with the converter to use")
    p.add_argument("--image", type=Path, required=True, help="SEM image of the same area")
    p.add_argument("--points", type=Path, default=None, help="landmark pairs CSV (x_um, y_um, col, row)")
    p.add_argument("--transform", default="affine", choices=["similarity", "affine", "projective"],
                   help="model fitted to the landmark pairs")
    p.add_argument("--tilt", type=float, default=None, help="sample tilt of the SEM image in degrees")
    p.add_argument("--pixel-size", type=float, default=None, help="µm per image pixel (default: from the file)")
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="use the landmark transform as it is (the baseline)")
    p.add_argument("--no-drift", dest="drift", action="store_false", help="refine the global affine only")
    p.add_argument("--no-crop", dest="crop", action="store_false",
                   help="keep the whole image frame (default: crop the pair to the largest rectangle "
                        "the EBSD map covers, as seed 000 does)")
    p.add_argument("--fiducial-radius", type=float, default=1.0, metavar="UM",
                   help="pixels within this many µm of a landmark are left out of valid.tif (default 1.0)")
    p.add_argument("--clean", choices=["lab", "none"], default="lab",
                   help="EBSD clean-up before the boundaries are drawn: lab (default) = quality threshold "
                        "where the file has one (CI >= 0.1, MAD <= 1.0), wild-spike removal, merge of "
                        "grains below --min-grain-size points, bounded fill; none = only what you ask")
    p.add_argument("--min-grain-size", type=int, default=5, help="with --clean lab: smallest grain kept (points)")
    _add_ebsd_options(p, fill=True)
    _add_output(p)

    p = _sub(subs, "evaluate", c.cmd_evaluate, "compare a prediction with the truth: pixel, distance, "
             "topology and grain metrics (JSON and CSV)",
             "examples:\n  microseg evaluate pred_prob.tif truth_boundaries.tif --pixel-size 0.05 -o eval.json\n"
             "  microseg evaluate pred_mask.tif truth_mask.tif --kind phase -o eval.json")
    p.add_argument("pred", type=Path, help="predicted map (probability or mask)")
    p.add_argument("truth", type=Path, help="true map (mask)")
    p.add_argument("--kind", choices=["boundaries", "phase"], default="boundaries",
                   help="boundaries: also label grains in both and compare them; phase: pixel metrics")
    p.add_argument("--pixel-size", type=float, default=None, help="µm per pixel (default: from the file)")
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary F-score tolerance in px")
    p.add_argument("--threshold", type=float, default=0.5, help="threshold for probability maps")
    p.add_argument("--min-diameter", type=float, default=0.0, help="smallest grain (ECD, µm or px)")
    p.add_argument("--mask", type=Path, default=None,
                   help="image of where the truth is known (nonzero = scored), e.g. the EBSD coverage")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="JSON file to write (a CSV is written beside it); default: print JSON")
    p.add_argument("--force", action="store_true", help="overwrite existing results")
    _add_learning_commands(subs, c)
    return parser


def _add_learning_commands(subs, c) -> None:
    p = _sub(subs, "train", c.cmd_train, "train a segmentation model from a YAML config (resumes an "
             "interrupted run)",
             "examples:\n  microseg train configs/unet_synthetic.yaml -o runs/unet\n"
             "  microseg train configs/unetpp_columns.yaml --set train.lr=3e-4 --set data.fold=1 -o runs/f1\n"
             "  microseg train real.yaml --set train.init_from=runs/pretrain/best -o runs/finetune\n\n"
             "writes best/ (model.safetensors + model.json), last/ (resumable checkpoint),\n"
             "metrics.csv, metrics.json and the resolved config.yaml\n\n"
             "training data (config section data):\n"
             "  pairs: a training-pair folder, IMAGES_DIR:MASKS_DIR, {images: DIR, masks: DIR},\n"
             "         or a CSV with the columns image,mask (paths relative to the CSV)\n"
             "  masks pair as <stem>_mask.* or the same name in the masks folder; other names:\n"
             "         --set data.mask_suffix=_th --set data.image_suffix=_sem (x_sem.tif + x_th.tif)\n"
             "  data.positive: blue | red | blue+red | '#RRGGBB' (colour masks, any bit depth),\n"
             "         nonzero, or class labels 1 / [1, 2]; data.mask_threshold=128 for near-binary\n"
             "         grey masks; data.allow_empty=true accepts masks without the positive class\n"
             "  without data.val_pairs the split logs its training/validation patches and refuses\n"
             "         fewer than 2 training patches (fix: data.val_pairs, a smaller data.patch/chip,\n"
             "         or data.val_fraction=0)")
    p.add_argument("config", type=Path, help="run configuration (YAML: data, model, loss, train, infer, grains)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=None,
                   help="override a config key (repeatable), e.g. --set train.epochs=5")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start afresh even if OUTPUT/last holds a checkpoint (needs --force)")
    _add_output(p)

    p = _sub(subs, "cv", c.cmd_cv, "cross-validate: one model per column fold, their ensemble, and "
             "the table of F1, boundary F1, HD95, ARI and MAE in ECD",
             "example:\n  microseg cv configs/unetpp_columns.yaml -o runs/cv --set train.epochs=50\n\n"
             "writes fold1/ ... (one training run each), cv_results.csv, cv_results.md, cv_results.json")
    p.add_argument("config", type=Path, help="run configuration (YAML)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=None,
                   help="override a config key (repeatable)")
    p.add_argument("--folds", type=int, nargs="+", default=None, help="train only these folds (1-based)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="retrain folds from scratch (needs --force when fold runs exist)")
    _add_output(p)

    p = _sub(subs, "predict", c.cmd_predict, "predict boundary probability maps with one model or an "
             "ensemble of models (large images in blended tiles)",
             "examples:\n  microseg predict runs/unet/best --image sem.tif -o pred/\n"
             "  microseg predict runs/cv/fold1/best runs/cv/fold2/best runs/cv/fold3/best --image scans/ -o pred/\n"
             "  microseg predict runs/unet/best --image 'mosaic_*.tif' --grains -o pred/   # and measure grains\n"
             "  microseg predict model.onnx --image sem.tif -o pred/      # a model from microseg export\n\n"
             "writes <stem>_prob.tif (mean probability, with the pixel size), <stem>_mask.tif\n"
             "(mean >= --threshold), with several models <stem>_spread.tif (per-pixel std) and, with\n"
             "--grains, the folder <stem>_grains (what microseg grains writes for the prediction).\n"
             "An image at another pixel size than the model was trained at is resampled to the\n"
             "model's pixel size and the result back to the image's grid, tile by tile (--no-rescale:\n"
             "as it is). Images with a side over 1024 px are predicted in tiles of 512 px (--tile),\n"
             "every model on the same tiles; --tta averages flipped and rotated predictions. TIFFs\n"
             "over 4096 x 4096 px are read region by region and written band by band: memory does\n"
             "not grow with the image. Options not given come from --config's infer section.\n"
             "training writes best/ (best validation boundary F1) and last/: both are model folders.")
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL_DIR",
                   help="model folders (model.safetensors + model.json) or ONNX files from microseg export")
    p.add_argument("--image", nargs="+", type=Path, required=True,
                   help="images to predict (grey, RGB/RGBA or grey stored as RGB, as train reads them); a "
                        "folder stands for its images, a quoted pattern ('scans/*.tif') for the files it matches")
    p.add_argument("--threshold", type=float, default=None,
                   help="threshold on the mean probability (default: the config's infer.threshold, else 0.5)")
    p.add_argument("--grains", action="store_true",
                   help="also measure the grains of each prediction (into <stem>_grains/; the config's grains "
                        "section applies)")
    p.add_argument("--config", type=Path, default=None, metavar="YAML",
                   help="a run configuration: its infer section gives the options not given here; the "
                        "resolved section is written as config.yaml")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--pixel-size", type=float, default=None, help="µm per pixel (default: from the file)")
    p.add_argument("--no-rescale", dest="rescale", action="store_false",
                   help="do not resample the image to the model's training pixel size")
    p.add_argument("--no-thin", dest="thin", action="store_false",
                   help="write the mask as the band the network draws (default for boundary models "
                        "trained with train.thin: its 1-px skeleton, the form of the label)")
    g = p.add_argument_group("tiles, test-time augmentation, precision and backend")
    g.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="tile size in px on the model's grid (0: every image whole; default: tiles of 512 "
                        "for images with a side over 1024 px, whole images otherwise)")
    g.add_argument("--overlap", type=float, default=None,
                   help="tile overlap: a fraction of the tile (< 1) or pixels (default 0.25)")
    g.add_argument("--batch", type=int, default=None, metavar="N", help="tiles per batch (default 4; a GPU runs a batch in one pass, the CPU one 512² tile at a time)")
    g.add_argument("--tta", nargs="?", const="dihedral", default=None, choices=["none", "flip", "dihedral"],
                   help="test-time augmentation: --tta alone = the 8 flips and quarter turns (dihedral), "
                        "--tta flip = the 4 flips; each undone before averaging")
    g.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto (default): fp32, or bf16/fp16 on a CUDA GPU or a CPU with bf16 units where a "
                        "probe tile's masks stay within 0.002 IoU/F1 of fp32's; fp32; bf16/fp16 as asked "
                        "(fp16 on CUDA only)")
    g.add_argument("--backend", default=None, choices=["torch", "onnx"],
                   help="torch (default for model folders), or onnx: model folders exported in memory and run "
                        "by onnxruntime (about 2x faster on a CPU; the default for .onnx files)")
    _add_dask(p, "one task per image")
    _add_output(p)

    p = _sub(subs, "volume", c.cmd_volume, "segment a (Z, Y, X) stack slice by slice, streamed, and measure "
             "it in 3D: phase fraction per slice, components, percolation, surface mesh",
             "examples:\n  microseg volume fib.tif --method otsu --polarity bright -o vol/     # seed 004's Otsu\n"
             "  microseg volume slices/ -m runs/unet/best -o vol/                  # a folder of slices, a model\n"
             "  microseg volume fib.zarr -m runs/unet25d/best --context 1 -o vol/  # 2.5D: z-1, z, z+1 as channels\n"
             "  microseg volume fib.tif -m runs/unet/best --mesh ply --dask -o vol/   # on a local dask cluster\n\n"
             "STACK is a multi-page TIFF (an ImageJ hyperstack gives its voxel size), a folder of slice\n"
             "images (natural order), or a zarr array / OME-Zarr image. Each slice goes through the 2D\n"
             "path (the tiled ensemble of the models, or the classical method) and is written at once,\n"
             "so memory does not grow with the stack. writes <stem>_prob.zarr and <stem>_mask.zarr\n"
             "(OME-Zarr; --format tiff: ImageJ TIFFs), <stem>_phase_fraction.csv and .png (mean ± std\n"
             "per slice, seed 004's Table 2 and Fig. 6), <stem>_views.png (XY, XZ, YZ), <stem>_volume.json\n"
             "(volume fraction, 3D components, percolation along z, y, x of the phase and of its\n"
             "complement) and, with --mesh, <stem>_mesh.ply or .stl (marching cubes, in µm).")
    p.add_argument("stack", type=Path, metavar="STACK", help="multi-page TIFF, folder of slices, or .zarr")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("-m", "--model", dest="models", nargs="+", type=Path, default=None, metavar="MODEL_DIR",
                     help="trained model folder(s): their mean probability, slice by slice")
    how.add_argument("--method", default=None, help="a classical method instead: otsu | sauvola | ridge | gradient")
    p.add_argument("--context", type=int, default=None, metavar="K",
                   help="2.5D: slices z-K..z+K as the model's channels (default: the model's own, from its "
                        "model.json input.context; 0 for 2D models)")
    p.add_argument("--threshold", type=float, default=0.5, help="models: mask = mean probability >= threshold")
    p.add_argument("--polarity", default=None, choices=["dark", "bright", "both"],
                   help="--method: which side of the threshold is the phase (default dark)")
    p.add_argument("--window-size", type=int, default=None, help="--method sauvola: window in px")
    p.add_argument("--k", type=float, default=None, help="--method sauvola: k")
    p.add_argument("--sigma", type=float, default=None, help="--method: Gaussian pre-filter in px")
    p.add_argument("--pixel-size", type=float, default=None, help="µm per pixel (default: from the stack)")
    p.add_argument("--slice-spacing", type=float, default=None, help="µm between slices (default: from the stack)")
    p.add_argument("--format", dest="fmt", default="zarr", choices=["zarr", "tiff"],
                   help="format of the probability and mask volumes")
    p.add_argument("--mesh", default=None, choices=["ply", "stl"], help="also write the phase's surface mesh")
    p.add_argument("--mesh-step", type=int, default=1, metavar="N",
                   help="--mesh: marching-cubes step in voxels (2 or more for giga-voxel volumes)")
    p.add_argument("--connectivity", type=int, default=1, choices=[1, 2, 3],
                   help="3D connectivity of components and percolation: 1 faces (6), 2 edges (18), 3 corners (26)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="models: tile size in px (default: 512-px tiles for slices with a side over 1024 px)")
    p.add_argument("--tta", nargs="?", const="dihedral", default=None, choices=["none", "flip", "dihedral"],
                   help="models: test-time augmentation")
    g = _add_dask(p, "chunks of slices")
    g.add_argument("--chunk-slices", type=int, default=8, metavar="N",
                   help="--dask: slices per chunk of the dask array")
    _add_output(p)

    p = _sub(subs, "export", c.cmd_export, "export a trained model to one ONNX file for onnxruntime, "
             "checked against PyTorch",
             "example:\n  microseg export runs/unet/best -o model.onnx\n\n"
             "The graph takes (N, C, H, W) images of any size and gives the final logits; the model's\n"
             "model.json (pre-processing, training pixel size) is embedded as ONNX metadata. Before\n"
             "writing, onnxruntime and PyTorch run on a random input: a difference of the logits above\n"
             "1e-4 refuses the export. Needs pip install \"microseg[onnx]\".")
    p.add_argument("model", type=Path, metavar="MODEL_DIR", help="model folder (model.safetensors + model.json)")
    p.add_argument("--opset", type=int, default=18, help="ONNX operator set (18 or newer)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="write the file without comparing onnxruntime's output with PyTorch's")
    _add_output(p, help="ONNX file to write (e.g. model.onnx)")

    _sub(subs, "models", c.cmd_models, "list the model architectures (with parameter counts) and losses",
         "example:\n  microseg models")


def _add_ebsd_options(p: argparse.ArgumentParser, *, fill: bool = False) -> None:
    g = p.add_argument_group("EBSD clean-up and boundary classes")
    g.add_argument("--min-quality", nargs="+", metavar="FIELD=VALUE", default=None,
                   help="points below become non-indexed, e.g. ci=0.1 (EDAX) or bc=50 (Oxford)")
    g.add_argument("--max-quality", nargs="+", metavar="FIELD=VALUE", default=None,
                   help="points above become non-indexed, e.g. mad=1.0")
    if fill:
        g.add_argument("--no-fill", dest="fill", action="store_false",
                       help="leave non-indexed points empty (default: fill them from their neighbours)")
    else:
        g.add_argument("--fill", action="store_true", help="fill non-indexed points from their neighbours")
    g.add_argument("--max-hole", type=int, default=50, help="with --fill: larger holes stay empty (points)")
    g.add_argument("--merge-phases", action="store_true",
                   help="treat phases with the same point group as one (e.g. γ and γ′)")
    g.add_argument("--lagb", type=float, default=2.0, help="smallest boundary angle in degrees (walls below are ignored)")
    g.add_argument("--hagb", type=float, default=15.0, help="high-angle boundary threshold in degrees")
    g.add_argument("--csl", nargs="*", default=["3"], help="CSL boundaries to classify (Brandon criterion)")


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    logging.getLogger("PIL").setLevel(logging.WARNING)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on standard error (no source line, no class name)."""
    log.warning("warning: %s", message)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``microseg`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _configure_logging(args.verbose, args.quiet)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            args.func(args)
    except KeyboardInterrupt:
        print(f"microseg {args.command}: interrupted", file=sys.stderr)
        return 130
    except (MicrosegError, OSError, ValueError, TypeError) as exc:
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{exc.filename}: {msg}"
        print(f"microseg {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
