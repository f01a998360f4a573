"""evaluate_boundaries / evaluate_grains: stable keys, plain types, agreement with the parts."""
from __future__ import annotations

import doctest
import importlib
import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from microseg import metrics
from microseg._util import InputError
from microseg.io import json_text


def voronoi_labels(shape, seeds):
    grid = np.indices(shape).reshape(len(shape), -1).T
    return (cKDTree(seeds).query(grid)[1].reshape(shape) + 1).astype(np.int32)


def boundaries(labels):
    b = np.zeros(labels.shape, np.uint8)
    b[..., :, :-1] |= labels[..., :, :-1] != labels[..., :, 1:]
    b[..., :-1, :] |= labels[..., :-1, :] != labels[..., 1:, :]
    return b


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    seeds = rng.uniform(0, 64, (20, 2))
    moved = (seeds + rng.normal(0, 1.5, seeds.shape))[2:]
    return voronoi_labels((64, 64), moved), voronoi_labels((64, 64), seeds)


def _plain(d):
    return all(type(v) in (float, int) for v in d.values())


def test_evaluate_boundaries_matches_parts(pair):
    lp, lt = pair
    bp, bt = boundaries(lp), boundaries(lt)
    m = metrics.evaluate_boundaries(bp, bt, pixel_size=0.5, tolerance=1.0)
    assert tuple(m) == metrics.BOUNDARY_KEYS
    assert _plain(m)
    assert type(m["betti0_error"]) is int
    assert m["precision"] == metrics.precision(bp, bt)
    assert m["recall"] == m["tpr"] == metrics.recall(bp, bt)
    assert m["tnr"] == metrics.true_negative_rate(bp, bt)
    assert m["f1"] == m["dice"] == metrics.f1_score(bp, bt)
    assert m["iou"] == metrics.iou_score(bp, bt)
    assert m["hd"] == metrics.hausdorff_distance(bp, bt, pixel_size=0.5)
    assert m["hd95"] == metrics.hausdorff_distance(bp, bt, pixel_size=0.5, percentile=95)
    bf = metrics.boundary_f_score(bp, bt, tolerance=1.0, pixel_size=0.5)
    assert (m["bf_precision"], m["bf_recall"], m["bf_f1"]) == (bf["precision"], bf["recall"], bf["f1"])
    be = metrics.betti_error(bp, bt)
    assert (m["betti0_error"], m["betti1_error"]) == (be["b0"], be["b1"])
    assert json.loads(json.dumps(m)) == m


def test_evaluate_boundaries_empty_conventions():
    z = np.zeros((8, 8), np.uint8)
    m = metrics.evaluate_boundaries(z, z)
    assert m["f1"] == m["iou"] == m["bf_f1"] == m["tnr"] == 1.0
    assert m["hd"] == m["hd95"] == 0.0
    assert m["betti0_error"] == m["betti1_error"] == 0
    o = z.copy()
    o[4, :] = 1
    m = metrics.evaluate_boundaries(z, o)
    assert m["hd"] == m["hd95"] == float("inf")
    assert m["f1"] == m["bf_f1"] == m["precision"] == 0.0
    assert m["betti0_error"] == 1
    assert json.loads(json_text(m))["hd"] is None  # microseg's JSON rule: inf -> null


def test_evaluate_boundaries_3d_and_errors(pair):
    lt = np.stack([pair[1]] * 3)
    bt = boundaries(lt)
    bp = bt.copy()
    bp[1] = 0
    m = metrics.evaluate_boundaries(bp, bt, pixel_size=(2.0, 0.5, 0.5))
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["hd"] == 2.0  # the missing slice lies one slice (2 um) from the others
    assert m["betti1_error"] == metrics.betti_numbers(bt[0])[1]
    with pytest.raises(InputError, match="2D"):
        metrics.evaluate_boundaries(np.zeros(5), np.zeros(5))
    with pytest.raises(InputError, match=r"pred \(3, 64, 64\) and truth \(64, 64\)"):
        metrics.evaluate_boundaries(bp, bt[0])


def test_evaluate_grains_matches_parts(pair):
    lp, lt = pair
    m = metrics.evaluate_grains(lp, lt, pixel_size=0.2)
    assert tuple(m) == metrics.GRAIN_KEYS
    assert _plain(m)
    assert m["ari"] == metrics.adjusted_rand_index(lp, lt)
    vi = metrics.variation_of_information(lp, lt)
    assert (m["vi"], m["vi_split"], m["vi_merge"]) == (vi["vi"], vi["split"], vi["merge"])
    assert (m["n_grains_pred"], m["n_grains_true"]) == (18, 20)
    assert m["mean_ecd_pred"] == metrics.mean_ecd(lp, pixel_size=0.2)
    assert m["mean_ecd_true"] == metrics.mean_ecd(lt, pixel_size=0.2)
    assert m["ecd_error"] == pytest.approx(metrics.ecd_error(lp, lt, pixel_size=0.2))
    assert m["vi_merge"] > m["vi_split"]  # two seeds dropped: grains merged
    mb = metrics.evaluate_grains(lp * (lp % 3 != 0), lt, ignore_background=True)
    assert mb["ari"] == metrics.adjusted_rand_index(lp * (lp % 3 != 0), lt, ignore_background=True)
    assert json.loads(json.dumps(m)) == m


def test_evaluate_grains_empty():
    z = np.zeros((6, 6), np.int32)
    m = metrics.evaluate_grains(z, z)
    assert m == {"ari": 1.0, "vi": 0.0, "vi_split": 0.0, "vi_merge": 0.0, "n_grains_pred": 0,
                 "n_grains_true": 0, "mean_ecd_pred": 0.0, "mean_ecd_true": 0.0, "ecd_error": 0.0}


@pytest.mark.parametrize("module", ["pixel", "distance", "cluster", "grain", "topology", "evaluate"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"microseg.metrics.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_public_api_is_exported():
    for name in metrics.__all__:
        assert hasattr(metrics, name), name
