"""Label maps (int32 grains) and probability maps (float32 in [0, 1]) on disk."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from microseg._util import InputError, atomic_path, look_up_option
from microseg._validate import as_area_mask, check_ndim, check_pixel_size
from microseg.io._files import (
    TIFF_SUFFIXES, RawImage, check_input_file, collapse_equal_channels, read_raw,
)
from microseg.io._image import Image
from microseg.io._metadata import find_pixel_size
from microseg.io._write import write_tiff
from microseg.io.images import unknown_pixel_size_message

logger = logging.getLogger(__name__)

PROB_DTYPES = ("float32", "float16", "uint8")
#: Values this far outside [0, 1] in a float map are rounding noise and are clipped.
PROB_TOLERANCE = 1e-6
_INT32_MAX = np.iinfo(np.int32).max


def _grey(raw: RawImage, *, what: str) -> np.ndarray:
    """The map as ``(Y, X)`` or ``(Z, Y, X)``; colour only when all channels are equal."""
    if not raw.axes.endswith("S"):
        return raw.data
    grey = collapse_equal_channels(raw.data)
    if grey is None:
        raise InputError(f"{raw.path}: is a colour image whose channels differ; "
                         f"a {what} must be a single-channel image")
    return grey


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read a label map (grains 1..N, 0 = boundary/background) as int32.

    Parameters
    ----------
    path : str or path-like
        TIFF (2D or multi-page 3D) or PNG/BMP. Integer, bool, or float files whose values
        are all whole numbers are accepted.

    Returns
    -------
    ndarray of int32
        ``(Y, X)`` or ``(Z, Y, X)``.

    Raises
    ------
    MissingFileError, FileFormatError
        If the file is missing or unreadable.
    InputError
        If the values are negative, fractional, non-finite or beyond int32, or the image is
        colour.
    """
    path = check_input_file(path, what="label map")
    data = _grey(read_raw(path), what="label map")
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            raise InputError(f"{path}: label map holds non-integer values (dtype {data.dtype}); "
                             "labels must be whole numbers")
    elif data.dtype.kind not in "uib":
        raise InputError(f"{path}: label map has dtype {data.dtype}; expected integers")
    if data.size:
        lo, hi = data.min(), data.max()
        if lo < 0:
            raise InputError(f"{path}: label map holds negative values (min {lo}); labels are 0..N")
        if hi > _INT32_MAX:
            raise InputError(f"{path}: label map holds values up to {hi}, beyond int32")
    return data.astype(np.int32)


def write_labels(path: str | os.PathLike, labels: np.ndarray, *, force: bool = False) -> None:
    """Write a 2D or 3D label map as a (zlib-compressed) TIFF.

    The file is uint16 when the largest label is below 65536, else int32.

    Parameters
    ----------
    path : str or path-like
        Output ``.tif``/``.tiff`` file.
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)``, values 0..N (N ≤ 2**31 - 1).
    force : bool
        Overwrite an existing file.
    """
    path = Path(path)
    labels = np.asarray(labels)
    check_ndim(labels, (2, 3), "labels")
    if labels.dtype.kind not in "uib":
        raise InputError(f"labels must be an integer array; got dtype {labels.dtype}")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise InputError(f"{path}: label maps are written as TIFF; use a .tif or .tiff name")
    lo = int(labels.min()) if labels.size else 0
    hi = int(labels.max()) if labels.size else 0
    if lo < 0:
        raise InputError(f"labels must be >= 0; got a minimum of {lo}")
    if hi > _INT32_MAX:
        raise InputError(f"labels must be <= {_INT32_MAX}; got a maximum of {hi}")
    data = labels.astype(np.uint16 if hi < 65536 else np.int32)
    with atomic_path(path, force=force) as tmp:
        write_tiff(tmp, data, compression="zlib")


def _check_prob_values(data: np.ndarray, *, where: str) -> np.ndarray:
    """Check a float map for NaN/inf and the [0, 1] range; return it clipped as float32."""
    bad = np.count_nonzero(np.isnan(data))
    if bad:
        raise InputError(f"{where}: contains {bad} NaN values; a probability map must be NaN-free")
    bad = np.count_nonzero(np.isinf(data))
    if bad:
        raise InputError(f"{where}: contains {bad} infinite values; expected 0..1")
    if data.size:
        lo, hi = float(data.min()), float(data.max())
        if lo < -PROB_TOLERANCE or hi > 1 + PROB_TOLERANCE:
            raise InputError(f"{where}: values range {lo:.4g}..{hi:.4g}, expected 0..1")
    return np.clip(data, 0.0, 1.0).astype(np.float32)


def read_prob(path: str | os.PathLike) -> np.ndarray:
    """Read a probability map as float32 in [0, 1] (see :func:`read_prob_image`)."""
    return read_prob_image(path, warn=False).data


