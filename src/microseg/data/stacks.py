"""Stacks as training data: slices with their neighbours as channels (2.5D), and honest splits.

A ``(Z, Y, X)`` stack (a FIB-SEM series, a multi-page TIFF) gives one training sample per
slice. With ``context = k`` a slice ``z`` is seen as the ``2k + 1`` slices ``z - k .. z + k``
(:func:`neighbour_indices`: beyond the first and last slice the edge slice is repeated), which
is exactly what :mod:`microseg.infer.volume` gives a 2.5D model at inference; ``k = 0`` is
the slice alone.

Neighbouring slices are nearly the same picture, so a split that validates on slice ``z``
and trains on ``z ± 1`` measures memory, not generalisation. :func:`slice_block_split`
therefore validates on one contiguous block of slices per stack and trains only on slices
at least ``2k + 1`` away from it, so no training input shares a slice with a validation
input (the ``2k`` slices each side of the block are left out).

:func:`stack_samples` makes the :class:`~microseg.data.Sample` s of a stack in memory;
:func:`microseg.data.load_samples` reads stacks from files (:func:`open_if_stack` tells a
stack from an image by the TIFF's headers) and calls it.

Examples
--------
>>> neighbour_indices(0, 5, 1), neighbour_indices(4, 5, 1)
([0, 0, 1], [3, 4, 4])
>>> train, val = slice_block_split(10, val_fraction=0.2, context=1, seed=0)
>>> val, train            # slices 5, 6 and 9 are within 2k = 2 of the block: neither
([7, 8], [0, 1, 2, 3, 4])
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, MicrosegError
from microseg._validate import check_int
from microseg.data.masks import _binary_mask
from microseg.data._sample import PAIR_IMAGE, Sample, scaled_float32
from microseg.io import open_stack
from microseg.io._files import TIFF_SUFFIXES, check_input_file, read_raw

logger = logging.getLogger(__name__)

__all__ = ["neighbour_indices", "slice_windows", "stack_samples", "open_if_stack", "slice_block_split",
           "stack_slice_split"]


def neighbour_indices(z: int, depth: int, context: int) -> list[int]:
    """The slices a slice ``z`` of a ``depth``-slice volume sees with ``context`` neighbours each side.

    The rule shared by training (:func:`slice_windows`) and inference
    (:func:`microseg.infer.volume.predict_volume`): slices beyond the ends are the edge slice.

    >>> neighbour_indices(0, 5, 1), neighbour_indices(2, 5, 2), neighbour_indices(4, 5, 1)
    ([0, 0, 1], [0, 1, 2, 3, 4], [3, 4, 4])
    """
    return [min(max(i, 0), depth - 1) for i in range(z - context, z + context + 1)]


def slice_windows(volume: np.ndarray, context: int = 0) -> list[np.ndarray]:
    """Every slice of ``volume`` with its ``context`` neighbours each side: ``Z`` arrays ``(2k + 1, Y, X)``.

    Window ``z`` equals ``volume[neighbour_indices(z, Z, context)]``. The windows are views
    of one copy of the volume padded by ``context`` edge slices at each end, so they cost
    ``Z + 2k`` slices of memory, not ``Z (2k + 1)``; do not write into them.

    Parameters
    ----------
    volume : ndarray, (Z, Y, X)
    context : int
        Neighbouring slices each side (0: each window is the slice alone, ``(1, Y, X)``).

    Examples
    --------
    >>> vol = np.arange(3)[:, None, None] * np.ones((3, 2, 2))
    >>> [w[:, 0, 0].tolist() for w in slice_windows(vol, 1)]
    [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 2.0]]
    """
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"volume must be a non-empty (Z, Y, X) stack; got shape {volume.shape}")
    context = check_int(context, "context", low=0)
    if context:
        volume = np.concatenate([volume[:1]] * context + [volume] + [volume[-1:]] * context)
    width = 2 * context + 1
    return [volume[z:z + width] for z in range(volume.shape[0] - 2 * context)]


# ------------------------------------------------------------------------------ samples
def stack_samples(image: np.ndarray, mask: np.ndarray, *, context: int = 0, name: str = "stack",
                  pixel_size: float | None = None, source: str = "", valid: np.ndarray | None = None) -> list[Sample]:
    """One :class:`Sample` per slice of a ``(Z, Y, X)`` stack, with ``context`` neighbours each side as channels.

    Parameters
    ----------
    image : ndarray, (Z, Y, X)
        Grey stack; integers are scaled to [0, 1] by their dtype's range (as 2D images are
        and as :func:`microseg.infer.volume.as_float_slices` does at inference), floats kept.
    mask : ndarray, (Z, Y, X)
        Binary, nonzero = positive.
    context : int
        ``k``: sample ``z`` has the ``2k + 1`` channels ``z - k .. z + k``, edge slices
        repeated beyond the ends (:func:`microseg.data.stacks.neighbour_indices`).
    name : str
        Samples are named ``<name>_z000``, ``<name>_z001``, ...
    pixel_size, source
        As in :class:`Sample`; all slices share ``source`` (it names their stack).
    valid : ndarray of bool, (Z, Y, X), optional
        Where the label is known.

    Returns
    -------
    list of Sample
        In order of ``z``, with ``Sample.z`` set. The images are views of one padded copy
        of the stack (``Z + 2k`` slices in memory, not ``Z (2k + 1)``).

    Examples
    --------
    >>> stack = np.arange(3, dtype=np.uint8)[:, None, None] * np.ones((3, 4, 4), np.uint8)
    >>> samples = stack_samples(stack, stack > 0, context=1, name="fib")
    >>> [s.name for s in samples], samples[0].image.shape, (samples[0].image[:, 0, 0] * 255).tolist()
    (['fib_z000', 'fib_z001', 'fib_z002'], (3, 4, 4), [0.0, 0.0, 1.0])
    """
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim != 3 or min(image.shape) < 1:
        raise InputError(f"{name}: a stack must be a non-empty (Z, Y, X) array; got shape {image.shape}")
    for what, other in (("mask", mask), ("valid", valid)):
        if other is not None and np.shape(other) != image.shape:
            raise InputError(f"{name}: image stack {image.shape} and {what} stack {np.shape(other)} "
                             "(Z, Y, X) must have the same shape")
    windows = slice_windows(scaled_float32(image, name=name), context)
    binary = (mask != 0).astype(np.uint8)
    width = max(3, len(str(image.shape[0] - 1)))
    return [Sample(window, binary[z], f"{name}_z{z:0{width}d}", pixel_size, source,
                   None if valid is None else np.asarray(valid[z], bool), z)
            for z, window in enumerate(windows)]


def _describe(shape, axes: str = "ZYX") -> str:
    text = " × ".join(str(n) for n in shape)
    return f"a stack of {text} (Z × Y × X)" if axes == "ZYX" else f"{text} ({axes}, not a grey stack)"


def _mask_stack(path: Path, shape: tuple, image_path: Path, what: str = "mask") -> np.ndarray:
    """The raw ``(Z, Y, X)`` mask stack at ``path``; refused unless it has the image stack's ``shape``."""
    stack = open_if_stack(check_input_file(path, what=what))
    if stack is not None and tuple(stack.shape) == tuple(shape):
        return np.asarray(stack)
    found, axes = (stack.shape, "ZYX") if stack is not None else _raw_layout(path)
    raise InputError(f"image {image_path} is {_describe(shape)} but {what} {path} is {_describe(found, axes)}; "
                     f"a {what} stack must have its image stack's shape")


