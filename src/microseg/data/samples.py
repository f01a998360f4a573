"""Training samples on disk: pair folders and image/mask folders, read as float images + masks.

Two layouts are read:

* the training pair folder of DESIGN.md (``image.tif`` + ``boundaries.tif``, written by
  :func:`microseg.register.write_training_pair`), one :class:`Sample` per folder;
* an images folder beside a masks folder (``super1/train`` + ``super1/train_annot``), where
  ``<name>.tif`` has the mask ``<name>_mask.tif``, or the mask of the same name in a separate
  folder (``images/a.tif`` + ``masks/a.tif``), or names that differ by suffixes
  (``x_sem.tif`` + ``x_th.tif``: ``image_suffix="_sem"``, ``mask_suffix="_th"``);
  :func:`find_pairs` pairs them;
* a CSV list of pairs with the columns ``image,mask`` (paths relative to the CSV),
  :func:`load_pair_list`.

In each layout an image may be a ``(Z, Y, X)`` stack (a multi-page TIFF, best an ImageJ
hyperstack) whose mask is a stack of the same shape: every slice becomes one sample
(``<stem>_z012``, :func:`~microseg.data.stacks.stack_samples`), its image the slice with
``context`` neighbouring slices each side as channels (2.5D, edge slices repeated as
:func:`microseg.data.stacks.neighbour_indices` says). ``context > 0`` needs stacks.

Masks are decoded by :func:`microseg.data.masks.binary_mask`: colour masks (RGB/RGBA, any
bit depth) mark the positive class by an exact colour (pure blue secondary γ′, pure red
tertiary γ′); label masks by class values (``positive=[1, 2]``); grey masks must be binary
unless a ``mask_threshold`` is given.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from microseg._util import InputError
from microseg._validate import check_int
from microseg.data._sample import PAIR_IMAGE, PAIR_MASK, PAIR_VALID, Sample, scaled_float32, to_float_image
from microseg.data.masks import (
    MASK_COLOURS, POSITIVE_OPTIONS, _binary_mask, binary_mask, check_positive_class,
)
from microseg.data.pairs import find_pairs, read_pair_list
from microseg.io import MissingFileError, read_image
from microseg.io._files import check_input_file, natural_key, read_raw

logger = logging.getLogger(__name__)

__all__ = ["MASK_COLOURS", "POSITIVE_OPTIONS", "Sample", "binary_mask", "find_pairs", "load_image_mask_folders",
           "load_pair_folder", "load_pair_list", "load_samples", "scaled_float32", "to_float_image"]

def _read_image_quiet(path: Path, *, channels: int):
    """read_image without the 'pixel size unknown' warning (logged instead)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pixel size unknown", category=UserWarning)
        img = read_image(path, as_gray=channels == 1)
    if img.pixel_size is None:
        logger.info("%s: pixel size unknown", path)
    return img


def _check_same_shape(image: np.ndarray, mask: np.ndarray, image_path, mask_path) -> None:
    if image.shape[1:] != mask.shape:
        raise InputError(f"image {image_path} is {image.shape[1]} × {image.shape[2]} (H × W) but "
                         f"mask {mask_path} is {mask.shape[0]} × {mask.shape[1]}; they must match")


def _refuse_2d(image_path: Path, context: int) -> None:
    if context:
        raise InputError(f"{image_path}: a 2D image, but context {context} (data.context) takes slices "
                         f"z-{context}..z+{context} of a stack: 2.5D needs stacks; give (Z, Y, X) multi-page "
                         "TIFFs (ImageJ hyperstacks) with mask stacks of the same shape, or set data.context: 0")


def load_pair_folder(folder: str | os.PathLike, *, channels: int = 1) -> Sample:
    """Read a training pair folder (``image.tif`` + ``boundaries.tif``) as a :class:`Sample`.

    Parameters
    ----------
    folder : str or path-like
        A folder written by :func:`microseg.register.write_training_pair`.
    channels : {1, 3}
        Channels of ``Sample.image``.

    Returns
    -------
    Sample
        ``mask`` is the boundary map (1 = boundary); ``name`` is the folder's name;
        ``valid`` comes from ``valid.tif`` when the folder has one (``microseg labels``
        writes it: EBSD coverage less non-indexed points and fiducials).

    Raises
    ------
    MissingFileError
        If the folder, ``image.tif`` or ``boundaries.tif`` is missing.
    InputError
        If image and boundaries differ in size or the boundaries are not binary, or
        ``image.tif`` is a ``(Z, Y, X)`` stack (:func:`load_samples` reads those, one sample
        per slice).
    """
    samples = _pair_folder_samples(folder, channels=channels)
    if samples[0].z is not None:
        raise InputError(f"{Path(folder) / PAIR_IMAGE}: a (Z, Y, X) stack of {len(samples)} slices; read it "
                         "with load_samples(folder, context=k), one sample per slice")
    return samples[0]


