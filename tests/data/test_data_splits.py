"""Chips, column folds and random splits (seeds 000 and 001)."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.data import (
    Region, chip_grid, chip_regions, column_folds, column_letters, random_patch_split, train_val_split,
)

H, W = 1280, 1792


def test_chip_names_and_positions_of_the_seed_000_pair():
    chips = chip_grid((H, W), chip=256)
    names = [c.name for c in chips]
    assert len(chips) == 35
    assert sorted(names) == sorted(f"{col}{row}" for col in "ABCDEFG" for row in range(1, 6))
    by_name = {c.name: c for c in chips}
    assert by_name["A1"].slices == (slice(0, 256), slice(0, 256))
    assert by_name["G5"].slices == (slice(1024, 1280), slice(1536, 1792))
    # columns run along x: B1 is right of A1, A2 below it
    assert by_name["B1"].slices == (slice(0, 256), slice(256, 512))
    assert by_name["A2"].slices == (slice(256, 512), slice(0, 256))
    assert (by_name["D3"].row, by_name["D3"].col, by_name["D3"].column) == (2, 3, "D")
    # the chips tile the image exactly once
    cover = np.zeros((H, W), int)
    for c in chips:
        cover[c.slices] += 1
    assert np.all(cover == 1)


def test_partial_chips_at_the_edges_are_dropped():
    chips = chip_grid((300, 530), chip=256)
    assert [c.name for c in chips] == ["A1", "B1"]
    assert chip_grid((100, 100), chip=256) == []


def test_column_letters_go_past_z():
    assert [column_letters(i) for i in (0, 25, 26, 51, 52)] == ["A", "Z", "AA", "AZ", "BA"]


def test_column_folds_a_d_f():
    chips = chip_grid((H, W))
    folds = column_folds(chips, test_columns=("A", "D", "F"))
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    for fold, column in zip(folds, "ADF"):
        assert [c.name for c in fold.test_chips] == [f"{column}{r}" for r in range(1, 6)]
        assert len(fold.train_chips) == 30
        assert {c.column for c in fold.train_chips} == set("ABCDEFG") - {column}
        train = np.zeros((H, W), bool)
        test = np.zeros((H, W), bool)
        for c in fold.train_chips:
            train[c.slices] = True
        for c in fold.test_chips:
            test[c.slices] = True
        assert not np.any(train & test)
        assert np.all(train | test)
        rows, cols = fold.test_region
        assert (rows.stop - rows.start, cols.stop - cols.start) == (1280, 256)
        assert test[fold.test_region].all() and test.sum() == 256 * 1280


def test_column_folds_unknown_column_names_the_valid_ones():
    with pytest.raises(InputError, match="unknown test column 'H'.*A, B, C, D, E, F, G"):
        column_folds(chip_grid((H, W)), test_columns=("A", "H"))


def test_chip_regions_point_at_the_chips():
    chips = chip_grid((512, 512))
    assert chip_regions(chips, sample=2)[3] == Region(2, chips[3].slices)


def test_random_patch_split_is_reproducible_non_overlapping_and_90_10():
    shapes = [(1536, 2048), (1408, 2048)]
    split = random_patch_split(shapes, patch=128, seed=3)
    again = random_patch_split(shapes, patch=128, seed=3)
    other = random_patch_split(shapes, patch=128, seed=4)
    assert split == again
    assert split.val != other.val
    n = 12 * 16 + 11 * 16
    assert len(split.train) + len(split.val) == n
    assert abs(len(split.val) - 0.1 * n) <= 1
    cover = [np.zeros(s, int) for s in shapes]
    for region in split.train + split.val:
        cover[region.sample][region.slices] += 1
    assert all(c.max() == 1 for c in cover)
    key = lambda r: (r.sample, r.slices[0].start, r.slices[1].start)  # noqa: E731
    assert not {key(r) for r in split.train} & {key(r) for r in split.val}
    assert all(r.slices[0].stop - r.slices[0].start == 128 for r in split.val)


def test_random_patch_split_of_samples_and_too_small_images(tmp_path):
    from microseg.data import Sample

    s = Sample(np.zeros((1, 512, 512), np.float32), np.zeros((512, 512), np.uint8), "s")
    split = random_patch_split([s, s], patch=512, val_fraction=0.5)
    assert len(split.train) == len(split.val) == 1
    with pytest.raises(InputError, match="no image is at least 1024"):
        random_patch_split((512, 512), patch=1024)


@pytest.mark.parametrize("n, expected", [(10, 1), (116, 11), (1, 0), (2, 1), (35, 3)])
def test_train_val_split_sizes(n, expected):
    train, val = train_val_split(range(n), val_fraction=0.1, seed=1)
    assert len(val) == expected and len(train) == n - expected
    assert sorted(train + val) == list(range(n))
    assert train == sorted(train)


def test_train_val_split_bad_fraction():
    with pytest.raises(InputError, match="val_fraction must be in"):
        train_val_split([1, 2], val_fraction=1.0)


def test_summarize_split_counts_items_and_images():
    from microseg.data import summarize_split

    split = random_patch_split([(512, 512), (256, 512)], patch=256, val_fraction=0.5, seed=0)
    s = summarize_split(split, images=3)
    assert (s.train_items, s.val_items, s.images) == (3, 3, 3)
    assert s.train_images == len({r.sample for r in split.train}) and s.val_images == len({r.sample for r in split.val})
    one = summarize_split(([Region(0, (slice(0, 8), slice(0, 8)))], []), unit="chip")
    assert str(one) == "1 training chip from 1 image, 0 validation chips from 0 images"


def _samples(*shapes):
    from microseg.data import Sample

    return [Sample(np.zeros((1, *s), np.float32), np.zeros(s, np.uint8), f"s{i}") for i, s in enumerate(shapes)]


def test_a_split_that_leaves_one_patch_to_train_is_refused(caplog):
    """Two 512-px images at patch 512: one patch trains, one validates. Refused, with the fixes."""
    from microseg.train.build import training_regions
    from microseg.data.config import DataConfig

    samples = _samples((512, 512), (512, 512))
    with pytest.raises(InputError, match=r"data.split=random: 2 image\(s\) of 512 × 512 px give 1 training patch "
                                         r"from 1 image, 1 validation patch from 1 image; training needs at least "
                                         r"2 patches. Fix: give data.val_pairs .*; lower data.patch \(e.g. 256 px "
                                         r"gives 8 patches in all\); or set data.val_fraction: 0"):
        training_regions(samples, DataConfig(split="random", patch=512))
    with pytest.raises(InputError, match=r"data.split=crops: 1 image\(s\) of 256 × 256 px give 1 training chip "
                                         r"from 1 image, 0 validation chips from 0 images; training needs at least 2 "
                                         r"chips. Fix: give data.val_pairs .*; or lower data.chip \(e.g. 128 px gives "
                                         r"4 chips in all\)$"):
        training_regions(_samples((256, 256)), DataConfig(split="crops", chip=256))
    # enough patches: the split says what it did
    with caplog.at_level("INFO", logger="microseg.train.build"):
        train, val = training_regions(samples, DataConfig(split="random", patch=256))
    assert (len(train), len(val)) == (7, 1)
    assert "data.split=random: 7 training patches from 2 images, 1 validation patch from 1 image" in caplog.text
    # no validation asked for: allowed, and said
    train, val = training_regions(samples, DataConfig(split="random", patch=512, val_fraction=0.0))
    assert (len(train), len(val)) == (2, 0)


def test_a_split_whose_validation_is_all_unknown_label_is_refused():
    import dataclasses

    from microseg.train.build import training_regions
    from microseg.data.config import DataConfig

    samples = _samples((64, 128))
    valid = np.ones((64, 128), bool)
    split = random_patch_split(samples, patch=32, val_fraction=0.1, seed=0)
    for r in split.val:                                       # the validation patch lies outside the EBSD field
        valid[r.slices] = False
    samples = [dataclasses.replace(samples[0], valid=valid)]
    with pytest.raises(InputError, match=r"7 training patches .* 0 validation patches from 0 images \(1 left out "
                                         r"by data.min_valid\); none validates.*raise data.val_fraction"):
        training_regions(samples, DataConfig(split="random", patch=32))
