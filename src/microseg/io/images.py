"""Reading and writing single micrographs (TIFF, PNG, BMP) with their pixel size."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, atomic_path
from microseg._validate import check_pixel_size
from microseg.io._files import TIFF_SUFFIXES, check_input_file, read_raw
from microseg.io._image import Image
from microseg.io._metadata import find_pixel_size
from microseg.io._write import write_tiff

logger = logging.getLogger(__name__)

#: Weights of R, G, B in the grey value (ITU-R BT.709 luma, as in scikit-image ``rgb2gray``).
GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)

_WRITE_SUFFIXES = TIFF_SUFFIXES + (".png", ".bmp")


def unknown_pixel_size_message(path: Path | str) -> str:
    """The text of the warning given when no pixel size is found for ``path``."""
    return (
        f"{path}: pixel size unknown (no FEI/Thermo, Zeiss, OME, JSON or ImageJ metadata, no "
        "TIFF resolution in a length unit and no JEOL/Hitachi .txt sidecar); lengths will be in pixels. Give it with pixel_size=<µm> "
        "(command line: --pixel-size <µm>)."
    )


def to_gray(data: np.ndarray) -> np.ndarray:
    """Convert a ``(Y, X, C)`` image to ``(Y, X)`` grey in the same dtype.

    Alpha (the 2nd of 2 or 4th of 4 channels) is dropped. Equal colour channels are taken
    as they are; otherwise the grey value is the BT.709 luma (:data:`GREY_WEIGHTS`), rounded
    and clipped to the range of an integer dtype.

    Examples
    --------
    >>> rgb = np.zeros((1, 2, 3), np.uint8); rgb[0, 1] = (255, 255, 255)
    >>> to_gray(rgb)
    array([[  0, 255]], dtype=uint8)
    """
    if data.ndim != 3 or data.shape[-1] not in (2, 3, 4):
        raise InputError(f"to_gray expects a (Y, X, 3|4) image; got shape {data.shape}")
    if data.shape[-1] == 2:
        return data[..., 0].copy()
    colour = data[..., :3]
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2]):
        return colour[..., 0].copy()
    grey = colour.astype(np.float64) @ np.asarray(GREY_WEIGHTS)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        return np.clip(np.rint(grey), info.min, info.max).astype(data.dtype)
    return grey.astype(data.dtype)


def read_image(path: str | os.PathLike, *, pixel_size: float | None = None,
               as_gray: bool = False, crop_data_bar: bool = True) -> Image:
    """Read a micrograph (TIFF, PNG, BMP, JPEG) together with its pixel size.

    Parameters
    ----------
    path : str or path-like
        The image file. 8/16-bit grey, float TIFF, RGB and RGBA are read; alpha is dropped.
    pixel_size : float, optional
        Pixel size in µm. When given it wins over anything in the file
        (``pixel_size_source="explicit"``).
    as_gray : bool
        Convert RGB to grey in the same dtype (see :func:`to_gray`).
    crop_data_bar : bool
        Cut the microscope's data bar: where the file's own metadata give the scanned field
        (FEI/Thermo ``[Image] ResolutionX/Y``) and the image is taller, the rows below it are
        the data bar (scale bar, magnification, HV ...), not specimen. ``metadata`` then
        records ``data_bar_rows`` and the ``file_shape``.

    Returns
    -------
    Image
        ``data`` is ``(Y, X)`` or ``(Y, X, 3)``; ``metadata["axes"]`` is ``"YX"`` or ``"YXS"``;
        ``pixel_size`` in µm comes from (first found) the ``pixel_size`` argument, FEI/Thermo
        tags, the Zeiss ``CZ_SEM`` tag, OME-XML ``PhysicalSizeX``, a JSON ImageDescription
        (``pixel_size_um``, ``pixel_size`` + ``unit``, ...), ImageJ/TIFF resolution tags, or a
        JEOL/Hitachi ``.txt`` sidecar (see :mod:`microseg.io._metadata` for the keys read).

    Raises
    ------
    MissingFileError
        If ``path`` does not exist (a :class:`FileNotFoundError`).
    FileFormatError
        If the file is not a readable image of a supported format.
    InputError
        If the file holds a stack or a 4D array (use :func:`microseg.io.read_stack`).

    Warns
    -----
    UserWarning
        Once, when no pixel size is given or found; lengths are then in pixels.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> write_image(f, np.zeros((4, 5), np.uint8), pixel_size=0.01)
    >>> img = read_image(f)
    >>> img.shape, round(img.pixel_size, 6), img.pixel_size_source
    ((4, 5), 0.01, 'imagej')
    """
    explicit = check_pixel_size(pixel_size)
    path = check_input_file(path)
    raw = read_raw(path)
    if raw.axes.startswith("Z"):
        raise InputError(
            f"{path}: holds a stack of {raw.data.shape[0]} slices of shape {raw.data.shape[1:]}; "
            "read it with read_stack"
        )
    data, axes = raw.data, raw.axes
    if axes == "YXS" and (as_gray or data.shape[-1] == 2):
        data, axes = to_gray(data), "YX"
    elif axes == "YXS" and data.shape[-1] == 4:
        data = data[..., :3]
    found, source, metadata = find_pixel_size(raw)
    metadata = {**metadata, "axes": axes}
    field = metadata.get("specimen_shape")
    if crop_data_bar and field and data.shape[0] > field[0] and data.shape[1] >= field[1]:
        metadata.update(file_shape=list(data.shape[:2]), data_bar_rows=int(data.shape[0] - field[0]))
        logger.info("%s: cut the %d-row data bar below the %d x %d scanned field", path,
                    metadata["data_bar_rows"], field[1], field[0])
        data = data[:field[0], :field[1]]
    if explicit is not None:
        if found is not None and not np.isclose(found, explicit, rtol=1e-3):
            logger.info("%s: pixel_size=%g µm given overrides %g µm from %s", path, explicit, found, source)
        found, source = explicit, "explicit"
    elif found is None:
        warnings.warn(unknown_pixel_size_message(path), UserWarning, stacklevel=2)
    return Image(np.ascontiguousarray(data), pixel_size=found, source=str(path),
                 pixel_size_source=source, metadata=metadata)


def _image_array(image: Image | np.ndarray, pixel_size: float | None) -> tuple[np.ndarray, float | None]:
    if isinstance(image, Image):
        if image.metadata.get("axes") == "ZYX":
            raise InputError("image is a (Z, Y, X) stack; write it with write_stack")
        data = np.asarray(image.data)
        size = pixel_size if pixel_size is not None else image.pixel_size
    else:
        data = np.asarray(image)
        size = pixel_size
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (3, 4))):
        raise InputError(
            f"image must be a (Y, X) grey or (Y, X, 3|4) colour array; got shape {data.shape}"
        )
    if data.dtype == bool:
        data = data.astype(np.uint8) * np.uint8(255)
    if data.dtype.kind not in "uif":
        raise InputError(f"image has dtype {data.dtype}; expected integers or floats")
    return data, check_pixel_size(size)


def write_image(path: str | os.PathLike, image: Image | np.ndarray, *,
                pixel_size: float | None = None, force: bool = False) -> None:
    """Write a 2D image to TIFF, PNG or BMP; TIFF keeps the pixel size.

    Parameters
    ----------
    path : str or path-like
        Output file; the extension picks the format (``.tif``/``.tiff``, ``.png``, ``.bmp``).
    image : Image or ndarray
        ``(Y, X)`` grey or ``(Y, X, 3|4)`` colour. Bool arrays are written as 0/255 uint8.
    pixel_size : float, optional
        Pixel size in µm; defaults to ``image.pixel_size`` for an :class:`Image`.
        Written as ImageJ resolution tags (``unit=um``) in a TIFF; PNG/BMP do not keep it.
    force : bool
        Overwrite an existing file.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    InputError
        If the array shape or dtype cannot be stored in the format: PNG takes uint8 and
        uint16 grey, BMP uint8; TIFF takes any integer or float dtype.
    """
    path = Path(path)
    data, size = _image_array(image, pixel_size)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_SUFFIXES:
        raise InputError(f"{path}: cannot write images as {path.suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(_WRITE_SUFFIXES)}")
    rgb = data.ndim == 3
    if suffix in TIFF_SUFFIXES:
        with atomic_path(path, force=force) as tmp:
            write_tiff(tmp, data, rgb=rgb, pixel_size=size)
        return
    _check_pil_dtype(path, data)
    if size is not None:
        logger.info("%s: %s files do not keep the pixel size (%g µm); write a TIFF to keep it",
                    path, suffix.lstrip(".").upper(), size)
    import imageio.v3 as iio

    with atomic_path(path, force=force) as tmp:
        iio.imwrite(tmp, data, extension=suffix)


def _check_pil_dtype(path: Path, data: np.ndarray) -> None:
    ok: dict[str, Any] = {".png": {np.dtype(np.uint8): (2, 3), np.dtype(np.uint16): (2,)},
                          ".bmp": {np.dtype(np.uint8): (2, 3)}}[path.suffix.lower()]
    if data.ndim not in ok.get(data.dtype, ()):
        kind = "colour" if data.ndim == 3 else "grey"
        raise InputError(
            f"{path}: {path.suffix.lower().lstrip('.').upper()} cannot store {kind} {data.dtype} "
            "images; write a TIFF or convert (e.g. to uint8)"
        )
