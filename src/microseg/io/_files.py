"""Low-level file access shared by the io readers: path checks, raw arrays, error wrapping.

Everything here returns plain arrays plus the raw metadata a reader needs; the public
functions in :mod:`microseg.io.images`, :mod:`microseg.io.stacks` and :mod:`microseg.io.maps`
turn them into :class:`~microseg.io.Image` objects or checked maps.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import FileFormatError, InputError, MicrosegError

logger = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES


class MissingFileError(MicrosegError, FileNotFoundError):
    """An input file or folder does not exist. The message starts with the path."""


@dataclass
class RawImage:
    """An array as stored in a file, with its axes and the TIFF metadata a reader needs.

    ``axes`` is one of ``"YX"``, ``"YXS"`` (samples last: RGB/RGBA/grey+alpha),
    ``"ZYX"`` or ``"ZYXS"``. ``tiff`` holds the FEI, Zeiss, ImageJ, shaped (tifffile JSON)
    metadata and the resolution tags of the first page; it is empty for PNG/BMP/JPEG.
    """

    data: np.ndarray
    axes: str
    path: Path
    tiff: dict[str, Any] = field(default_factory=dict)


def check_input_file(path: str | os.PathLike, *, what: str = "image") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if it is an existing file.

    Raises
    ------
    MissingFileError
        If nothing exists at ``path``.
    FileFormatError
        If ``path`` is a folder or its extension is not a supported image format.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file ({what} expected)")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, expected an {what} file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise FileFormatError(
            f"{path}: unknown {what} format {path.suffix or '(no extension)'!r}; "
            f"supported: {', '.join(IMAGE_SUFFIXES)}"
        )
    return path


def natural_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers by value (``slice2`` before ``slice10``)."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def read_raw(path: Path, *, stack_series: bool = False) -> RawImage:
    """Read the pixels of ``path`` (checked by :func:`check_input_file`) as stored.

    With ``stack_series``, a TIFF whose series are all 2D of one shape and dtype (pages
    written one by one) is read as a ``(Z, Y, X)`` stack instead of its first series.

    Errors of the underlying libraries (tifffile, imageio/Pillow) are turned into a
    :class:`FileFormatError` that names the file and says what went wrong.
    """
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            raw = _read_tiff(path, stack_series=stack_series)
        else:
            raw = _read_pil(path)
    except (MicrosegError, MemoryError):
        raise
    except Exception as exc:  # tifffile/Pillow raise ValueError, OSError, struct.error, ...
        kind = "TIFF" if path.suffix.lower() in TIFF_SUFFIXES else path.suffix.lstrip(".").upper()
        detail = str(exc) or type(exc).__name__
        raise FileFormatError(
            f"{path}: cannot read as {kind} (damaged, truncated or not a {kind} file): {detail}"
        ) from None
    logger.debug("read %s: shape %s, dtype %s, axes %s", path, raw.data.shape, raw.data.dtype, raw.axes)
    return raw


def _read_pil(path: Path) -> RawImage:
    import imageio.v3 as iio

    data = np.asarray(iio.imread(path))
    if data.ndim == 2:
        return RawImage(data, "YX", path)
    if data.ndim == 3 and data.shape[-1] in (2, 3, 4):
        return RawImage(data, "YXS", path)
    raise FileFormatError(f"{path}: unexpected pixel layout with shape {data.shape}")


def _read_tiff(path: Path, *, stack_series: bool = False) -> RawImage:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise FileFormatError(f"{path}: TIFF file holds no image")
        series = tif.series[0]
        many = tif.series if stack_series and len(tif.series) > 1 else []
        if many and all(len(s.shape) == 2 and s.shape == series.shape and s.dtype == series.dtype
                        for s in many):
            check_claimed_size(path, many)
            data, axes = np.stack([s.asarray() for s in many]), "ZYX"
        else:
            check_claimed_size(path, [series])
            data, axes = series.asarray(), series.axes
        info = tiff_info(tif)
    data, norm_axes = _normalise_axes(path, data, axes)
    return RawImage(data, norm_axes, path, info)


def tiff_info(tif: Any) -> dict[str, Any]:
    """The metadata of an open :class:`tifffile.TiffFile` that the pixel-size readers use."""
    page = tif.pages.first
    tags = page.tags
    return {
        "fei": tif.fei_metadata,
        "zeiss": tif.sem_metadata,
        "imagej": tif.imagej_metadata,
        "shaped": tif.shaped_metadata[0] if tif.shaped_metadata else None,
        "xresolution": tags.valueof("XResolution"),
        "yresolution": tags.valueof("YResolution"),
        "resolutionunit": int(tags.valueof("ResolutionUnit", 1) or 1),
        "description": page.description,
    }


#: A compressed TIFF may claim at most this many times its file size in pixel data (and
#: more than :data:`MAX_COMPRESSED_CLAIM` bytes) before it is refused as a damaged header.
MAX_COMPRESSION_RATIO = 1000
MAX_COMPRESSED_CLAIM = 4 * 2**30


def _bytes_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def check_claimed_size(path: Path, series: Any) -> None:
    """Refuse a TIFF whose header claims more pixel data than the file can hold.

    A damaged or hostile header (ImageWidth/ImageLength patched to 100 000) would make a
    reader allocate and decode gigabytes for minutes. Before any pixel is read, the claimed
    size (shape x bits per sample) of the ``series`` (tifffile series) is compared with the
    file size: an uncompressed file must hold all of it, a compressed one may claim at most
    :data:`MAX_COMPRESSION_RATIO` times its size unless the claim is below
    :data:`MAX_COMPRESSED_CLAIM` bytes.

    Raises
    ------
    FileFormatError
        One line naming the file, the claimed shape and size and the file size.
    """
    size = path.stat().st_size
    claimed, compressed, shapes = 0, False, []
    for s in series:
        page = s.keyframe
        bits = int(getattr(page, "bitspersample", 0) or s.dtype.itemsize * 8)
        claimed += math.prod(int(n) for n in s.shape) * bits / 8
        compressed |= int(page.compression) != 1
        shapes.append(tuple(int(n) for n in s.shape))
    shape = shapes[0] if len(shapes) == 1 else (len(shapes), *shapes[0])
    what = f"{' x '.join(map(str, shape))} {series[0].dtype} image ({_bytes_text(claimed)})"
    if not compressed and claimed > size:
        raise FileFormatError(f"{path}: cannot read as TIFF: the header claims an uncompressed {what}, but the file holds "
                              f"{_bytes_text(size)}; the header is damaged or the file is truncated")
    if compressed and claimed > MAX_COMPRESSION_RATIO * size and claimed > MAX_COMPRESSED_CLAIM:
        raise FileFormatError(f"{path}: cannot read as TIFF: the header claims a compressed {what} in a file of "
                              f"{_bytes_text(size)} (over {MAX_COMPRESSION_RATIO}x); the header is "
                              "damaged, refusing to decode it")


def _normalise_axes(path: Path, data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Drop singleton axes, put samples last and name the layout YX/YXS/ZYX/ZYXS."""
    keep = [i for i, (n, ax) in enumerate(zip(data.shape, axes)) if n > 1 or ax in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if "S" in axes and not axes.endswith("S"):
        s = axes.index("S")
        data = np.moveaxis(data, s, -1)
        axes = axes[:s] + axes[s + 1:] + "S"
    has_s = axes.endswith("S")
    spatial = data.ndim - int(has_s)
    if spatial == 2:
        return data, "YXS" if has_s else "YX"
    if spatial == 3 and not has_s and data.shape[-1] in (3, 4) and min(data.shape[:2]) > 4:
        # colour written as grey pages (photometric minisblack): Y pages of (X, 3), not a stack
        logger.info("%s: %d grey pages of %d x %d px read as one %d x %d %s image", path, data.shape[0],
                    data.shape[1], data.shape[2], data.shape[0], data.shape[1],
                    "RGB" if data.shape[-1] == 3 else "RGBA")
        return data, "YXS"
    if spatial == 3:
        return data, "ZYXS" if has_s else "ZYX"
    raise InputError(
        f"{path}: holds a {data.ndim}-dimensional array of shape {data.shape} (axes {axes}); "
        "expected a 2D image, an RGB image or a (Z, Y, X) stack"
    )


def collapse_equal_channels(data: np.ndarray) -> np.ndarray | None:
    """Return the first channel of a ``(..., C)`` array whose colour channels are equal, else None.

    An alpha channel (the 2nd of 2 or the 4th of 4) is ignored.
    """
    colour = data[..., :1] if data.shape[-1] == 2 else data[..., :3]
    first = colour[..., 0]
    if all(np.array_equal(first, colour[..., c]) for c in range(1, colour.shape[-1])):
        return first
    return None


@contextlib.contextmanager
def tiff_read_errors(path: Path) -> Iterator[None]:
    """tifffile's many exceptions on a damaged file as one :class:`FileFormatError` naming ``path``."""
    try:
        yield
    except (MicrosegError, MemoryError):
        raise
    except Exception as exc:  # tifffile raises ValueError, OSError, struct.error, ...
        raise FileFormatError(f"{path}: cannot read as TIFF (damaged, truncated or not a TIFF file): "
                              f"{str(exc) or type(exc).__name__}") from None


class CommitOnExit:
    """A writer's ``with`` block: :meth:`close` (commit) on a clean exit, :meth:`abort` on an
    exception or when the writer is dropped unclosed. Subclasses define both and ``_closed``."""

    def __enter__(self):
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.abort()
