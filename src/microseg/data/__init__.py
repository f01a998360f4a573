"""Training data: samples on disk, chips and folds, splits, pre-processing, augmentation.

The stage between training pairs and models (DESIGN.md)::

    find_pairs / read_pair_list (names) ─► binary_mask (colours, classes, thresholds)
    load_samples ─► Sample(image (C, H, W) float32 in [0, 1], mask (H, W) uint8 1 = positive)
    chip_grid / column_folds (seed 000) · random_patch_split (001) · random_crop (004)
    summarize_split ─► SplitSummary (how many patches / chips train and validate, from how many images)
    median_filter, normalize ─► augment / dihedral_copies
    PatchDataset, make_loader (torch; imported only when used)

Everything but :class:`PatchDataset` and :func:`make_loader` is pure numpy; importing
:mod:`microseg.data` does not import torch (the two names load
:mod:`microseg.data.torch` on first use).
"""
from __future__ import annotations

from microseg.data.config import DataConfig
from microseg.data.augment import (
    AUGMENT_OPS, augment, dihedral, dihedral_copies, pad_to_size, random_crop, random_crop_slices,
)
from microseg.data.preprocess import (
    NORMALIZE_MODES, apply_preprocessing, median_filter, normalization_stats, normalize,
    preprocessing_spec, thin_boundaries, widen_labels,
)
from microseg.data.masks import POSITIVE_OPTIONS, binary_mask, check_positive_class
from microseg.data.pairs import find_pairs, read_pair_list
from microseg.data.samples import (
    Sample, load_image_mask_folders, load_pair_folder, load_pair_list, load_samples, to_float_image,
)
from microseg.data.splits import (
    Chip, Fold, Region, Split, SplitSummary, bounding_slices, chip_grid, chip_regions, column_folds,
    column_letters, drop_uncovered, random_patch_split, summarize_split, train_val_split,
)

_TORCH_NAMES = ("PatchDataset", "make_loader", "EpochShuffleSampler")

__all__ = [
    "AUGMENT_OPS", "NORMALIZE_MODES", "POSITIVE_OPTIONS",
    "Chip", "DataConfig", "Fold", "Region", "Sample", "Split", "SplitSummary",
    "apply_preprocessing", "augment", "binary_mask", "bounding_slices", "check_positive_class", "chip_grid",
    "chip_regions", "column_folds", "column_letters", "dihedral", "drop_uncovered", "dihedral_copies",
    "find_pairs", "load_image_mask_folders", "load_pair_folder", "load_pair_list", "load_samples",
    "median_filter", "normalization_stats", "normalize", "pad_to_size", "preprocessing_spec", "random_crop",
    "random_crop_slices", "random_patch_split", "read_pair_list", "summarize_split", "thin_boundaries",
    "to_float_image", "train_val_split", "widen_labels",
    *_TORCH_NAMES,
]


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from microseg.data import torch as _torch_side

        return getattr(_torch_side, name)
    raise AttributeError(f"module 'microseg.data' has no attribute {name!r}")
