"""Classical baselines on the real superalloy SEM images (../shared/data/sem): IoU of the
γ′ precipitate class (darker than the matrix) on each test set for Otsu and Sauvola, the reference learned models
are compared with (DESIGN: Otsu/Sauvola reach IoU ~0.77 there)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sem"
# Sauvola's k = 0 (local mean) and a large window suit precipitates covering ~50 % of the image;
# the usual k > 0 assumes a sparse dark class (text) and scores far lower here.
SETTINGS = {"otsu": {"polarity": "dark", "sigma": 1.0},
            "sauvola": {"polarity": "dark", "window_size": 201, "k": 0.0, "sigma": 1.0}}


def run(report) -> None:
    from microseg import classic, metrics
    from microseg.data import load_image_mask_folders

    if not DATA.is_dir():
        print(f"  {DATA} is absent: skipped")
        return
    # super1 and super3 share their test images; super3 adds images of other alloys
    for dataset, folder in (("super1", "test"), ("super3", "different_test")):
        samples = load_image_mask_folders(DATA / dataset / folder, DATA / dataset / f"{folder}_annot")
        for name, options in SETTINGS.items():
            seg = classic.build(name, **options)
            ious = [metrics.iou_score(seg.predict(s.image[0]) >= 0.5, s.mask > 0) for s in samples]
            report(f"{dataset} {folder} ({len(samples)} images) {name}: mean IoU precipitates",
                   float(np.mean(ious)), "")
