"""A micrograph in, measured grains out: the ridge detector, grains with gap closing, and how
close both are to the truth.

    python examples/grains_from_a_micrograph.py [OUTPUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from microseg import tasks


def main(out: Path) -> dict:
    sample = tasks.synth(size=384, mean_diameter=36, mode="se", seed=0, output=out / "sample")
    seg = tasks.segment(out / "sample" / "image.tif", method="ridge", output=out / "seg")
    grains = tasks.grains(seg.prob, pixel_size=sample.pixel_size, output=out / "grains")
    truth = tasks.grains(sample.boundaries, pixel_size=sample.pixel_size)
    score = tasks.evaluate(seg.prob, sample.boundaries, pixel_size=sample.pixel_size)
    print(grains.text)
    print(f"grains {grains.summary['n_grains']} (truth {truth.summary['n_grains']}), mean ECD "
          f"{grains.summary['mean_ecd_um']:.2f} µm (truth {truth.summary['mean_ecd_um']:.2f}), "
          f"boundary F1 at 2 px {score.summary['bf_f1']:.2f}")
    return {"grains": grains, "truth": truth, "score": score}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="microseg-")))
