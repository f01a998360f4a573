"""Validity masks in the metrics: pixels outside the mask count in neither map."""
from __future__ import annotations

import numpy as np
import pytest

from microseg import metrics
from microseg._util import InputError


def _maps():
    t = np.zeros((32, 32), bool)
    t[8, :] = True
    t[24, :] = True
    p = t.copy()
    p[24, :] = False          # the second boundary is missed ...
    p[:, 28] = True           # ... and a false one is drawn at the right edge
    mask = np.zeros((32, 32), bool)
    mask[:, :20] = True       # truth known on the left only
    mask[20:, :] = False      # and not in the lower part
    return p, t, mask


def test_masked_scores_equal_scores_of_the_cropped_maps():
    p, t, mask = _maps()
    masked = metrics.boundary_f_score(p, t, tolerance=1.0, mask=mask)
    cropped = metrics.boundary_f_score(p[:20, :20], t[:20, :20], tolerance=1.0)
    assert masked == cropped
    assert masked["f1"] == 1.0                      # what lies outside the mask is not counted
    assert metrics.boundary_f_score(p, t, tolerance=1.0)["f1"] < 0.8
    assert metrics.hausdorff_distance(p, t, mask=mask) == 0.0
    assert metrics.hausdorff_distance(p, t) > 10


def test_pooled_counts_weigh_every_pixel_equally():
    rng = np.random.default_rng(0)
    tiles = []
    for k in range(4):
        t = np.zeros((16, 16), bool)
        t[rng.integers(2, 14), :] = True
        p = np.roll(t, int(k > 1) * 3, axis=0)     # two tiles right, two 3 px off
        p[0, : 4 * k] = True
        tiles.append((p, t))
    counts = [metrics.boundary_match_counts(p, t, tolerance=1.0) for p, t in tiles]
    pooled = {k: sum(c[k] for c in counts) for k in counts[0]}
    gap = np.zeros((16, 4), bool)               # keeps every match inside its own tile
    whole_p = np.concatenate([a for p, _ in tiles for a in (p, gap)], axis=1)
    whole_t = np.concatenate([a for _, t in tiles for a in (t, gap)], axis=1)
    direct = metrics.boundary_match_counts(whole_p, whole_t, tolerance=1.0)
    # no match crosses a tile edge here, so pooling the tiles equals scoring the whole strip
    assert pooled == direct
    f1 = metrics.scores_from_match_counts(pooled)["f1"]
    mean_of_tiles = np.mean([metrics.boundary_f_score(p, t, tolerance=1.0)["f1"] for p, t in tiles])
    assert f1 == pytest.approx(metrics.boundary_f_score(whole_p, whole_t, tolerance=1.0)["f1"])
    assert abs(f1 - mean_of_tiles) > 1e-3


def test_evaluate_boundaries_with_mask_counts_only_inside():
    p, t, mask = _maps()
    m = metrics.evaluate_boundaries(p, t, tolerance=1.0, mask=mask)
    assert m["f1"] == 1.0 and m["bf_f1"] == 1.0 and m["hd95"] == 0.0
    inside = int(mask.sum())
    # true negatives are counted inside the mask only
    assert m["tnr"] == 1.0
    c = metrics.confusion_counts(p[mask], t[mask])
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == inside


def test_mask_of_wrong_shape_is_refused():
    p, t, _ = _maps()
    with pytest.raises(InputError, match="mask"):
        metrics.boundary_f_score(p, t, mask=np.ones((4, 4), bool))
