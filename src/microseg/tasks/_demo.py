"""``demo``: the whole foundation path on built-in synthetic data, with exact truth.

1. A synthetic polycrystal (Laguerre grains, Σ3 twin lamellae, subgrains) rendered as an
   SE-like micrograph.
2. Classical segmentation (Otsu and Sauvola) of its boundaries, gap closing by watershed
   and merging, grains measured and compared with the truth (boundary F1, HD95, ARI,
   error in mean ECD).
3. A synthetic FIB-SEM stack of a porous two-phase ceramic, segmented slice by slice,
   IoU and phase fraction per slice (seed 004's evaluation).

Files (``write``, all or none): ``demo.png``, ``distributions.png``, ``fib_sem.png``
(drawn by :mod:`microseg.report.demo`), ``summary.json``, ``grains_truth.csv``,
``grains_sauvola.csv`` and ``image.tif``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import progress as _progress
from microseg.tasks._base import TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["demo", "DemoResult", "OUTPUTS", "BOUNDARY_METHODS", "FIB_METHODS"]

OUTPUTS = ["demo.png", "distributions.png", "fib_sem.png", "summary.json", "grains_truth.csv",
           "grains_sauvola.csv", "image.tif"]

#: Classical settings for boundary grooves in an SE image (dark thin lines).
BOUNDARY_METHODS = {
    "otsu": {"polarity": "dark", "sigma": 1.0},
    "sauvola": {"polarity": "dark", "window_size": 31, "k": 0.1, "sigma": 1.0},
}
#: Classical settings for the solid phase of the FIB-SEM stack (bright).
FIB_METHODS = {
    "otsu": {"polarity": "bright"},
    "sauvola": {"polarity": "bright", "window_size": 51, "k": 0.2, "sigma": 1.0},
}
#: The polycrystal: mean grain ECD in px, µm per pixel, smallest grain kept (µm).
MEAN_DIAMETER_PX, PIXEL_SIZE, MIN_DIAMETER = 40.0, 0.05, 0.4
#: The FIB-SEM stack: shape and porosity.
FIB_SHAPE, POROSITY = (16, 192, 192), 0.25


@dataclass(frozen=True)
class DemoResult(TaskResult):
    """Everything the demo computed.

    Attributes
    ----------
    poly : microseg.synth.Polycrystal
        The synthetic polycrystal (its truth: boundaries, classes, labels).
    image : microseg.io.Image
        Its SE micrograph (float, with the pixel size).
    truth : microseg.grains.GrainAnalysis
        Grains of the true boundaries.
    methods : dict
        Per boundary method (``"otsu"``, ``"sauvola"``): ``prob``, ``grains``
        (GrainAnalysis), ``boundary`` (boundary metrics) and ``grain_metrics``.
    fib : dict
        ``phases``, ``stack`` (Image), ``true_fraction`` per slice and ``methods``: per
        method its ``mask``, ``iou``, ``precision``, ``recall`` and ``fraction`` per slice.
    """

    poly: Any
    image: Any
    truth: Any
    methods: dict = field(default_factory=dict)
    fib: dict = field(default_factory=dict)

    @property
    def summary(self) -> dict:
        """``summary.json``: the headline numbers of both parts."""
        truth, fib = self.truth.summary, self.fib
        s: dict[str, Any] = {"polycrystal": {"n_grains_true": truth["n_grains"],
                                             "mean_ecd_um_true": truth["mean_ecd_um"], "methods": {}},
                             "fib_sem": {"true_fraction_mean": float(fib["true_fraction"].mean()), "methods": {}}}
        for name, r in self.methods.items():
            g, b = r["grain_metrics"], r["boundary"]
            s["polycrystal"]["methods"][name] = {
                "boundary_f1": b["f1"], "boundary_f_score_2px": b["bf_f1"], "hd95_px": b["hd95"],
                "n_grains": g["n_grains_pred"], "mean_ecd_um": g["mean_ecd_pred"],
                "mean_ecd_error_um": g["ecd_error"], "ari": g["ari"], "settings": BOUNDARY_METHODS[name]}
        for name, r in fib["methods"].items():
            s["fib_sem"]["methods"][name] = {"iou": r["iou"], "precision": r["precision"], "recall": r["recall"],
                                             "fraction_mean": float(r["fraction"].mean()),
                                             "fraction_std": float(r["fraction"].std())}
        return s

    @property
    def text(self) -> str:
        """The printable tables of both parts."""
        s = self.summary
        p, f = s["polycrystal"], s["fib_sem"]
        lines = [f"Synthetic SE micrograph: {p['n_grains_true']} true grains, mean ECD "
                 f"{p['mean_ecd_um_true']:.3f} µm",
                 f"  {'method':<10}{'F1':>7}{'BF1@2px':>9}{'HD95 px':>9}{'grains':>8}{'ECD µm':>9}"
                 f"{'ECD err':>9}{'ARI':>7}"]
        for name, r in p["methods"].items():
            lines.append(f"  {name:<10}{r['boundary_f1']:>7.3f}{r['boundary_f_score_2px']:>9.3f}"
                         f"{r['hd95_px']:>9.2f}{r['n_grains']:>8d}{r['mean_ecd_um']:>9.3f}"
                         f"{r['mean_ecd_error_um']:>+9.3f}{r['ari']:>7.3f}")
        lines.append(f"Synthetic FIB-SEM stack: true solid fraction {f['true_fraction_mean']:.4f}")
        lines.append(f"  {'method':<10}{'IoU':>7}{'prec':>7}{'recall':>8}{'fraction (mean ± std)':>26}")
        for name, r in f["methods"].items():
            lines.append(f"  {name:<10}{r['iou']:>7.3f}{r['precision']:>7.3f}{r['recall']:>8.3f}"
                         f"{r['fraction_mean']:>17.4f} ± {r['fraction_std']:.4f}")
        return "\n".join(lines)

    def files(self) -> list[tuple[str, Writer]]:
        from microseg.grains import write_grain_table
        from microseg.io import write_image, write_json

        u8 = np.round(np.clip(self.image.data, 0, 1) * 255).astype(np.uint8)
        sauvola = self.methods["sauvola"]["grains"]
        return [("demo.png", self._demo_png), ("distributions.png", self._distributions_png),
                ("fib_sem.png", self._fib_sem_png),
                ("summary.json", lambda p: write_json(p, self.summary, force=True)),
                ("grains_truth.csv", lambda p: write_grain_table(p, self.truth.table, force=True)),
                ("grains_sauvola.csv", lambda p: write_grain_table(p, sauvola.table, force=True)),
                ("image.tif", lambda p: write_image(p, u8, pixel_size=self.poly.pixel_size, force=True))]

    def _demo_png(self, path) -> None:
        from microseg.report.demo import plot_demo
        from microseg.report.figures import save_figure

        m = self.methods
        fig = plot_demo(self.image.data, self.poly.classes, self.poly.boundaries, self.truth.labels,
                        m["sauvola"]["prob"], m["sauvola"]["grains"].labels, m["otsu"]["prob"] >= 0.5,
                        n_grains=m["sauvola"]["grains"].summary["n_grains"],
                        n_grains_true=self.truth.summary["n_grains"])
        save_figure(fig, path, force=True)

    def _distributions_png(self, path) -> None:
        from microseg.report.figures import save_figure
        from microseg.report.grain_report import plot_grain_distributions

        fig = plot_grain_distributions(self.methods["sauvola"]["grains"], reference=self.truth,
                                       names=("Sauvola + merge", "truth"))
        save_figure(fig, path, force=True)

    def _fib_sem_png(self, path) -> None:
        from microseg.report.demo import plot_fib_sem
        from microseg.report.figures import save_figure

        fib = self.fib
        methods = fib["methods"]
        fig = plot_fib_sem(fib["stack"].data, fib["phases"], {n: r["mask"] for n, r in methods.items()},
                           {n: r["fraction"] for n, r in methods.items()},
                           {n: r["iou"] for n, r in methods.items()}, fib["true_fraction"])
        save_figure(fig, path, force=True)


def _polycrystal_part(size: int, seed: int, step) -> tuple[Any, Any, Any, dict]:
    from microseg import classic, metrics, synth
    from microseg.grains import analyse_grains

    poly = synth.make_polycrystal((size, size), mean_diameter_px=MEAN_DIAMETER_PX, pixel_size=PIXEL_SIZE,
                                  seed=seed)
    image = synth.render_sem(poly, mode="se", seed=seed)
    step()
    truth = analyse_grains(poly.boundaries.astype(np.float32), pixel_size=poly.pixel_size,
                           min_diameter=MIN_DIAMETER, source="truth")
    methods: dict[str, Any] = {}
    for name, options in BOUNDARY_METHODS.items():
        prob = classic.build(name, **options).predict(image.data)
        grains = analyse_grains(prob, pixel_size=poly.pixel_size, min_diameter=MIN_DIAMETER, source=name)
        b = metrics.evaluate_boundaries(prob >= 0.5, poly.boundaries, tolerance=2.0)
        g = metrics.evaluate_grains(grains.labels, truth.labels, pixel_size=poly.pixel_size)
        methods[name] = {"prob": prob, "grains": grains, "boundary": b, "grain_metrics": g}
        step()
    return poly, image, truth, methods


def _fib_part(seed: int) -> dict[str, Any]:
    from microseg import classic, metrics, synth
    from microseg.grains import phase_fraction_per_slice

    phases = synth.make_porous_volume(FIB_SHAPE, porosity=POROSITY, seed=seed)
    stack = synth.render_fib_sem(phases, seed=seed)
    solid = phases > 0
    out: dict[str, Any] = {"phases": phases, "stack": stack, "methods": {},
                           "true_fraction": phase_fraction_per_slice(solid)}
    for name, options in FIB_METHODS.items():
        seg = classic.build(name, **options)
        mask = np.stack([seg.predict(s) >= 0.5 for s in stack.data])
        out["methods"][name] = {"mask": mask, "iou": metrics.iou_score(mask, solid),
                                "precision": metrics.precision(mask, solid),
                                "recall": metrics.recall(mask, solid),
                                "fraction": phase_fraction_per_slice(mask)}
    return out


def demo(*, size: int = 768, seed: int = 0, output: str | os.PathLike | None = None, force: bool = False,
         progress: bool = False) -> DemoResult:
    """Run the demo (what ``microseg demo`` does): synthetic data, classical methods, truth.

    Parameters
    ----------
    size : int
        Edge of the synthetic micrograph in px.
    seed : int
        Random seed of both synthetic samples.
    output : path, optional
        Folder to write the figures, ``summary.json``, the grain tables and the image to
        (checked first, written last, all files or none).
    force : bool
        Overwrite existing outputs.
    progress : bool
        A progress bar over the demo's steps.

    Returns
    -------
    DemoResult
        ``summary`` (what ``summary.json`` holds) and ``text`` (the printable tables).
    """
    if output is not None:
        check_outputs(output, OUTPUTS, force=force)
    steps = iter(_progress(range(6), enabled=progress, desc="demo", total=6))

    def step() -> None:   # one tick of the bar
        next(steps, None)

    step()
    poly, image, truth, methods = _polycrystal_part(int(size), int(seed), step)
    fib = _fib_part(int(seed))
    step()
    result = DemoResult(poly, image, truth, methods, fib)
    if output is not None:
        result.write(output, force=force)
    for _ in steps:
        pass
    return result
