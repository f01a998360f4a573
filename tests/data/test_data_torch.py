"""PatchDataset and make_loader: shapes, determinism, alignment, regions, crops."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from microseg._util import InputError  # noqa: E402
from microseg.data import (  # noqa: E402
    Sample, chip_grid, chip_regions, column_folds, median_filter, normalize, random_patch_split,
)
from microseg.data.torch import PatchDataset, make_loader  # noqa: E402


def _sample(h=96, w=128, channels=1, seed=0, name="s"):
    rng = np.random.default_rng(seed)
    image = rng.random((channels, h, w)).astype(np.float32)
    return Sample(image, (image[0] > 0.7).astype(np.uint8), name)


def _coded(h=64, w=80):
    """Image value = position index (exact in float32); mask = the low bit of the position."""
    code = np.arange(h * w, dtype=np.float32).reshape(1, h, w)
    return Sample(code, (code[0].astype(np.int64) % 2).astype(np.uint8), "coded")


def test_importing_microseg_data_does_not_import_torch():
    code = "import sys, microseg, microseg.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shapes_and_dtypes_of_items_and_batches():
    ds = PatchDataset([_sample(), _sample(channels=1, seed=1)], patch=32)
    assert len(ds) == 2 * 3 * 4
    image, mask = ds[5]
    assert image.dtype == mask.dtype == torch.float32
    assert tuple(image.shape) == (1, 32, 32) and tuple(mask.shape) == (1, 32, 32)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    x, y = next(iter(make_loader(ds, batch=8, shuffle=True, seed=0)))
    assert tuple(x.shape) == (8, 1, 32, 32) and tuple(y.shape) == (8, 1, 32, 32)
    rgb = PatchDataset([_sample(channels=3)], patch=48)
    assert tuple(rgb[0][0].shape) == (3, 48, 48)


def _batches(seed, epoch, *, loader_seed=0):
    ds = PatchDataset([_sample(), _sample(seed=1)], patch=32, crops_per_epoch=12, intensity=0.2,
                      blur=1.0, seed=seed)
    ds.set_epoch(epoch)
    return [b for b in make_loader(ds, batch=4, shuffle=True, seed=loader_seed)]


def test_same_seed_and_epoch_give_the_same_batches():
    a, b = _batches(0, 3), _batches(0, 3)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    c = _batches(0, 4)
    d = _batches(1, 3)
    assert not torch.equal(a[0][0], c[0][0]) and not torch.equal(a[0][0], d[0][0])


def test_loader_order_depends_on_epoch_only():
    ds = PatchDataset([_coded()], patch=16, augment=(), normalize="none")
    loader = make_loader(ds, batch=20, shuffle=True, seed=7)
    first = [x[:, 0, 0, 0].tolist() for x, _ in loader]
    assert [x[:, 0, 0, 0].tolist() for x, _ in loader] == first
    ds.set_epoch(1)
    assert [x[:, 0, 0, 0].tolist() for x, _ in loader] != first
    plain = make_loader(ds, batch=20, shuffle=False)
    starts = next(iter(plain))[0][:, 0, 0, 0]
    assert starts.tolist() == sorted(starts.tolist())


def test_augmented_items_keep_image_and_mask_aligned():
    ds = PatchDataset([_coded()], patch=16, crops_per_epoch=40, normalize="none", seed=3)
    for i in range(len(ds)):
        image, mask = ds.item_arrays(i)
        src = image[0].astype(np.int64)
        assert np.array_equal(mask, src % 2)
        # a dihedral transform of a contiguous window: neighbours differ by 1 or by the width
        assert set(np.abs(np.diff(src, axis=-1)).ravel().tolist()) in ({1}, {80})


def test_fold_regions_give_the_normalised_chips():
    s = _sample(h=128, w=192)
    fold = column_folds(chip_grid(s.shape, chip=64), test_columns=("B",))[0]
    ds = PatchDataset([s], patch=64, regions=chip_regions(fold.train_chips), augment=(), median=3)
    assert len(ds) == 4
    whole = normalize(median_filter(s.image, size=3))
    for i, chip in enumerate(fold.train_chips):
        image, mask = ds[i]
        np.testing.assert_allclose(image.numpy(), whole[(slice(None), *chip.slices)], rtol=1e-5, atol=1e-6)
        assert np.array_equal(mask[0].numpy(), s.mask[chip.slices])
    assert ds.preprocessing == {"normalize": {"mode": "per_image"}, "median": 3}


def test_random_patch_split_regions_and_large_regions_are_cropped():
    samples = [_sample(), _sample(seed=1)]
    split = random_patch_split(samples, patch=32, seed=0)
    ds = PatchDataset(samples, patch=32, regions=split.val, augment=())
    assert len(ds) == len(split.val) and tuple(ds[0][0].shape) == (1, 32, 32)
    big = PatchDataset([_coded()], patch=16, regions=[(0, (slice(8, 40), slice(0, 32)))],
                       augment=(), normalize="none")
    for epoch in range(5):
        big.set_epoch(epoch)
        image, _ = big.item_arrays(0)
        top, left = divmod(int(image[0, 0, 0]), 80)
        assert 8 <= top <= 24 and 0 <= left <= 16


def test_small_images_are_padded_by_reflection():
    small = _sample(h=20, w=24)
    ds = PatchDataset([small], patch=32, augment=(), normalize="none")
    assert len(ds) == 1
    image, mask = ds.item_arrays(0)
    assert image.shape == (1, 32, 32) and mask.shape == (32, 32)
    np.testing.assert_array_equal(image[0, :20, :24], small.image[0])
    np.testing.assert_array_equal(image[0, 20:32, :24], small.image[0, ::-1][:12])
    np.testing.assert_array_equal(mask[:20, 24:], small.mask[:, ::-1][:, :8])


def test_bad_input():
    s = _sample()
    with pytest.raises(InputError, match="regions\\[1\\] names sample 3 but there are 1 samples"):
        PatchDataset([s], regions=[(0, (slice(0, 8), slice(0, 8))), (3, (slice(0, 8), slice(0, 8)))])
    with pytest.raises(InputError, match="different channel counts \\[1, 3\\]"):
        PatchDataset([s, _sample(channels=3)])
    with pytest.raises(InputError, match="unknown augmentation op 'rotate'"):
        PatchDataset([s], augment=("rotate",))
    with pytest.raises(InputError, match="unknown normalize mode"):
        PatchDataset([s], normalize="zscore")
    with pytest.raises(InputError, match="batch must be a positive integer"):
        make_loader(PatchDataset([s], patch=32), batch=0)
