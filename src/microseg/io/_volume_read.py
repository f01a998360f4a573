"""The readers behind :class:`~microseg.io.volumes.LazyStack`: TIFF pages, folders of slices, zarr.

Each reader holds paths and offsets, never an open file (it pickles, for dask workers) and
gives ``read(z0, z1, r0, r1, c0, c1) -> (n, h, w)`` of one stack. The ``open_*`` functions
read headers only and return an :class:`Opened`: the reader with the pixel size and slice
spacing found in the metadata.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from microseg._util import FileFormatError, InputError, MicrosegError
from microseg.io._files import (
    IMAGE_SUFFIXES, TIFF_SUFFIXES, MissingFileError, RawImage, check_claimed_size, read_raw, tiff_info,
    tiff_read_errors,
)
from microseg.io._metadata import find_pixel_size, unit_to_um
from microseg.io.lazy import _open_tiff, _TiffSource
from microseg.io.stacks import _spacing_from_tiff, slice_files

logger = logging.getLogger(__name__)

DASK_EXTRA = 'pip install "microseg[dask]"'

#: Slices whose readers (and their decoded TIFF segments) a stack keeps for the next reads:
#: the tiles of one slice, or of ``2 r + 1`` neighbouring slices (2.5D), decode once.
SLICES_KEPT = 5
_SQUARE_RTOL = 1e-3


def import_zarr(path: Any) -> Any:
    """The zarr module (version 3 or later), or an InputError that says how to install it."""
    try:
        import zarr
    except ImportError:
        raise InputError(f"{path}: zarr stacks need the zarr package; install it with {DASK_EXTRA}") from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise InputError(f"{path}: zarr stacks need zarr >= 3 (found {zarr.__version__}); "
                         f"upgrade with {DASK_EXTRA} --upgrade")
    return zarr


# --------------------------------------------------------------------------- readers
class ArraySlices:
    """Slices of an array already in memory, or of any array-like (zarr, dask) indexed lazily."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.shape = tuple(int(n) for n in data.shape)
        self.dtype = np.dtype(data.dtype)
        size = getattr(data, "chunksize", None) or getattr(data, "chunks", None)
        ok = isinstance(size, tuple) and len(size) == 3 and all(isinstance(n, (int, np.integer)) for n in size)
        self.chunks = tuple(int(n) for n in size) if ok else (1,) + self.shape[1:]
        self.bytes_read = 0

    def read(self, z0: int, z1: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.asarray(self.data[z0:z1, r0:r1, c0:c1])
        self.bytes_read += out.nbytes
        return out


class _ZarrSlices:
    """Slices of a zarr array at ``location`` (reopened in each process); ``lead`` axes of size 1 dropped."""

    def __init__(self, location: str, array: Any, lead: int = 0) -> None:
        self.location, self.lead, self._array = location, lead, array
        self.shape = tuple(int(n) for n in array.shape[lead:])
        self.dtype = np.dtype(array.dtype)
        self.chunks = tuple(int(n) for n in array.chunks[lead:])
        self.bytes_read = 0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    @property
    def array(self) -> Any:
        if self._array is None:
            self._array = import_zarr(self.location).open_array(self.location, mode="r")
        return self._array

    def read(self, z0: int, z1: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        key = (0,) * self.lead + (slice(z0, z1), slice(r0, r1), slice(c0, c1))
        out = np.asarray(self.array[key])
        self.bytes_read += out.nbytes
        return out


class _TiffLayout:
    """How the pages of one TIFF keyframe are stored; stands in for a tifffile page in :class:`_TiffSource`.

    Picklable: the decoder (compressed pages only) is rebuilt from page ``index`` of the file.
    """

    _ATTRS = ("is_tiled", "tilelength", "tilewidth", "rowsperstrip", "compression", "predictor",
              "fillorder", "bitspersample")

    def __init__(self, path: Path, keyframe: Any, *, contiguous: bool = False) -> None:
        self.path, self.index = path, int(keyframe.index)
        self.shaped = tuple(int(n) for n in keyframe.shaped)
        self.dtype = np.dtype(keyframe.dtype)
        if contiguous:   # one raw strip per page, wherever the file's own strips lie
            self.is_tiled, self.tilelength, self.tilewidth = False, 0, 0
            self.rowsperstrip = self.shaped[-3]
            self.compression = self.predictor = self.fillorder = 1
            self.bitspersample = self.dtype.itemsize * 8
        else:
            for name in self._ATTRS:
                setattr(self, name, getattr(keyframe, name))
        self.segments = 1 if contiguous else len(keyframe.dataoffsets)
        self._decode = None if contiguous else keyframe.decode

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_decode": None}

    @property
    def decode(self) -> Any:
        if self._decode is None:
            import tifffile

            with tifffile.TiffFile(self.path) as tif:
                tif.pages.useframes = False
                self._decode = tif.pages[self.index].decode
        return self._decode


class _PageView:
    """One page for :class:`_TiffSource`: the storage of its layout, its own segment offsets."""

    def __init__(self, layout: _TiffLayout, offsets: np.ndarray, counts: np.ndarray) -> None:
        self._layout, self.dataoffsets, self.databytecounts = layout, offsets, counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layout, name)


class _Kept:
    """The readers of the last :data:`SLICES_KEPT` slices, the bytes all of them read, and a lock.

    Readers and their segment caches are not thread-safe: a stack's reads hold :attr:`lock`.
    """

    def __init__(self) -> None:
        self.items: OrderedDict[int, Any] = OrderedDict()
        self.dropped = 0
        self.lock = threading.Lock()

    def __reduce__(self) -> Any:
        return _Kept, ()      # another process starts with no readers kept

    def get(self, z: int, make: Any) -> Any:
        if z in self.items:
            self.items.move_to_end(z)
        else:
            self.items[z] = make(z)
            while len(self.items) > SLICES_KEPT:
                self.dropped += _bytes(self.items.popitem(last=False)[1])
        return self.items[z]

    @property
    def bytes_read(self) -> int:
        return self.dropped + sum(_bytes(item) for item in self.items.values())


def _bytes(item: Any) -> int:
    return item.bytes_read if hasattr(item, "bytes_read") else int(item.nbytes)


class _TiffPages:
    """The pages of a multi-page TIFF, each read segment by segment (never another page)."""

    def __init__(self, path: Path, shape: tuple[int, int, int], dtype: np.dtype, byteorder: str,
                 layouts: list[_TiffLayout], pages: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        self.path, self.shape, self.dtype, self.byteorder = path, shape, np.dtype(dtype), byteorder
        self.layouts, self.pages = layouts, pages
        self.chunks = (1,) + shape[1:]
        self._kept = _Kept()

    @property
    def bytes_read(self) -> int:
        return self._kept.bytes_read

    def _source(self, z: int) -> _TiffSource:
        layout, offsets, counts = self.pages[z]
        return _TiffSource(self.path, _PageView(self.layouts[layout], offsets, counts), self.byteorder)

    def read(self, z0: int, z1: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.empty((z1 - z0, r1 - r0, c1 - c0), self.dtype)
        with self._kept.lock:
            for i, z in enumerate(range(z0, z1)):
                out[i] = self._kept.get(z, self._source).region(r0, r1, c0, c1)[..., 0]
        return out


class _FolderSlices:
    """One 2D image per slice: TIFF slices read region by region, other formats whole (then cropped)."""

    def __init__(self, files: list[Path], shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self.files, self.shape, self.dtype = files, shape, np.dtype(dtype)
        self.chunks = (1,) + shape[1:]
        self._kept = _Kept()

    @property
    def bytes_read(self) -> int:
        return self._kept.bytes_read

    def _open(self, z: int) -> Any:
        file = self.files[z]
        if file.suffix.lower() in TIFF_SUFFIXES:
            source, _ = _open_tiff(file)
            found = (source.height, source.width), source.dtype.newbyteorder("=")
        else:
            source = read_raw(file).data
            source = source if source.ndim == 2 else source[..., 0]    # grey + alpha, or a grey palette
            source = source.astype(source.dtype.newbyteorder("="), copy=False)
            found = source.shape, source.dtype
        if found != (self.shape[1:], self.dtype):
            raise FileFormatError(f"{file}: decodes to shape {found[0]} and dtype {found[1]}, but its header "
                                  f"said {self.shape[1:]} and {self.dtype}; the file is damaged")
        return source

    def read(self, z0: int, z1: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.empty((z1 - z0, r1 - r0, c1 - c0), self.dtype)
        with self._kept.lock:
            for i, z in enumerate(range(z0, z1)):
                source = self._kept.get(z, self._open)
                out[i] = source[r0:r1, c0:c1] if isinstance(source, np.ndarray) else \
                    source.region(r0, r1, c0, c1)[..., 0]
        return out


class Opened(NamedTuple):
    """A reader with what its metadata say."""

    reader: Any
    pixel_size: float | None
    pixel_size_source: str
    slice_spacing: float | None
    metadata: dict[str, Any]


# --------------------------------------------------------------------------- TIFF
def open_tiff_stack(path: Path) -> Opened:
    import tifffile

    with tiff_read_errors(path), tifffile.TiffFile(path) as tif:
        reader = _tiff_pages(path, tif)
        info = tiff_info(tif)
    flat = reader.shape[0] == 1     # as read_stack: one page is a 2D image for the metadata rules
    dummy = np.broadcast_to(np.zeros((), reader.dtype), reader.shape[1:] if flat else reader.shape)
    found, source, metadata = find_pixel_size(RawImage(dummy, "YX" if flat else "ZYX", path, info))
    return Opened(reader, found, source, _spacing_from_tiff(info), metadata)


def _tiff_pages(path: Path, tif: Any) -> _TiffPages:
    """Where the pages of ``tif``'s stack lie: one series of pages, or one 2D series per page."""
    if not tif.series:
        raise FileFormatError(f"{path}: TIFF file holds no image")
    series = tif.series
    first = series[0]
    if len(series) > 1 and all(len(s.shape) == 2 and s.shape == first.shape and s.dtype == first.dtype
                               for s in series):
        check_claimed_size(path, series)
        layouts: dict[int, int] = {}
        kept: list[_TiffLayout] = []
        pages = []
        for s in series:
            key = s.keyframe.hash
            if key not in layouts:
                layouts[key] = len(kept)
                kept.append(_TiffLayout(path, s.keyframe))
            pages.append(_page_entry(layouts[key], kept[layouts[key]], s[0]))
        return _TiffPages(path, (len(series),) + tuple(first.shape), first.dtype, tif.byteorder, kept, pages)
    if first.is_multifile:
        raise InputError(f"{path}: its image spans several files (a multi-file OME-TIFF); save it as one "
                         "TIFF, a folder of slices or a .zarr")
    check_claimed_size(path, [first])
    shape, axes = first.get_shape(False), first.get_axes(False)
    if "S" in axes and shape[axes.index("S")] > 1:
        raise InputError(f"{path}: holds colour data of shape {first.shape} (axes {first.axes}); stacks must be "
                         "grey (Z, Y, X): convert it (Fiji: Image > Type > 8-bit)")
    outer = [(ax, n) for ax, n in zip(axes, shape) if ax not in "YXS" and n > 1]
    if len(outer) > 1:
        raise InputError(f"{path}: holds a hyperstack of shape {first.shape} (axes {first.axes}); a (Z, Y, X) "
                         "stack has one axis besides Y and X: keep one channel and one time point "
                         "(Fiji: Image > Hyperstacks > Reduce Dimensionality)")
    z_size = outer[0][1] if outer else 1
    if outer and outer[0][0] not in "ZIQ":
        logger.info("%s: its %d pages along axis %s are read as slices", path, z_size, outer[0][0])
    keyframe = first.keyframe
    size = (shape[axes.index("Y")], shape[axes.index("X")])
    if tuple(keyframe.shaped[-3:-1]) != size or keyframe.shaped[1] != 1:
        raise InputError(f"{path}: pages of shape {keyframe.shaped} do not hold one {size} slice each")
    volume = (z_size,) + size
    plane = keyframe.shaped[-3] * keyframe.shaped[-2] * np.dtype(keyframe.dtype).itemsize
    if first.dataoffset is not None and not keyframe.is_tiled:
        layout = _TiffLayout(path, keyframe, contiguous=True)
        pages = [(0, np.array([first.dataoffset + z * plane]), np.array([plane])) for z in range(z_size)]
    else:
        layout = _TiffLayout(path, keyframe)
        if len(first) < z_size:
            raise FileFormatError(f"{path}: the TIFF lists {len(first)} pages for {z_size} slices; it is damaged")
        pages = [_page_entry(0, layout, first[z]) for z in range(z_size)]
    return _TiffPages(path, volume, keyframe.dtype, tif.byteorder, [layout], pages)


def _page_entry(layout_id: int, layout: _TiffLayout, page: Any) -> tuple[int, np.ndarray, np.ndarray]:
    if page is None:    # a page tifffile lists as missing: zeros, as tifffile reads it
        return layout_id, np.zeros(layout.segments, np.int64), np.zeros(layout.segments, np.int64)
    return layout_id, np.asarray(page.dataoffsets, np.int64), np.asarray(page.databytecounts, np.int64)


# --------------------------------------------------------------------------- folders
_PIL_DTYPES = {"1": np.bool_, "L": np.uint8, "LA": np.uint8, "I;16": np.uint16, "I;16L": np.uint16,
               "I;16B": np.uint16, "I;16N": np.uint16, "I": np.int32, "F": np.float32}


def _slice_header(file: Path, *, info: bool = False) -> tuple[tuple[int, int], np.dtype, dict[str, Any]]:
    """``(shape (Y, X), dtype, TIFF metadata)`` of one slice file, from its header only."""
    try:
        if file.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(file) as tif:
                if not tif.series:
                    raise FileFormatError(f"{file}: TIFF file holds no image")
                s = tif.series[0]
                shape, axes, dtype = tuple(s.shape), s.axes, np.dtype(s.dtype)
                meta = tiff_info(tif) if info else {}
            if axes == "YXS" and shape[-1] == 2:
                shape, axes = shape[:2], "YX"      # grey + alpha: the grey
            kind = {"YX": "grey", "YXS": "colour"}.get(axes, "stack")
        else:
            from PIL import Image as PILImage

            with PILImage.open(file) as im:
                (width, height), mode, meta = im.size, im.mode, {}
                palette = im.getpalette() if mode == "P" else None
            shape = (height, width)
            dtype = np.dtype(_PIL_DTYPES.get(mode, np.uint8))
            grey_palette = palette is not None and palette[0::3] == palette[1::3] == palette[2::3]
            kind = "grey" if mode in _PIL_DTYPES or grey_palette else "colour"
            axes = mode
    except (MicrosegError, MemoryError):
        raise
    except Exception as exc:
        raise FileFormatError(f"{file}: cannot read its header (damaged or not an image): "
                              f"{str(exc) or type(exc).__name__}") from None
    if kind == "colour":
        raise InputError(f"{file}: is a colour image ({axes}); stack slices must be grey: convert them "
                         "(Fiji: Image > Type > 8-bit), or read the folder with read_stack, which takes "
                         "colour slices whose channels are equal")
    if kind == "stack":
        raise InputError(f"{file}: holds a stack of shape {shape} (axes {axes}); a folder must hold one "
                         "2D image per slice")
    return shape, dtype, meta


def open_folder(folder: Path) -> Opened:
    files = slice_files(folder)
    if not files:
        raise InputError(f"{folder}: folder holds no slice images ({', '.join(IMAGE_SUFFIXES)}); "
                         "give a folder of 2D slices, a multi-page TIFF or a .zarr")
    return open_files(folder, files)


def open_files(where: Path, files: list[Path]) -> Opened:
    shape, dtype, info = _slice_header(files[0], info=True)
    for file in files[1:]:
        other, other_dtype, _ = _slice_header(file)
        if other != shape or other_dtype != dtype:
            raise InputError(f"{file}: slice has shape {other} and dtype {other_dtype}, but {files[0].name} has "
                             f"shape {shape} and dtype {dtype}; all slices must have one shape and dtype")
    dummy = np.broadcast_to(np.zeros((), dtype), shape)
    found, source, metadata = find_pixel_size(RawImage(dummy, "YX", files[0], info))
    logger.debug("%s: %d slices of %s %s", where, len(files), shape, dtype)
    return Opened(_FolderSlices(files, (len(files),) + shape, dtype), found, source,
                   _spacing_from_tiff(info), {**metadata, "files": len(files)})


# --------------------------------------------------------------------------- zarr
def is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or any((path / name).is_file()
                                                 for name in (".zarray", ".zgroup", "zarr.json"))


def open_zarr(path: Path, explicit: float | None) -> Opened:
    zarr = import_zarr(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such zarr store (stack expected)")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise FileFormatError(f"{path}: cannot open as zarr: {str(exc) or type(exc).__name__}") from None
    location = path
    if isinstance(node, zarr.Group):
        attrs = node.attrs.asdict()
        ome = attrs["ome"] if isinstance(attrs.get("ome"), dict) else attrs
        if ome.get("multiscales"):
            return _open_ome(path, node, ome, explicit)
        names = sorted(node.array_keys())
        if len(names) != 1:
            raise InputError(f"{path}: zarr group holds {len(names)} arrays ({', '.join(names[:6]) or 'none'}) "
                             f"and no OME-Zarr multiscales; open one array: {path / '<name>'}")
        node, location = node[names[0]], path / names[0]
    if node.ndim != 3:
        raise InputError(f"{location}: zarr array has shape {node.shape}; a stack is a 3D (Z, Y, X) array")
    _check_dtype(location, node.dtype)
    metadata = {"format": f"zarr v{node.metadata.zarr_format}"}
    return Opened(_ZarrSlices(str(location), node), None, "unknown", None, metadata)


def _check_dtype(where: Any, dtype: Any) -> None:
    if np.dtype(dtype).kind not in "buif":
        raise InputError(f"{where}: holds dtype {dtype}; a stack holds integers, floats or booleans")


def _open_ome(path: Path, group: Any, ome: dict[str, Any], explicit: float | None) -> Opened:
    multiscale = ome["multiscales"][0]
    version = str(ome.get("version") or multiscale.get("version") or "")
    datasets = multiscale.get("datasets") or []
    if not datasets or "path" not in datasets[0]:
        raise FileFormatError(f"{path}: OME-Zarr multiscales lists no datasets; the image is damaged")
    try:
        array = group[datasets[0]["path"]]
    except KeyError:
        array = None
    if not hasattr(array, "dtype"):
        raise FileFormatError(f"{path}: OME-Zarr level {datasets[0]['path']!r} is not an array of the group")
    axes = multiscale.get("axes") or [{"name": n} for n in ("tczyx" if array.ndim == 5 else "zyx"[-array.ndim:])]
    names = [str(a.get("name") if isinstance(a, dict) else a).lower() for a in axes]
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    shape = tuple(int(n) for n in array.shape)
    if len(names) != len(shape):
        raise FileFormatError(f"{path}: OME-Zarr lists {len(names)} axes for an array of shape {shape}")
    lead = len(names) - 3
    if names[-3:] != ["z", "y", "x"] or any(n not in ("t", "c") or s != 1 for n, s in zip(names[:lead], shape)):
        raise InputError(f"{path}: OME-Zarr image has axes {','.join(names)} of shape {shape}; a stack needs "
                         "axes z,y,x (a leading t or c of size 1 is dropped): keep one channel and time point")
    _check_dtype(path, array.dtype)
    scale = np.ones(len(shape))
    for transforms in (datasets[0].get("coordinateTransformations"), multiscale.get("coordinateTransformations")):
        for t in transforms or []:
            if isinstance(t, dict) and t.get("type") == "scale" and isinstance(t.get("scale"), list):
                if len(t["scale"]) != len(shape):
                    raise FileFormatError(f"{path}: OME-Zarr scale {t['scale']} does not match axes {names}")
                scale = scale * np.asarray(t["scale"], float)
    sizes = []
    for value, unit in zip(scale[-3:], units[-3:]):
        factor = unit_to_um(str(unit)) if unit else None
        sizes.append(float(value) * factor if factor and value > 0 else None)
    dz, dy, dx = sizes
    metadata: dict[str, Any] = {"format": f"ome-zarr {version}".strip(), "dataset": datasets[0]["path"],
                                "ome_axes": "".join(names)}
    if dx is not None and dy is not None and not math.isclose(dx, dy, rel_tol=_SQUARE_RTOL):
        if explicit is None:
            raise InputError(f"{path}: pixels are not square ({dy:.6g} µm in y, {dx:.6g} µm in x); "
                             "resample the stack, or give pixel_size=<µm> (--pixel-size)")
        metadata["pixel_size_y_um"] = dy
    reader = _ZarrSlices(str(path / datasets[0]["path"]), array, lead)
    return Opened(reader, dx, "ome" if dx is not None else "unknown", dz, metadata)
