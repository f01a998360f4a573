"""``microseg volume`` on a synthetic FIB-SEM stack the size of seed 004's (768 x 768 x 620).

The stack is generated slab by slab (:func:`write_fib_stack`: a Gaussian-filtered random
field thresholded into solid and pores, with slice noise seeded per slice so slabs join
seamlessly, rendered as a uint8 ImageJ TIFF with its voxel size; the generator holds one
slab, not the stack), then:

1. ``microseg volume STACK --method otsu`` (seed 004's Otsu, per slice) runs in its own
   process at depth Z and at 2 Z: voxels per second and the peak RSS of that process
   (``ru_maxrss``, :func:`bench_rss.measure`); the target is under 2 GB at both depths,
   i.e. memory that does not grow with Z. Printed with the per-slice phase-fraction table
   (seed 004's Table 2: mean ± std over the slices, min, max) beside the true porosity of
   the generated phases.
2. The same with ``--dask --workers 1`` and ``--workers 2`` (a LocalCluster): wall time of
   each, their ratio, and whether the masks equal the single-process masks bit for bit; and
   first a folder of 24 micrographs of 2048² (bench_rss.write_micrograph) through ``microseg
   segment --method sauvola`` and ``microseg predict`` (the tiny U-Net) in one process and
   on 1 and 2 workers (one task per image): pixels per second, the ratios, and whether every
   file is bit-identical.
3. With ``--learned``: the tiny U-Net of bench_rss through the learned path (2D and 2.5D),
   voxels per second (the cost of the path around the network).

Usage: python benchmarks/bench_volume.py [--shape Z Y X] [--no-double] [--no-dask] [--learned] [--only-folder] [--tmp DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402
from bench_rss import measure  # noqa: E402

SHAPE = (620, 768, 768)
TARGET_MIB = 2048
#: Slices generated at a time, and the filter's halo (3 sigma) on each side.
SLAB, SIGMA = 32, 4.0


def write_fib_stack(path: Path, shape: tuple[int, int, int], *, porosity: float = 0.3, seed: int = 0,
                    pixel_size: float = 0.02) -> float:
    """A (Z, Y, X) uint8 ImageJ TIFF of pores (dark) in a solid (bright); returns the true porosity.

    Slice ``z`` of the white noise comes from its own generator (``seed + z``), so a slab
    filtered with its halo equals the same slices of the whole volume filtered at once.
    """
    from scipy import ndimage as ndi

    from microseg import io

    z, y, x = shape
    halo = int(3 * SIGMA) + 1

    def noise(i: int) -> np.ndarray:
        return np.random.default_rng(seed + min(max(i, 0), z - 1)).standard_normal((y, x), dtype=np.float32)

    level, pores = None, 0
    with io.open_stack_writer(path, shape, np.uint8, pixel_size=pixel_size, slice_spacing=pixel_size) as tif:
        for z0 in range(0, z, SLAB):
            z1 = min(z0 + SLAB, z)
            slab = np.stack([noise(i) for i in range(z0 - halo, z1 + halo)])
            field = ndi.gaussian_filter(slab, SIGMA, mode="wrap")[halo:halo + (z1 - z0)]
            if level is None:   # the porosity's quantile, from the first slab
                level = float(np.quantile(field, porosity))
            phases = field < level
            pores += int(phases.sum())
            rng = np.random.default_rng(10_000 + z0)
            grey = np.where(phases, 60.0, 185.0) + rng.normal(0, 18, phases.shape)
            grey += 25 * np.linspace(0, 1, y, dtype=np.float32)[None, :, None]   # shading across the slice
            tif[z0:z1] = np.clip(grey, 0, 255).astype(np.uint8)
    return pores / (z * y * x)


def _volume_json(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}_volume.json").read_text())


def _run(report, label: str, args: list[str], voxels: int, *, timeout: float, target: bool = True,
         unit: str = "vox/s") -> float:
    peak, seconds, why = measure(args, timeout=timeout)
    if why is not None:
        print(f"  {label:<58s} FAILED ({why})", flush=True)
        return float("nan")
    report(f"{label}: {'voxels' if unit == 'vox/s' else 'pixels'} per second", voxels / seconds, unit)
    report(f"{label}: wall", seconds, "s")
    report(f"{label}: peak RSS", peak, "MiB", f"< {TARGET_MIB} MiB" if target else None)
    return seconds


def _same_masks(a: Path, b: Path) -> bool:
    from microseg import io

    x, y = io.open_stack(a), io.open_stack(b)
    return x.shape == y.shape and all(np.array_equal(x[z], y[z]) for z in range(x.shape[0]))


def _compare_files(out: Path, single: Path, label: str) -> None:
    """Whether the masks are bit-identical to the single-process run's, and how far the probabilities are."""
    import filecmp

    import tifffile

    masks = sorted(out.glob("*_mask.tif"))
    same = all(filecmp.cmp(f, single / f.name, shallow=False) for f in masks)
    worst = max(float(np.abs(tifffile.imread(f).astype(np.float64) - tifffile.imread(single / f.name)).max())
                for f in out.glob("*_prob.tif"))
    print(f"  {label}: {len(masks)} masks bit-identical to the single-process run: {same}; probabilities "
          f"differ by at most {worst:.2g}", flush=True)