def _raw_layout(path: Path) -> tuple[tuple, str]:
    raw = read_raw(path, stack_series=True)
    return raw.data.shape, raw.axes


def _decode_stack(raw: np.ndarray, decode) -> np.ndarray:
    """A mask decoder for ``(H, W)`` grey masks applied to a ``(Z, Y, X)`` stack as one image."""
    z, y, x = raw.shape
    return decode(raw.reshape(z * y, x)).reshape(z, y, x)


def _load_stack_pair(image_path: Path, stack, mask_path: Path, decode, *, context: int, channels: int,
                     valid_path: Path | None = None) -> list[Sample]:
    if channels != 1:
        raise InputError(f"{image_path}: a (Z, Y, X) stack; stack slices are grey, so load it with channels=1")
    image = np.asarray(stack)
    mask = _decode_stack(_mask_stack(mask_path, image.shape, image_path), decode)
    valid = None
    if valid_path is not None:
        valid = _decode_stack(_mask_stack(valid_path, image.shape, image_path, what="valid"),
                              lambda a: _binary_mask(a, positive="nonzero", threshold=None, allow_empty=True,
                                                     path=valid_path, hints=False)).astype(bool)
        if not valid.any():
            raise InputError(f"{valid_path}: no valid pixel; the label is unknown everywhere")
    name = image_path.parent.name if image_path.name == PAIR_IMAGE else image_path.stem
    return stack_samples(image, mask, context=context, name=name, pixel_size=stack.pixel_size,
                         source=str(image_path.parent if image_path.name == PAIR_IMAGE else image_path),
                         valid=valid)


