"""Tests of classic.tune (grid search on labelled images), Otsu's offset and the
degenerate-mask hint."""
from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from microseg import classic
from microseg._util import IGNORE_LABEL, InputError
from microseg.metrics import boundary_f_score, iou_score
from microseg.synth import make_precipitates


@pytest.fixture(scope="module")
def faint():
    """Low-contrast dark precipitates (5 % of the range) on a ramped background."""
    return make_precipitates((160, 160), size_px=32, fraction=0.4, contrast=0.05, relief=0.02, texture=0.015,
                             noise=0.03, seed=3)


def test_tuned_sauvola_beats_the_default_on_low_contrast_precipitates(faint):
    default = iou_score(classic.build("sauvola").predict(faint.image.data) >= 0.5, faint.mask)
    result = classic.tune("sauvola", faint.image.data, faint.mask)
    assert default < 0.05 and result.score > default + 0.6
    grid = classic.default_grid("sauvola")
    assert set(result.params) == set(grid) and all(result.params[k] in grid[k] for k in grid)
    # the tuned segmenter reproduces the score, checked by an independent metric
    tuned = result.build().predict(faint.image.data) >= 0.5
    assert iou_score(tuned, faint.mask) == pytest.approx(result.score)
    assert result.metric == "iou" and len(result.table) == np.prod([len(v) for v in grid.values()])


def test_table_follows_the_grid_in_order_and_ties_keep_the_first(faint):
    grid = {"k": [0.3, 0.2, 0.05, 0.02], "window_size": [31, 61]}
    result = classic.tune("sauvola", faint.image.data, faint.mask, grid=grid, options={"polarity": "dark"})
    assert [(r["k"], r["window_size"]) for r in result.table] == list(itertools.product(*grid.values()))
    assert result.params["polarity"] == "dark" and result.params["k"] in grid["k"]
    for row in result.table:
        pred = classic.sauvola(faint.image.data, polarity="dark", k=row["k"], window_size=row["window_size"])
        assert row["score"] == pytest.approx(iou_score(pred >= 0.5, faint.mask))
    # k = 0.3 and 0.2 both give an empty mask: equal scores, the first is kept
    empty = classic.tune("sauvola", faint.image.data, faint.mask, grid={"k": [0.3, 0.2]})
    assert empty.score == 0.0 and empty.params == {"k": 0.3}


def test_scores_are_pooled_over_images_and_skip_unknown_pixels():
    a = np.zeros((4, 4)); a[:, :2] = 1.0  # bright left half
    b = np.zeros((4, 4)); b[:1] = 1.0
    ma = np.zeros((4, 4), np.uint8); ma[:, :2] = 1
    mb = np.zeros((4, 4), np.uint8); mb[:2] = 1  # truth has 8, the image shows 4
    result = classic.tune("otsu", [a, b], [ma, mb], grid={"polarity": ["bright"]})
    # pooled: tp = 8 + 4, fp = 0, fn = 0 + 4  -> 12 / 16 (per image: 1.0 and 0.5)
    assert result.score == pytest.approx(12 / 16) and result.table[0]["scores"] == [1.0, 0.5]
    mb[1] = IGNORE_LABEL  # the missed row is unknown now
    assert classic.tune("otsu", [a, b], [ma, mb], grid={"polarity": ["bright"]}).score == 1.0


def test_otsu_offset_shifts_the_threshold_and_is_tuned():
    rng = np.random.default_rng(0)
    image = rng.normal(0.5, 0.05, (64, 64))
    image[:, :8] -= 0.08  # a small, barely separated dark phase
    mask = np.zeros((64, 64), np.uint8); mask[:, :8] = 1
    base = classic.otsu(image) >= 0.5
    assert np.array_equal(classic.otsu(image, offset=0.0) >= 0.5, base)
    assert (classic.otsu(image, offset=-0.5) >= 0.5).sum() < base.sum() < (classic.otsu(image, offset=0.5)
                                                                            >= 0.5).sum()
    result = classic.tune("otsu", image, mask, options={"polarity": "dark", "sigma": None})
    assert result.params["offset"] != 0.0 and result.score > iou_score(base, mask) + 0.1
    with pytest.raises(InputError, match="offset"):
        classic.otsu(image, offset=float("nan"))


