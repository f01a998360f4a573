"""Peak memory (RSS) of whole commands: ``segment``, ``grains`` and ``predict`` on big 16-bit images.

For each size (default 2048², 8192², 20 000²) a 16-bit tiled TIFF that looks like a
micrograph is generated band by band (:func:`write_micrograph`: Voronoi grains of random
grey levels, dark boundaries about 3 px wide, a smooth shading and noise; the generator
holds one band, not the image), then each command runs in its own subprocess and its peak
resident memory is read from the kernel (``ru_maxrss`` of that process, :func:`measure`):

- ``microseg segment IMG --method sauvola -o OUT`` and ``--method otsu``;
- ``microseg grains OUT/IMG_prob.tif -o OUT`` on Sauvola's probability;
- ``microseg predict MODEL --image IMG -o OUT`` with a tiny U-Net saved by
  :func:`microseg.models.save_model` (2 base channels, depth 2: the point is the memory of
  the path around the network, not the network), and with ``--only predict-default`` the
  default model (:func:`save_default_model`), whose tiles' activations add to it.

Printed per command: peak RSS in MiB, bytes per pixel and wall seconds. Targets (issue 10):
predict and segment under 2048 MiB at every size, grains under 40 B/px; for grains also the
bytes per pixel above its start-up (the RSS of Python with what the command imports, about
200 MiB: at 2048² that alone is 50 B/px). A command that
fails or runs past ``--timeout`` is printed as such with its reason. Everything generated
goes to a temporary folder (``--tmp``, default the system's) and is deleted.

Usage: python benchmarks/bench_rss.py [SIZE ...] [--timeout S] [--tmp DIR] [--only segment,grains,predict,predict-default]
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402

SIZES = (2048, 8192, 20000)
COMMANDS = ("segment", "grains", "predict")
#: Also measured when named in ``--only``: the default model (minutes per 8192² image on a CPU).
OPTIONAL = ("predict-default",)
#: Grain size (lattice spacing of the Voronoi seeds) and boundary width of the test image, px.
GRAIN_PX, BOUNDARY_PX = 48, 3.0
#: Rows generated at a time (a multiple of the TIFF tile).
BAND = 256
TARGET_MIB, TARGET_BPP = 2048, 40


def write_micrograph(path: str | os.PathLike, size: int, *, grain: int = GRAIN_PX, seed: int = 0,
                     pixel_size: float = 0.01) -> Path:
    """A ``size`` x ``size`` uint16 tiled TIFF of grains with dark boundaries, written band by band.

    Seeds sit one per ``grain``-px lattice square (jittered inside it), so the nearest two
    seeds of a pixel are among the 9 squares around it; a pixel is boundary where its
    second-nearest seed is less than ``BOUNDARY_PX`` farther than its nearest. Each grain has
    its own grey level; a smooth shading across the image and Gaussian noise on top.
    """
    from microseg.io.lazy import open_image_writer

    rng = np.random.default_rng(seed)
    k = -(-size // grain)
    # seeds of a lattice padded by one square on every side (no edge cases for neighbours)
    lattice = np.stack(np.meshgrid(np.arange(-1, k + 1), np.arange(-1, k + 1), indexing="ij"), -1)
    seeds = ((lattice + rng.uniform(0.1, 0.9, lattice.shape)) * grain).astype(np.float32)
    level = rng.uniform(24000, 44000, lattice.shape[:2]).astype(np.float32)
    x = np.arange(size, dtype=np.float32)
    cx = (x // grain).astype(np.int64) + 1
    path = Path(path)
    with open_image_writer(path, (size, size), np.uint16, pixel_size=pixel_size, tile=BAND) as out:
        for r0 in range(0, size, BAND):
            y = np.arange(r0, min(r0 + BAND, size), dtype=np.float32)[:, None]
            cy = (y // grain).astype(np.int64) + 1
            d1 = np.full((y.size, size), np.inf, np.float32)
            d2 = d1.copy()
            grey = np.zeros_like(d1)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    sy, sx = seeds[cy + dy, cx[None, :] + dx, 0], seeds[cy + dy, cx[None, :] + dx, 1]
                    d = (y - sy) ** 2 + (x[None, :] - sx) ** 2
                    nearer = d < d1
                    np.minimum(d2, np.where(nearer, d1, d), out=d2)
                    d1 = np.where(nearer, d, d1)
                    grey = np.where(nearer, level[cy + dy, cx[None, :] + dx], grey)
            boundary = np.sqrt(d2) - np.sqrt(d1) < BOUNDARY_PX
            grey[boundary] = 9000
            grey += 4000 * np.sin(np.pi * y / size) * np.cos(np.pi * x / size)[None, :]
            grey += np.random.default_rng((seed, r0)).normal(0, 1800, grey.shape).astype(np.float32)
            out[r0:r0 + y.size, :] = np.clip(grey, 0, 65535).astype(np.uint16)
    return path


def save_tiny_model(folder: str | os.PathLike) -> Path:
    """A tiny untrained U-Net (``unet_plain``, 2 base channels, depth 2) saved as a model folder."""
    import torch

    from microseg import models
    from microseg.models import save_model

    torch.manual_seed(0)
    save_model(models.build("unet_plain", base_channels=2, depth=2), folder,
               metadata={"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}})
    return Path(folder)


def save_default_model(folder: str | os.PathLike) -> Path:
    """The architecture of ``configs/boundaries.yaml`` (smp U-Net, ResNet-18 encoder), fixed-seed
    random weights, saved as a model folder: what ``microseg predict`` runs for a real user."""
    import torch

    from microseg.config import load_config
    from microseg.models import save_model
    from microseg.train.build import build_model

    torch.manual_seed(0)
    net = build_model(load_config(Path(__file__).resolve().parents[1] / "configs" / "boundaries.yaml"))
    save_model(net.eval(), folder, metadata={"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}})
    return Path(folder)


#: Runs the command and prints its exit code and ``ru_maxrss`` (KiB). A small process of its
#: own: Linux counts the memory a child had before ``exec`` (its parent's, after ``fork``) in
#: the child's ``ru_maxrss``, so measuring from the benchmark's process, which has just
#: generated a large image, would report the benchmark's size for small commands.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, flush=True)
"""


