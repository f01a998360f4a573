"""Peak memory per pixel of the grain stage and of tiled classical segmentation.

``label_grains`` + ``measure_grains`` (and the whole ``analyse_grains``) on a 4096 x 4096
Voronoi boundary map (~20,000 grains, 4,000 gaps of 3 px), as a binary map and as a
float32 probability;
``classic`` Otsu/Sauvola tile by tile on 2048² and 8192² uint16 images read from a TIFF
region by region and written to a tiled TIFF (the peak in MiB should not grow with the size). Memory is the tracemalloc peak (numpy,
scipy and scikit-image allocate through it) above what was allocated before the call,
divided by the number of pixels; the input map itself is not counted. Target (issue 10):
grains under 40 bytes per pixel; segmentation independent of the image size. The peak RSS of
whole commands (``microseg segment``, ``grains``, ``predict``, imports and files included) is
measured by ``bench_rss.py``.

Usage: python benchmarks/bench_memory.py [grains|classic ...]
"""
from __future__ import annotations

import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402
from bench_grains import boundaries_of, voronoi_cells  # noqa: E402


def peak_bytes(fn) -> tuple[int, float, object]:
    """(tracemalloc peak in bytes above the start, seconds, result) of ``fn()``."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    try:
        result = fn()
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, seconds, result


def with_gaps(b: np.ndarray, n: int = 4000, *, seed: int = 0) -> np.ndarray:
    """``b`` with ``n`` 3 x 3 holes punched at random boundary pixels (gaps for gap closing)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(b)
    for i in rng.choice(ys.size, min(n, ys.size), replace=False):
        y, x = ys[i], xs[i]
        b[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = 0
    return b


def run_grains(report, size: int = 4096) -> None:
    from microseg.grains import analyse_grains, label_grains, measure_grains

    b = with_gaps(boundaries_of(voronoi_cells(size, int(20000 * (size / 4096) ** 2))))
    prob = b.astype(np.float32) * np.float32(0.9) + np.float32(0.05)
    pixels = b.size
    for name, boundary in (("binary", b), ("prob", prob)):
        for method in ("none", "merge"):
            peak, seconds, _ = peak_bytes(lambda: measure_grains(
                label_grains(boundary, close_gaps=method), pixel_size=0.05))
            report(f"grains label+measure {name} {method} {size}²", peak / pixels, "B/px", "< 40")
        peak, seconds, _ = peak_bytes(lambda: analyse_grains(boundary, pixel_size=0.05))
        report(f"grains analyse_grains {name} {size}² ({seconds:.1f} s)", peak / pixels, "B/px", "< 40")


def run_classic(report, sizes: tuple[int, ...] = (2048, 8192)) -> None:
    for size in sizes:
        _run_classic(report, size)


def _run_classic(report, size: int) -> None:
    import logging

    from microseg import classic

    logging.getLogger("microseg.classic").setLevel(logging.ERROR)   # noise gives degenerate masks
    from microseg.io.lazy import open_image, open_image_writer, open_prob_writer

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.tif"
        rng = np.random.default_rng(0)
        with open_image_writer(path, (size, size), np.uint16, pixel_size=0.01, tile=512) as w:
            for r in range(0, size, 512):
                w[r:r + 512, :] = rng.integers(20000, 40000, (min(512, size - r), size), dtype=np.uint16)
        pixels = size * size
        for method in ("otsu", "sauvola"):
            seg = classic.build(method)
            out = Path(folder) / f"{method}.tif"

            def work(seg=seg, out=out):
                image = open_image(path)
                with open_prob_writer(out, image.shape, pixel_size=image.pixel_size, dtype="uint8",
                                      force=True) as writer:
                    seg.predict(image, tile_size=1024, out=writer)

            peak, seconds, _ = peak_bytes(work)
            report(f"classic {method} tiled, TIFF in and out, {size}² ({seconds:.0f} s)", peak / pixels, "B/px")
            report(f"classic {method} tiled peak, {size}²", peak / 2**20, "MiB", "independent of size")


def run(report) -> None:
    run_grains(report)
    run_classic(report)


if __name__ == "__main__":
    parts = sys.argv[1:] or ["grains", "classic"]
    for part in parts:
        {"grains": run_grains, "classic": run_classic}[part](print_report)
