"""``make_training_pair`` on a realistic correlated pair: clean-up, crop and valid mask."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from microseg import synth
from microseg.register.pairs import make_training_pair


@pytest.fixture(scope="module")
def correlated():
    return synth.make_correlated_pair((448, 512), mode="se", misindexed_fraction=0.04, seed=2)


def _far_fraction(tp, pair) -> float:
    crop = tp.meta["crop"]
    truth = pair.boundaries[slice(*crop["rows"]), slice(*crop["cols"])] if crop else pair.boundaries
    d = ndimage.distance_transform_edt(truth == 0)[(tp.boundaries > 0) & tp.valid]
    return float((d > 5).mean())


def test_lab_cleanup_removes_the_false_loops_of_misindexed_points(correlated):
    cleaned = make_training_pair(correlated.ebsd, correlated.image, landmarks=correlated.landmarks)
    raw = make_training_pair(correlated.ebsd, correlated.image, landmarks=correlated.landmarks,
                             cleanup="none", min_quality=None, fill=False, crop=False)
    far_clean, far_raw = _far_fraction(cleaned, correlated), _far_fraction(raw, correlated)
    # without clean-up the loops of misindexed points also mislead the registration (measured: 60 % of
    # the label > 5 px off, against 5 % after the lab clean-up on this small 448 × 512 pair)
    assert far_clean < 0.1 and far_raw > 4 * far_clean
    steps = cleaned.meta["clean_up"]["counts"]["steps"]
    assert steps[:2] == ["quality", "spikes"] and cleaned.meta["clean_up"]["mode"] == "lab"


def test_pair_is_cropped_to_the_ebsd_field_and_knows_its_fiducials(correlated):
    tp = make_training_pair(correlated.ebsd, correlated.image, landmarks=correlated.landmarks)
    crop = tp.meta["crop"]
    rows, cols = slice(*crop["rows"]), slice(*crop["cols"])
    # the crop lies inside the EBSD field: (almost) every pixel of it is covered
    assert correlated.valid[rows, cols].mean() > 0.98
    assert tp.image.data.shape == tp.valid.shape == tp.boundaries.shape
    assert tp.image.data.shape[0] * tp.image.data.shape[1] > 0.6 * correlated.valid.sum()
    # fiducial marks inside the crop are not valid
    fid = correlated.fiducial_mask[rows, cols]
    if fid.any():
        assert tp.valid[fid].mean() < 0.5
