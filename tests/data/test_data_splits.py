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
