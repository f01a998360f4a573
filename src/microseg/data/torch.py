"""The torch side of the data stage: a patch dataset over samples and a seeded loader.

This is the only module of :mod:`microseg.data` that imports torch. All pixel work is done
by the numpy functions of :mod:`microseg.data.augment` and :mod:`microseg.data.preprocess`;
this module only chooses windows, draws seeds and converts to tensors.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from microseg._util import InputError
from microseg._validate import check_int
from microseg.data.augment import AUGMENT_OPS, augment as augment_pair, pad_to_size, random_crop_slices
from microseg.data.preprocess import median_filter, normalization_stats, normalize as normalize_image, \
    preprocessing_spec, widen_labels
from microseg.data.samples import Sample
from microseg.data.splits import Chip, Region, chip_grid

logger = logging.getLogger(__name__)


def _check_regions(regions, samples: Sequence[Sample]) -> list[Region]:
    out = []
    for k, region in enumerate(regions):
        try:
            index, (rows, cols) = region
        except (TypeError, ValueError):
            raise InputError(f"regions[{k}] must be (sample_index, (rows, cols)); got {region!r}") from None
        if not 0 <= int(index) < len(samples):
            raise InputError(f"regions[{k}] names sample {index} but there are {len(samples)} samples")
        h, w = samples[int(index)].shape
        r0, r1, _ = rows.indices(h)
        c0, c1, _ = cols.indices(w)
        if r1 <= r0 or c1 <= c0 or rows.step not in (None, 1) or cols.step not in (None, 1):
            raise InputError(f"regions[{k}] = {region!r} is empty or strided inside sample "
                             f"{index} of {h} × {w} px")
        out.append(Region(int(index), (slice(r0, r1), slice(c0, c1))))
    if not out:
        raise InputError("regions is empty")
    return out


class PatchDataset(Dataset):
    """Square patches of samples with augmentation, reproducible from ``seed`` and the epoch.

    Parameters
    ----------
    samples : sequence of Sample
        From :func:`microseg.data.load_samples`; all with the same number of channels.
    patch : int
        Edge of every item in px.
    regions : sequence of (int, (slice, slice)), optional
        Windows ``(sample_index, (rows, cols))`` to draw from, e.g.
        :func:`~microseg.data.chip_regions` of a fold's training chips or a
        :func:`~microseg.data.random_patch_split` list. A region larger than ``patch`` gives
        a random ``patch`` window of it (new each epoch); a smaller one is padded by
        reflection. Default: the non-overlapping ``patch`` grid of every sample (a sample
        smaller than ``patch`` counts whole, padded).
    augment : sequence of {"flip", "rot90"}
        Geometric augmentation (see :func:`microseg.data.augment`); ``()`` for none.
    crops_per_epoch : int, optional
        Random-crop mode (seed 004): the dataset has this many items, item i a random
        ``patch`` window of region (or whole sample, when ``regions`` is None) ``i % n``.
    normalize : {"per_image", "minmax", "none"}
        Applied with the statistics of the whole (median-filtered) sample, so a patch equals
        the same window of the normalised whole image that inference sees.
    median : int
        Median filter window (seed 001); 0 for none. Applied to whole samples once.
    label_width : int
        Widen the positive label to a band of this many px (odd; see
        :func:`microseg.data.widen_labels`); 1 keeps it. For training items only.
    intensity, blur, noise : float
        Intensity, blur and noise jitter strengths of :func:`microseg.data.augment`, applied
        to the [0, 1] patch before normalisation.
    seed : int
        With the epoch (:meth:`set_epoch`) and the item index, fixes every random choice:
        the same (seed, epoch, index) always gives the same item, in any worker.

    Notes
    -----
    Items are ``(image, mask)``: float32 tensors ``(C, patch, patch)`` and
    ``(1, patch, patch)`` (mask 0/1, and :data:`~microseg._util.IGNORE_LABEL` where the
    sample's ``valid`` says the label is unknown; the losses leave those pixels out). :attr:`preprocessing` is the record to store beside a
    trained model so inference repeats the pre-processing.

    Examples
    --------
    >>> from microseg.data import Sample
    >>> s = Sample(np.zeros((1, 64, 64), np.float32), np.zeros((64, 64), np.uint8), "s")
    >>> ds = PatchDataset([s], patch=32)
    >>> len(ds), tuple(ds[0][0].shape), tuple(ds[0][1].shape)
    (4, (1, 32, 32), (1, 32, 32))
    """

    def __init__(self, samples: Sequence[Sample], *, patch: int = 256, regions=None,
                 augment: Sequence[str] = AUGMENT_OPS, crops_per_epoch: int | None = None,
                 normalize: str = "per_image", median: int = 0, label_width: int = 1, intensity: float = 0.0,
                 blur: float = 0.0, noise: float = 0.0, seed: int = 0) -> None:
        samples = list(samples)
        if not samples:
            raise InputError("samples is empty")
        if any(not isinstance(s, Sample) for s in samples):
            raise InputError("samples must be Sample objects (see microseg.data.load_samples)")
        channels = {s.image.shape[0] for s in samples}
        if len(channels) > 1:
            raise InputError(f"samples have different channel counts {sorted(channels)}; "
                             "load them all with the same channels=")
        check_int(patch, "patch", low=1)
        if crops_per_epoch is not None and (not isinstance(crops_per_epoch, (int, np.integer))
                                            or crops_per_epoch < 1):
            raise InputError(f"crops_per_epoch must be a positive integer or None; got {crops_per_epoch!r}")
        self.patch = int(patch)
        self.preprocessing = preprocessing_spec(normalize=normalize, median=median)
        self._mode = self.preprocessing["normalize"]["mode"]
        self.augment = tuple(augment or ())
        augment_pair(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8), ops=self.augment,
                     rng=0, intensity=intensity, blur=blur, noise=noise)  # checks the options once
        self.intensity, self.blur, self.noise = float(intensity), float(blur), float(noise)
        self.crops_per_epoch = None if crops_per_epoch is None else int(crops_per_epoch)
        self.seed, self.epoch = int(seed), 0
        self.names = [s.name for s in samples]
        self.pixel_sizes = [s.pixel_size for s in samples]
        self._images = [median_filter(s.image, size=median).astype(np.float32, copy=False) for s in samples]
        self.label_width = int(label_width)
        self._masks = [_target(s, self.label_width) for s in samples]
        self._stats = [normalization_stats(im, mode=self._mode) for im in self._images]
        if regions is not None:
            self.regions = _check_regions(regions, samples)
        elif self.crops_per_epoch is not None:
            self.regions = [Region(i, (slice(0, s.shape[0]), slice(0, s.shape[1])))
                            for i, s in enumerate(samples)]
        else:
            self.regions = [Region(i, c.slices) for i, s in enumerate(samples)
                            for c in (chip_grid(s.shape, chip=self.patch)
                                      or [_whole(s)])]
        logger.debug("PatchDataset: %d samples, %d regions, %d items", len(samples),
                     len(self.regions), len(self))

    def __len__(self) -> int:
        return self.crops_per_epoch if self.crops_per_epoch is not None else len(self.regions)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random windows and augmentations :meth:`__getitem__` gives."""
        self.epoch = int(epoch)

    def item_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index`` as numpy arrays ``(C, p, p)`` float32 and ``(p, p)`` uint8."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        sample, (rows, cols) = self.regions[index % len(self.regions)]
        image = self._images[sample][:, rows, cols]
        mask = self._masks[sample][rows, cols]
        p = self.patch
        if mask.shape[0] > p or mask.shape[1] > p:
            r, c = random_crop_slices(mask.shape, p, rng)
            image, mask = image[:, r, c], mask[r, c]
        image, mask = pad_to_size(image, p), pad_to_size(mask, p)
        image, mask = augment_pair(image, mask, ops=self.augment, rng=rng,
                                   intensity=self.intensity, blur=self.blur, noise=self.noise)
        image = normalize_image(image, mode=self._mode, stats=self._stats[sample])
        return image, mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.item_arrays(index)
        return (torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(mask[None], dtype=np.float32)))


