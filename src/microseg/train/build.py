"""From a :class:`~microseg.train.config.Config` to the things the loop needs.

- :func:`load_training_samples`: training pairs from disk, or seeded synthetic SE/BSE
  micrographs with exact boundaries (``data.pairs: "synthetic:se"``; see
  :mod:`microseg.train.pretrain`);
- :func:`training_regions`: which windows train and which validate (``data.split``:
  ``columns`` — seed 000's chips minus the held-out column of ``data.fold``; ``random`` —
  seed 001's random 90/10 patch split; ``crops`` — seed 004's random crops); the slices of
  a stack are split by blocks of slices instead (:func:`microseg.data.stacks.slice_block_split`);
- :func:`check_input_channels`: ``model.in_channels`` must be the channels the data give
  (``2 k + 1`` grey slices for ``data.context: k``);
- :func:`build_training_data`, :func:`build_model`, :func:`build_loss`,
  :func:`model_metadata` (with ``input.context`` for :func:`microseg.tasks.volume`).
"""
from __future__ import annotations

import logging
from typing import Any

from microseg._util import InputError
from microseg.data.config import DataConfig
from microseg.losses.config import LossConfig

logger = logging.getLogger(__name__)


def load_training_samples(data: DataConfig, *, seed: int = 0, pairs: Any = None) -> list:
    """The :class:`~microseg.data.Sample` s named by ``data.pairs`` (or by ``pairs``)."""
    from microseg.data import load_samples

    pairs = data.pairs if pairs is None else pairs
    if isinstance(pairs, str) and pairs.startswith("synthetic:"):
        from microseg.train.pretrain import PHASE_MODES, synthetic_samples

        mode = pairs.split(":", 1)[1]
        wanted = "phase" if mode.lower() in PHASE_MODES else "boundaries"
        if data.target != wanted:
            raise InputError(f"data.pairs={pairs!r} makes {wanted} samples but data.target is "
                             f"{data.target!r}; set data.target: {wanted}")
        return synthetic_samples(mode, seed=seed, context=data.context, **data.synthetic)
    if pairs is None or pairs == "" or pairs == []:
        raise InputError("data.pairs is empty; give a training-pair folder, a list of them, "
                         "'IMAGES_DIR:MASKS_DIR', a CSV list (columns image,mask) or 'synthetic:se'")
    samples = load_samples(list(pairs) if isinstance(pairs, (list, tuple)) else pairs, positive=data.positive,
                           mask_suffix=data.mask_suffix, image_suffix=data.image_suffix,
                           mask_threshold=data.mask_threshold, allow_empty=data.allow_empty,
                           context=data.context)
    if data.pixel_size is not None:
        import dataclasses

        samples = [dataclasses.replace(s, pixel_size=float(data.pixel_size)) for s in samples]
    return samples


def test_column(data: DataConfig) -> str | None:
    """The held-out column of ``data.fold`` (1-based index into ``data.folds``), if any."""
    fold = data.fold
    if fold is None:
        return None
    if not 1 <= int(fold) <= len(data.folds):
        raise InputError(f"data.fold must be in 1..{len(data.folds)} (one per data.folds entry); got {fold}")
    return str(data.folds[int(fold) - 1]).upper()


#: Fewest training patches / chips a split may leave; fewer is refused (say how to fix it).
MIN_TRAIN_ITEMS = 2


def training_regions(samples: list, data: DataConfig, *, seed: int = 0) -> tuple[list, list]:
    """``(train_regions, val_regions)`` of :class:`~microseg.data.Region` for ``data.split``.

    Logs what the split did (training and validation patches or chips, and from how many
    images) and refuses a split that leaves fewer than :data:`MIN_TRAIN_ITEMS` to train on,
    or none to validate on while ``data.val_fraction > 0``.

    Samples that are slices of a stack (``Sample.z`` set) are split by whole slices,
    whatever ``data.split``: one contiguous block of slices per stack validates and only
    slices ``2 k + 1`` or more away from it train (``k`` = ``data.context``; see
    :func:`microseg.data.stacks.slice_block_split`), so no training input shares a slice
    with a validation input. Their patches (``random``) or chips (``columns`` less the
    held-out column, ``crops``) go with their slice; 2D samples are split as before.
    """
    from microseg.data import chip_grid, column_folds, drop_uncovered, random_patch_split, train_val_split
    from microseg.data.splits import Region

    if any(getattr(s, "z", None) is not None for s in samples):
        return _stack_regions(samples, data, seed=seed)
    if data.split == "random":
        split = random_patch_split(samples, patch=data.patch, val_fraction=data.val_fraction, seed=seed)
        train, val = (drop_uncovered(split.train, samples, min_valid=data.min_valid),
                      drop_uncovered(split.val, samples, min_valid=data.min_valid))
        _check_split(train, val, samples, data, dropped=len(split.train) + len(split.val) - len(train) - len(val))
        return train, val
    column = test_column(data) if data.split == "columns" else None
    regions = []
    for i, s in enumerate(samples):
        chips = chip_grid(s.shape, chip=data.chip)
        if not chips:
            raise InputError(f"sample {s.name!r} ({s.shape[0]} × {s.shape[1]} px) is smaller than "
                             f"data.chip = {data.chip}")
        if column is not None:
            chips = list(column_folds(chips, test_columns=(column,))[0].train_chips)
        regions += [Region(i, c.slices) for c in chips]
    kept = drop_uncovered(regions, samples, min_valid=data.min_valid)
    if len(kept) < len(regions):
        logger.info("%d of %d chips hold less than %.0f%% known label (data.min_valid) and are left out",
                    len(regions) - len(kept), len(regions), 100 * data.min_valid)
    if not kept:
        raise InputError(f"no chip has at least {data.min_valid:.0%} of its label known (valid.tif); "
                         "lower data.min_valid or data.chip")
    split = train_val_split(kept, val_fraction=data.val_fraction, seed=seed)
    _check_split(list(split.train), list(split.val), samples, data, dropped=len(regions) - len(kept))
    return list(split.train), list(split.val)