def _folder(report, root: Path, *, n: int = 24, size: int = 2048, timeout: float) -> None:
    """A folder of micrographs through ``microseg segment`` and ``predict``: one process, then --dask with 1 and 2 workers."""
    from bench_rss import write_micrograph

    images = root / "images"
    images.mkdir()
    for i in range(n):
        write_micrograph(images / f"m{i:02d}.tif", size, seed=i)
    from bench_rss import save_tiny_model

    model = save_tiny_model(root / "tiny-folder")
    pixels = n * size * size
    runs = {"single": []} | {f"dask{w}": ["--dask", "--workers", str(w)] for w in (1, 2)}
    files = [str(f) for f in sorted(images.iterdir())]   # segment reads a folder as the slices of one stack
    commands = {"segment --method sauvola": ["segment", *files, "--method", "sauvola"],
                "predict (tiny U-Net)": ["predict", str(model), "--image", str(images), "--device", "cpu"]}
    for name, command in commands.items():
        times = {}
        for label, extra in runs.items():
            out = root / f"{command[0]}-{label}"
            times[label] = _run(report, f"{name}, {n} images of {size}², {label}", [*command, *extra, "-o", str(out),
                                "-q"], pixels, timeout=timeout, target=False, unit="px/s")
            if label != "single":
                _compare_files(out, root / f"{command[0]}-single", label)
        report(f"{name}: throughput 2 workers / 1 worker", times["dask1"] / times["dask2"], "x")
        report(f"{name}: throughput 2 workers / one process", times["single"] / times["dask2"], "x")
    shutil.rmtree(images)


def run(report=print_report, *, shape=SHAPE, double: bool = True, dask: bool = True, learned: bool = False,
        only_folder: bool = False, tmp: str | None = None, timeout: float = 3600) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-volume-", dir=tmp))
    try:
        if dask:
            _folder(report, root, timeout=timeout)
        if only_folder:
            return
        depths = [shape[0]] + ([2 * shape[0]] if double else [])
        for depth in depths:
            stack = root / f"fib{depth}.tif"
            t0 = time.perf_counter()
            truth = write_fib_stack(stack, (depth, shape[1], shape[2]))
            print(f"  generated {depth} x {shape[1]} x {shape[2]} uint8 in {time.perf_counter() - t0:.0f} s "
                  f"(true porosity {truth:.4f})", flush=True)
            voxels = depth * shape[1] * shape[2]
            out = root / f"otsu{depth}"
            _run(report, f"volume --method otsu, {depth} slices", ["volume", str(stack), "--method", "otsu",
                 "-o", str(out), "-q"], voxels, timeout=timeout)
            s = _volume_json(out, stack.stem)["stats"]["phase"]
            print(f"  phase fraction per slice (Otsu, dark = pores): {s['summary']['mean']:.4f} ± "
                  f"{s['summary']['std']:.4f} (min {s['summary']['min']:.4f}, max {s['summary']['max']:.4f}, "
                  f"{s['summary']['n_slices']} slices); true porosity {truth:.4f}; "
                  f"{s['components']['count']} pore components, percolating along "
                  f"{[a for a, v in s['percolates'].items() if v]}", flush=True)
            if dask and depth == shape[0]:
                times = {}
                for n in (1, 2):
                    d = root / f"dask{n}"
                    times[n] = _run(report, f"volume --dask --workers {n}, {depth} slices",
                                    ["volume", str(stack), "--method", "otsu", "--dask", "--workers", str(n),
                                     "-o", str(d), "-q"], voxels, timeout=timeout, target=False)
                    same = _same_masks(out / f"{stack.stem}_mask.zarr", d / f"{stack.stem}_mask.zarr")
                    print(f"  --workers {n}: masks bit-identical to the single-process run: {same}", flush=True)
                report("throughput 2 workers / 1 worker", times[1] / times[2], "x")
            if learned and depth == shape[0]:
                from bench_rss import save_tiny_model

                model = save_tiny_model(root / "tiny")
                _run(report, f"volume -m tiny-unet, {depth} slices", ["volume", str(stack), "-m", str(model),
                     "-o", str(root / "learned"), "-q"], voxels, timeout=timeout)
            shutil.rmtree(out, ignore_errors=True)
            stack.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=int, nargs=3, default=SHAPE, metavar=("Z", "Y", "X"))
    p.add_argument("--no-double", dest="double", action="store_false", help="skip the stack of twice the depth")
    p.add_argument("--no-dask", dest="dask", action="store_false")
    p.add_argument("--learned", action="store_true", help="also the learned path with a tiny U-Net")
    p.add_argument("--only-folder", action="store_true", help="only the folder of images (segment, dask)")
    p.add_argument("--tmp", default=None)
    p.add_argument("--timeout", type=float, default=3600)
    a = p.parse_args(argv)
    from run import machine

    print(f"machine: {machine()}", flush=True)
    run(shape=tuple(a.shape), double=a.double, dask=a.dask, learned=a.learned, only_folder=a.only_folder, tmp=a.tmp,
        timeout=a.timeout)


if __name__ == "__main__":
    main()
