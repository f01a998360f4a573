"""Reading and writing ``(Z, Y, X)`` stacks: multi-page TIFFs and folders of slice images."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import FileFormatError, InputError, atomic_path
from microseg._validate import check_ndim, check_pixel_size, check_positive
from microseg.io._files import (
    IMAGE_SUFFIXES, TIFF_SUFFIXES, MissingFileError, RawImage, check_input_file,
    collapse_equal_channels, natural_key, read_raw,
)
from microseg.io._image import Image
from microseg.io._metadata import find_pixel_size, unit_to_um
from microseg.io._write import write_tiff
from microseg.io.images import unknown_pixel_size_message

logger = logging.getLogger(__name__)


def slice_files(folder: Path) -> list[Path]:
    """The slice images in ``folder`` in natural order (``slice2`` before ``slice10``).

    Hidden files and files that are not images (``.txt`` sidecars, ``.json``, ...) are skipped.
    """
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def _slice_2d(raw: RawImage) -> np.ndarray:
    """A slice as ``(Y, X)``: grey as is, colour only when its channels are equal."""
    if raw.axes == "YX":
        return raw.data
    if raw.axes == "YXS":
        grey = collapse_equal_channels(raw.data)
        if grey is not None:
            return grey
        raise InputError(f"{raw.path}: is a colour image; stack slices must be grey "
                         "(convert them, e.g. with read_image(..., as_gray=True))")
    raise InputError(f"{raw.path}: holds a stack of shape {raw.data.shape}; "
                     "a folder must hold one 2D image per slice")


def _read_folder(folder: Path) -> tuple[np.ndarray, RawImage]:
    files = slice_files(folder)
    if not files:
        raise FileFormatError(f"{folder}: folder holds no slice images ({', '.join(IMAGE_SUFFIXES)})")
    first = read_raw(files[0])
    first_slice = _slice_2d(first)
    volume = np.empty((len(files),) + first_slice.shape, dtype=first_slice.dtype)
    volume[0] = first_slice
    for z, file in enumerate(files[1:], start=1):
        plane = _slice_2d(read_raw(file))
        if plane.shape != first_slice.shape or plane.dtype != first_slice.dtype:
            raise InputError(
                f"{file}: slice has shape {plane.shape} and dtype {plane.dtype}, but "
                f"{files[0].name} has shape {first_slice.shape} and dtype {first_slice.dtype}; "
                "all slices must have one shape and dtype"
            )
        volume[z] = plane
    logger.debug("read %d slices from %s", len(files), folder)
    return volume, first


def _check_spacing(value: Any) -> float | None:
    """A slice spacing: a positive finite length in µm, or None (unknown)."""
    return None if value is None else check_positive(value, "slice_spacing", unit="µm", what="length")


def _spacing_from_tiff(tiff: dict[str, Any]) -> float | None:
    imagej = tiff.get("imagej") or {}
    if imagej.get("spacing"):
        factor = unit_to_um(str(imagej.get("unit", "")))
        return None if factor is None else float(imagej["spacing"]) * factor
    shaped = tiff.get("shaped") or {}
    if shaped.get("spacing"):
        return float(shaped["spacing"]) * (unit_to_um(str(shaped.get("unit", "um"))) or 1.0)
    return None


def read_stack(path: str | os.PathLike, *, pixel_size: float | None = None,
               slice_spacing: float | None = None) -> Image:
    """Read a ``(Z, Y, X)`` stack from a multi-page TIFF or a folder of slice images.

    Parameters
    ----------
    path : str or path-like
        A multi-page TIFF (an ImageJ hyperstack or plain pages), or a folder of 2D images
        read in natural order of their names (``slice2`` before ``slice10``).
    pixel_size : float, optional
        In-plane pixel size in µm; wins over the file's metadata (that of the first slice
        for a folder, read as in :func:`microseg.io.read_image`).
    slice_spacing : float, optional
        Distance between slices in µm; wins over the ImageJ ``spacing`` of the file.

    Returns
    -------
    Image
        ``data`` of shape ``(Z, Y, X)`` and ``metadata["axes"] == "ZYX"``. A single 2D image
        gives ``Z = 1``.

    Raises
    ------
    MissingFileError
        If ``path`` does not exist.
    FileFormatError
        If a file cannot be read, or the folder holds no images.
    InputError
        If the slices of a folder differ in shape or dtype (the message names the first
        offending file), a slice is colour, or the file holds colour or 4D data.

    Warns
    -----
    UserWarning
        Once, when no pixel size is given or found.
    """
    explicit = check_pixel_size(pixel_size)
    spacing = _check_spacing(slice_spacing)
    path = Path(path)
    if path.is_dir():
        volume, first = _read_folder(path)
    elif not path.exists():
        raise MissingFileError(f"{path}: no such file or folder (stack expected)")
    else:
        path = check_input_file(path, what="stack")
        first = read_raw(path, stack_series=True)
        if first.axes.endswith("S"):
            raise InputError(f"{path}: holds colour data of shape {first.data.shape}; "
                             "stacks must be grey (Z, Y, X)")
        volume = first.data if first.axes == "ZYX" else first.data[np.newaxis]
    found, source, metadata = find_pixel_size(first)
    if explicit is not None:
        found, source = explicit, "explicit"
    elif found is None:
        warnings.warn(unknown_pixel_size_message(path), UserWarning, stacklevel=2)
    if spacing is None:
        spacing = _spacing_from_tiff(first.tiff)
        if spacing is None:
            logger.info("%s: slice spacing unknown; give slice_spacing=<µm> for 3D lengths", path)
    metadata = {**metadata, "axes": "ZYX"}
    return Image(np.ascontiguousarray(volume), pixel_size=found, source=str(path),
                 pixel_size_source=source, slice_spacing=spacing, metadata=metadata)


def write_stack(path: str | os.PathLike, volume: Image | np.ndarray, *,
                pixel_size: float | None = None, slice_spacing: float | None = None,
                force: bool = False) -> None:
    """Write a ``(Z, Y, X)`` stack as a multi-page TIFF with pixel size and slice spacing.

    Parameters
    ----------
    path : str or path-like
        Output ``.tif``/``.tiff`` file.
    volume : Image or ndarray
        ``(Z, Y, X)`` grey stack. uint8, uint16 and float32 become an ImageJ hyperstack
        (``unit=um``, ``spacing``); other dtypes a plain multi-page TIFF that
        :func:`read_stack` reads back the same.
    pixel_size, slice_spacing : float, optional
        In µm; default to those of an :class:`Image`.
    force : bool
        Overwrite an existing file.
    """
    path = Path(path)
    if isinstance(volume, Image):
        data = np.asarray(volume.data)
        pixel_size = volume.pixel_size if pixel_size is None else pixel_size
        slice_spacing = volume.slice_spacing if slice_spacing is None else slice_spacing
    else:
        data = np.asarray(volume)
    check_ndim(data, (3,), "volume")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "uif":
        raise InputError(f"volume has dtype {data.dtype}; expected integers or floats")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise InputError(f"{path}: stacks are written as multi-page TIFF; use a .tif or .tiff name")
    size = check_pixel_size(pixel_size)
    spacing = _check_spacing(slice_spacing)
    with atomic_path(path, force=force) as tmp:
        write_tiff(tmp, data, pixel_size=size, slice_spacing=spacing)
