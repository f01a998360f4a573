"""Stacks written slice by slice: OME-Zarr 0.4 and ImageJ TIFF (see :mod:`microseg.io.volumes`)."""
from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, OutputExistsError, check_output_path
from microseg._validate import check_pixel_size
from microseg.io._files import TIFF_SUFFIXES, CommitOnExit
from microseg.io._volume_read import import_zarr
from microseg.io.stacks import _check_spacing

logger = logging.getLogger(__name__)

__all__ = ["StackWriter", "open_stack_writer"]

#: Default zarr chunk edge in Y and X (px); chunks are one slice deep.
ZARR_CHUNK = 512
#: ImageJ (classic TIFF) hyperstacks above this many bytes are written as BigTIFF instead.
CLASSIC_TIFF_LIMIT = 2**32 - 2**25
_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


class StackWriter(CommitOnExit):
    """A ``(Z, Y, X)`` stack written slice by slice (see :func:`open_stack_writer`).

    ``w[z] = plane`` and ``w[z0:z1] = block`` store slices, in any order (a slice given
    twice is overwritten); a zarr output also takes any region (``w[z, r0:r1, c0:c1]``),
    and its level-0 array is :attr:`array`, for ``dask.array.store``. Blocks must cast to
    :attr:`dtype` (``same_kind``). :meth:`close` (or leaving a ``with`` block) renames the
    temporary output onto :attr:`path`; a TIFF with slices missing, an exception in the
    block or :meth:`abort` removes it, leaving ``path`` as it was. Memory: one slice.

    Attributes
    ----------
    path : Path
    shape : tuple of int
        ``(Z, Y, X)``.
    dtype : numpy.dtype
    format : str
        ``"zarr"`` or ``"tiff"``.
    chunks : tuple of int
        zarr chunks ``(1, y, x)``; ``(1, Y, X)`` (pages) for TIFF.
    array : zarr.Array or None
        The level-0 array of a zarr output (under the temporary name until :meth:`close`);
        None for TIFF.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype: Any, *,
                 pixel_size: float | None = None, slice_spacing: float | None = None,
                 chunks: tuple[int, ...] | None = None, force: bool = False) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix != ".zarr" and suffix not in TIFF_SUFFIXES:
            raise InputError(f"{self.path}: stacks are written as OME-Zarr (.zarr) or ImageJ TIFF (.tif, .tiff); "
                             "use one of those names")
        self.format = "zarr" if suffix == ".zarr" else "tiff"
        shape = tuple(shape)
        if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise InputError(f"shape: expected (Z, Y, X) with positive integer sizes, got {shape}")
        self.shape: tuple[int, int, int] = tuple(int(n) for n in shape)
        self.dtype = np.dtype(np.uint8) if np.dtype(dtype) == bool else np.dtype(dtype)
        if self.dtype.kind not in "uif":
            raise InputError(f"dtype: expected an integer, float or bool dtype, got {np.dtype(dtype)}")
        self.pixel_size = check_pixel_size(pixel_size)
        self.slice_spacing = _check_spacing(slice_spacing)
        self._force = force
        check_output_path(self.path, force=force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._tmp: Path | None = None
        self.array: Any = None
        self._file: Any = None
        if self.format == "zarr":
            self._open_zarr(chunks)
        else:
            self._open_tiff()

    def __repr__(self) -> str:
        return f"StackWriter({str(self.path)!r}, shape={self.shape}, dtype={self.dtype}, format={self.format!r})"

    def __reduce__(self) -> Any:
        raise TypeError(f"{self.path}: a StackWriter stays in the process that made it; give dask workers "
                        "writer.array (zarr output) instead")

    # -- opening
    def _open_zarr(self, chunks: tuple[int, ...] | None) -> None:
        zarr = import_zarr(self.path)
        from numcodecs import Blosc

        _, y, x = self.shape
        chunks = (1, min(y, ZARR_CHUNK), min(x, ZARR_CHUNK)) if chunks is None else tuple(chunks)
        if len(chunks) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in chunks):
            raise InputError(f"chunks: expected three positive integers (z, y, x), got {chunks}")
        self.chunks = tuple(min(int(c), n) for c, n in zip(chunks, self.shape))
        self._tmp = _temporary(self.path, folder=True)
        try:
            group = zarr.open_group(str(self._tmp), mode="w", zarr_format=2)
            self.array = group.create_array(
                "0", shape=self.shape, chunks=self.chunks, dtype=self.dtype, fill_value=0,
                compressors=Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),
                chunk_key_encoding={"name": "v2", "separator": "/"})
            group.attrs["multiscales"] = [_multiscales(self.path.stem, self.pixel_size, self.slice_spacing)]
        except BaseException:
            self.abort()
            raise

    def _open_tiff(self) -> None:
        import tifffile

        self.chunks = (1,) + self.shape[1:]
        self._tmp = _temporary(self.path, folder=False)
        px, dz = self.pixel_size, self.slice_spacing
        nbytes = math.prod(self.shape) * self.dtype.itemsize
        kwargs: dict[str, Any] = {"photometric": "minisblack", "byteorder": "<"}
        if self.dtype in _IMAGEJ_DTYPES and nbytes < CLASSIC_TIFF_LIMIT:
            metadata: dict[str, Any] = {"axes": "ZYX"}
            if px is not None:
                metadata["unit"] = "um"
                kwargs["resolution"] = (1.0 / px, 1.0 / px)
                if dz is not None:
                    metadata["spacing"] = dz
            kwargs.update(imagej=True, metadata=metadata)
        else:   # a plain (Big)TIFF with tifffile's JSON description, as write_tiff writes other dtypes
            kwargs["bigtiff"] = nbytes >= CLASSIC_TIFF_LIMIT
            kwargs["metadata"] = {"spacing": dz, "unit": "um"} if dz is not None else {}
            if px is not None:
                kwargs.update(resolution=(1e4 / px, 1e4 / px), resolutionunit="CENTIMETER")
        try:
            offset, _ = tifffile.imwrite(self._tmp, shape=self.shape, dtype=self.dtype, returnoffset=True,
                                         **kwargs)
            self._file = open(self._tmp, "r+b")
        except BaseException:
            self.abort()
            raise
        self._offset = int(offset)
        self._plane_bytes = self.shape[1] * self.shape[2] * self.dtype.itemsize
        self._file_dtype = self.dtype.newbyteorder("<")
        self._written = np.zeros(self.shape[0], bool)
        self._lock = threading.Lock()

    # -- slices
    @property
    def slices_written(self) -> int:
        """TIFF: slices given so far (each counted once); zarr: not tracked (-1)."""
        return int(self._written.sum()) if self.format == "tiff" else -1

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._closed:
            raise InputError(f"{self.path}: the writer is closed")
        block = self._cast(value)
        if self.format == "zarr":
            self.array[key] = block
            return
        zs = self._whole_slices(key)
        try:
            block = np.broadcast_to(block.astype(self._file_dtype, copy=False), (len(zs),) + self.shape[1:])
        except ValueError:
            raise InputError(f"{self.path}: a block of shape {block.shape} does not fit {len(zs)} slices of "
                             f"{self.shape[1:]}") from None
        with self._lock:
            for i, z in enumerate(zs):
                self._file.seek(self._offset + z * self._plane_bytes)
                self._file.write(np.ascontiguousarray(block[i]).data)
                self._written[z] = True

    def _cast(self, value: Any) -> np.ndarray:
        """``value`` in :attr:`dtype`: same kind, integers of either sign that fit, numbers that keep their value."""
        block = np.asarray(value)
        if block.dtype == self.dtype or np.can_cast(block.dtype, self.dtype, "same_kind"):
            return block.astype(self.dtype, copy=False)
        if block.dtype.kind in "iub" and self.dtype.kind in "iu" and block.size:
            info = np.iinfo(self.dtype)
            low, high = int(block.min()), int(block.max())
            if info.min <= low and high <= info.max:
                return block.astype(self.dtype)
            raise InputError(f"{self.path}: values {low}..{high} do not fit a {self.dtype} stack "
                             f"({info.min}..{info.max})")
        if block.ndim == 0 and block.dtype.kind in "iuf" and np.asarray(value, self.dtype) == value:
            return np.asarray(value, self.dtype)
        raise InputError(f"{self.path}: cannot store {block.dtype} values in a {self.dtype} stack")

    def _whole_slices(self, key: Any) -> range:
        """The slices a TIFF key covers; TIFF pages are written whole."""
        key = key if isinstance(key, tuple) else (key,)
        rest = key[1:]
        whole = all(isinstance(k, slice) and k.indices(n) == (0, n, 1) for k, n in zip(rest, self.shape[1:]))
        if len(key) > 3 or not whole:
            raise InputError(f"{self.path}: a TIFF stack is written in whole slices (w[z] = plane, "
                             f"w[z0:z1] = block), got {key!r}; write a .zarr for regions")
        kz, n = key[0], self.shape[0]
        if isinstance(kz, (int, np.integer)) and not isinstance(kz, (bool, np.bool_)):
            z = int(kz) + (n if kz < 0 else 0)
            if not 0 <= z < n:
                raise IndexError(f"slice {int(kz)} is out of range for a stack of {n} slices")
            return range(z, z + 1)
        if isinstance(kz, slice):
            return range(*kz.indices(n))
        raise InputError(f"{self.path}: slices are given by an integer or a slice, got {kz!r}")

    # -- finishing
    def close(self) -> None:
        """Finish the output and rename it onto :attr:`path`; a TIFF needs every slice."""
        if self._closed:
            return
        if self.format == "tiff":
            missing = np.flatnonzero(~self._written)
            if missing.size:
                self.abort()
                raise InputError(f"{self.path}: {missing.size} of {self.shape[0]} slices were never given "
                                 f"(the first: z = {missing[0]}); nothing was written")
            self._file.close()
        if self.path.exists() and not self._force:
            self.abort()
            raise OutputExistsError(f"{self.path}: appeared while writing; pass force=True (--force) to overwrite")
        _replace(self._tmp, self.path)
        self._closed, self.array = True, None
        logger.debug("wrote %s: %s %s", self.path, self.shape, self.dtype)

    def abort(self) -> None:
        """Stop writing and remove the temporary output; :attr:`path` is left as it was."""
        if self._closed:
            return
        self._closed = True
        self.array = None
        if self._file is not None:
            self._file.close()
        if self._tmp is not None:
            _remove(self._tmp)



def _multiscales(name: str, pixel_size: float | None, slice_spacing: float | None) -> dict[str, Any]:
    """OME-Zarr 0.4 ``multiscales`` of one level ``"0"``: axes z, y, x in µm where the sizes are known."""
    def axis(label: str, known: bool) -> dict[str, str]:
        return {"name": label, "type": "space", **({"unit": "micrometer"} if known else {})}

    px, dz = pixel_size, slice_spacing
    return {"version": "0.4", "name": name,
            "axes": [axis("z", dz is not None), axis("y", px is not None), axis("x", px is not None)],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [dz or 1.0, px or 1.0, px or 1.0]}]}]}


def _temporary(target: Path, *, folder: bool) -> Path:
    """A new empty file or folder beside ``target`` (``.name.<random>.part.ext``), with the umask's permissions.

    Not :mod:`tempfile`: its files are private (0600), and a result is for everyone who may read the folder.
    """
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.part{target.suffix}")
        try:
            if folder:
                tmp.mkdir()
            else:
                with open(tmp, "xb"):
                    pass
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{target}: cannot make a temporary name beside it")  # pragma: no cover


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` onto ``target``; an existing target (a file or a folder) is removed only after."""
    if not (target.exists() and (tmp.is_dir() or target.is_dir())):
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove(old)


