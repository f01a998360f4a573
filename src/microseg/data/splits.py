"""Chips, folds and random splits: where the training, validation and test pixels come from.

Seed 000 cuts a 1792 × 1280 (W × H) pair into 256 × 256 chips named by column letter and
row number (``A1`` top-left, ``G5`` bottom-right) and tests column A, D or F in turn
(:func:`chip_grid`, :func:`column_folds`). Seed 001 cuts every image into non-overlapping
patches and splits them 90/10 at random (:func:`random_patch_split`).
:func:`summarize_split` says what a split did: how many patches or chips train and
validate, from how many images. Everything here is index arithmetic on shapes: no pixels
are copied.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from microseg._util import InputError, look_up_option
from microseg._validate import check_fraction, check_int

Slices = tuple[slice, slice]


@dataclass(frozen=True)
class Chip:
    """One square chip of a grid.

    Parameters
    ----------
    name : str
        Column letter(s) + row number, ``"A1"`` at the top-left; letters count columns along
        x (A, B, ..., Z, AA, AB, ...), numbers count rows along y from 1.
    row, col : int
        0-based grid indices (``"A1"`` is row 0, col 0; ``"G5"`` is row 4, col 6).
    slices : (slice, slice)
        ``(rows, cols)`` of the chip in the image: ``image[..., rows, cols]``.
    """

    name: str
    row: int
    col: int
    slices: Slices

    @property
    def column(self) -> str:
        """The column letter(s) of the name."""
        return column_letters(self.col)


class Region(NamedTuple):
    """A rectangle of one sample: ``samples[sample].image[:, rows, cols]``."""

    sample: int
    slices: Slices


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold of chips.

    ``test_chips`` are the chips of the test column(s); ``train_chips`` all others (split
    them into train/validation with :func:`train_val_split`).
    """

    name: str
    train_chips: tuple[Chip, ...]
    test_chips: tuple[Chip, ...]
    test_columns: tuple[str, ...] = ()

    @property
    def test_region(self) -> Slices:
        """Bounding ``(rows, cols)`` of the test chips: for one column of a full grid, the
        ``chip × H`` rectangle (256 × 1280 px in seed 000) that is predicted whole."""
        return bounding_slices(self.test_chips)


class Split(NamedTuple):
    """Training and validation items of a random split."""

    train: list
    val: list


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith(("ch", "sh", "s", "x")) else f"{n} {word}s"


class SplitSummary(NamedTuple):
    """What a split did: items (patches, chips) and the images they come from, per side.

    ``str()`` is the sentence logged by training, e.g. ``7 training patches from 2 images,
    1 validation patch from 1 image``.
    """

    train_items: int
    val_items: int
    train_images: int
    val_images: int
    images: int
    unit: str = "patch"

    def __str__(self) -> str:
        return (f"{_plural(self.train_items, 'training ' + self.unit)} from {_plural(self.train_images, 'image')}, "
                f"{_plural(self.val_items, 'validation ' + self.unit)} from {_plural(self.val_images, 'image')}")


def column_letters(col: int) -> str:
    """Spreadsheet-style letters of a 0-based column index.

    Examples
    --------
    >>> [column_letters(i) for i in (0, 6, 25, 26, 27)]
    ['A', 'G', 'Z', 'AA', 'AB']
    """
    if col < 0:
        raise InputError(f"col must be >= 0; got {col}")
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def _check_shape(shape, *, name: str = "shape") -> tuple[int, int]:
    try:
        h, w = (int(n) for n in shape)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be (H, W); got {shape!r}") from None
    if h < 0 or w < 0:
        raise InputError(f"{name} must be non-negative; got {shape!r}")
    return h, w


def _check_size(size, *, name: str) -> int:
    return check_int(size, name, low=1)


