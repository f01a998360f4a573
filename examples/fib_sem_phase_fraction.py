"""A FIB-SEM stack in, the pore phase per slice out (seed 004's Table 2): Otsu slice by slice,
the phase fraction of every slice with its mean ± std, and the IoU against the truth.

    python examples/fib_sem_phase_fraction.py [OUTPUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from microseg import tasks


def main(out: Path) -> dict:
    stack = tasks.synth("porous", size=128, slices=16, porosity=0.3, seed=0, output=out / "fib")
    seg = tasks.segment(out / "fib" / "stack.tif", method="otsu", polarity="dark", output=out / "seg")
    pores = 1 - stack.phases   # the truth marks the solid 1
    score = tasks.evaluate(seg.mask, pores, kind="phase")
    fraction = seg.images[0].phase_fraction_summary
    print(seg.text)
    print(f"pore fraction per slice {fraction['mean']:.3f} ± {fraction['std']:.3f} "
          f"(truth {pores.mean():.3f}), IoU {score.summary['iou']:.3f}")
    return {"segment": seg, "score": score, "truth_fraction": float(pores.mean())}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="microseg-")))
