"""An EBSD map and an SEM image of the same area in, a registered training pair out: the EBSD
boundaries (HAGB, LAGB, Σ3) warped onto the image through the clicked fiducials, with the
mask of where the EBSD map is valid, and the EBSD map's own statistics.

    python examples/ebsd_to_training_pair.py [OUTPUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from microseg import tasks


def main(out: Path) -> dict:
    tasks.synth("pair", size=384, mean_diameter=30, seed=1, output=out / "user")   # what a user brings
    ebsd = tasks.ebsd(out / "user" / "scan.ang", output=out / "ebsd")
    pair = tasks.labels(out / "user" / "scan.ang", out / "user" / "image.tif",
                        points=out / "user" / "fiducials.csv", output=out / "pair")
    print(ebsd.text)
    print(pair.text)
    return {"ebsd": ebsd, "pair": pair}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="microseg-")))