def chip_grid(shape: Sequence[int], *, chip: int = 256) -> list[Chip]:
    """Cut an ``(H, W)`` image into square chips named ``A1`` (top-left) ... by column and row.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` of the image (``Sample.shape``).
    chip : int
        Edge length of a chip in px.

    Returns
    -------
    list of Chip
        Row-major order (``A1, B1, ..., A2, ...``). Chips that would cross the right or
        bottom edge are dropped, so ``W % chip`` columns and ``H % chip`` rows of pixels at
        those edges belong to no chip.

    Examples
    --------
    >>> chips = chip_grid((1280, 1792))
    >>> len(chips), chips[0].name, chips[-1].name, chips[-1].slices
    (35, 'A1', 'G5', (slice(1024, 1280, None), slice(1536, 1792, None)))
    """
    h, w = _check_shape(shape)
    chip = _check_size(chip, name="chip")
    return [Chip(f"{column_letters(c)}{r + 1}", r, c,
                 (slice(r * chip, (r + 1) * chip), slice(c * chip, (c + 1) * chip)))
            for r in range(h // chip) for c in range(w // chip)]


def bounding_slices(chips: Sequence[Chip]) -> Slices:
    """The smallest ``(rows, cols)`` rectangle holding all ``chips``."""
    if not chips:
        raise InputError("chips is empty; no bounding rectangle")
    rows = [c.slices[0] for c in chips]
    cols = [c.slices[1] for c in chips]
    return (slice(min(s.start for s in rows), max(s.stop for s in rows)),
            slice(min(s.start for s in cols), max(s.stop for s in cols)))


def column_folds(chips: Sequence[Chip], *, test_columns: Sequence[str] = ("A", "D", "F")) -> list[Fold]:
    """Seed 000's folds: fold k tests the chips of ``test_columns[k]`` and trains on all others.

    Parameters
    ----------
    chips : sequence of Chip
        From :func:`chip_grid`.
    test_columns : sequence of str
        One column letter per fold. Each test column is a rectangle ``chip`` wide and as
        high as the grid (256 × 1280 px for seed 000's pair), so no training chip shares a
        pixel with it; the columns between folds need not be adjacent.

    Returns
    -------
    list of Fold
        Named ``"fold1"``, ``"fold2"``, ... in the order of ``test_columns``.

    Raises
    ------
    InputError
        If a test column is not in the grid (the message lists the valid ones).

    Examples
    --------
    >>> folds = column_folds(chip_grid((1280, 1792)))
    >>> [(f.name, len(f.train_chips), [c.name for c in f.test_chips][:2]) for f in folds]
    [('fold1', 30, ['A1', 'A2']), ('fold2', 30, ['D1', 'D2']), ('fold3', 30, ['F1', 'F2'])]
    """
    if isinstance(test_columns, str):
        test_columns = (test_columns,)
    present = sorted({c.column for c in chips}, key=lambda s: (len(s), s))
    if not present:
        raise InputError("chips is empty; make them with chip_grid(shape, chip=...)")
    folds = []
    for k, column in enumerate(test_columns, start=1):
        column = look_up_option(str(column).upper(), present, what="test column")
        test = tuple(c for c in chips if c.column == column)
        train = tuple(c for c in chips if c.column != column)
        folds.append(Fold(f"fold{k}", train, test, (column,)))
    return folds


def chip_regions(chips: Sequence[Chip], *, sample: int = 0) -> list[Region]:
    """The chips as :class:`Region` s of sample ``sample`` (for ``PatchDataset(regions=...)``)."""
    return [Region(sample, c.slices) for c in chips]


def train_val_split(items: Sequence, *, val_fraction: float = 0.1, seed: int = 0) -> Split:
    """Split ``items`` at random into training and validation lists.

    ``floor(val_fraction * n)`` items go to validation, at least one when
    ``val_fraction > 0`` and ``n >= 2``. Both lists keep the order of ``items``; the same
    ``seed`` gives the same split.

    Examples
    --------
    >>> train_val_split(list(range(10)), seed=0).val
    [4]
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1); got {val_fraction!r}")
    items = list(items)
    n = len(items)
    n_val = math.floor(val_fraction * n + 1e-9)
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    val_idx = set(np.random.default_rng(seed).permutation(n)[:n_val].tolist())
    return Split([x for i, x in enumerate(items) if i not in val_idx],
                 [x for i, x in enumerate(items) if i in val_idx])


def _shapes(source) -> list[tuple[int, int]]:
    if hasattr(source, "mask") and hasattr(source, "image"):  # one Sample
        return [source.shape]
    if isinstance(source, (tuple, list)) and len(source) == 2 and all(
            isinstance(n, (int, np.integer)) for n in source):
        return [_check_shape(source)]
    if isinstance(source, (tuple, list)):
        return [s.shape if hasattr(s, "mask") else _check_shape(s, name="samples item") for s in source]
    raise InputError(f"samples must be a Sample, a list of them, or a shape (H, W); "
                     f"got {type(source).__name__}")


def random_patch_split(samples, *, patch: int = 128, val_fraction: float = 0.1, seed: int = 0) -> Split:
    """Seed 001's split: non-overlapping ``patch`` squares of every image, 90/10 at random.

    Parameters
    ----------
    samples : Sample, list of Sample, (H, W) or list of (H, W)
        The images to cut (a shape stands for one image).
    patch : int
        Edge of a patch in px (001 uses 128 and 512). Partial patches at the right and
        bottom edges are dropped, as in :func:`chip_grid`.
    val_fraction, seed
        As in :func:`train_val_split`, over the patches of all images pooled.

    Returns
    -------
    Split
        ``train`` and ``val`` lists of :class:`Region` ``(sample, (rows, cols))``.

    Examples
    --------
    >>> split = random_patch_split((512, 640), patch=128)
    >>> len(split.train), len(split.val)
    (18, 2)
    """
    patch = _check_size(patch, name="patch")
    regions = [Region(i, c.slices) for i, shape in enumerate(_shapes(samples))
               for c in chip_grid(shape, chip=patch)]
    if not regions:
        raise InputError(f"no image is at least {patch} × {patch} px; use a smaller patch")
    return train_val_split(regions, val_fraction=val_fraction, seed=seed)


def summarize_split(split, *, unit: str = "patch", images: int | None = None) -> SplitSummary:
    """Count the items of each side of a split and the images they come from.

    Parameters
    ----------
    split : Split or (train, val)
        Lists of :class:`Region` (items of other kinds count no image).
    unit : str
        What an item is called in the summary (``"patch"``, ``"chip"``).
    images : int, optional
        How many images were cut (default: those that gave an item).

    Examples
    --------
    >>> s = summarize_split(random_patch_split([(512, 512), (512, 512)], patch=256))
    >>> s.train_items, s.val_items, s.train_images, s.val_images
    (7, 1, 2, 1)
    >>> str(s)
    '7 training patches from 2 images, 1 validation patch from 1 image'
    """
    train, val = split

    def images_of(items) -> int:
        return len({r.sample for r in items if isinstance(r, Region)})

    seen = images_of([*train, *val])
    return SplitSummary(len(train), len(val), images_of(train), images_of(val),
                        seen if images is None else int(images), unit)


def drop_uncovered(regions: Sequence[Region], samples, *, min_valid: float = 0.5) -> list[Region]:
    """The regions in which at least ``min_valid`` of the pixels have a known label.

    A training pair from EBSD knows its label only where the EBSD map covers the image
    (``Sample.valid``); a chip that is mostly outside would teach "no boundary" on
    visible boundaries. Samples without ``valid`` keep all their regions.

    Examples
    --------
    >>> from microseg.data import Sample
    >>> valid = np.zeros((64, 64), bool); valid[:, :40] = True
    >>> s = Sample(np.zeros((1, 64, 64), np.float32), np.zeros((64, 64), np.uint8), "s", valid=valid)
    >>> regions = [Region(0, c.slices) for c in chip_grid(s.shape, chip=32)]
    >>> [r.slices[1].start for r in drop_uncovered(regions, [s], min_valid=0.5)]
    [0, 0]
    """
    check_fraction(min_valid, "min_valid")
    out = []
    for region in regions:
        valid = getattr(samples[region.sample], "valid", None)
        if valid is None or float(valid[region.slices].mean()) >= float(min_valid):
            out.append(region)
    return out
