"""open_stack / open_stack_writer: (Z, Y, X) stacks read and written slice by slice.

Independent checks: files written by tifffile and ome-zarr-py are read by open_stack, and
the files open_stack_writer writes are read by tifffile, zarr and ome-zarr-py.
"""
from __future__ import annotations

import builtins
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.io import Image, lazy, read_stack
from microseg.io.volumes import LazyStack, open_stack, open_stack_writer

RNG = np.random.default_rng(11)
PX, DZ = 0.02, 0.05
VOLUME = RNG.integers(0, 60000, (6, 23, 29), dtype=np.uint16)
KINDS = ["tiff", "tiff-tiled-zlib", "tiff-pages", "folder-tiff", "folder-png", "zarr", "ome-zarr", "array"]


def listing(folder: Path) -> list[str]:
    """Everything below ``folder`` (hidden temporaries included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def zarr_or_skip():
    return pytest.importorskip("zarr")


def ome_zarr_writer():
    """ome_zarr.writer (its import warns about its own deprecated defaults)."""
    pytest.importorskip("ome_zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr import format as ome_format
        from ome_zarr import writer
    return writer, ome_format


def make_stack(kind: str, folder: Path, data: np.ndarray = VOLUME) -> LazyStack:
    """``data`` stored as ``kind`` and opened with open_stack (pixel size PX, spacing DZ)."""
    if kind == "tiff":             # an ImageJ hyperstack, as Fiji writes it
        tifffile.imwrite(folder / "v.tif", data, imagej=True, resolution=(1 / PX, 1 / PX),
                         metadata={"axes": "ZYX", "spacing": DZ, "unit": "um"})
        return open_stack(folder / "v.tif")
    if kind == "tiff-tiled-zlib":  # compressed tiles: regions are decoded tile by tile
        tifffile.imwrite(folder / "v.tif", data, tile=(16, 16), compression="zlib",
                         resolution=(1e4 / PX, 1e4 / PX), resolutionunit="CENTIMETER",
                         metadata={"spacing": DZ, "unit": "um"})
        return open_stack(folder / "v.tif")
    if kind == "tiff-pages":       # one series per page, appended one by one
        for plane in data:
            tifffile.imwrite(folder / "v.tif", plane, append=True, compression="zlib")
        return open_stack(folder / "v.tif", pixel_size=PX, slice_spacing=DZ)
    if kind in ("folder-tiff", "folder-png"):
        slices = folder / "slices"
        slices.mkdir()
        for z, plane in enumerate(data):     # natural order: s2 before s10
            if kind == "folder-tiff":
                tifffile.imwrite(slices / f"s{z + 1}.tif", plane, rowsperstrip=5)
            else:
                PILImage.fromarray(plane).save(slices / f"s{z + 1}.png")
        return open_stack(slices, pixel_size=PX, slice_spacing=DZ)
    if kind == "zarr":
        zarr = zarr_or_skip()
        array = zarr.create_array(store=str(folder / "v.zarr"), shape=data.shape, chunks=(2, 8, 8),
                                  dtype=data.dtype)
        array[:] = data
        return open_stack(folder / "v.zarr", pixel_size=PX, slice_spacing=DZ)
    if kind == "ome-zarr":
        zarr_or_skip()
        with open_stack_writer(folder / "v.zarr", data.shape, data.dtype, pixel_size=PX, slice_spacing=DZ,
                               chunks=(1, 8, 8)) as w:
            w[:] = data
        return open_stack(folder / "v.zarr")
    assert kind == "array"
    return open_stack(data, pixel_size=PX, slice_spacing=DZ)


# --------------------------------------------------------------------------- reading
@pytest.mark.parametrize("kind", KINDS)
def test_reads_like_numpy(tmp_path, kind):
    stack = make_stack(kind, tmp_path)
    assert (stack.shape, stack.dtype, len(stack)) == (VOLUME.shape, VOLUME.dtype, 6)
    assert stack.pixel_size == pytest.approx(PX) and stack.slice_spacing == pytest.approx(DZ)
    assert stack.spacing == pytest.approx((DZ, PX, PX))
    keys = [0, 5, -1, slice(None), slice(0, 3), slice(4, 9), slice(-2, None), slice(-9, 2), slice(3, 1),
            slice(None, None, 2), (2, slice(3, 17), slice(5, 29)), (slice(1, 4), 7), (-1, slice(None), 28),
            (Ellipsis, slice(2, 6)), (slice(0, 2), Ellipsis, 4)]
    for key in keys:          # 2.5D neighbours at the ends are clipped, as numpy clips them
        expected = VOLUME[key]
        got = stack[key]
        assert got.shape == expected.shape and got.dtype == expected.dtype, key
        np.testing.assert_array_equal(got, expected, err_msg=str(key))
    planes = list(stack)
    assert len(planes) == 6 and all(p.shape == (23, 29) for p in planes)
    np.testing.assert_array_equal(np.asarray(stack), VOLUME)
    with pytest.raises(IndexError):
        stack[6]


@pytest.mark.parametrize("kind", KINDS)
def test_region_equals_cropped_slice(tmp_path, kind):
    stack = make_stack(kind, tmp_path)
    for z, rows, cols in [(0, slice(0, 1), slice(0, 29)), (3, slice(7, 23), slice(13, 17)), (5, slice(16, 20), 0)]:
        np.testing.assert_array_equal(stack[z, rows, cols], stack[z][rows, cols])


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip(tmp_path, kind):
    stack = make_stack(kind, tmp_path)
    fresh = pickle.loads(pickle.dumps(stack))        # before any read
    stack[2, 4:9]                                      # readers now kept in the original
    used = pickle.loads(pickle.dumps(stack))
    for copy in (fresh, used):
        assert (copy.shape, copy.dtype, copy.pixel_size, copy.slice_spacing) == \
            (stack.shape, stack.dtype, stack.pixel_size, stack.slice_spacing)
        np.testing.assert_array_equal(copy[1:4, 2:20, 3:11], VOLUME[1:4, 2:20, 3:11])
    if kind != "array":     # holds paths and offsets, not pixels
        assert len(pickle.dumps(stack)) < VOLUME.nbytes / 4


def test_open_stack_reads_what_read_stack_reads(tmp_path):
    for kind in ("tiff", "folder-tiff"):
        folder = tmp_path / kind
        folder.mkdir()
        lazy_stack = make_stack(kind, folder)
        path = folder / ("v.tif" if kind == "tiff" else "slices")
        whole = read_stack(path, pixel_size=None if kind == "tiff" else PX, slice_spacing=DZ)
        got = lazy_stack.read()
        np.testing.assert_array_equal(got.data, whole.data)
        assert (got.pixel_size, got.slice_spacing, got.metadata["axes"]) == \
            (pytest.approx(whole.pixel_size), pytest.approx(whole.slice_spacing), "ZYX")


def test_imagej_hyperstack_from_tifffile_with_voxel_size(tmp_path):
    path = tmp_path / "fib.tif"
    data = RNG.integers(0, 255, (40, 16, 12), dtype=np.uint8)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.005, 1 / 0.005),
                     metadata={"spacing": 0.01, "unit": "um", "axes": "ZYX"})
    stack = open_stack(path)
    assert (stack.pixel_size, stack.pixel_size_source, stack.slice_spacing) == \
        (pytest.approx(0.005), "imagej", pytest.approx(0.01))
    np.testing.assert_array_equal(stack[33], data[33])
    assert stack.bytes_read == 16 * 12          # one page, nothing else


def test_imagej_file_saved_without_axes_reads_as_slices(tmp_path):
    """tifffile stores a 3D ImageJ array without axes as channels (CYX); read_stack reads it as Z too."""
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, VOLUME, imagej=True)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "CYX"
    with pytest.warns(UserWarning, match="pixel size unknown"):
        stack = open_stack(path)
    np.testing.assert_array_equal(stack[:], VOLUME)


@pytest.mark.parametrize("shape, axes, match", [
    ((3, 2, 8, 9), "ZCYX", "ZCYX"), ((2, 3, 8, 9), "TZYX", "TZYX"), ((3, 8, 9, 3), "ZYXS", "colour"),
])
def test_hyperstacks_refused(tmp_path, shape, axes, match):
    path = tmp_path / "h.tif"
    if axes == "ZYXS":
        tifffile.imwrite(path, np.zeros(shape, np.uint8), photometric="rgb")
    else:
        tifffile.imwrite(path, np.zeros(shape, np.uint8), imagej=True, metadata={"axes": axes})
    with pytest.raises(InputError, match=f"h.tif.*{match}") as info:
        open_stack(path, pixel_size=0.1)
    assert "\n" not in str(info.value)


class CountingOpen:
    """``open`` that counts the bytes read through the files it opens (an independent check)."""

    def __init__(self) -> None:
        self.read = 0

    def __call__(self, *args, **kwargs):
        fh = builtins.open(*args, **kwargs)
        counter = self

        class Wrapped:
            def __getattr__(self, name):
                return getattr(fh, name)

            def read(self, n=-1):
                data = fh.read(n)
                counter.read += len(data)
                return data

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

        return Wrapped()


def test_one_page_of_2000_is_read_alone(tmp_path, monkeypatch):
    data = RNG.integers(0, 255, (2000, 8, 8), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "raw.tif", data)
    stack = open_stack(tmp_path / "raw.tif", pixel_size=0.1)
    counting = CountingOpen()
    monkeypatch.setattr(lazy, "open", counting, raising=False)
    np.testing.assert_array_equal(stack[1234], data[1234])
    assert counting.read == stack.bytes_read == 64


def test_other_pages_are_never_decoded(tmp_path):
    """Every page but one is garbage: reading that one works, the others fail when read."""
    path = tmp_path / "zlib.tif"
    data = RNG.integers(0, 255, (2000, 8, 8), dtype=np.uint8)
    tifffile.imwrite(path, data, compression="zlib")
    keep = 777
    with tifffile.TiffFile(path) as tif:
        segments = [(p.dataoffsets[0], p.databytecounts[0]) for p in tif.series[0]]
    with open(path, "r+b") as fh:
        for z, (offset, count) in enumerate(segments):
            if z != keep:
                fh.seek(offset)
                fh.write(b"\xff" * count)
    stack = open_stack(path, pixel_size=0.1)          # headers only: opening works
    np.testing.assert_array_equal(stack[keep], data[keep])
    with pytest.raises(FileFormatError, match="zlib.tif"):
        stack[keep + 1]


# --------------------------------------------------------------------------- folders
def write_slices(folder: Path, planes: list[np.ndarray], suffix: str = ".png") -> list[Path]:
    folder.mkdir(exist_ok=True)
    files = []
    for i, plane in enumerate(planes, start=1):
        file = folder / f"slice{i}{suffix}"
        if suffix == ".tif":
            tifffile.imwrite(file, plane)
        else:
            PILImage.fromarray(plane).save(file)
        files.append(file)
    return files


def test_folder_is_checked_from_headers_only(tmp_path, monkeypatch):
    import imageio.v3 as iio

    planes = [np.full((9, 11), i, np.uint8) for i in range(12)]
    write_slices(tmp_path / "png", planes)
    write_slices(tmp_path / "tif", planes, ".tif")

    def no_decoding(*args, **kwargs):
        raise AssertionError("a slice was decoded")

    monkeypatch.setattr(iio, "imread", no_decoding)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", no_decoding)
    monkeypatch.setattr(tifffile.TiffPage, "decode", property(no_decoding))
    stacks = [open_stack(tmp_path / name, pixel_size=1.0) for name in ("png", "tif")]
    assert [s.shape for s in stacks] == [(12, 9, 11)] * 2
    monkeypatch.undo()
    for stack in stacks:     # slice10 after slice9
        assert [int(stack[z, 0, 0]) for z in (8, 9, 11)] == [8, 9, 11]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("odd, what", [((9, 12), "shape"), ((9, 11), "dtype")])
def test_folder_slices_that_differ_are_refused_naming_the_odd_one(tmp_path, suffix, odd, what):
    planes = [np.zeros((9, 11), np.uint8) for _ in range(5)]
    planes[3] = np.zeros(odd, np.uint16 if what == "dtype" else np.uint8)
    write_slices(tmp_path / "s", planes, suffix)
    with pytest.raises(InputError, match=rf"slice4{suffix}: slice has shape .*slice1{suffix} has shape") as info:
        open_stack(tmp_path / "s", pixel_size=1.0)
    assert "\n" not in str(info.value)


def test_folder_bad_input(tmp_path):
    colour = RNG.integers(0, 255, (9, 11, 3), dtype=np.uint8)
    write_slices(tmp_path / "colour", [colour[..., 0], colour])
    with pytest.raises(InputError, match=r"slice2.png: is a colour image .*grey"):
        open_stack(tmp_path / "colour", pixel_size=1.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a slice")
    with pytest.raises(InputError, match="empty: folder holds no slice images"):
        open_stack(empty)
    (tmp_path / "multi").mkdir()
    tifffile.imwrite(tmp_path / "multi" / "a.tif", np.zeros((2, 5, 5), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match="a.tif: holds a stack"):
        open_stack(tmp_path / "multi")


def test_folder_grey_palette_and_16_bit_png(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    grey = PILImage.new("P", (11, 9))
    grey.putpalette([v for i in range(256) for v in (i, i, i)])
    grey.putdata([int(v) for v in RNG.integers(0, 255, 99)])
    grey.save(folder / "a1.png")
    PILImage.fromarray(np.asarray(grey.convert("L"))).save(folder / "a2.png")
    stack = open_stack(folder, pixel_size=1.0)
    assert stack.dtype == np.uint8
    np.testing.assert_array_equal(stack[0], stack[1])
    write_slices(tmp_path / "u16", [VOLUME[0], VOLUME[1]])
    np.testing.assert_array_equal(open_stack(tmp_path / "u16", pixel_size=1.0)[:], VOLUME[:2])


# --------------------------------------------------------------------------- zarr / OME-Zarr
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_from_ome_zarr_py_with_voxel_size(tmp_path, version):
    zarr = zarr_or_skip()
    writer, ome_format = ome_zarr_writer()
    fmt = ome_format.FormatV04() if version == "0.4" else ome_format.FormatV05()
    group = zarr.open_group(str(tmp_path / "img.zarr"), mode="w", zarr_format=2 if version == "0.4" else 3)
    data = RNG.integers(0, 255, (4, 32, 24), dtype=np.uint8)
    writer.write_image(data, group, scale_factors=[2], fmt=fmt, axes="zyx",
                       scale={"z": 50.0, "y": 10.0, "x": 10.0},
                       axes_units={"z": "nanometer", "y": "nanometer", "x": "nanometer"})
    stack = open_stack(tmp_path / "img.zarr")
    assert stack.shape == (4, 32, 24)       # level 0, not the downscaled one
    assert (stack.pixel_size, stack.pixel_size_source, stack.slice_spacing) == \
        (pytest.approx(0.01), "ome", pytest.approx(0.05))
    assert stack.metadata["format"] == f"ome-zarr {version}"
    np.testing.assert_array_equal(stack[2, 5:30, 3:9], data[2, 5:30, 3:9])


def test_ome_zarr_leading_channel_of_one_is_dropped_more_refused(tmp_path):
    zarr = zarr_or_skip()
    writer, ome_format = ome_zarr_writer()
    for channels in (1, 2):
        group = zarr.open_group(str(tmp_path / f"c{channels}.zarr"), mode="w", zarr_format=2)
        data = RNG.integers(0, 255, (channels, 3, 16, 16), dtype=np.uint8)
        writer.write_image(data, group, scale_factors=[], fmt=ome_format.FormatV04(), axes="czyx",
                           scale={"c": 1.0, "z": 2.0, "y": 1.0, "x": 1.0},
                           axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"})
    stack = open_stack(tmp_path / "c1.zarr")
    assert (stack.shape, stack.pixel_size, stack.slice_spacing) == ((3, 16, 16), 1.0, 2.0)
    np.testing.assert_array_equal(stack[1], zarr.open_array(str(tmp_path / "c1.zarr" / "s0"))[0, 1])
    with pytest.raises(InputError, match=r"c2.zarr: OME-Zarr image has axes c,z,y,x of shape \(2, 3, 16, 16\)"):
        open_stack(tmp_path / "c2.zarr")


def test_ome_zarr_pixels_not_square(tmp_path):
    zarr = zarr_or_skip()
    group = zarr.open_group(str(tmp_path / "ns.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=(2, 4, 4), dtype="uint8")
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 0.01, 0.02]}]}]}]
    with pytest.raises(InputError, match="ns.zarr: pixels are not square .*pixel_size"):
        open_stack(tmp_path / "ns.zarr")
    stack = open_stack(tmp_path / "ns.zarr", pixel_size=0.015)
    assert (stack.pixel_size, stack.pixel_size_source, stack.metadata["pixel_size_y_um"]) == \
        (0.015, "explicit", pytest.approx(0.01))


def test_zarr_bad_input(tmp_path):
    zarr = zarr_or_skip()
    zarr.create_array(store=str(tmp_path / "flat.zarr"), shape=(5, 6), dtype="uint8")
    with pytest.raises(InputError, match=r"flat.zarr: zarr array has shape \(5, 6\); .*3D"):
        open_stack(tmp_path / "flat.zarr")
    group = zarr.open_group(str(tmp_path / "two.zarr"), mode="w")
    for name in ("a", "b"):
        group.create_array(name, shape=(2, 3, 4), dtype="uint8")
    with pytest.raises(InputError, match="two.zarr: zarr group holds 2 arrays"):
        open_stack(tmp_path / "two.zarr")
    with pytest.warns(UserWarning, match="pixel size unknown"):
        assert open_stack(tmp_path / "two.zarr" / "b").shape == (2, 3, 4)


def test_missing_zarr_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)        # import zarr -> ImportError
    with pytest.raises(InputError, match=r'v.zarr: .*pip install "microseg\[dask\]"'):
        open_stack(tmp_path / "v.zarr")
    with pytest.raises(InputError, match=r'out.zarr: .*pip install "microseg\[dask\]"'):
        open_stack_writer(tmp_path / "out.zarr", (2, 3, 4), np.uint8)
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------- writing
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32, np.bool_])
def test_tiff_writer_round_trip(tmp_path, dtype):
    data = (RNG.random((5, 14, 9)) * 200).astype(dtype)
    path = tmp_path / "out.tif"
    with open_stack_writer(path, data.shape, dtype, pixel_size=PX, slice_spacing=DZ) as w:
        for z in (4, 0, 2):                 # any order
            w[z] = data[z]
        w[1:4:2] = data[1:4:2]
    stored = np.uint8 if dtype == np.bool_ else dtype
    with tifffile.TiffFile(path) as tif:   # tifffile's own reading
        np.testing.assert_array_equal(tif.series[0].asarray(), data.astype(stored))
        if stored in (np.uint8, np.uint16, np.float32):
            assert tif.imagej_metadata["spacing"] == pytest.approx(DZ)
            assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["slices"] == 5
    stack = open_stack(path)
    assert (stack.dtype, stack.pixel_size, stack.slice_spacing) == \
        (np.dtype(stored), pytest.approx(PX), pytest.approx(DZ))
    np.testing.assert_array_equal(stack[:], data.astype(stored))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_zarr_writer_round_trip(tmp_path, dtype):
    zarr = zarr_or_skip()
    data = (RNG.random((3, 600, 40)) * 200).astype(dtype)
    path = tmp_path / "out.zarr"
    with open_stack_writer(path, data.shape, dtype, pixel_size=PX, slice_spacing=DZ) as w:
        assert w.chunks == (1, 512, 40)
        w[2] = data[2]
        w[0, :300] = data[0, :300]             # regions too
        w.array[0, 300:] = data[0, 300:]        # and the array itself
        w[1:2] = data[1:2]
    meta = json.loads((path / "0" / ".zarray").read_text())      # zarr format 2, as written on disk
    assert (meta["zarr_format"], meta["chunks"], meta["dimension_separator"]) == (2, [1, 512, 40], "/")
    assert {k: meta["compressor"][k] for k in ("id", "cname", "clevel", "shuffle")} == \
        {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}
    np.testing.assert_array_equal(zarr.open_array(str(path / "0"), mode="r")[:], data)
    stack = open_stack(path)
    assert (stack.dtype, stack.pixel_size, stack.slice_spacing, stack.chunks) == \
        (np.dtype(dtype), pytest.approx(PX), pytest.approx(DZ), (1, 512, 40))
    np.testing.assert_array_equal(stack[:], data)
    level = open_stack(path / "0", pixel_size=PX)            # the plain zarr v2 array inside
    assert level.metadata["format"] == "zarr v2"
    np.testing.assert_array_equal(level[1:3, 100:110], data[1:3, 100:110])


def test_our_ome_zarr_is_read_by_ome_zarr_py(tmp_path):
    zarr_or_skip()
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    data = RNG.integers(0, 255, (4, 20, 30), dtype=np.uint8)
    with open_stack_writer(tmp_path / "ours.zarr", data.shape, np.uint8, pixel_size=0.004,
                           slice_spacing=0.01) as w:
        w[:] = data
    node = list(Reader(parse_url(str(tmp_path / "ours.zarr")))())[0]
    np.testing.assert_array_equal(np.asarray(node.data[0]), data)
    assert [a["name"] for a in node.metadata["axes"]] == ["z", "y", "x"]
    assert {a["unit"] for a in node.metadata["axes"]} == {"micrometer"}
    scale = node.metadata["coordinateTransformations"][0][0]
    assert scale["type"] == "scale" and scale["scale"] == pytest.approx([0.01, 0.004, 0.004])


def test_unknown_sizes_are_written_as_unknown(tmp_path):
    zarr_or_skip()
    for name in ("u.zarr", "u.tif"):
        with open_stack_writer(tmp_path / name, (2, 3, 4), np.uint8) as w:
            w[:] = 1
        with pytest.warns(UserWarning, match="pixel size unknown") as record:
            stack = open_stack(tmp_path / name)
        assert len(record) == 1 and (stack.pixel_size, stack.slice_spacing) == (None, None)
    with open_stack_writer(tmp_path / "dz.zarr", (2, 3, 4), np.uint8, slice_spacing=0.5) as w:
        w[:] = 1
    with pytest.warns(UserWarning, match="pixel size unknown"):
        assert open_stack(tmp_path / "dz.zarr").slice_spacing == 0.5


@pytest.mark.parametrize("name", ["out.zarr", "out.tif"])
def test_existing_output_refused_and_kept(tmp_path, name):
    zarr_or_skip()
    target = tmp_path / name
    with open_stack_writer(target, (2, 3, 4), np.uint8) as w:
        w[:] = 7
    before = listing(tmp_path)
    with pytest.raises(OutputExistsError, match=f"{name}: already exists.*--force"):
        open_stack_writer(target, (2, 3, 4), np.uint8)
    assert listing(tmp_path) == before
    with pytest.warns(UserWarning):
        assert int(open_stack(target)[:].min()) == 7


@pytest.mark.parametrize("name", ["out.zarr", "out.tif"])
def test_force_replaces_only_at_commit(tmp_path, name):
    zarr_or_skip()
    target = tmp_path / name
    with open_stack_writer(target, (2, 3, 4), np.uint8, pixel_size=1.0) as w:
        w[:] = 7
    with open_stack_writer(target, (3, 5, 6), np.uint16, pixel_size=1.0, force=True) as w:
        w[:] = 9
        assert open_stack(target).shape == (2, 3, 4)            # the old result, intact until the end
    stack = open_stack(target)
    assert (stack.shape, stack.dtype, int(stack[2, 4, 5])) == ((3, 5, 6), np.uint16, 9)
    assert [p.name for p in tmp_path.iterdir()] == [name]       # no temporary or old copy left


@pytest.mark.parametrize("name", ["out.zarr", "out.tif"])
def test_abort_and_errors_leave_nothing(tmp_path, name):
    zarr_or_skip()
    with pytest.raises(RuntimeError, match="model failed"):
        with open_stack_writer(tmp_path / name, (4, 3, 4), np.uint8) as w:
            w[0] = 1
            raise RuntimeError("model failed")
    assert listing(tmp_path) == []
    w = open_stack_writer(tmp_path / name, (4, 3, 4), np.uint8)
    w[0:2] = 1
    w.abort()
    assert listing(tmp_path) == []
    with pytest.raises(InputError):
        w[2] = 1                                       # closed


def test_tiff_with_slices_missing_is_not_written(tmp_path):
    with pytest.raises(InputError, match=r"out.tif: 2 of 4 slices were never given \(the first: z = 1\)"):
        with open_stack_writer(tmp_path / "out.tif", (4, 3, 4), np.uint8) as w:
            w[0] = 1
            w[3] = 1
    assert listing(tmp_path) == []


def test_writer_into_a_staging_folder_that_does_not_exist_yet(tmp_path):
    zarr_or_skip()
    for name in ("out.zarr", "out.tif"):
        target = tmp_path / "run.part" / "volume" / name
        with open_stack_writer(target, (2, 3, 4), np.uint8, pixel_size=0.5) as w:
            w[:] = 3
        assert open_stack(target)[1, 2, 3] == 3
    assert sorted(p.name for p in (tmp_path / "run.part" / "volume").iterdir()) == ["out.tif", "out.zarr"]


def test_writer_bad_input(tmp_path):
    zarr_or_skip()
    with pytest.raises(InputError, match="out.png: stacks are written as OME-Zarr"):
        open_stack_writer(tmp_path / "out.png", (2, 3, 4), np.uint8)
    with pytest.raises(InputError, match="shape: expected"):
        open_stack_writer(tmp_path / "out.tif", (3, 4), np.uint8)
    with pytest.raises(InputError, match="chunks: expected"):
        open_stack_writer(tmp_path / "out.zarr", (2, 3, 4), np.uint8, chunks=(1, 0, 4))
    for name in ("a.tif", "a.zarr"):
        with open_stack_writer(tmp_path / name, (2, 3, 4), np.uint8) as w:
            with pytest.raises(InputError, match="cannot store float64 values in a uint8 stack"):
                w[0] = np.full((3, 4), 0.5)
            with pytest.raises(TypeError, match="writer.array"):
                pickle.dumps(w)
            w[:] = 0
    with pytest.raises(InputError, match="b.tif: a TIFF stack is written in whole slices"):
        with open_stack_writer(tmp_path / "b.tif", (2, 3, 4), np.uint8) as w:
            w[0, 1:2] = 1
    with pytest.raises(InputError, match=r"c.tif: a block of shape \(3, 5\) does not fit"):
        with open_stack_writer(tmp_path / "c.tif", (2, 3, 4), np.uint8) as w:
            w[0] = np.zeros((3, 5), np.uint8)


def test_dask_reads_a_stack_and_stores_into_the_writer_array(tmp_path):
    zarr_or_skip()
    da = pytest.importorskip("dask.array")
    stack = make_stack("tiff", tmp_path)
    lazy_volume = da.from_array(stack, chunks=(2, 23, 29))      # reads through LazyStack.__getitem__
    with open_stack_writer(tmp_path / "plus1.zarr", stack.shape, np.uint16, pixel_size=stack.pixel_size) as w:
        da.store(lazy_volume + 1, w.array, lock=False, scheduler="threads")
    np.testing.assert_array_equal(open_stack(tmp_path / "plus1.zarr", slice_spacing=DZ)[:], VOLUME + 1)


# --------------------------------------------------------------------------- pixel size, arrays
def test_pixel_size_rules(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", VOLUME)
    with pytest.warns(UserWarning, match="plain.tif: pixel size unknown") as record:
        stack = open_stack(tmp_path / "plain.tif")
    assert len(record) == 1 and (stack.pixel_size, stack.pixel_size_source) == (None, "unknown")
    again = open_stack(stack, pixel_size=0.3, slice_spacing=0.6)
    assert (again.pixel_size, again.pixel_size_source, again.slice_spacing) == (0.3, "explicit", 0.6)
    explicit = open_stack(make_stack("tiff", tmp_path), pixel_size=0.07)
    assert (explicit.pixel_size, explicit.slice_spacing) == (0.07, pytest.approx(DZ))
    with pytest.raises(InputError, match="pixel_size"):
        open_stack(tmp_path / "plain.tif", pixel_size=-1)


def test_in_memory_arrays_and_images(tmp_path):
    image = Image(VOLUME, pixel_size=0.4, slice_spacing=0.8, source="x.tif", metadata={"axes": "ZYX"})
    stack = open_stack(image)
    assert (stack.pixel_size, stack.slice_spacing, stack.source) == (0.4, 0.8, "x.tif")
    np.testing.assert_array_equal(stack[2:4, 1:3], VOLUME[2:4, 1:3])
    flat = open_stack(VOLUME[0])
    assert flat.shape == (1, 23, 29) and flat.pixel_size is None
    with pytest.raises(InputError, match="RGB"):
        open_stack(Image(np.zeros((4, 5, 3), np.uint8), metadata={"axes": "YXS"}))
    with pytest.raises(InputError, match=r"expected a \(Z, Y, X\) array"):
        open_stack(np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputError, match="got list"):
        open_stack([1, 2, 3])