def read_prob_image(path: str | os.PathLike, *, pixel_size: float | None = None,
                    warn: bool = True) -> Image:
    """Read a probability or binary map as float32 in [0, 1], with its pixel size.

    How stored values become probabilities:

    * float16/32/64: taken as they are; they must be NaN-free and within 0..1.
    * bool: 0 or 1.
    * uint8 / uint16 whose values are all 0 or 1: a binary map, taken as is.
    * other uint8 / uint16: divided by 255 / 65535 (a TIFF written by :func:`write_prob`
      records its scale and is always divided by it).
    * colour images: only when all channels are equal.

    Parameters
    ----------
    path : str or path-like
        TIFF (2D or 3D) or PNG/BMP.
    pixel_size : float, optional
        Pixel size in µm; overrides what the file says.
    warn : bool
        Warn (once) when the pixel size is neither given nor found in the file.

    Returns
    -------
    Image
        ``data`` float32 ``(Y, X)`` or ``(Z, Y, X)``; ``pixel_size`` as for :func:`read_image`.

    Raises
    ------
    InputError
        For NaN or out-of-range values (the message says how many and what range), a
        colour image, or an unsupported dtype.
    """
    explicit = check_pixel_size(pixel_size)
    path = check_input_file(path, what="probability map")
    raw = read_raw(path)
    data = _prob_values(raw, _grey(raw, what="probability map"), path)
    found, source, metadata = find_pixel_size(raw)
    if explicit is not None:
        found, source = explicit, "explicit"
    elif found is None and warn:
        warnings.warn(unknown_pixel_size_message(path), UserWarning, stacklevel=2)
    axes = "ZYX" if data.ndim == 3 else "YX"
    return Image(data, pixel_size=found, source=str(path), pixel_size_source=source,
                 metadata={**metadata, "axes": axes})


def _prob_values(raw: RawImage, data: np.ndarray, path: Path) -> np.ndarray:
    kind = data.dtype.kind
    if kind == "f":
        return _check_prob_values(data, where=str(path))
    if kind == "b":
        return data.astype(np.float32)
    if data.dtype in (np.uint8, np.uint16):
        shaped = raw.tiff.get("shaped") or {}
        scale = shaped.get("scale") if shaped.get("microseg") == "prob" else None
        if scale is None:
            binary = data.size == 0 or int(data.max()) <= 1
            scale = 1 if binary else np.iinfo(data.dtype).max
            if binary:
                logger.debug("%s: integer map holds only 0 and 1; read as a binary map", path)
        return (data.astype(np.float32) / np.float32(scale)).clip(0.0, 1.0)
    raise InputError(f"{path}: probability map has dtype {data.dtype}; "
                     "expected float in 0..1, uint8, uint16 or bool")


def write_prob(path: str | os.PathLike, prob: np.ndarray, *, dtype: str = "float32",
               pixel_size: float | None = None, force: bool = False) -> None:
    """Write a probability map in [0, 1] as TIFF (or PNG for ``dtype="uint8"``).

    Parameters
    ----------
    path : str or path-like
        Output ``.tif``/``.tiff`` file, or ``.png`` with ``dtype="uint8"`` (2D only).
    prob : ndarray
        ``(Y, X)`` or ``(Z, Y, X)`` float (or bool) in [0, 1], NaN-free.
    dtype : {"float32", "float16", "uint8"}
        Storage type. ``uint8`` stores ``round(255 * prob)``; in a TIFF the scale is
        recorded so that :func:`read_prob` always divides by 255.
    pixel_size : float, optional
        Pixel size in µm, stored in the TIFF so that :func:`read_prob_image` returns it.
    force : bool
        Overwrite an existing file.
    """
    path = Path(path)
    pixel_size = check_pixel_size(pixel_size)
    dtype = look_up_option(dtype, PROB_DTYPES, what="dtype")
    prob = np.asarray(prob)
    check_ndim(prob, (2, 3), "prob")
    if prob.dtype.kind not in "fb":
        raise InputError(f"prob must be a float array in 0..1; got dtype {prob.dtype}")
    values = _check_prob_values(prob.astype(np.float32), where="prob")
    suffix = path.suffix.lower()
    png_ok = suffix == ".png" and dtype == "uint8" and prob.ndim == 2
    if suffix not in TIFF_SUFFIXES and not png_ok:
        raise InputError(f"{path}: probability maps are written as TIFF (.tif/.tiff), or as 2D "
                         "PNG with dtype='uint8'")
    if dtype == "uint8":
        data = np.rint(values * 255).astype(np.uint8)
    else:
        data = values.astype(dtype)
    with atomic_path(path, force=force) as tmp:
        if png_ok:
            import imageio.v3 as iio

            iio.imwrite(tmp, data, extension=".png")
        elif dtype == "uint8":
            write_tiff(tmp, data, extra={"microseg": "prob", "scale": 255}, pixel_size=pixel_size)
        else:
            write_tiff(tmp, data, pixel_size=pixel_size)


def read_mask(path: str | os.PathLike, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read the area to analyse: nonzero (any channel, at any bit depth) = analysed.

    Parameters
    ----------
    path : str or path-like
        A grey or colour image (TIFF, PNG, BMP) marking the specimen: nonzero inside, 0 on the
        background, holes, fiducials, scale bars.
    shape : tuple of int, optional
        The shape of the map it belongs to; another shape is an error naming the file.

    Returns
    -------
    ndarray of bool
    """
    path = check_input_file(path)
    raw = read_raw(path)
    data = np.asarray(raw.data)
    if raw.axes.endswith("S"):
        data = data[..., :3].any(axis=-1) if data.shape[-1] >= 3 else data[..., 0]
    return as_area_mask(data, f"{path}: the mask", shape=shape)