def _target(sample: Sample, width: int) -> np.ndarray:
    """The sample's target (IGNORE_LABEL where unknown) with its positive label widened."""
    if width == 1:
        return sample.target()
    import dataclasses

    return dataclasses.replace(sample, mask=widen_labels(sample.mask, width=width)).target()


def _whole(sample: Sample) -> Chip:
    h, w = sample.shape
    return Chip("A1", 0, 0, (slice(0, h), slice(0, w)))


class EpochShuffleSampler(Sampler):
    """Shuffles indices by ``(seed, dataset.epoch)``: the same epoch gives the same order."""

    def __init__(self, dataset, *, seed: int = 0) -> None:
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        epoch = int(getattr(self.dataset, "epoch", 0))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
        return iter(order.tolist())


def make_loader(dataset, *, batch: int, shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` whose order depends only on ``seed`` and the epoch.

    Parameters
    ----------
    dataset : Dataset
        Usually a :class:`PatchDataset`; call its ``set_epoch`` before each epoch.
    batch : int
        Items per batch.
    shuffle : bool
        Shuffle with :class:`EpochShuffleSampler` (order from ``seed`` and ``dataset.epoch``).
    seed : int
        Seeds the order and the loader's torch generator.
    num_workers : int
        Worker processes; 0 loads in the main process.
    drop_last : bool
        Drop a last, incomplete batch.

    Examples
    --------
    >>> from microseg.data import Sample
    >>> s = Sample(np.zeros((1, 64, 64), np.float32), np.zeros((64, 64), np.uint8), "s")
    >>> x, y = next(iter(make_loader(PatchDataset([s], patch=32), batch=4, shuffle=True)))
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 1, 32, 32), (4, 1, 32, 32))
    """
    check_int(batch, "batch", low=1)
    check_int(num_workers, "num_workers")
    generator = torch.Generator().manual_seed(int(seed))
    sampler = EpochShuffleSampler(dataset, seed=seed) if shuffle else None
    return DataLoader(dataset, batch_size=int(batch), sampler=sampler, shuffle=False,
                      num_workers=int(num_workers), drop_last=drop_last, generator=generator)
