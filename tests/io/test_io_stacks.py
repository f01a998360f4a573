"""read_stack / write_stack: multi-page TIFFs and folders of slices."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.io import Image, MissingFileError, read_stack, write_stack

RNG = np.random.default_rng(1)


def quiet_read_stack(path, **kwargs) -> Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_stack(path, **kwargs)


@pytest.fixture
def slice_folder(tmp_path: Path) -> Path:
    """slice1.png ... slice12.png, each filled with its own number, plus non-image files."""
    folder = tmp_path / "slices"
    folder.mkdir()
    for i in range(1, 13):
        PILImage.fromarray(np.full((6, 7), i, np.uint8)).save(folder / f"slice{i}.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"junk")
    return folder


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_round_trip(tmp_path, dtype):
    volume = (RNG.random((4, 6, 5)) * 200).astype(dtype)
    write_stack(tmp_path / "v.tif", volume, pixel_size=0.2, slice_spacing=0.35)
    img = quiet_read_stack(tmp_path / "v.tif")
    np.testing.assert_array_equal(img.data, volume)
    assert img.data.dtype == dtype
    assert img.pixel_size == pytest.approx(0.2)
    assert img.slice_spacing == pytest.approx(0.35)
    assert img.metadata["axes"] == "ZYX"
    assert img.spacing == pytest.approx((0.35, 0.2, 0.2))


def test_imagej_hyperstack_written(tmp_path):
    write_stack(tmp_path / "v.tif", np.zeros((3, 4, 5), np.uint16), pixel_size=0.1, slice_spacing=0.5)
    with tifffile.TiffFile(tmp_path / "v.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.5)
        assert tif.imagej_metadata["unit"] == "um"
        assert tif.imagej_metadata["slices"] == 3


def test_image_object_and_overrides(tmp_path):
    vol = Image(np.zeros((2, 3, 4), np.uint8), pixel_size=0.1, slice_spacing=0.3,
                metadata={"axes": "ZYX"})
    write_stack(tmp_path / "v.tif", vol)
    img = quiet_read_stack(tmp_path / "v.tif", slice_spacing=0.9)
    assert (img.pixel_size, img.slice_spacing) == (pytest.approx(0.1), 0.9)
    img = quiet_read_stack(tmp_path / "v.tif", pixel_size=0.7)
    assert (img.pixel_size, img.pixel_size_source) == (0.7, "explicit")


def test_refuses_overwrite(tmp_path):
    write_stack(tmp_path / "v.tif", np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(OutputExistsError):
        write_stack(tmp_path / "v.tif", np.zeros((2, 3, 4), np.uint8))


def test_folder_natural_order(slice_folder):
    with pytest.warns(UserWarning, match="pixel size unknown") as record:
        img = read_stack(slice_folder)
    assert len(record) == 1  # one warning for the stack, not one per slice
    assert img.data.shape == (12, 6, 7)
    np.testing.assert_array_equal(img.data[:, 0, 0], np.arange(1, 13))
    assert img.slice_spacing is None


def test_folder_pixel_size_from_first_slice_sidecar(slice_folder):
    (slice_folder / "slice1.txt").write_text("InstructName=SU8000\nPixelSize=20\n")
    img = quiet_read_stack(slice_folder, slice_spacing=0.05)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.02), "sidecar")
    assert img.slice_spacing == 0.05


def test_folder_shape_mismatch_names_file(slice_folder):
    PILImage.fromarray(np.zeros((6, 8), np.uint8)).save(slice_folder / "slice7.png")
    with pytest.raises(InputError, match=r"slice7\.png: slice has shape \(6, 8\)"):
        read_stack(slice_folder, pixel_size=1.0)


def test_folder_dtype_mismatch_names_file(slice_folder):
    PILImage.fromarray(np.zeros((6, 7), np.uint16)).save(slice_folder / "slice10.png")
    with pytest.raises(InputError, match=r"slice10\.png.*dtype uint16"):
        read_stack(slice_folder, pixel_size=1.0)


def test_folder_colour_slice(tmp_path):
    rgb = RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "a.png")
    with pytest.raises(InputError, match=r"a\.png: is a colour image"):
        read_stack(tmp_path, pixel_size=1.0)
    grey_rgb = np.repeat(rgb[..., :1], 3, axis=-1)
    PILImage.fromarray(grey_rgb).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_stack(tmp_path, pixel_size=1.0).data[0], rgb[..., 0])


def test_empty_folder(tmp_path):
    with pytest.raises(FileFormatError, match="no slice images"):
        read_stack(tmp_path)


def test_missing(tmp_path):
    with pytest.raises(MissingFileError, match=r"^.*nope"):
        read_stack(tmp_path / "nope")


def test_single_page_is_one_slice(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", np.ones((4, 5), np.uint8))
    assert read_stack(tmp_path / "one.tif", pixel_size=1.0).data.shape == (1, 4, 5)


def test_plain_multipage_tiff(tmp_path):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tw:
        for z in range(3):
            tw.write(np.full((4, 5), z, np.uint8), photometric="minisblack")
    img = read_stack(path, pixel_size=1.0)
    np.testing.assert_array_equal(img.data[:, 0, 0], [0, 1, 2])


@pytest.mark.parametrize(("name", "data", "match"), [
    ("v.tif", np.zeros((3, 4)), "Z, Y, X"),
    ("v.tif", np.zeros((2, 3, 4, 5)), "Z, Y, X"),
    ("v.png", np.zeros((2, 3, 4), np.uint8), "multi-page TIFF"),
])
def test_write_errors(tmp_path, name, data, match):
    with pytest.raises(InputError, match=match):
        write_stack(tmp_path / name, data)


def test_bad_slice_spacing(tmp_path):
    write_stack(tmp_path / "v.tif", np.zeros((2, 3, 4), np.uint8), pixel_size=1.0)
    with pytest.raises(InputError, match="slice_spacing"):
        read_stack(tmp_path / "v.tif", slice_spacing=-2)