#: What the grains command imports before it reads anything: its start-up memory.
_GRAINS_IMPORTS = ("import microseg.cli, microseg.commands, microseg.tasks._grains, microseg.grains, "
                   "microseg.report.grain_report, microseg.report.figures, matplotlib.figure, skimage.segmentation")


def measure(args: list[str], *, timeout: float, python: list[str] | None = None) -> tuple[float, float, str | None]:
    """``(peak RSS in MiB, wall seconds, None or why it failed)`` of ``python -m microseg ARGS``
    (or of ``python PYTHON...`` when given).

    The peak is ``ru_maxrss`` of that one process (``os.wait4`` in a small launcher process,
    :data:`_LAUNCHER`); NaN when it was stopped at ``timeout`` seconds.
    """
    cmd = [sys.executable, "-c", _LAUNCHER, sys.executable, *(python or ["-m", "microseg", *args])]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return float("nan"), time.perf_counter() - t0, f"stopped after {timeout:.0f} s (--timeout)"
        seconds = time.perf_counter() - t0
        fields = out.decode().split()
        if proc.returncode != 0 or len(fields) != 2:
            return float("nan"), seconds, f"launcher failed with exit {proc.returncode}"
        code, kib = int(fields[0]), int(fields[1])
        why = None
        if code != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
            why = f"exit {code}: {lines[-1] if lines else 'no message'}"
    return kib / 1024, seconds, why