def open_stack_writer(path: str | os.PathLike, shape: tuple[int, ...], dtype: Any, *,
                      pixel_size: float | None = None, slice_spacing: float | None = None,
                      chunks: tuple[int, ...] | None = None, force: bool = False) -> StackWriter:
    """A :class:`StackWriter` for a ``(Z, Y, X)`` stack, written slice by slice, never held whole.

    Parameters
    ----------
    path : str or path-like
        ``.zarr``: an OME-Zarr 0.4 image in a zarr format 2 store (Fiji, napari and
        ome-zarr-py read it): a group with ``multiscales`` (axes ``z, y, x``, type space,
        unit ``micrometer`` where the size is known; scale ``[dz, px, px]``) and one level
        ``"0"``, compressed with Blosc lz4 (level 5, byte shuffle: zarr v2's default, 3x
        faster than zstd level 3 on float32 slices), chunks one slice deep.
        ``.tif``/``.tiff``: an ImageJ hyperstack (uint8, uint16, float32; ``unit=um``,
        ``spacing``), uncompressed and contiguous; other dtypes, or more than 4 GB, a plain
        (Big)TIFF that :func:`open_stack` reads back the same. The parent folder is made
        when missing (a staging folder of the task layer works).
    shape : tuple of int
        ``(Z, Y, X)``.
    dtype : numpy dtype
        Stored as given; bool is stored as uint8.
    pixel_size, slice_spacing : float, optional
        In µm, stored so that :func:`open_stack` (and Fiji) read them back.
    chunks : tuple of int, optional
        zarr chunks ``(z, y, x)``; default ``(1, min(Y, 512), min(X, 512))``, so that any
        writer that splits the stack along Z (``dask.array.store`` from several processes)
        writes whole chunks. Ignored for TIFF.
    force : bool
        Replace an existing output (only when :meth:`~StackWriter.close` succeeds).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``force`` is false.
    InputError
        An unknown extension, a bad shape, dtype or chunks, or zarr not installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from microseg.io import open_stack
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "labels.tif"
    >>> with open_stack_writer(out, (3, 4, 5), np.uint8, pixel_size=0.5) as w:
    ...     w[0:2] = 1
    ...     w[2] = np.full((4, 5), 7, np.uint8)
    >>> stack = open_stack(out, slice_spacing=0.5)
    >>> [int(plane.max()) for plane in stack]
    [1, 1, 7]
    """
    return StackWriter(path, shape, dtype, pixel_size=pixel_size, slice_spacing=slice_spacing, chunks=chunks,
                       force=force)