def open_if_stack(path: str | os.PathLike) -> Any | None:
    """``path`` opened as a :class:`~microseg.io.LazyStack` if it is a stack of several slices, else None.

    Only multi-page TIFFs count (from their headers; nothing but headers is read): a 2D
    image, a colour image or another format gives ``None`` and is read as an image. How
    TIFF pages become ``(Z, Y, X)`` is :func:`microseg.io.open_stack`'s rule; write stacks
    as ImageJ hyperstacks (:func:`microseg.io.write_stack`, Fiji) so that 3 or 4 plain pages
    are not mistaken for colour channels.
    """
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pixel size unknown", category=UserWarning)
            stack = open_stack(path)
    except MicrosegError:   # colour, several channels, ...: not a grey stack; the image path says more
        return None
    if stack.pixel_size is None:
        logger.info("%s: pixel size unknown", path)
    return stack if stack.shape[0] > 1 else None


def _val_count(n: int, val_fraction: float) -> int:
    n_val = math.floor(val_fraction * n + 1e-9)
    return max(n_val, 1) if val_fraction > 0 and n >= 2 else n_val


def slice_block_split(depth: int, *, val_fraction: float = 0.1, context: int = 0,
                      seed: int | Sequence[int] = 0) -> tuple[list[int], list[int]]:
    """``(train_z, val_z)`` of a ``depth``-slice stack: one contiguous validation block, a gap around it.

    ``floor(val_fraction * depth)`` slices (at least one when ``val_fraction > 0``) in one
    block at a seeded random position validate; the slices at least ``2 context + 1``
    away from every validation slice train, so no training window
    (:func:`slice_windows`) shares a slice with a validation window. The ``2 context``
    slices each side of the block do neither.

    Examples
    --------
    >>> slice_block_split(8, val_fraction=0.25, context=0, seed=1)
    ([0, 1, 2, 5, 6, 7], [3, 4])
    >>> slice_block_split(4, val_fraction=0.0)
    ([0, 1, 2, 3], [])
    """
    depth = check_int(depth, "depth", low=1)
    context = check_int(context, "context", low=0)
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1); got {val_fraction!r}")
    n_val = _val_count(depth, val_fraction)
    if n_val == 0:
        return list(range(depth)), []
    start = int(np.random.default_rng(seed).integers(depth - n_val + 1))
    stop, gap = start + n_val, 2 * context
    return ([z for z in range(depth) if z < start - gap or z >= stop + gap], list(range(start, stop)))


def stack_slice_split(samples: Sequence[Any], *, val_fraction: float = 0.1, context: int = 0,
                      seed: int = 0) -> dict[int, str]:
    """Which samples that are slices of stacks train (``"train"``), validate (``"val"``) or neither (``"gap"``).

    Samples with ``z`` set (slices, :func:`microseg.data.stack_samples`) are grouped by
    their ``source`` (one stack) and split by :func:`slice_block_split` (stack ``i`` with
    seed ``[seed, i]``); other samples (2D images) are not in the result.

    Raises
    ------
    InputError
        If a stack's validation block and its gaps leave no slice to train on.
    """
    stacks: dict[str, list[tuple[int, int]]] = {}
    for i, s in enumerate(samples):
        if getattr(s, "z", None) is not None:
            stacks.setdefault(s.source, []).append((int(s.z), i))
    out: dict[int, str] = {}
    for g, (source, slices) in enumerate(stacks.items()):
        slices.sort()
        train, val = slice_block_split(len(slices), val_fraction=val_fraction, context=context, seed=[seed, g])
        if not train:
            raise InputError(f"stack {source}: {len(slices)} slices; a validation block of {len(val)} "
                             f"slice(s) and {2 * context} slices each side of it (2 × data.context, so that "
                             "training never sees a validation slice) leave none to train on; give deeper "
                             "stacks, lower data.val_fraction, or give data.val_pairs")
        role = {**{z: "train" for z in train}, **{z: "val" for z in val}}
        for position, (_, i) in enumerate(slices):
            out[i] = role.get(position, "gap")
    return out