def _line(report, name: str, size: int, peak: float, seconds: float, why: str | None, *,
          per_pixel_target: bool, start: float = 0.0) -> None:
    label = f"{name} {size}² ({seconds:.0f} s)"
    if why is not None:
        print(f"  {label:<58s} FAILED ({why})" + ("" if math.isnan(peak) else f"; peak {peak:.0f} MiB"),
              flush=True)
        return
    pixels = size * size
    if per_pixel_target:
        report(f"{label} peak", peak, "MiB")
        report(f"{label} per pixel", peak * 2**20 / pixels, "B/px", f"< {TARGET_BPP} B/px")
        if start:
            report(f"{label} per pixel above start-up ({start:.0f} MiB)", (peak - start) * 2**20 / pixels,
                   "B/px", f"< {TARGET_BPP} B/px")
    else:
        report(f"{label} peak", peak, "MiB", f"< {TARGET_MIB} MiB")
        report(f"{label} per pixel", peak * 2**20 / pixels, "B/px")


def run_size(report, size: int, *, work: Path, timeout: float, only: tuple[str, ...] = COMMANDS) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"rss{size}-", dir=work))
    try:
        t0 = time.perf_counter()
        image = write_micrograph(folder / "micrograph.tif", size)
        print(f"  (generated {image.name} {size}² uint16 in {time.perf_counter() - t0:.0f} s, "
              f"{image.stat().st_size / 2**20:.0f} MiB)", flush=True)
        seg = folder / "seg"
        if "segment" in only or "grains" in only:
            for method in ("sauvola", "otsu"):
                out = seg if method == "sauvola" else folder / f"seg_{method}"
                peak, s, why = measure(["segment", str(image), "--method", method, "-o", str(out)],
                                       timeout=timeout)
                _line(report, f"segment --method {method}", size, peak, s, why, per_pixel_target=False)
                if method == "otsu":
                    shutil.rmtree(out, ignore_errors=True)
        if "grains" in only:
            prob = seg / "micrograph_prob.tif"
            if prob.exists():
                start, _, _ = measure([], timeout=timeout, python=["-c", _GRAINS_IMPORTS])
                peak, s, why = measure(["grains", str(prob), "-o", str(folder / "grains")], timeout=timeout)
                _line(report, "grains (Sauvola's prob)", size, peak, s, why, per_pixel_target=True, start=start)
            else:
                print(f"  {'grains ' + str(size) + '²':<58s} SKIPPED (segment wrote no probability map)")
            shutil.rmtree(folder / "grains", ignore_errors=True)
        shutil.rmtree(seg, ignore_errors=True)
        if "predict" in only:
            model = save_tiny_model(folder / "model")
            peak, s, why = measure(["predict", str(model), "--image", str(image), "-o", str(folder / "pred")],
                                   timeout=timeout)
            _line(report, "predict (tiny U-Net)", size, peak, s, why, per_pixel_target=False)
            shutil.rmtree(folder / "pred", ignore_errors=True)
        if "predict-default" in only:
            model = save_default_model(folder / "default")
            peak, s, why = measure(["predict", str(model), "--image", str(image), "-o", str(folder / "pred")],
                                   timeout=timeout)
            _line(report, "predict (default U-Net ResNet-18)", size, peak, s, why, per_pixel_target=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(report, sizes: tuple[int, ...] = SIZES, *, timeout: float = 3600.0, work: str | None = None,
        only: tuple[str, ...] = COMMANDS) -> None:
    root = Path(work or tempfile.gettempdir())
    for size in sizes:
        run_size(report, size, work=root, timeout=timeout, only=only)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per command")
    parser.add_argument("--tmp", default=None, help="folder for the generated files (deleted after)")
    parser.add_argument("--only", default=",".join(COMMANDS), help="commands to run, comma-separated")
    args = parser.parse_args(argv)
    only = tuple(c.strip() for c in args.only.split(",") if c.strip())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import machine

    print(f"machine: {machine()}")
    print("[rss]")
    run(print_report, tuple(args.sizes), timeout=args.timeout, work=args.tmp, only=only)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
