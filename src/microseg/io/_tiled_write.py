"""Tiled TIFFs written band by band from region assignments (see :mod:`microseg.io.lazy`)."""
from __future__ import annotations

import logging
import math
import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, check_output_path
from microseg._validate import check_pixel_size
from microseg.io._files import TIFF_SUFFIXES, CommitOnExit
from microseg.io._regions import parse_key

logger = logging.getLogger(__name__)

__all__ = ["TiffTileWriter", "open_image_writer", "open_prob_writer"]

_IMAGEJ_GREY = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


class _Aborted(Exception):
    pass


class TiffTileWriter(CommitOnExit):
    """A tiled TIFF written band by band from region assignments (see :func:`open_image_writer`).

    ``w[r0:r1, c0:c1] = block`` stores a region; a band of tile rows goes to the file as
    soon as all of its pixels were given, so regions must come in row order (any order
    within the unfinished bands; a row of an already written band cannot be given again).
    :meth:`close` (or leaving a ``with`` block) finishes the file and renames it onto
    ``path``; an exception in the block, :meth:`abort`, or a close with rows missing
    removes it. With ``shape`` ``(1, Y, X)`` it also takes ``w[:, r0:r1, c0:c1]``, as
    :func:`microseg.infer.tiling.predict_tiled` writes.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype: Any, *,
                 pixel_size: float | None = None, tile: int = 256, compression: str | None = None,
                 force: bool = False, extra: dict[str, Any] | None = None, convert: Any = None) -> None:
        import tifffile

        self.path = Path(path)
        if self.path.suffix.lower() not in TIFF_SUFFIXES:
            raise InputError(f"{self.path}: images are written piecewise as TIFF; use a .tif or .tiff name")
        shape = tuple(int(n) for n in shape)
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != 1) or min(shape) < 1:
            raise InputError(f"shape: expected (Y, X) or (1, Y, X) with positive sizes, got {shape}")
        self.shape, self._lead = shape, len(shape) == 3
        self.height, self.width = shape[-2:]
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "uif":
            raise InputError(f"dtype: expected an integer or float dtype, got {self.dtype}")
        if not isinstance(tile, (int, np.integer)) or tile < 16 or tile % 16:
            raise InputError(f"tile: expected a multiple of 16 px (TIFF tiles), got {tile!r}")
        self.tile = int(tile)
        self._convert = convert
        size = check_pixel_size(pixel_size)
        check_output_path(self.path, force=force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self.down = math.ceil(self.height / self.tile)
        self.across = math.ceil(self.width / self.tile)
        self._bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._next = 0          # the first band not yet handed to the file
        self._closed = False
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=2 * self.across + 2)
        kwargs = _tiff_kwargs(self.dtype, size, compression, extra)
        self._thread = threading.Thread(target=self._run, args=(tifffile, kwargs), daemon=True,
                                        name=f"write {self.path.name}")
        self._thread.start()

    def __repr__(self) -> str:
        return f"TiffTileWriter({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def rows_written(self) -> int:
        """Rows handed to the file so far (whole bands)."""
        return min(self._next * self.tile, self.height)

    # -- the file, written by a thread that pulls tiles from the queue
    def _run(self, tifffile: Any, kwargs: dict[str, Any]) -> None:
        try:
            tifffile.imwrite(self._tmp, self._tiles(), shape=(self.height, self.width), dtype=self.dtype,
                             tile=(self.tile, self.tile), **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc

    def _tiles(self):
        for _ in range(self.down * self.across):
            item = self._queue.get()
            if item is None:
                raise _Aborted()
            yield item

    def _put(self, item: Any) -> None:
        while True:
            if self._error is not None:
                self._fail()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._fail()

    def _fail(self) -> None:
        error = self._error
        self.abort()
        raise OSError(f"{self.path}: writing the TIFF failed: {error}") from error

    # -- regions
    def __setitem__(self, key: Any, value: Any) -> None:
        if self._closed:
            raise InputError(f"{self.path}: the writer is closed")
        if self._lead:
            if not isinstance(key, tuple) or len(key) != 3 or key[0] not in (0, slice(None), slice(0, 1)):
                raise InputError(f"{self.path}: a (1, Y, X) writer takes w[:, rows, cols] = block, got {key!r}")
            key = key[1:]
        spans, _, _ = parse_key(key, (self.height, self.width))
        (r0, r1), (c0, c1) = spans
        if r1 <= r0 or c1 <= c0:
            return
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and self._convert is None:
            value = np.asarray(value, dtype=self.dtype)      # a plain number: the image's dtype
        block = np.asarray(value)
        if self._lead and block.ndim == 3 and block.shape[0] == 1:
            block = block[0]
        if self._convert is not None:
            block = self._convert(block)
        elif block.dtype != self.dtype and not np.can_cast(block.dtype, self.dtype, "same_kind"):
            raise InputError(f"{self.path}: cannot store {block.dtype} values in a {self.dtype} image")
        block = np.broadcast_to(block, (r1 - r0, c1 - c0))
        if r0 < self._next * self.tile:
            raise InputError(f"{self.path}: rows {r0}..{r1 - 1} given after rows up to {self.rows_written - 1} "
                             "were written; give regions in row order")
        t = self.tile
        for band in range(r0 // t, (r1 - 1) // t + 1):
            data, filled = self._band(band)
            a, b = max(r0, band * t), min(r1, (band + 1) * t)
            data[a - band * t:b - band * t, c0:c1] = block[a - r0:b - r0]
            filled[a - band * t:b - band * t, c0:c1] = True
        while self._next in self._bands and self._bands[self._next][1].all():
            self._emit(self._next)

    def _band(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        if band not in self._bands:
            rows = min(self.tile, self.height - band * self.tile)
            self._bands[band] = (np.zeros((self.tile, self.across * self.tile), self.dtype),
                                 np.zeros((rows, self.width), bool))
        return self._bands[band]

    def _emit(self, band: int) -> None:
        data, _ = self._bands.pop(band)
        t = self.tile
        for i in range(self.across):
            self._put(np.ascontiguousarray(data[:, i * t:(i + 1) * t]))
        self._next = band + 1

    # -- finishing
    def close(self) -> None:
        """Finish the file and rename it onto ``path``; every row must have been given."""
        if self._closed:
            return
        if self._next < self.down:
            done = sum(int(filled.all(axis=1).sum()) for _, filled in self._bands.values())
            missing = self.height - self.rows_written - done
            self.abort()
            raise InputError(f"{self.path}: {missing} of {self.height} rows were never given; "
                             "nothing was written")
        self._thread.join()
        if self._error is not None:
            self._fail()
        os.replace(self._tmp, self.path)
        self._closed = True
        logger.debug("wrote %s: %s %s in %d x %d tiles", self.path, self.shape, self.dtype, self.tile, self.tile)

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is left as it was."""
        if self._closed:
            return
        self._closed = True
        self._bands.clear()
        if self._thread.is_alive():
            while True:
                try:
                    self._queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    if not self._thread.is_alive():
                        break
            self._thread.join()
        if self._tmp.exists():
            self._tmp.unlink()



