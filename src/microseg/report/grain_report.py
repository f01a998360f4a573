"""What ``microseg grains`` shows of a grain analysis (:func:`microseg.grains.analyse_grains`):
the size and shape distributions, the overlay at the map's resolution (:func:`grain_overlay_image`),
the ASTM E112 lines."""
from __future__ import annotations

from typing import Any

import numpy as np

from microseg.grains.analysis import GrainAnalysis


def plot_grain_distributions(analysis: GrainAnalysis, *, reference: GrainAnalysis | None = None,
                             names: tuple[str, str] = ("grains", "reference")) -> Any:
    """Figure with the ECD histogram (exponential + lognormal fits) and the aspect-ratio
    histogram (beta fit); a ``reference`` analysis is drawn beside it for comparison."""
    from microseg._figures import subplots
    from microseg.report.figures import plot_distributions

    unit = "um" if analysis.pixel_size else "px"
    label = "µm" if analysis.pixel_size else "px"
    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 3.8))
    samples = {names[0]: analysis.table[f"ecd_{unit}"]}
    ratios = {names[0]: analysis.table["aspect_ratio"][np.isfinite(analysis.table["aspect_ratio"])]}
    if reference is not None:
        samples[names[1]] = reference.table[f"ecd_{unit}"]
        ratios[names[1]] = reference.table["aspect_ratio"][np.isfinite(reference.table["aspect_ratio"])]
    size_fits = {f"{names[0]}: {k} fit": v for k, v in analysis.fits.items() if k != "beta"}
    plot_distributions(samples, xlabel=f"equivalent circle diameter ({label})", fits=size_fits, ax=ax1)
    beta = {f"{names[0]}: beta fit": analysis.fits["beta"]} if "beta" in analysis.fits else {}
    plot_distributions(ratios, xlabel="aspect ratio (minor / major)", fits=beta, ax=ax2,
                       bins=np.linspace(0, 1, 26))
    ax1.set_title(f"grain size, n = {analysis.summary['n_grains']}")
    ax2.set_title("grain shape")
    fig.tight_layout()
    return fig


#: One overlay panel is drawn 1:1 (an image pixel per map pixel) up to this many pixels on
#: its long side; a larger map is drawn from every n-th pixel (:func:`microseg.tasks._grains.overlay_step`).
OVERLAY_MAX_SIDE = 4000


def grain_overlay_image(labels: np.ndarray, *, image: np.ndarray | None = None) -> np.ndarray:
    """``overlay.png`` as an RGB uint8 array, pixel for pixel.

    The micrograph with the grain outlines in red (when ``image`` is given) beside the grains
    in random colours, each the map's size, the panel names written in their top-left corner
    (Pillow's bundled font). Made without matplotlib's image pipeline, which needs ~100 bytes
    per pixel to draw a panel 1:1; this draws in 8-bit colour (3 bytes per pixel a panel).

    Examples
    --------
    >>> labels = np.zeros((60, 90), np.int32); labels[5:30, 5:40] = 1; labels[35:55, 50:80] = 2
    >>> rgb = grain_overlay_image(labels, image=np.random.default_rng(0).random((60, 90)))
    >>> rgb.shape, rgb.dtype.name
    ((60, 180, 3), 'uint8')
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont
    from skimage.segmentation import find_boundaries

    from microseg._figures import label_colours
    from microseg.report.figures import boundary_overlay

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels: expected a 2D (Y, X) label map, got shape {labels.shape}")
    h, w = labels.shape
    names = []
    out = np.zeros((h, w * (2 if image is not None else 1), 3), np.uint8)

    if image is not None:
        image = np.asarray(image)
        if image.shape[:2] != labels.shape:
            raise ValueError(f"image: has shape {image.shape[:2]} but the labels {labels.shape}; "
                             "they must cover the same pixels")
        out[:, :w] = boundary_overlay(image, find_boundaries(labels, mode="inner"), dtype=np.uint8)
        names.append("image with grain outlines")
    n = int(len(np.unique(labels[labels > 0])))
    if labels.max() > 0:
        out[:, len(names) * w:] = label_colours(labels, dtype=np.uint8)
    names.append(f"grains (n = {n})")
    canvas = PILImage.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=int(np.clip(min(h, w) / 30, 8, 38)))
    for i, name in enumerate(names):
        x0, y0 = i * w + max(2, w // 100), max(2, h // 100)
        box = draw.textbbox((x0, y0), name, font=font)
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
        draw.text((x0, y0), name, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def astm_text(astm: dict[str, Any]) -> str:
    """ASTM E112 results of a grain summary (``summary["astm_e112"]``) as lines to print.

    Examples
    --------
    >>> print(astm_text({"pixel_size_um": None, "length_unit": "px", "planimetric": None,
    ...                  "intercept_lines": None, "intercept_circles": None,
    ...                  "notes": ["G and the planimetric N_A need a pixel size; intercepts are in px"]}))
    ASTM E112 (no pixel size: lengths in px, no G; give --pixel-size)
      note: G and the planimetric N_A need a pixel size; intercepts are in px
    """
    size = astm.get("pixel_size_um")
    lines = [f"ASTM E112 (pixel size {size:g} µm)" if size else
             "ASTM E112 (no pixel size: lengths in px, no G; give --pixel-size)"]
    plan = astm.get("planimetric")
    if plan:
        lines.append(f"  planimetric:  G {plan['g']:.1f}   N_A {plan['n_a_per_mm2']:.0f} /mm²")
    for key, name in (("intercept_circles", "3 circles:  "), ("intercept_lines", "line grid:  ")):
        r = astm.get(key)
        if not r:
            continue
        g = f"G {r['g']:.1f}   " if r.get("g") is not None else ""
        if r.get("p_l_ci95") is None:   # one field: no spread to give
            spread = f"{r['density_unit']} ({r['n_fields']} field of {r['field_size_px']} px: no CI)"
        else:
            spread = (f"± {_num(r['p_l_ci95'])} {r['density_unit']} (95 % CI, RA "
                      f"{r['relative_accuracy_pct']:.1f} %, {r['n_fields']} fields of {r['field_size_px']} px)")
        lines.append(f"  {name}  {g}P_L {_num(r['p_l'])} {spread}   "
                     f"mean intercept {r['mean_intercept']:.3g} {r['length_unit']}")
        if r.get("note"):
            lines.append(f"    note: {r['note']}")
    lines += [f"  note: {n}" for n in astm.get("notes", [])]
    return "\n".join(lines)
