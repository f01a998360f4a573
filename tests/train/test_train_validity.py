"""Training pairs that know where they are valid: chips, items, validation, cv; last/ loadable."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from microseg._util import IGNORE_LABEL, InputError
from microseg.data import PatchDataset, Sample, load_pair_folder
from microseg.io import write_image
from microseg.config import load_config
from microseg.train import synthetic_samples, train, validate
from microseg.train.build import training_regions

TINY = ["data.chip=32", "data.patch=32", "data.split=columns", "model.arch=unet_plain",
        "model.options={base_channels: 4, depth: 1}", "train.epochs=1", "train.batch=8", "train.lr=1e-2",
        "loss.name=bce", "train.device=cpu", "grains.min_diameter_um=0"]


@pytest.fixture(scope="module")
def half_covered():
    """A 160 × 224 pair whose label is known on the right 60 % only (EBSD covers that)."""
    s = synthetic_samples("se", n_images=1, size=(160, 224), mean_diameter_px=14, seed=5)[0]
    valid = np.zeros(s.shape, bool)
    valid[:, 90:] = True
    mask = np.where(valid, s.mask, 0).astype(np.uint8)        # no label where no EBSD data
    return dataclasses.replace(s, mask=mask, valid=valid)


def test_pair_folder_reads_valid_tif(tmp_path):
    image = (np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)
    bnd = np.zeros((40, 48), np.uint8)
    bnd[20, :] = 1
    valid = np.zeros((40, 48), np.uint8)
    valid[:, 10:] = 1
    write_image(tmp_path / "image.tif", image, pixel_size=0.02)
    write_image(tmp_path / "boundaries.tif", bnd)
    write_image(tmp_path / "valid.tif", valid)
    s = load_pair_folder(tmp_path)
    assert s.valid is not None and s.valid.dtype == bool and int(s.valid.sum()) == 40 * 38
    target = s.target()
    assert set(np.unique(target).tolist()) == {0, 1, IGNORE_LABEL}
    assert (target[:, :10] == IGNORE_LABEL).all() and (target[20, 10:] == 1).all()
    write_image(tmp_path / "valid.tif", np.zeros((40, 48), np.uint8), force=True)
    with pytest.raises(InputError, match="no valid pixel"):
        load_pair_folder(tmp_path)


def test_items_carry_ignore_where_the_label_is_unknown(half_covered):
    ds = PatchDataset([half_covered], patch=32, augment=(), regions=[(0, (slice(0, 32), slice(64, 96)))])
    _, y = ds[0]
    y = y.numpy()[0]
    assert (y[:, :26] == IGNORE_LABEL).all() and (y[:, 26:] != IGNORE_LABEL).all()


def test_chips_mostly_outside_the_ebsd_field_neither_train_nor_validate(half_covered):
    cfg = load_config(None, overrides=TINY)
    train_r, val_r = training_regions([half_covered], cfg.data)
    kept = train_r + val_r
    assert len(kept) == 20                                   # 7 × 5 chips, columns A-C dropped (< 50 %)
    assert min(r.slices[1].start for r in kept) == 96
    all_r = training_regions([half_covered], cfg.replace(data={"min_valid": 0.0}).data)
    assert len(all_r[0] + all_r[1]) == 35
    with pytest.raises(InputError, match="min_valid"):
        load_config(None, overrides=TINY + ["data.min_valid=1.5"])


class _Echo(nn.Module):
    """Predicts 'boundary' wherever the input is bright."""

    def forward(self, x):
        return 40.0 * (x - 0.5)


def test_validation_ignores_unknown_pixels_and_pools_counts():
    rng = np.random.default_rng(0)
    truth = np.zeros((64, 64), np.uint8)
    truth[::16, :] = 1
    image = truth.astype(np.float32)
    image[:, :20] = (rng.random((64, 20)) > 0.7)              # spurious "boundaries" where no EBSD is
    valid = np.ones((64, 64), bool)
    valid[:, :20] = False
    s = Sample(image[None], truth, "s", valid=valid)
    ds = PatchDataset([s], patch=32, augment=(), normalize="none")
    m = validate(_Echo(), ds, None, device=torch.device("cpu"), batch=4)
    assert m["bf_f1"] == pytest.approx(1.0) and m["f1"] == pytest.approx(1.0)
    blind = PatchDataset([dataclasses.replace(s, valid=None)], patch=32, augment=(), normalize="none")
    assert validate(_Echo(), blind, None, device=torch.device("cpu"), batch=4)["bf_f1"] < 0.7


def test_cv_scores_the_held_out_column_inside_the_mask(half_covered, tmp_path):
    from microseg.train import cross_validate

    cfg = load_config(None, overrides=TINY + ["data.folds=[F]"])
    result = cross_validate(cfg, out_dir=tmp_path, samples=[half_covered])
    fold = result.folds[0]
    assert fold["test"] == "F" and np.isfinite(fold["bf_f1"])
    # column A lies wholly outside the EBSD field: it trains nothing and cannot be scored
    cfg_a = load_config(None, overrides=TINY + ["data.folds=[A]"])
    res_a = cross_validate(cfg_a, out_dir=tmp_path / "a", samples=[half_covered])
    assert np.isnan(res_a.folds[0]["bf_f1"])


def test_last_checkpoint_is_a_model_folder(tmp_path):
    from microseg.infer import load_models, predict_probs
    from microseg.models import load_model

    cfg = load_config(None, overrides=["data.synthetic={n_images: 1, size: 64, mean_diameter_px: 14}",
                                       "data.split=random", "data.patch=32", "model.arch=unet_plain",
                                       "model.options={base_channels: 4, depth: 1}", "train.epochs=2",
                                       "train.batch=2", "train.device=cpu", "loss.name=bce"])
    result = train(cfg, out_dir=tmp_path)
    model, meta = load_model(result.last_dir)
    assert meta["checkpoint"] == "last" and meta["epoch"] == 2
    assert meta["preprocessing"]["normalize"]["mode"] == "per_image"
    probs = predict_probs(load_models([result.last_dir]), np.zeros((48, 48), np.float32))
    assert probs.shape == (1, 48, 48)


def test_init_from_refuses_a_model_section_that_differs(tmp_path):
    cfg = load_config(None, overrides=["data.synthetic={n_images: 1, size: 64, mean_diameter_px: 14}",
                                       "data.split=random", "data.patch=32", "model.arch=unet_plain",
                                       "model.options={base_channels: 4, depth: 1}", "train.epochs=1",
                                       "train.batch=2", "train.device=cpu", "loss.name=bce"])
    first = train(cfg, out_dir=tmp_path / "a")
    other = cfg.replace(model={"options": {"base_channels": 8, "depth": 1}})
    with pytest.raises(InputError, match="base_channels"):
        train(other, out_dir=tmp_path / "b", init_from=first.best_dir)
    # a config that leaves the model section at its defaults takes the checkpoint's network
    plain = load_config(None, overrides=["data.synthetic={n_images: 1, size: 64, mean_diameter_px: 14}",
                                         "data.split=random", "data.patch=32", "train.epochs=1",
                                         "train.batch=2", "train.device=cpu", "loss.name=bce"])
    assert train(plain, out_dir=tmp_path / "c", init_from=first.best_dir).steps >= 1


def test_label_width_widens_training_items_only(half_covered):
    from microseg.train.build import build_training_data

    cfg = load_config(None, overrides=TINY + ["data.label_width=3", "data.fold=1"])
    train_ds, val_ds = build_training_data(cfg, samples=[half_covered])
    from microseg.data import widen_labels

    x, y = train_ds.item_arrays(0)
    region = train_ds.regions[0]
    band = widen_labels(half_covered.mask, width=3)[region.slices] & half_covered.valid[region.slices]
    # flips and rotations move pixels, never change their number; the band is ~3x the 1-px label
    assert (y == 1).sum() == band.sum() > 2.5 * (half_covered.mask[region.slices] == 1).sum()
    _, y_val = val_ds.item_arrays(0)
    r = val_ds.regions[0]
    assert np.array_equal(y_val[y_val != IGNORE_LABEL], half_covered.mask[r.slices][y_val != IGNORE_LABEL])
    with pytest.raises(InputError, match="odd"):
        load_config(None, overrides=["data.label_width=2"])


def test_cosine_schedule_anneals_over_the_run():
    from microseg.train.schedule import Schedule, lr_sequence

    s = Schedule("cosine", 1e-3, min_lr=1e-5, epochs=10)
    lrs = lr_sequence(s, [0.1] * 10)
    assert lrs[0] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-5)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[5] == pytest.approx((1e-3 + 1e-5) / 2)


def test_thin_boundaries_is_the_label_form_of_a_band():
    from microseg.data import thin_boundaries, widen_labels
    from microseg.metrics import boundary_f_score

    truth = np.zeros((64, 64), np.uint8)
    truth[20, 4:60] = 1
    truth[4:60, 40] = 1
    band = widen_labels(truth, width=5).astype(bool)
    band[50:53, 5:8] = True                                  # a speck of noise
    thin = thin_boundaries(band, min_length=10)
    assert thin.sum() < 0.3 * band.sum() and not thin[50:53, 5:8].any()
    wide = boundary_f_score(band, truth, tolerance=1.0)
    narrow = boundary_f_score(thin, truth, tolerance=1.0)
    assert narrow["precision"] > 0.95 > wide["precision"] and narrow["recall"] > 0.95
    with pytest.raises(InputError, match="min_length"):
        thin_boundaries(band, min_length=-1)


def test_photometric_jitter_reaches_training_items_only(half_covered):
    from microseg.train.build import build_training_data

    plain = load_config(None, overrides=TINY + ["data.fold=1", "data.augment=[]", "data.normalize=none"])
    noisy = plain.replace(data={"noise": 0.2, "blur": 1.0, "intensity": 0.2})
    tr0, val0 = build_training_data(plain, samples=[half_covered])
    tr1, val1 = build_training_data(noisy, samples=[half_covered])
    x0, y0 = tr0.item_arrays(0)
    x1, y1 = tr1.item_arrays(0)
    assert np.array_equal(y0, y1) and not np.allclose(x0, x1)
    assert np.array_equal(val0.item_arrays(0)[0], val1.item_arrays(0)[0])      # validation untouched
    with pytest.raises(InputError, match="noise"):
        load_config(None, overrides=["data.noise=-1"])


def test_noise_jitter_adds_noise_of_the_asked_size():
    from microseg.data import augment

    image = np.zeros((1, 200, 200), np.float32)
    image[0, :, 100:] = 1.0
    out, _ = augment(image, np.zeros((200, 200), np.uint8), ops=(), rng=3, noise=0.1)
    resid = out - image
    assert 0.0 < resid.std() <= 0.1 and abs(resid.mean()) < 0.01
    same, _ = augment(image, np.zeros((200, 200), np.uint8), ops=(), rng=3, noise=0.1)
    assert np.array_equal(out, same)