def test_ridge_tuning_matches_the_method_and_scores_boundaries():
    rng = np.random.default_rng(1)
    image = np.full((48, 48), 0.7) + rng.normal(0, 0.03, (48, 48))
    image[:, 23:25] -= 0.3  # a dark groove
    image[30:32, :] -= 0.15  # a fainter one
    truth = np.zeros((48, 48), np.uint8); truth[:, 24] = 1; truth[31, :] = 1
    grid = {"sigmas": [(1.0,), (2.0,)], "low": [None, 0.8, 0.95], "high": [None, 0.9]}
    result = classic.tune("ridge", image, truth, metric="bf_f1", grid=grid, options={"thin": True})
    for row in result.table:
        point = {k: row[k] for k in grid}
        if row["score"] is None:  # low 0.95 > high 0.9: refused by ridge itself
            assert "low" in row["error"]
            with pytest.raises(InputError):
                classic.ridge(image, thin=True, **point)
            continue
        pred = classic.ridge(image, thin=True, **point) >= 0.5
        assert row["score"] == pytest.approx(boundary_f_score(pred, truth, tolerance=2.0)["f1"])
    assert result.score > 0.8 and result.params["thin"] is True


def test_degenerate_mask_logs_a_hint_once(faint, caplog):
    segmenter = classic.build("sauvola")
    with caplog.at_level(logging.WARNING, logger="microseg.classic"):
        segmenter.predict(faint.image.data)
        segmenter.predict(faint.image.data)
    hints = [r.getMessage() for r in caplog.records if "degenerate" in r.getMessage()]
    assert len(hints) == 1 and "tune" in hints[0] and "smaller k" in hints[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="microseg.classic"):
        classic.build("sauvola", k=0.01, window_size=101).predict(faint.image.data)
    assert not caplog.records


@pytest.mark.parametrize("call, match", [
    (lambda im, m: classic.tune("sauvla", im, m), "unknown classical method 'sauvla'.*did you mean 'sauvola'"),
    (lambda im, m: classic.tune("sauvola", im, m[:-1]), r"masks\[0\]: shape \(15, 16\) does not match"),
    (lambda im, m: classic.tune("sauvola", [im, im], [m]), "2 images but 1 masks"),
    (lambda im, m: classic.tune("sauvola", [], []), "images: empty"),
    (lambda im, m: classic.tune("sauvola", im, m, metric="iuo"), "unknown metric 'iuo'.*did you mean 'iou'"),
    (lambda im, m: classic.tune("sauvola", im, m, grid={"kk": [0.1]}), "unknown option of sauvola 'kk'"),
    (lambda im, m: classic.tune("sauvola", im, m, grid={"k": []}), r"grid\['k'\]: expected a non-empty list"),
    (lambda im, m: classic.tune("sauvola", im, m, grid={"k": [0.1]}, options={"k": 0.2}), "both set k"),
    (lambda im, m: classic.tune("otsu", im, m * 3), r"masks\[0\]: holds \[0, 3\]"),
    (lambda im, m: classic.tune("otsu", im, m * 0), "no positive pixel"),
    (lambda im, m: classic.tune("ridge", im, m, grid={"low": [0.9], "high": [0.5]}), "refused every point"),
    (lambda im, m: classic.tune("otsu", im * np.nan, m), r"images\[0\]: contains 256 NaN"),
])
def test_bad_inputs_raise_one_line_errors(call, match):
    image = np.linspace(0, 1, 256).reshape(16, 16)
    mask = (image > 0.5).astype(np.uint8)
    with pytest.raises(InputError, match=match) as info:
        call(image, mask)
    assert "\n" not in str(info.value)