def _tiff_kwargs(dtype: np.dtype, pixel_size: float | None, compression: str | None,
                 extra: dict[str, Any] | None) -> dict[str, Any]:
    """tifffile options: an ImageJ TIFF where ImageJ reads it, else a plain one (as write_tiff)."""
    kwargs: dict[str, Any] = {"photometric": "minisblack"}
    if compression is not None:
        kwargs["compression"] = compression
    if extra is None and compression is None and dtype in _IMAGEJ_GREY:
        metadata: dict[str, Any] = {"axes": "YX"}
        if pixel_size is not None:
            metadata["unit"] = "um"
            kwargs["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
        kwargs.update(imagej=True, metadata=metadata)
    else:
        if pixel_size is not None:
            kwargs["resolution"] = (1e4 / pixel_size, 1e4 / pixel_size)
            kwargs["resolutionunit"] = "CENTIMETER"
        kwargs["metadata"] = dict(extra or {})
    return kwargs


def open_image_writer(path: str | os.PathLike, shape: tuple[int, ...], dtype: Any, *,
                      pixel_size: float | None = None, tile: int = 256, compression: str | None = None,
                      force: bool = False) -> TiffTileWriter:
    """A :class:`TiffTileWriter` for an image of ``shape`` ``(Y, X)`` (or ``(1, Y, X)``).

    Parameters
    ----------
    path : str or path-like
        Output ``.tif``/``.tiff``.
    shape : tuple of int
    dtype : numpy dtype
        Stored as given (uint8, uint16, float32, ...); blocks must cast to it
        (``same_kind``).
    pixel_size : float, optional
        µm per pixel, stored so that :func:`~microseg.io.read_image` reads it back.
    tile : int
        Tile edge in px, a multiple of 16.
    compression : str, optional
        A tifffile compression (``"zlib"``); none by default.
    force : bool
        Overwrite an existing file (only when :meth:`~TiffTileWriter.close` succeeds).
    """
    return TiffTileWriter(path, shape, dtype, pixel_size=pixel_size, tile=tile, compression=compression,
                          force=force)


PROB_WRITE_DTYPES = ("float32", "float16", "uint8")


def open_prob_writer(path: str | os.PathLike, shape: tuple[int, ...], *, pixel_size: float | None = None,
                     dtype: str = "float32", tile: int = 256, compression: str | None = None,
                     force: bool = False) -> TiffTileWriter:
    """A :class:`TiffTileWriter` for a probability map in [0, 1] (as :func:`~microseg.io.write_prob`).

    Blocks are checked (NaN-free, within 0..1 up to rounding, then clipped) and stored as
    ``dtype``: ``"uint8"`` stores ``round(255 * prob)`` and records the scale, so that
    :func:`~microseg.io.read_prob` gives probabilities back.
    """
    from microseg._util import look_up_option
    from microseg.io.maps import _check_prob_values

    dtype = look_up_option(dtype, PROB_WRITE_DTYPES, what="dtype")

    def convert(block: np.ndarray) -> np.ndarray:
        if block.dtype.kind not in "fb":
            raise InputError(f"{path}: prob must be a float array in 0..1; got dtype {block.dtype}")
        values = _check_prob_values(np.asarray(block, np.float32), where=f"{path}: prob")
        if dtype == "uint8":
            return np.rint(values * 255).astype(np.uint8)
        return values.astype(dtype)

    extra = {"microseg": "prob", "scale": 255} if dtype == "uint8" else None
    return TiffTileWriter(path, shape, dtype, pixel_size=pixel_size, tile=tile, compression=compression,
                          force=force, extra=extra, convert=convert)
