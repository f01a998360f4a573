"""The demo: the whole foundation path on built-in synthetic data, with exact truth.

1. A synthetic polycrystal (Laguerre grains, Σ3 twin lamellae, subgrains) rendered as an
   SE-like micrograph.
2. Classical segmentation (Otsu and Sauvola) of its boundaries, gap closing by watershed and merging,
   grains measured and compared with the truth (boundary F1, HD95, ARI, error in mean ECD).
3. A synthetic FIB-SEM stack of a porous two-phase ceramic, segmented slice by slice,
   IoU and phase fraction per slice (seed 004's evaluation).
4. Figures and ``summary.json``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import check_output_path
from microseg._util import progress as _progress

log = logging.getLogger(__name__)

OUTPUTS = ["demo.png", "distributions.png", "fib_sem.png", "summary.json", "grains_truth.csv",
           "grains_sauvola.csv", "image.tif"]

#: Classical settings for boundary grooves in an SE image (dark thin lines).
BOUNDARY_METHODS = {
    "otsu": {"polarity": "dark", "sigma": 1.0},
    "sauvola": {"polarity": "dark", "window_size": 31, "k": 0.1, "sigma": 1.0},
}


def _polycrystal_part(size: int, seed: int, steps: Any) -> dict[str, Any]:
    from microseg import classic, metrics, synth
    from microseg.grains import analyse_grains

    poly = synth.make_polycrystal((size, size), mean_diameter_px=40.0, pixel_size=0.05, seed=seed)
    image = synth.render_sem(poly, mode="se", seed=seed)
    next(steps)
    truth = analyse_grains(poly.boundaries.astype(np.float32), pixel_size=poly.pixel_size,
                           min_diameter=0.4, source="truth")
    results: dict[str, Any] = {}
    for name, options in BOUNDARY_METHODS.items():
        prob = classic.build(name, **options).predict(image.data)
        grains = analyse_grains(prob, pixel_size=poly.pixel_size, min_diameter=0.4, source=name)
        b = metrics.evaluate_boundaries(prob >= 0.5, poly.boundaries, tolerance=2.0)
        g = metrics.evaluate_grains(grains.labels, truth.labels, pixel_size=poly.pixel_size)
        results[name] = {"prob": prob, "grains": grains, "boundary": b, "grain_metrics": g}
        next(steps)
    return {"poly": poly, "image": image, "truth": truth, "methods": results}


def _fib_part(seed: int) -> dict[str, Any]:
    from microseg import classic, metrics, synth

    phases = synth.make_porous_volume((16, 192, 192), porosity=0.25, seed=seed)
    stack = synth.render_fib_sem(phases, seed=seed)
    out: dict[str, Any] = {"phases": phases, "stack": stack, "methods": {}}
    for name, options in (("otsu", {}), ("sauvola", {"window_size": 51, "k": 0.2, "sigma": 1.0})):
        seg = classic.build(name, polarity="bright", **options)
        mask = np.stack([seg.predict(s) >= 0.5 for s in stack.data])
        frac = mask.reshape(mask.shape[0], -1).mean(axis=1)
        out["methods"][name] = {"mask": mask, "iou": metrics.iou_score(mask, phases > 0),
                                "precision": metrics.precision(mask, phases > 0),
                                "recall": metrics.recall(mask, phases > 0), "fraction": frac}
    out["true_fraction"] = (phases > 0).reshape(phases.shape[0], -1).mean(axis=1)
    return out


def _figures(poly_part: dict[str, Any], fib: dict[str, Any], out: Path, force: bool) -> None:
    from microseg.report.figures import (_pyplot, boundary_overlay, class_colours, plot_segmentation,
                                        save_figure)
    from microseg.report.grain_report import plot_grain_distributions

    poly, image, m = poly_part["poly"], poly_part["image"], poly_part["methods"]
    panels = {
        "synthetic SE micrograph": image.data,
        "true boundaries: HAGB white, LAGB yellow, Σ3 red": class_colours(poly.classes),
        "Sauvola boundary probability": m["sauvola"]["prob"],
        f"Sauvola + merge grains (n={m['sauvola']['grains'].summary['n_grains']})": m["sauvola"]["grains"].labels,
        f"true grains (n={poly_part['truth'].summary['n_grains']})": poly_part["truth"].labels,
        "Otsu mask (red) over truth (cyan)": boundary_overlay(image.data, m["otsu"]["prob"] >= 0.5,
                                                               truth=poly.boundaries),
    }
    save_figure(plot_segmentation(panels, ncols=3, title="microseg demo: classical baseline vs exact truth"),
                out / "demo.png", force=force)
    fig = plot_grain_distributions(m["sauvola"]["grains"], reference=poly_part["truth"],
                                   names=("Sauvola + merge", "truth"))
    save_figure(fig, out / "distributions.png", force=force)

    plt = _pyplot()
    z = fib["stack"].data.shape[0] // 2
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.8))
    for ax, (title, arr) in zip(axes[:4], [("FIB-SEM slice", fib["stack"].data[z]),
                                           ("true solid phase", fib["phases"][z]),
                                           ("Otsu", fib["methods"]["otsu"]["mask"][z]),
                                           ("Sauvola", fib["methods"]["sauvola"]["mask"][z])]):
        ax.imshow(arr, cmap="gray", interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    ax = axes[4]
    ax.plot(fib["true_fraction"], "k-", lw=2, label="truth")
    for name, r in fib["methods"].items():
        ax.plot(r["fraction"], "o-", ms=3, label=f"{name} (IoU {r['iou']:.3f})")
    ax.set_xlabel("slice")
    ax.set_ylabel("solid phase fraction")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "fib_sem.png", force=force)


def _summary(poly_part: dict[str, Any], fib: dict[str, Any]) -> dict[str, Any]:
    truth = poly_part["truth"].summary
    s: dict[str, Any] = {"polycrystal": {"n_grains_true": truth["n_grains"],
                                         "mean_ecd_um_true": truth["mean_ecd_um"], "methods": {}},
                         "fib_sem": {"true_fraction_mean": float(fib["true_fraction"].mean()), "methods": {}}}
    for name, r in poly_part["methods"].items():
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


def _text(s: dict[str, Any]) -> str:
    p, f = s["polycrystal"], s["fib_sem"]
    lines = [f"Synthetic SE micrograph: {p['n_grains_true']} true grains, mean ECD {p['mean_ecd_um_true']:.3f} µm",
             f"  {'method':<10}{'F1':>7}{'BF1@2px':>9}{'HD95 px':>9}{'grains':>8}{'ECD µm':>9}{'ECD err':>9}{'ARI':>7}"]
    for name, r in p["methods"].items():
        lines.append(f"  {name:<10}{r['boundary_f1']:>7.3f}{r['boundary_f_score_2px']:>9.3f}{r['hd95_px']:>9.2f}"
                     f"{r['n_grains']:>8d}{r['mean_ecd_um']:>9.3f}{r['mean_ecd_error_um']:>+9.3f}{r['ari']:>7.3f}")
    lines.append(f"Synthetic FIB-SEM stack: true solid fraction {f['true_fraction_mean']:.4f}")
    lines.append(f"  {'method':<10}{'IoU':>7}{'prec':>7}{'recall':>8}{'fraction (mean ± std)':>26}")
    for name, r in f["methods"].items():
        lines.append(f"  {name:<10}{r['iou']:>7.3f}{r['precision']:>7.3f}{r['recall']:>8.3f}"
                     f"{r['fraction_mean']:>17.4f} ± {r['fraction_std']:.4f}")
    return "\n".join(lines)


def run_demo(out: str | Path = "demo-output", *, size: int = 768, seed: int = 0, force: bool = False,
             progress: bool = False) -> dict[str, Any]:
    """Run the demo and write its figures and summary to ``out``; return the summary.

    The returned dict has the JSON summary plus ``"text"``, a printable table.
    """
    from microseg._util import write_json
    from microseg.grains import write_grain_table
    from microseg.io import write_image

    out = Path(out)
    for name in OUTPUTS:
        check_output_path(out / name, force=force)
    steps = iter(_progress(range(6), enabled=progress, desc="demo", total=6))
    next(steps)
    poly_part = _polycrystal_part(int(size), seed, steps)
    fib = _fib_part(seed)
    next(steps, None)
    _figures(poly_part, fib, out, force)
    summary = _summary(poly_part, fib)
    write_json(out / "summary.json", summary, force=force)
    write_grain_table(out / "grains_truth.csv", poly_part["truth"].table, force=force)
    write_grain_table(out / "grains_sauvola.csv", poly_part["methods"]["sauvola"]["grains"].table, force=force)
    u8 = np.round(np.clip(poly_part["image"].data, 0, 1) * 255).astype(np.uint8)
    write_image(out / "image.tif", u8, pixel_size=poly_part["poly"].pixel_size, force=force)
    for _ in steps:
        pass
    return {**summary, "text": _text(summary)}
