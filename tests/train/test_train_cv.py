"""Cross-validation on a scaled-down seed-000 pair: 7 × 5 chips of 32 px, test columns A, D, F."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from microseg._util import InputError
from microseg.config import load_config
from microseg.train import cross_validate, synthetic_samples
from microseg.train.cv import plan_folds

TINY = ["data.chip=32", "data.patch=32", "data.split=columns", "model.arch=unet_plain",
        "model.options={base_channels: 4, depth: 1}", "train.epochs=1", "train.batch=8", "train.lr=1e-2",
        "loss.name=bce", "train.device=cpu", "grains.min_diameter_um=0"]


@pytest.fixture(scope="module")
def pair():
    # 1792 × 1280 scaled by 1/8: W 224, H 160 -> chips A1..G5
    return synthetic_samples("se", n_images=1, size=(160, 224), mean_diameter_px=14, seed=5)


def test_column_folds_plan(pair):
    cfg = load_config(None, overrides=TINY)
    plans = plan_folds(pair, cfg)
    assert [p.test for p in plans] == ["A", "D", "F"]
    assert all(len(p.train_regions) == 30 for p in plans)
    region = plans[1].test_regions[0]
    assert region.slices == (slice(0, 160), slice(96, 128))   # column D, full height
    rnd = plan_folds(pair, cfg.replace(data={"split": "random"}))
    tested = [(r.slices[0].start, r.slices[1].start) for p in rnd for r in p.test_regions]
    assert len(tested) == 35 and len(set(tested)) == 35          # disjoint, cover every chip


def test_cross_validate_writes_the_table(pair, tmp_path):
    cfg = load_config(None, overrides=TINY)
    result = cross_validate(cfg, out_dir=tmp_path, samples=pair)
    assert [f["name"] for f in result.folds] == ["fold1", "fold2", "fold3"]
    assert [f["test"] for f in result.folds] == ["A", "D", "F"]
    assert result.unit == "µm"
    for key in ("f1", "bf_f1", "hd95", "ari", "mae_ecd"):
        vals = np.array([f[key] for f in result.folds], float)
        if np.isfinite(vals).any():
            assert result.mean[key] == pytest.approx(np.nanmean(vals))
        else:   # no fold measured it: the mean says so (and the JSON below holds null, not NaN)
            assert np.isnan(result.mean[key])
    assert np.isfinite([f[k] for f in result.folds for k in ("f1", "bf_f1")]).all()
    assert 0.0 <= result.mean["f1"] <= 1.0 and 0.0 <= result.ensemble["bf_f1"] <= 1.0
    rows = list(csv.reader((tmp_path / "cv_results.csv").read_text().splitlines()))
    assert [r[0] for r in rows] == ["model", "fold1", "fold2", "fold3", "mean", "std", "ensemble"]
    md = (tmp_path / "cv_results.md").read_text()
    assert "mean ± std" in md and "ensemble (sum)" in md and "MAE ECD (µm)" in md and "HD95 (px)" in md
    def no_constants(name):
        raise AssertionError(f"cv_results.json holds {name}, which is not JSON")

    doc = json.loads((tmp_path / "cv_results.json").read_text(), parse_constant=no_constants)
    assert doc["ensemble_threshold_on_sum"] == 0.5 and len(doc["folds"]) == 3
    for k in (1, 2, 3):
        assert (tmp_path / f"fold{k}" / "best" / "model.safetensors").is_file()
    with pytest.raises(InputError, match="not a fold"):
        cross_validate(cfg, out_dir=tmp_path, samples=pair, folds=[4])