def _stack_regions(samples: list, data: DataConfig, *, seed: int = 0) -> tuple[list, list]:
    """:func:`training_regions` for samples among which are slices of stacks: slices split by blocks."""
    from microseg.data import chip_grid, column_folds, drop_uncovered, train_val_split
    from microseg.data.splits import Region
    from microseg.data.stacks import stack_slice_split

    random = data.split == "random"
    size, key = (data.patch, "data.patch") if random else (data.chip, "data.chip")
    column = test_column(data) if data.split == "columns" else None
    role = stack_slice_split(samples, val_fraction=data.val_fraction, context=data.context, seed=seed)
    train, val, flat = [], [], []
    for i, s in enumerate(samples):
        chips = chip_grid(s.shape, chip=size)
        if not chips:
            raise InputError(f"sample {s.name!r} ({s.shape[0]} × {s.shape[1]} px) is smaller than {key} = {size}")
        if column is not None:
            chips = list(column_folds(chips, test_columns=(column,))[0].train_chips)
        regions = [Region(i, c.slices) for c in chips]
        side = role.get(i)   # None: a 2D image
        if side == "train":
            train += regions
        elif side == "val":
            val += regions
        elif side is None:
            flat += regions
    if flat:   # 2D images among the stacks: their items split at random, as without stacks
        split = train_val_split(flat, val_fraction=data.val_fraction, seed=seed)
        train, val = train + list(split.train), val + list(split.val)
    kept_train = drop_uncovered(train, samples, min_valid=data.min_valid)
    kept_val = drop_uncovered(val, samples, min_valid=data.min_valid)
    gap = sum(r == "gap" for r in role.values())
    logger.info("stacks split by blocks of slices: %d slices validate, %d train, %d left out as a gap of "
                "2 × data.context = %d slices around the validation blocks", sum(r == "val" for r in role.values()),
                sum(r == "train" for r in role.values()), gap, 2 * data.context)
    _check_split(kept_train, kept_val, samples, data,
                 dropped=len(train) + len(val) - len(kept_train) - len(kept_val))
    return kept_train, kept_val


