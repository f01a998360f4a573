"""EBSD stage on a 1000 x 1000 synthetic map: neighbour misorientation, classification,
grain reconstruction and the boundary raster."""
from __future__ import annotations

import numpy as np

from _common import best_of


def synthetic_map(size: int = 1000, *, seed: int = 0):
    """A synthetic polycrystal (twins and subgrains) as an EBSD map, step 1 px, no noise."""
    from microseg.io import EBSDMap, Phase
    from microseg.synth import make_polycrystal

    poly = make_polycrystal((size, size), mean_diameter_px=40, seed=seed)
    q = poly.orientation_map() * np.array([1.0, -1.0, -1.0, -1.0])  # EBSD = conjugate synth
    m = EBSDMap(q, np.ones(poly.shape, np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    return m, poly


def run(report) -> None:
    from microseg import ebsd

    m, poly = synthetic_map()
    t, nm = best_of(lambda: ebsd.neighbour_misorientation(m), repeat=2)
    report("neighbour_misorientation 1000^2 (angle + Σ3)", t, "s", target="< 5 s")
    t, edges = best_of(lambda: ebsd.classify_boundaries(m, misorientation=nm), repeat=3)
    report("classify_boundaries (given misorientation)", t, "s")
    t, _ = best_of(lambda: ebsd.classify_boundaries(m), repeat=1)
    report("classify_boundaries from scratch", t, "s")
    t, grains = best_of(lambda: ebsd.reconstruct_grains(m, misorientation=nm), repeat=3)
    report(f"reconstruct_grains 15°, {grains.max()} grains", t, "s")
    t, r = best_of(lambda: ebsd.boundary_raster(m, misorientation=nm), repeat=3)
    report(f"boundary_raster (given misorientation), {r.cells.max()} cells", t, "s")
    t, r = best_of(lambda: ebsd.boundary_raster(m, pixel_size=0.5, misorientation=nm), repeat=2)
    report("boundary_raster at 0.5 px (2000^2 pixels)", t, "s")
    tb = poly.classes > 0
    r = ebsd.boundary_raster(m, misorientation=nm)
    report("true boundary pixels with the right class", 100 * float((r.classes[tb] == poly.classes[tb]).mean()), "%")
    t, _ = best_of(lambda: ebsd.kernel_average_misorientation(m), repeat=1)
    report("kernel_average_misorientation order 1", t, "s")
    _read_and_reconstruct(report, poly)


def _read_and_reconstruct(report, poly) -> None:
    """Read a 1000 x 1000 .ang / .ctf (with noise and non-indexed points) and reconstruct it."""
    import tempfile
    from pathlib import Path

    from microseg import ebsd
    from microseg.io import read_ebsd, write_ebsd
    from microseg.synth import make_ebsd_map

    noisy = make_ebsd_map(poly, step_px=1.0, orientation_noise_deg=0.5, nonindexed_fraction=0.02, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        for ext in (".ang", ".ctf"):
            path = Path(tmp) / f"map{ext}"
            write_ebsd(path, noisy)
            t, m = best_of(lambda: read_ebsd(path), repeat=2)
            report(f"read_ebsd 1000^2 {ext} ({path.stat().st_size / 2**20:.0f} MiB)", t, "s")

    def whole():
        c = ebsd.clean_ebsd(m, fill=True)
        return ebsd.boundary_raster(c, pixel_size=c.step)

    t, r = best_of(whole, repeat=1)
    report("clean (fill) + classify + cells + raster, read map", t, "s", target="seconds")
    tb = poly.classes > 0
    report("  true boundary pixels with the right class (0.5° noise, 2 % non-indexed)",
           100 * float((r.classes[tb] == poly.classes[tb]).mean()), "%")