def _pair_folder_samples(folder: str | os.PathLike, *, channels: int = 1, context: int = 0) -> list[Sample]:
    """The sample of a training pair folder, or one per slice when its ``image.tif`` is a stack."""
    from microseg.data.stacks import _load_stack_pair, open_if_stack

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such folder (training pair folder expected)")
    image_path, mask_path = folder / PAIR_IMAGE, folder / PAIR_MASK
    for path in (image_path, mask_path):
        if not path.is_file():
            raise MissingFileError(f"{path}: missing; a training pair folder holds {PAIR_IMAGE} "
                                   f"and {PAIR_MASK}")
    stack = open_if_stack(image_path)
    if stack is not None:
        return _load_stack_pair(
            image_path, stack, mask_path,
            lambda a: _binary_mask(a, positive="nonzero", threshold=None, allow_empty=True, path=mask_path,
                                   hints=False),
            context=context, channels=channels,
            valid_path=folder / PAIR_VALID if (folder / PAIR_VALID).is_file() else None)
    _refuse_2d(image_path, context)
    img = _read_image_quiet(image_path, channels=channels)
    image = to_float_image(img.data, channels=channels, name=str(image_path))
    mask = _binary_mask(read_raw(check_input_file(mask_path, what="mask")).data, positive="nonzero",
                        threshold=None, allow_empty=True, path=mask_path, hints=False)
    _check_same_shape(image, mask, image_path, mask_path)
    valid = None
    if (folder / PAIR_VALID).is_file():
        valid = _binary_mask(read_raw(folder / PAIR_VALID).data, positive="nonzero", threshold=None,
                             allow_empty=True, path=folder / PAIR_VALID, hints=False).astype(bool)
        _check_same_shape(image, valid, image_path, folder / PAIR_VALID)
        if not valid.any():
            raise InputError(f"{folder / PAIR_VALID}: no valid pixel; the label is unknown everywhere")
    return [Sample(image, mask, folder.name, img.pixel_size, str(folder), valid)]


def _load_pair(image_path: Path, mask_path: Path, *, positive, mask_threshold, allow_empty: bool,
               channels: int, context: int = 0) -> list[Sample]:
    """The sample of an image and its mask, or one per slice when the image is a stack."""
    from microseg.data.stacks import _load_stack_pair, open_if_stack

    stack = open_if_stack(image_path)
    if stack is not None:
        return _load_stack_pair(
            image_path, stack, mask_path,
            lambda a: binary_mask(a, positive=positive, threshold=mask_threshold, allow_empty=allow_empty,
                                  path=mask_path),
            context=context, channels=channels)
    _refuse_2d(image_path, context)
    img = _read_image_quiet(image_path, channels=channels)
    image = to_float_image(img.data, channels=channels, name=str(image_path))
    mask = binary_mask(read_raw(check_input_file(mask_path, what="mask")).data, positive=positive,
                       threshold=mask_threshold, allow_empty=allow_empty, path=mask_path)
    _check_same_shape(image, mask, image_path, mask_path)
    return [Sample(image, mask, image_path.stem, img.pixel_size, str(image_path))]


def load_image_mask_folders(images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *,
                            mask_suffix: str | None = None, image_suffix: str = "", positive="blue",
                            mask_threshold: float | None = None, allow_empty: bool = False,
                            channels: int = 1, context: int = 0) -> list[Sample]:
    """Read every image of ``images_dir`` with its mask in ``masks_dir`` (paired by :func:`find_pairs`).

    Parameters
    ----------
    images_dir, masks_dir : str or path-like
        Folders of images (TIFF, PNG, ...) and of their masks, e.g. ``super1/train`` and
        ``super1/train_annot``. Files are read in natural order of their names.
    mask_suffix, image_suffix : str
        How image and mask names differ (see :func:`find_pairs`); by default a mask is
        ``<stem>_mask.<ext>`` or, in its own folder, ``<stem>.<ext>``.
    positive : str, int or list of int
        Which mask pixels are positive: a colour (``"blue"``, ``"red"``, ``"blue+red"``,
        ``"#RRGGBB"``), ``"nonzero"`` or class labels (``1``, ``[1, 2]``); see
        :func:`~microseg.data.masks.binary_mask`.
    mask_threshold : float, optional
        Grey masks: ``value >= mask_threshold`` is positive (near-binary masks).
    allow_empty : bool
        Accept masks that hold labels but none that is positive (as all background).
    channels : {1, 3}
        Channels of ``Sample.image`` (RGB images of a grey micrograph are made grey).
    context : int
        An image that is a ``(Z, Y, X)`` stack (multi-page TIFF, its mask a stack of the
        same shape) gives one sample per slice with ``context`` neighbouring slices each
        side as channels (:func:`~microseg.data.stacks.stack_samples`); ``context > 0``
        refuses 2D images.

    Returns
    -------
    list of Sample

    Raises
    ------
    MissingFileError
        If a folder is missing or an image has no mask (the message names what did not pair).
    InputError
        If ``images_dir`` holds no image, sizes differ, or a mask cannot be read as asked.
    """
    positive = check_positive_class(positive)
    pairs = find_pairs(images_dir, masks_dir, mask_suffix=mask_suffix, image_suffix=image_suffix)
    samples = [s for i, m in pairs for s in _load_pair(i, m, positive=positive, mask_threshold=mask_threshold,
                                                         allow_empty=allow_empty, channels=channels,
                                                         context=context)]
    logger.debug("read %d samples from %s", len(samples), images_dir)
    return samples


