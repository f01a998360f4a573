"""``(Z, Y, X)`` stacks read and written slice by slice, for volumes larger than memory.

:func:`open_stack` gives a :class:`LazyStack`: the shape, dtype, pixel size and slice
spacing of a stack, and ``stack[z]``, ``stack[z0:z1]`` or ``stack[z, r0:r1, c0:c1]``,
which read those slices (or that region) only. Sources: a multi-page TIFF (plain pages or
an ImageJ hyperstack), a folder of 2D slice images, a zarr array or group (zarr v2 and
v3), OME-Zarr 0.4/0.5, or an array already in memory. A stack holds paths, not open files:
it pickles, so that dask workers can read from it.

:func:`open_stack_writer` gives a :class:`StackWriter`: assign slices (``w[z] = plane``,
``w[z0:z1] = block``, in any order) and it writes an OME-Zarr 0.4 image (``.zarr``) or an
ImageJ hyperstack (``.tif``) under a temporary name beside the target, renamed onto it when
the ``with`` block ends without error; an error or :meth:`~StackWriter.abort` removes it.

zarr is an optional dependency (``pip install "microseg[dask]"``); TIFF needs nothing more.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> volume = np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5)
>>> with open_stack_writer(folder / "v.tif", volume.shape, np.uint16, pixel_size=0.01,
...                        slice_spacing=0.03) as w:
...     for z, plane in enumerate(volume):
...         w[z] = plane
>>> stack = open_stack(folder / "v.tif")
>>> stack.shape, stack.dtype, stack.pixel_size, stack.slice_spacing
((4, 6, 5), dtype('uint16'), 0.01, 0.03)
>>> bool((stack[1:3, 2:4, 1:5] == volume[1:3, 2:4, 1:5]).all())
True
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import FileFormatError, InputError
from microseg._validate import check_pixel_size
from microseg.io._files import IMAGE_SUFFIXES, TIFF_SUFFIXES, MissingFileError
from microseg.io._image import Image
from microseg.io._regions import parse_key
from microseg.io._volume_read import (
    ArraySlices, is_zarr, open_files, open_folder, open_tiff_stack, open_zarr,
)
from microseg.io._volume_write import StackWriter, open_stack_writer
from microseg.io.images import unknown_pixel_size_message
from microseg.io.stacks import _check_spacing

logger = logging.getLogger(__name__)

__all__ = ["LazyStack", "StackWriter", "open_stack", "open_stack_writer"]


# --------------------------------------------------------------------------- the stack
class LazyStack:
    """A ``(Z, Y, X)`` stack in a file, a folder or a zarr store, read slice by slice.

    Made by :func:`open_stack`. ``stack[z]`` gives slice ``z`` as a ``(Y, X)`` array,
    ``stack[z0:z1]`` the slices ``z0 .. z1 - 1`` as ``(n, Y, X)`` (clipped at the ends, as
    numpy clips), ``stack[z, r0:r1, c0:c1]`` a region of one slice (read as a region where
    the source can: TIFF pages and slices, zarr); iterating gives the slices in order.
    Only what is asked for is read; ``np.asarray(stack)`` or :meth:`read` read it all.
    A stack pickles (paths, not open files), so dask workers can read from it.

    Attributes
    ----------
    shape : tuple of int
        ``(Z, Y, X)``.
    dtype : numpy.dtype
        As stored (uint8, uint16, float32, ...), native byte order.
    pixel_size : float or None
        In-plane pixel size in µm (``None``: unknown).
    slice_spacing : float or None
        Distance between slices in µm (``None``: unknown).
    pixel_size_source, source, metadata
        As in :class:`~microseg.io.Image`; ``metadata["axes"] == "ZYX"``.
    chunks : tuple of int
        The source's natural read unit ``(z, y, x)``: ``(1, Y, X)`` for TIFF and folders,
        the array's chunks for zarr.
    """

    def __init__(self, reader: Any, *, source: str, pixel_size: float | None, pixel_size_source: str,
                 slice_spacing: float | None, metadata: dict[str, Any]) -> None:
        self._reader = reader
        self.shape: tuple[int, int, int] = tuple(reader.shape)
        self.dtype = np.dtype(reader.dtype).newbyteorder("=")
        self.chunks: tuple[int, int, int] = tuple(reader.chunks)
        self.source = source
        self.pixel_size = pixel_size
        self.pixel_size_source = pixel_size_source
        self.slice_spacing = slice_spacing
        self.metadata = {**metadata, "axes": "ZYX"}

    ndim = 3

    def __repr__(self) -> str:
        return (f"LazyStack(shape={self.shape}, dtype={self.dtype}, pixel_size={self.pixel_size}, "
                f"slice_spacing={self.slice_spacing}, source={self.source!r})")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def spacing(self) -> tuple[float, float, float] | None:
        """``(dz, dy, dx)`` in µm as :attr:`Image.spacing <microseg.io.Image.spacing>` gives it, or None."""
        if self.pixel_size is None:
            return None
        dz = self.slice_spacing if self.slice_spacing is not None else self.pixel_size
        return (float(dz), float(self.pixel_size), float(self.pixel_size))

    @property
    def bytes_read(self) -> int:
        """Bytes of pixel data read so far in this process (TIFF: from the file), for checks."""
        return self._reader.bytes_read

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for z in range(self.shape[0]):
            yield self[z]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:i] + (slice(None),) * (4 - len(key)) + key[i + 1:]
        if len(key) > 3:
            raise IndexError(f"too many indices for a stack of shape {self.shape}: {key!r}")
        key = key + (slice(None),) * (3 - len(key))
        kz, n = key[0], self.shape[0]
        if isinstance(kz, (int, np.integer)) and not isinstance(kz, (bool, np.bool_)):
            z = int(kz) + (n if kz < 0 else 0)
            if not 0 <= z < n:
                raise IndexError(f"slice {int(kz)} is out of range for a stack of {n} slices")
            zs = range(z, z + 1)
        elif isinstance(kz, slice):
            zs = range(*kz.indices(n))
        else:
            raise InputError(f"a stack is indexed by integers or slices, got {kz!r}")
        spans, dropped, _ = parse_key(key[1:], self.shape[1:])
        (r0, r1), (c0, c1) = spans
        if len(zs) == 0:
            out = np.empty((0, r1 - r0, c1 - c0), self.dtype)
        elif zs.step == 1:
            out = self._reader.read(zs.start, zs.stop, r0, r1, c0, c1)
        else:
            out = np.concatenate([self._reader.read(z, z + 1, r0, r1, c0, c1) for z in zs])
        drop = [not isinstance(kz, slice)] + dropped
        return out[tuple(0 if d else slice(None) for d in drop)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype)

    def read(self) -> Image:
        """The whole stack as an :class:`~microseg.io.Image` (what :func:`~microseg.io.read_stack` gives)."""
        return Image(np.ascontiguousarray(self[:]), pixel_size=self.pixel_size, source=self.source,
                     pixel_size_source=self.pixel_size_source, slice_spacing=self.slice_spacing,
                     metadata=dict(self.metadata))

    def _with(self, pixel_size: float | None, slice_spacing: float | None) -> LazyStack:
        """This stack with an explicit pixel size and/or slice spacing (None keeps the current one)."""
        return LazyStack(self._reader, source=self.source,
                         pixel_size=self.pixel_size if pixel_size is None else pixel_size,
                         pixel_size_source=self.pixel_size_source if pixel_size is None else "explicit",
                         slice_spacing=self.slice_spacing if slice_spacing is None else slice_spacing,
                         metadata=self.metadata)


def open_stack(path: str | os.PathLike | np.ndarray | Image | LazyStack, *, pixel_size: float | None = None,
               slice_spacing: float | None = None) -> LazyStack:
    """Open a ``(Z, Y, X)`` stack for reading slice by slice (see :class:`LazyStack`).

    Parameters
    ----------
    path : str, path-like, ndarray, Image or LazyStack
        One of

        * a multi-page TIFF: plain pages, pages written one by one, or an ImageJ hyperstack
          with its ``spacing`` and ``unit``. One axis besides Y and X may be larger than 1
          (read as Z, whatever its letter: ImageJ stacks saved without axes are "channels");
          hyperstacks with more (several channels or time points, or colour) are refused.
          A single 2D image gives ``Z = 1``.
        * a folder of 2D slice images (TIFF, PNG, BMP, JPEG) in natural order of their names
          (``slice2`` before ``slice10``), all of one shape and dtype, grey;
        * a zarr array, or a group holding one array (zarr v2 or v3);
        * an OME-Zarr image (0.4: ``multiscales`` in the group attributes; 0.5: under
          ``attributes["ome"]``): its level 0 (``datasets[0]``) with axes ``z, y, x`` (a
          leading ``t`` or ``c`` of size 1 is dropped), the voxel size from its ``scale``
          transformations and the axes' units (``micrometer``, ``nanometer``, ...);
        * an array already in memory (``(Z, Y, X)`` ndarray, an :class:`~microseg.io.Image`
          from :func:`~microseg.io.read_stack`, or any 3D array-like such as a zarr or dask
          array), so that callers treat everything alike. A 2D array gives ``Z = 1``.
    pixel_size : float, optional
        In-plane pixel size in µm; wins over the metadata (that of the first slice for a
        folder, found as :func:`~microseg.io.read_image` finds it).
    slice_spacing : float, optional
        Distance between slices in µm; wins over the ImageJ ``spacing`` or OME-Zarr ``z`` scale.

    Returns
    -------
    LazyStack
        Nothing but headers is read: a folder's files are checked from their headers only.

    Raises
    ------
    MissingFileError
        If ``path`` does not exist.
    FileFormatError
        If a file cannot be read as what it claims to be.
    InputError
        One line naming the file: the slices of a folder differ in shape or dtype (the
        message names the first odd file), a slice is colour, the folder holds no images,
        the TIFF or OME-Zarr holds more than one channel or time point, a zarr array is not
        3D, the OME-Zarr pixels are not square (give ``pixel_size``), or zarr is not
        installed (``pip install "microseg[dask]"``).

    Warns
    -----
    UserWarning
        Once, when no pixel size is given or found in a file.
    """
    explicit = check_pixel_size(pixel_size)
    spacing = _check_spacing(slice_spacing)
    if isinstance(path, LazyStack):
        return path._with(explicit, spacing)
    if not isinstance(path, (str, os.PathLike)):
        return _wrap_array(path, explicit, spacing)
    path = Path(path)
    if is_zarr(path):
        opened = open_zarr(path, explicit)
    elif path.is_dir():
        opened = open_folder(path)
    elif not path.exists():
        raise MissingFileError(f"{path}: no such file or folder (stack expected)")
    elif path.suffix.lower() in TIFF_SUFFIXES:
        opened = open_tiff_stack(path)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        opened = open_files(path, [path])
    else:
        raise FileFormatError(f"{path}: unknown stack format {path.suffix or '(no extension)'!r}; expected a "
                              f"multi-page TIFF, a folder of slices or a .zarr")
    found, source = opened.pixel_size, opened.pixel_size_source
    if explicit is not None:
        found, source = explicit, "explicit"
    elif found is None:
        warnings.warn(unknown_pixel_size_message(path), UserWarning, stacklevel=2)
    if spacing is None:
        spacing = opened.slice_spacing
        if spacing is None:
            logger.info("%s: slice spacing unknown; give slice_spacing=<µm> for 3D lengths", path)
    stack = LazyStack(opened.reader, source=str(path), pixel_size=found, pixel_size_source=source,
                      slice_spacing=spacing, metadata=opened.metadata)
    logger.debug("opened %r", stack)
    return stack


def _wrap_array(data: Any, explicit: float | None, spacing: float | None) -> LazyStack:
    """A LazyStack over an Image, an ndarray or a 3D array-like (zarr, dask), read as it is indexed."""
    found, found_source, dz, metadata, name = None, "unknown", None, {}, f"<{type(data).__name__}>"
    if isinstance(data, Image):
        if data.is_rgb:
            raise InputError(f"{data.source or 'image'}: is an RGB image; a stack is grey (Z, Y, X)")
        found, found_source, dz = data.pixel_size, data.pixel_size_source, data.slice_spacing
        name, metadata, data = data.source or "<Image>", dict(data.metadata), data.data
    if not all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__")):
        raise InputError(f"path: expected a path, an Image or a (Z, Y, X) array; got {type(data).__name__}")
    if isinstance(data, np.ndarray) and data.ndim == 2:
        data = data[np.newaxis]
    if len(data.shape) != 3:
        raise InputError(f"path: expected a (Z, Y, X) array; got shape {tuple(data.shape)}")
    if np.dtype(data.dtype).kind not in "buif":
        raise InputError(f"path: expected an integer, float or bool array; got dtype {data.dtype}")
    return LazyStack(ArraySlices(data), source=name, pixel_size=explicit if explicit is not None else found,
                     pixel_size_source="explicit" if explicit is not None else found_source,
                     slice_spacing=spacing if spacing is not None else dz, metadata=metadata)
