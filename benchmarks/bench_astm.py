"""ASTM E112 intercepts against stereology, and their speed on a 4096 x 4096 map.

An isotropic tessellation has ``P_L = 2 L_A / pi`` (intersections per test length from the
boundary length per area). A Poisson-Voronoi tessellation (scipy.spatial.Voronoi) has its
``L_A`` computed exactly from the polygon edges clipped to the window; the same tessellation
is drawn as a 1-px 8-connected boundary map at three pixel sizes (cells 16, 32 and 64 px
across), and 3 px wide (counted on the centre lines, the default, and as drawn). Printed:
``P_L`` of the circles and of the line grid (per µm), ``2 L_A / pi`` and their ratios.

Usage: python benchmarks/run.py astm
"""
from __future__ import annotations

import math

import numpy as np

from _common import best_of

WINDOW_UM = 128.0      # side of the tessellated window
CELL_AREA_UM2 = 4.0    # mean cell area: cells about 2 µm across
PIXEL_SIZES = (0.125, 0.0625, 0.03125)   # 1024, 2048, 4096 px


def poisson_voronoi_edges(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Edges (p, q in µm, clipped to the window) of a Poisson-Voronoi tessellation, and L_A."""
    from scipy.spatial import Voronoi

    rng = np.random.default_rng(seed)
    margin = 4 * math.sqrt(CELL_AREA_UM2)
    n = rng.poisson((WINDOW_UM + 2 * margin) ** 2 / CELL_AREA_UM2)
    vor = Voronoi(rng.uniform(-margin, WINDOW_UM + margin, (n, 2)))
    ridges = np.array([r for r in vor.ridge_vertices if -1 not in r])
    p, q = vor.vertices[ridges[:, 0]], vor.vertices[ridges[:, 1]]
    d = q - p
    t0, t1 = np.zeros(len(p)), np.ones(len(p))
    for k in range(2):  # Liang-Barsky clipping to [0, WINDOW_UM]^2
        for pk, qk in ((-d[:, k], p[:, k]), (d[:, k], WINDOW_UM - p[:, k])):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = qk / pk
            t0 = np.where(pk < 0, np.maximum(t0, t), t0)
            t1 = np.where(pk > 0, np.minimum(t1, t), t1)
            t1 = np.where((pk == 0) & (qk < 0), -1.0, t1)
    keep = t0 < t1
    p, q = p[keep] + t0[keep, None] * d[keep], p[keep] + t1[keep, None] * d[keep]
    return p, q, float(np.hypot(*(q - p).T).sum()) / WINDOW_UM**2


def rasterise(p: np.ndarray, q: np.ndarray, pixel_size: float, width: int = 1) -> np.ndarray:
    """1-px 8-connected lines (Bresenham) through the edges, optionally dilated to ``width``."""
    from scipy import ndimage as ndi
    from skimage.draw import line

    n = int(round(WINDOW_UM / pixel_size))
    to_px = lambda x: np.clip(np.rint(x / pixel_size - 0.5), 0, n - 1).astype(int)  # noqa: E731
    a, b = to_px(p), to_px(q)
    out = np.zeros((n, n), np.uint8)
    for (r0, c0), (r1, c1) in zip(a, b):
        out[line(r0, c0, r1, c1)] = 1
    if width > 1:
        out = ndi.binary_dilation(out, np.ones((width, width), bool)).astype(np.uint8)
    return out


def _ratios(report, b: np.ndarray, pixel_size: float, l_a: float, label: str, **options) -> None:
    from microseg.grains import grain_size_intercept

    expected = 2 * l_a / math.pi  # per µm
    cells_px = math.sqrt(CELL_AREA_UM2) / pixel_size
    size = {"circles": int(6 * cells_px), "lines": int(4 * cells_px)}
    for pattern in ("circles", "lines"):
        r = grain_size_intercept(b, pixel_size=pixel_size, pattern=pattern, field_size=size[pattern],
                                 **options)
        p_l = r.p_l / 1000.0  # per µm
        report(f"{label}, {cells_px:.0f} px cells: P_L {pattern} ({r.n_fields} fields)", p_l, "1/µm")
        report(f"{label}, {cells_px:.0f} px cells: P_L {pattern} / (2 L_A / pi)", p_l / expected, "",
               target="1 +- 0.02")


def run(report) -> None:
    from microseg.grains import grain_size_intercept

    for seed in (0, 1):
        p, q, l_a = poisson_voronoi_edges(seed)
        report(f"Poisson-Voronoi seed {seed}: 2 L_A / pi (exact from the edges)", 2 * l_a / math.pi, "1/µm")
        for pixel_size in PIXEL_SIZES:
            b = rasterise(p, q, pixel_size)
            _ratios(report, b, pixel_size, l_a, f"seed {seed} 1-px")
        for pixel_size in PIXEL_SIZES[:2]:
            thick = rasterise(p, q, pixel_size, width=3)
            _ratios(report, thick, pixel_size, l_a, f"seed {seed} 3-px, centre lines")
            _ratios(report, thick, pixel_size, l_a, f"seed {seed} 3-px, as drawn", thin=False)
    p, q, _ = poisson_voronoi_edges(2)
    thin_map = rasterise(p, q, PIXEL_SIZES[-1])
    thick_map = rasterise(p, q, PIXEL_SIZES[-1], width=3)
    for pattern in ("circles", "lines", "four_lines"):
        t, r = best_of(lambda pattern=pattern: grain_size_intercept(thin_map, pixel_size=0.03125,
                                                                     pattern=pattern), repeat=3)
        report(f"4096^2 1-px map, {pattern}: {r.n_fields} fields of {r.field_size_px} px", t, "s",
               target="< 1 s")
    t, r = best_of(lambda: grain_size_intercept(thick_map, pixel_size=0.03125, pattern="circles"), repeat=1)
    report(f"4096^2 3-px map, circles incl. skeleton: {r.n_fields} fields", t, "s")
    t, _ = best_of(lambda: grain_size_intercept(thick_map, pixel_size=0.03125, pattern="circles",
                                                thin=False), repeat=1)
    report("4096^2 3-px map, circles as drawn", t, "s")
