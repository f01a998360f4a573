"""Compile orix's numba kernels once, in one process, before the tests run in parallel.

orix caches its numba kernels (``cache=True``) beside its sources. In a fresh environment two
pytest-xdist workers compiling the same kernel at the same moment can leave a corrupted cache
behind, and every later import of orix then segfaults. ``make test`` runs this script first so
that the workers only ever read a complete cache. It exercises what microseg uses of orix.
"""
from __future__ import annotations

import tempfile
from pathlib import Path


def main() -> None:
    from microseg import ebsd, synth
    from microseg.io import read_ebsd, write_ebsd

    poly = synth.make_polycrystal((48, 48), mean_diameter_px=16.0, seed=0)
    m = synth.make_ebsd_map(poly, step_px=1.0, nonindexed_fraction=0.05, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        for ext in (".ang", ".ctf"):
            write_ebsd(Path(tmp) / f"m{ext}", m)
            m = read_ebsd(Path(tmp) / f"m{ext}")
    m = ebsd.clean_ebsd(m, fill=True)
    edges = ebsd.classify_boundaries(m, csl=("3", "9"))
    ebsd.boundary_summary(m, edges)
    ebsd.grain_table(m, ebsd.reconstruct_grains(m))
    ebsd.kernel_average_misorientation(m)
    ebsd.boundary_raster(m)
    ebsd.ipf_map(m)


if __name__ == "__main__":
    main()