def load_pair_list(path: str | os.PathLike, *, positive="blue", mask_threshold: float | None = None,
                   allow_empty: bool = False, channels: int = 1, context: int = 0) -> list[Sample]:
    """Read the image/mask pairs listed in a CSV file with the columns ``image,mask``.

    Parameters
    ----------
    path : str or path-like
        A CSV file (UTF-8, header line ``image,mask``; other columns are ignored). Relative
        paths are relative to the CSV's folder.
    positive, mask_threshold, allow_empty, channels, context
        As in :func:`load_image_mask_folders` (stacks give one sample per slice).

    Returns
    -------
    list of Sample
        In the order of the lines; ``name`` is the image's stem (``<stem>_z000``, ... for
        the slices of a stack).

    Raises
    ------
    MissingFileError
        If the CSV or any listed file is missing (the message names every line that did not
        pair, with the path looked for).
    InputError
        If the header lacks ``image`` or ``mask``, a line lacks one, or the list is empty.
    """
    positive = check_positive_class(positive)
    return [s for i, m in read_pair_list(path)
            for s in _load_pair(i, m, positive=positive, mask_threshold=mask_threshold, allow_empty=allow_empty,
                                channels=channels, context=context)]


def load_samples(source, *, channels: int = 1, mask_suffix: str | None = None, image_suffix: str = "",
                 positive="blue", mask_threshold: float | None = None, allow_empty: bool = False,
                 context: int = 0) -> list[Sample]:
    """Read samples from pair folders, image and mask folders, a CSV pair list, or a list of them.

    Parameters
    ----------
    source : str, path-like, mapping or sequence of them
        * a training pair folder (holds ``image.tif``) → one sample;
        * a folder whose sub-folders are pair folders → one sample per sub-folder (natural
          order of names);
        * ``"IMAGES_DIR:MASKS_DIR"`` or ``{"images": IMAGES_DIR, "masks": MASKS_DIR}`` →
          :func:`load_image_mask_folders`;
        * a ``.csv`` file with the columns ``image,mask`` → :func:`load_pair_list`;
        * a list or tuple of any of these → their samples, concatenated.
    channels, mask_suffix, image_suffix, positive, mask_threshold, allow_empty
        Passed on to :func:`load_pair_folder` (``channels`` only; its ``boundaries.tif`` is
        binary), :func:`load_image_mask_folders` and :func:`load_pair_list`.
    context : int
        Neighbouring slices each side as channels (2.5D): every image that is a ``(Z, Y, X)``
        stack gives one sample per slice (:func:`~microseg.data.stacks.stack_samples`);
        ``context > 0`` refuses 2D images, naming the file.

    Returns
    -------
    list of Sample

    Raises
    ------
    InputError
        If ``source`` is none of the above (the message says what was found).
    MissingFileError
        If ``source`` names nothing that exists.
    """
    context = check_int(context, "context", low=0)
    masks = {"positive": check_positive_class(positive), "mask_threshold": mask_threshold,
             "allow_empty": allow_empty, "channels": channels, "context": context}
    names = {"mask_suffix": mask_suffix, "image_suffix": image_suffix}
    if isinstance(source, (list, tuple)):
        out: list[Sample] = []
        for item in source:
            out.extend(load_samples(item, **names, **masks))
        return out
    if isinstance(source, dict):
        if set(source) != {"images", "masks"}:
            raise InputError(f"a source mapping needs exactly the keys images and masks; got {sorted(source)}")
        return load_image_mask_folders(source["images"], source["masks"], **names, **masks)
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"source must be a path, 'IMAGES_DIR:MASKS_DIR', a pair-list CSV or a list of them; "
                         f"got {type(source).__name__}")
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".csv":
        return load_pair_list(path, **masks)
    if path.is_dir():
        if (path / PAIR_IMAGE).is_file():
            return _pair_folder_samples(path, channels=channels, context=context)
        pairs = sorted((p for p in path.iterdir() if (p / PAIR_IMAGE).is_file()),
                       key=lambda p: natural_key(p.name))
        if not pairs:
            raise InputError(f"source {path}: is neither a training pair folder ({PAIR_IMAGE} + "
                             f"{PAIR_MASK}) nor a folder of them; for images with masks give "
                             "'IMAGES_DIR:MASKS_DIR' or a CSV list with the columns image,mask")
        return [s for p in pairs for s in _pair_folder_samples(p, channels=channels, context=context)]
    text = os.fspath(source)
    if not path.exists() and text.count(":") == 1:
        images_dir, masks_dir = text.split(":")
        return load_image_mask_folders(images_dir, masks_dir, **names, **masks)
    raise MissingFileError(f"{source}: no such folder (source expected: a pair folder, a folder of "
                           "pair folders, 'IMAGES_DIR:MASKS_DIR' or a pair-list CSV)")