def _check_split(train: list, val: list, samples: list, data: DataConfig, *, dropped: int = 0) -> None:
    """Log the split; refuse one that trains on too little or validates on nothing."""
    from microseg.data import summarize_split

    random = data.split == "random"
    unit, key, size = ("patch", "data.patch", data.patch) if random else ("chip", "data.chip", data.chip)
    summary = summarize_split((train, val), unit=unit, images=len(samples))
    logger.info("data.split=%s: %s (%d image(s), %s %d px, data.val_fraction %g)", data.split, summary,
                len(samples), unit, size, data.val_fraction)
    short = len(train) < MIN_TRAIN_ITEMS
    blind = not val and data.val_fraction > 0
    if not (short or blind):
        return
    units = "patches" if unit == "patch" else "chips"
    shapes = sorted({f"{s.shape[0]} × {s.shape[1]}" for s in samples})
    what = f"training needs at least {MIN_TRAIN_ITEMS} {units}" if short else "none validates"
    left = f" ({dropped} left out by data.min_valid)" if dropped else ""
    fixes = ["give data.val_pairs (a separate validation set: then every image of data.pairs trains)"]
    if size // 2 >= 8:
        more = sum(len(_grid(s.shape, size // 2)) for s in samples)
        fixes.append(f"lower {key} (e.g. {size // 2} px gives {more} {units} in all)")
    if not short:
        fixes.append("raise data.val_fraction, or set it to 0 to train without validation")
    elif len(train) + len(val) >= MIN_TRAIN_ITEMS:
        fixes.append("set data.val_fraction: 0 to train on all without validation")
    raise InputError(f"data.split={data.split}: {len(samples)} image(s) of {', '.join(shapes)} px give "
                     f"{summary}{left}; {what}. Fix: {_either(fixes)}")


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else f"{'; '.join(options[:-1])}; or {options[-1]}"


def _grid(shape, size: int) -> list:
    from microseg.data import chip_grid

    return chip_grid(shape, chip=size)


def build_training_data(config: Config, *, samples: list | None = None) -> tuple[Any, Any]:
    """``(train_dataset, val_dataset)`` as :class:`~microseg.data.PatchDataset` s (val may be None).

    ``model.in_channels`` is checked against ``data.context`` first (:func:`check_input_channels`),
    before any sample is read.
    """
    from microseg.data import PatchDataset

    if config.train.init_from is None:
        check_input_channels(config)
    d, seed = config.data, config.train.seed
    samples = samples if samples is not None else load_training_samples(d, seed=seed)
    common = {"patch": d.patch, "normalize": d.normalize or "none", "median": d.median, "seed": seed}
    crops = d.crops_per_epoch if d.crops_per_epoch else None
    if d.val_pairs:
        val_samples = load_training_samples(d, seed=seed + 1, pairs=d.val_pairs)
        train = PatchDataset(samples, augment=tuple(d.augment), crops_per_epoch=crops,
                             label_width=d.label_width,
                             intensity=d.intensity, blur=d.blur, noise=d.noise, **common)
        val = PatchDataset(val_samples, augment=(), **common)
    else:
        train_regions, val_regions = training_regions(samples, d, seed=seed)
        train = PatchDataset(samples, regions=train_regions, augment=tuple(d.augment),
                             crops_per_epoch=crops, label_width=d.label_width,
                             intensity=d.intensity, blur=d.blur, noise=d.noise, **common)
        # validate on whole chips (not a random patch of each): the same pixels every epoch
        val_common = {**common, "patch": max(d.patch, d.chip) if d.split == "columns" else d.patch}
        val = PatchDataset(samples, regions=val_regions, augment=(), **val_common) if val_regions else None
    logger.info("data: %d samples, %d training items, %d validation items", len(samples), len(train),
                len(val) if val is not None else 0)
    return train, val


def _model_options(config: Config) -> dict[str, Any]:
    """``config.model.options`` plus ``model.encoder`` for an architecture that has encoders."""
    from microseg import models

    m = config.model
    options = dict(m.options)
    if m.encoder is not None and "encoder" not in options and _has_encoders(models, m.arch):
        options["encoder"] = m.encoder  # the section's default encoder goes only where it applies
    return options


def _has_encoders(models: Any, arch: str) -> bool:
    if arch not in models.MODELS:  # unknown arch: build() reports it
        return True
    return models.MODELS.capabilities(arch)["encoders"] is not None


def build_model(config: Config, *, init_from: Any = None):
    """The model of ``config.model`` (or the saved model at ``init_from``, to fine-tune)."""
    from microseg import models

    if init_from is not None:
        model, meta = models.load_model(init_from)
        _check_init_matches(config, model, init_from)
        check_input_channels(config, getattr(model, "in_channels", None), where=f"train.init_from={init_from}")
        logger.info("initialised from %s (%s)", init_from, meta.get("arch", type(model).__name__))
        return model
    m = config.model
    model = models.build(m.arch, in_channels=m.in_channels, classes=m.classes, **_model_options(config))
    if m.weights:
        _load_weights(model, m.weights)
    return model


def _check_init_matches(config: Config, model: Any, init_from: Any) -> None:
    """A ``model`` section that differs from the checkpoint's architecture is an error.

    Fine-tuning keeps the saved network; a config left at the default ``model`` section
    takes it as it is, but one that names another architecture or other options would be
    silently ignored, so it is refused.
    """
    from microseg.models.config import ModelConfig

    m = config.model
    if m == ModelConfig():
        return
    wanted = {"arch": m.arch, "in_channels": m.in_channels, "classes": m.classes, **_model_options(config)}
    have = {"arch": getattr(model, "arch", None), "in_channels": getattr(model, "in_channels", None),
            "classes": getattr(model, "classes", None), **dict(getattr(model, "config", {}) or {})}
    differ = [f"{k}: config {v!r}, checkpoint {have.get(k)!r}" for k, v in wanted.items()
              if k in have and _plain(have[k]) != _plain(v)]
    if differ:
        raise InputError(f"train.init_from={init_from}: the config's model section differs from the "
                         f"checkpoint ({'; '.join(differ)}); fine-tuning keeps the checkpoint's network, "
                         "so drop the model section or make it match")


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _load_weights(model: Any, path: str) -> None:
    """Start ``model`` from local weights, never a pickle that runs code.

    A microseg model folder (or its ``model.safetensors``) loads the whole network. For an
    architecture of ``models.available(takes_encoder_weights=True)`` (U-Net, UNet++) any
    other file is an encoder checkpoint — ImageNet or MicroNet, ``.pth`` or
    ``.safetensors``, in the layouts :func:`microseg.models.load_encoder_weights` accepts.
    """
    from pathlib import Path

    from safetensors.torch import load_file

    from microseg import models

    p = Path(path)
    if not p.exists():
        raise InputError(f"model.weights: {path}: no such file or folder")
    if p.is_dir() or p.name == "model.safetensors":
        p = p / "model.safetensors" if p.is_dir() else p
        missing, unexpected = model.load_state_dict(load_file(str(p)), strict=False)
        logger.info("loaded %s (%d missing, %d unexpected keys)", p, len(missing), len(unexpected))
        return
    if getattr(model, "arch", None) in models.available(takes_encoder_weights=True):
        report = models.load_encoder_weights(model, p)
        logger.info("encoder weights from %s: %s", p, report)
        return
    if p.suffix != ".safetensors":
        raise InputError(f"model.weights: {path}: for {getattr(model, 'arch', 'this model')} expected a "
                         ".safetensors state dict of the whole network")
    missing, unexpected = model.load_state_dict(load_file(str(p)), strict=False)
    logger.info("loaded %s (%d missing, %d unexpected keys)", p, len(missing), len(unexpected))


def build_loss(loss: LossConfig):
    """The loss of ``config.loss``; ``pos_weight``/``topo_lambda`` go only to losses taking them."""
    from microseg import losses

    options = dict(loss.options)
    params = losses.LOSSES.options(loss.name)
    for key in ("pos_weight", "topo_lambda"):
        value = getattr(loss, key)
        if value is not None and key in params and key not in options:
            options[key] = value
    return losses.build(loss.name, **options)


#: Channels of one training slice: samples are read grey (``load_samples(channels=1)``).
IMAGE_CHANNELS = 1


def check_input_channels(config: Config, in_channels: int | None = None, *, where: str = "model.in_channels") -> int:
    """The input channels the data give (``2 k + 1`` grey slices for ``data.context: k``); refuse a model that differs.

    ``in_channels``: the model's (default ``config.model.in_channels``); ``where`` names it
    in the error (a checkpoint's: ``train.init_from=...``).

    Examples
    --------
    >>> from microseg.config import load_config
    >>> check_input_channels(load_config(None, overrides=["data.context=1", "model.in_channels=3"]))
    3
    >>> check_input_channels(load_config(None, overrides=["data.context=1"]))
    Traceback (most recent call last):
    ...
    microseg._util.InputError: model.in_channels is 1 but data.context: 1 gives each sample 3 channels (slices z-1..z+1); set model.in_channels: 3 for data.context: 1
    """
    k = config.data.context
    wanted = (2 * k + 1) * IMAGE_CHANNELS
    have = config.model.in_channels if in_channels is None else in_channels
    if have is None or int(have) == wanted:
        return wanted
    what = f"{wanted} channels (slices z-{k}..z+{k})" if k else "1 channel (a grey image or slice)"
    if where == "model.in_channels":
        fix = f"set model.in_channels: {wanted} for data.context: {k}"
    else:
        fix = (f"fine-tune it with data.context: {(int(have) - 1) // 2}" if int(have) % 2
               else "train a new model") + f", or start afresh with model.in_channels: {wanted}"
    raise InputError(f"{where} is {have} but data.context: {k} gives each sample {what}; {fix}")


def model_metadata(config: Config) -> dict[str, Any]:
    """What ``model.json`` records beside the weights: pre-processing, target, input, config.

    ``input.context`` (0 for 2D) is the neighbouring slices each side the model takes as
    channels; :func:`microseg.tasks.volume` runs the model with it. The model's input
    channels are checked first (:func:`check_input_channels`), unless it comes from
    ``train.init_from`` (checked when loaded).
    """
    from microseg.data import preprocessing_spec

    d = config.data
    if config.train.init_from is None:
        check_input_channels(config)
    return {"preprocessing": preprocessing_spec(normalize=d.normalize or "none", median=d.median),
            "input": {"context": int(d.context)},
            "target": d.target, "threshold": config.train.threshold,
            "thin": bool(config.train.thin and d.target == "boundaries"),
            "training_config": config.to_dict()}
