"""Images read and written piece by piece, for micrographs larger than memory.

:func:`open_image` gives a :class:`LazyImage`: the shape, dtype and pixel size of a file
(found as :func:`~microseg.io.read_image` finds them) and ``image[r0:r1, c0:c1]``, which
reads that region only. A TIFF is read segment by segment: of a tiled file only the tiles
the region touches, of a striped one only the strips (of an uncompressed strip only the
rows) it touches. PNG, BMP and JPEG cannot be read in pieces and are read whole once.

:func:`open_image_writer` and :func:`open_prob_writer` give a :class:`TiffTileWriter`:
assign regions (``w[r0:r1, :] = block``, or any rectangles) in row order and it writes a
tiled TIFF band by band, with the pixel size tags that :func:`~microseg.io.read_image`
reads back, under a temporary name that is renamed on :meth:`~TiffTileWriter.close`
(nothing is left when it fails). Memory is one band of tiles, not the image.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> data = np.arange(600 * 500, dtype=np.uint16).reshape(600, 500)
>>> with open_image_writer(folder / "big.tif", data.shape, np.uint16, pixel_size=0.02, tile=256) as w:
...     for r in range(0, 600, 100):
...         w[r:r + 100, :] = data[r:r + 100]
>>> image = open_image(folder / "big.tif")
>>> image.shape, image.dtype, image.pixel_size
((600, 500), dtype('uint16'), 0.02)
>>> bool((image[300:310, 20:30] == data[300:310, 20:30]).all())
True
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import FileFormatError, InputError
from microseg._validate import check_pixel_size
from microseg.io._files import (
    TIFF_SUFFIXES, RawImage, check_claimed_size, check_input_file, read_raw, tiff_info, tiff_read_errors,
)
from microseg.io._image import Image
from microseg.io._metadata import find_pixel_size
from microseg.io._regions import parse_key
from microseg.io._tiled_write import TiffTileWriter, open_image_writer, open_prob_writer
from microseg.io.images import to_gray, unknown_pixel_size_message

logger = logging.getLogger(__name__)

__all__ = ["LazyImage", "TiffTileWriter", "open_image", "open_image_writer", "open_prob_writer"]

#: Decoded segments of a compressed TIFF kept for the next region reads (bytes).
SEGMENT_CACHE_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- reading
class _ArraySource:
    """Regions of an array already in memory (formats that cannot be read in pieces)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data if data.ndim == 3 else data[..., None]
        self.height, self.width, self.samples = self.data.shape
        self.dtype = self.data.dtype
        self.bytes_read = 0

    def region(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = self.data[r0:r1, c0:c1]
        self.bytes_read += out.nbytes
        return out


class _TiffSource:
    """Regions ``(rows, cols, samples)`` of one TIFF page, read from its strips or tiles."""

    def __init__(self, path: Path, page: Any, byteorder: str) -> None:
        self.path = path
        self.page = page
        shaped = tuple(int(n) for n in page.shaped[-5:])
        separate, depth, height, width, contig = shaped
        if depth != 1:
            raise InputError(f"{path}: holds a volumetric TIFF page of depth {depth}; read it with read_stack")
        self.height, self.width = height, width
        self.separate, self.contig = separate, contig
        self.samples = separate * contig
        self.dtype = np.dtype(page.dtype).newbyteorder(byteorder)
        self.offsets = [int(v) for v in page.dataoffsets]
        self.counts = [int(v) for v in page.databytecounts]
        if page.is_tiled:
            self.seg_h, self.seg_w = int(page.tilelength), int(page.tilewidth)
        else:
            self.seg_h, self.seg_w = max(1, min(int(page.rowsperstrip or height), height)), width
        self.down = math.ceil(height / self.seg_h)
        self.across = math.ceil(width / self.seg_w)
        if len(self.offsets) < separate * self.down * self.across:
            raise FileFormatError(f"{path}: the TIFF page lists {len(self.offsets)} segments, "
                                  f"{separate * self.down * self.across} expected; the file is damaged")
        self.raw = (int(page.compression) == 1 and int(page.predictor) == 1 and int(page.fillorder) == 1
                    and int(page.bitspersample) == self.dtype.itemsize * 8)
        if not self.raw:
            page.decode  # build the decoder while the file is open
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_bytes = 0
        self.bytes_read = 0

    def region(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.empty((r1 - r0, c1 - c0, self.samples), self.dtype.newbyteorder("="))
        if out.size == 0:
            return out
        sh, sw, contig = self.seg_h, self.seg_w, self.contig
        with open(self.path, "rb") as fh:
            for plane in range(self.separate):
                for ty in range(r0 // sh, (r1 - 1) // sh + 1):
                    y0 = ty * sh
                    a, b = max(r0, y0), min(r1, y0 + sh)
                    for tx in range(c0 // sw, (c1 - 1) // sw + 1):
                        x0 = tx * sw
                        c, d = max(c0, x0), min(c1, x0 + sw)
                        index = (plane * self.down + ty) * self.across + tx
                        rows = self._rows(fh, index, a - y0, b - y0)
                        out[a - r0:b - r0, c - c0:d - c0, plane * contig:(plane + 1) * contig] = rows[:, c - x0:d - x0]
        return out

    def _rows(self, fh: Any, index: int, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of segment ``index`` as ``(rows, segment width, contig)``."""
        offset, count = self.offsets[index], self.counts[index]
        row_bytes = self.seg_w * self.contig * self.dtype.itemsize
        if count == 0:   # a sparse segment: not written, zeros
            return np.zeros((stop - start, self.seg_w, self.contig), self.dtype)
        if self.raw:
            if stop * row_bytes > count:
                raise FileFormatError(f"{self.path}: TIFF segment {index} holds {count} bytes, fewer than its "
                                      f"{stop} rows of {row_bytes} bytes; the file is damaged")
            fh.seek(offset + start * row_bytes)
            data = fh.read((stop - start) * row_bytes)
            self.bytes_read += len(data)
            if len(data) != (stop - start) * row_bytes:
                raise FileFormatError(f"{self.path}: TIFF segment {index} ends early; the file is truncated")
            return np.frombuffer(data, self.dtype).reshape(stop - start, self.seg_w, self.contig)
        return self._decoded(fh, index)[start:stop]

    def _decoded(self, fh: Any, index: int) -> np.ndarray:
        if index in self.cache:
            self.cache.move_to_end(index)
            return self.cache[index]
        fh.seek(self.offsets[index])
        data = fh.read(self.counts[index])
        self.bytes_read += len(data)
        try:
            segment = self.page.decode(data, index)[0]
        except KeyError as exc:   # tifffile: "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"
            raise FileFormatError(f"{self.path}: cannot decode this TIFF's compression ({exc.args[0]}); "
                                  "install imagecodecs (pip install imagecodecs)") from None
        except Exception as exc:
            raise FileFormatError(f"{self.path}: cannot decode TIFF segment {index}: {exc}") from None
        segment = np.asarray(segment).reshape(segment.shape[-3:])
        self.cache[index] = segment
        self.cache_bytes += segment.nbytes
        while self.cache_bytes > SEGMENT_CACHE_BYTES and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.cache_bytes -= old.nbytes
        return segment


class LazyImage:
    """A 2D image in a file, read region by region: ``image[r0:r1, c0:c1]`` reads that region.

    Made by :func:`open_image`. Indexing takes two slices (step 1) or integers, like a
    numpy array of :attr:`shape`, and returns a numpy array; ``np.asarray(image)`` reads
    it all. Colour files give grey regions (:func:`~microseg.io.to_gray`, per region)
    unless opened with ``as_gray=False``; then regions are ``(Y, X, 3)``.

    Attributes
    ----------
    shape : tuple of int
        ``(Y, X)`` (or ``(Y, X, 3)``), after cutting a data bar as :func:`read_image` does.
    dtype : numpy.dtype
        As stored (uint8, uint16, float32, ...).
    pixel_size : float or None
        µm per pixel, from the same sources as :func:`~microseg.io.read_image`.
    pixel_size_source, source, metadata
        As in :class:`~microseg.io.Image`.
    """

    def __init__(self, source: Any, *, path: Path, shape: tuple[int, ...], as_gray: bool,
                 pixel_size: float | None, pixel_size_source: str, metadata: dict[str, Any]) -> None:
        self._source = source
        self.path = path
        self.source = str(path)
        self.shape = shape
        self.dtype = source.dtype.newbyteorder("=")
        self._as_gray = as_gray
        self.pixel_size = pixel_size
        self.pixel_size_source = pixel_size_source
        self.metadata = metadata

    def __repr__(self) -> str:
        return (f"LazyImage(shape={self.shape}, dtype={self.dtype}, pixel_size={self.pixel_size}, "
                f"source={self.source!r})")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def bytes_read(self) -> int:
        """Bytes read from the file so far (pixel data only), for checks and diagnostics."""
        return self._source.bytes_read

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        spans, drop, rest = parse_key(key, self.shape)
        (r0, r1), (c0, c1) = spans[0], spans[1]
        region = self._samples(self._source.region(r0, r1, c0, c1))
        if rest is not None:
            region = region[..., rest]
        return region[tuple(0 if d else slice(None) for d in drop)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:, :]
        return data if dtype is None else data.astype(dtype)

    def _samples(self, raw: np.ndarray) -> np.ndarray:
        n = raw.shape[-1]
        if n in (1, 2):          # grey, or grey + alpha
            return raw[..., 0]
        colour = raw[..., :3]
        return to_gray(colour) if self._as_gray else colour

    def read(self) -> Image:
        """The whole image as an :class:`~microseg.io.Image` (what ``read_image`` gives)."""
        axes = "YX" if self.ndim == 2 else "YXS"
        return Image(np.ascontiguousarray(self[:, :]), pixel_size=self.pixel_size, source=self.source,
                     pixel_size_source=self.pixel_size_source, metadata={**self.metadata, "axes": axes})


def open_image(path: str | os.PathLike, *, pixel_size: float | None = None, as_gray: bool = True,
               crop_data_bar: bool = True) -> LazyImage:
    """Open a micrograph for reading region by region (see :class:`LazyImage`).

    Parameters
    ----------
    path : str or path-like
        A TIFF (read in pieces: 8/16/32-bit integers or floats, grey or RGB(A), striped or
        tiled, uncompressed or with any compression tifffile decodes), or PNG/BMP/JPEG
        (read whole).
    pixel_size : float, optional
        µm per pixel; wins over the file's metadata (``pixel_size_source="explicit"``).
    as_gray : bool
        Give colour files as grey (:func:`~microseg.io.to_gray`'s rule, per region).
    crop_data_bar : bool
        Leave out the microscope's data bar, as :func:`~microseg.io.read_image` does.

    Raises
    ------
    MissingFileError, FileFormatError
        Missing or unreadable file, or a TIFF header that claims more data than the file
        can hold (:func:`microseg.io._files.check_claimed_size`).
    InputError
        A stack or a volume (use :func:`~microseg.io.read_stack`).

    Warns
    -----
    UserWarning
        When no pixel size is given or found.
    """
    explicit = check_pixel_size(pixel_size)
    path = check_input_file(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        source, raw = _open_tiff(path)
    else:
        raw = read_raw(path)
        if raw.axes.startswith("Z"):
            raise InputError(f"{path}: holds a stack of {raw.data.shape[0]} slices; read it with read_stack")
        source = _ArraySource(raw.data)
    if source.samples > 4:
        raise InputError(f"{path}: holds {source.samples} samples per pixel; expected grey or RGB(A)")
    found, found_source, metadata = find_pixel_size(raw)
    height, width = source.height, source.width
    field = metadata.get("specimen_shape")
    if crop_data_bar and field and height > field[0] and width >= field[1]:
        metadata.update(file_shape=[height, width], data_bar_rows=int(height - field[0]))
        height, width = int(field[0]), int(field[1])
    if explicit is not None:
        found, found_source = explicit, "explicit"
    elif found is None:
        warnings.warn(unknown_pixel_size_message(path), UserWarning, stacklevel=2)
    colour = source.samples >= 3 and not as_gray
    shape = (height, width, 3) if colour else (height, width)
    return LazyImage(source, path=path, shape=shape, as_gray=as_gray, pixel_size=found,
                     pixel_size_source=found_source, metadata=metadata)


def _open_tiff(path: Path) -> tuple[_TiffSource, RawImage]:
    import tifffile

    with tiff_read_errors(path), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise FileFormatError(f"{path}: TIFF file holds no image")
        series = tif.series[0]
        if len(series.pages) > 1:
            raise InputError(f"{path}: holds a stack of {len(series.pages)} pages of shape "
                             f"{series.keyframe.shape}; read it with read_stack")
        check_claimed_size(path, [series])
        page = series.keyframe
        source = _TiffSource(path, page, tif.byteorder)
        info = tiff_info(tif)
    shape = (source.height, source.width) + ((source.samples,) if source.samples > 1 else ())
    dummy = np.broadcast_to(np.zeros((), source.dtype), shape)   # shape only, no memory
    return source, RawImage(dummy, "YXS" if source.samples > 1 else "YX", path, info)
