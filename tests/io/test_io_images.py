"""read_image / write_image: pixel size from every source, formats, round trips and errors."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.io import Image, MissingFileError, read_image, to_gray, write_image

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (12, 16), dtype=np.uint8)

FEI_TEXT = (
    "[User]\r\nDate=01/02/2020\r\n[System]\r\nType=DualBeam\r\nSystemType=Helios G4 UX\r\n"
    "[Beam]\r\nHV=5000\r\n[Scan]\r\nPixelWidth=5e-09\r\nPixelHeight=5e-09\r\n"
)


def zeiss_bytes(*lines: str) -> bytes:
    """CZ_SEM tag payload as tifffile's ``read_cz_sem`` parses it: UPPER key line, then
    ``Name = value unit``; the leading "0" is one of the unnamed values."""
    return "\r\n".join(("0",) + lines).encode("latin-1")


def quiet_read(path, **kwargs) -> Image:
    """read_image that fails the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_image(path, **kwargs)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def fei_tif(tmp_path: Path) -> Path:
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, GREY8, extratags=[(34682, "s", 0, FEI_TEXT, True)])
    return path


@pytest.fixture
def zeiss_tif(tmp_path: Path) -> Path:
    path = tmp_path / "zeiss.tif"
    payload = zeiss_bytes("SV_SERIAL_NUMBER", "Serial No. = Supra-4211",
                          "AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 12.5 nm")
    tifffile.imwrite(path, GREY8, extratags=[(34118, "B", len(payload), payload, True)])
    return path


@pytest.fixture
def imagej_tif(tmp_path: Path) -> Path:
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(path, GREY8, imagej=True, resolution=(1 / 0.25, 1 / 0.25),
                     metadata={"unit": "micron"})
    return path


@pytest.fixture
def jeol_png(tmp_path: Path) -> Path:
    path = tmp_path / "jeol_001.png"
    PILImage.fromarray(GREY8).save(path)
    (tmp_path / "jeol_001.txt").write_text(
        "$CM_FORMAT JEOL/SEM\n$CM_INSTRUMENT JSM-7800F\n$CM_MAG 5000\n"
        "$CM_FULL_SIZE 16 12\n$$SM_MICRON_BAR 200\n$$SM_MICRON_MARKER 5um\n"
    )
    return path


@pytest.fixture
def hitachi_tif(tmp_path: Path) -> Path:
    path = tmp_path / "S4800_01.tif"
    tifffile.imwrite(path, GREY8)
    (tmp_path / "S4800_01.txt").write_bytes(
        b"[SemImageFile]\r\nInstructName=S-4800\r\nMagnification=10000\r\nPixelSize=9.921875\r\n"
    )
    return path


# ------------------------------------------------------------------- pixel-size sources
def test_fei(fei_tif):
    img = quiet_read(fei_tif)
    assert img.pixel_size == pytest.approx(0.005)
    assert img.pixel_size_source == "fei"
    assert img.metadata["instrument"] == "Helios G4 UX"
    assert img.metadata["accelerating_voltage_kv"] == pytest.approx(5.0)
    assert img.metadata["axes"] == "YX"
    np.testing.assert_array_equal(img.data, GREY8)


def test_fei_sfeg_tag(tmp_path):
    path = tmp_path / "quanta.tif"
    tifffile.imwrite(path, GREY8, extratags=[(34680, "s", 0, FEI_TEXT, True)])
    assert quiet_read(path).pixel_size_source == "fei"


def test_zeiss_without_pixel_size_falls_through(tmp_path):
    path = tmp_path / "z.tif"
    payload = zeiss_bytes("DP_DETECTOR_TYPE", "Signal A = SE2")
    tifffile.imwrite(path, GREY8, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "um"},
                     extratags=[(34118, "B", len(payload), payload, True)])
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.1), "imagej")
    assert img.metadata["vendor"] == "Zeiss"


def test_jeol_pixel_size_key(tmp_path):
    path = tmp_path / "j.png"
    PILImage.fromarray(GREY8).save(path)
    path.with_suffix(".txt").write_text("$CM_INSTRUMENT JSM-IT800\n$CM_PIXEL_SIZE 2.5 nm\n")
    assert quiet_read(path).pixel_size == pytest.approx(0.0025)


def test_fei_wins_over_imagej_and_sidecar(tmp_path):
    path = tmp_path / "both.tif"
    tifffile.imwrite(path, GREY8, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"},
                     extratags=[(34682, "s", 0, FEI_TEXT, True)])
    path.with_suffix(".txt").write_text("PixelSize=100\n")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.005), "fei")
    assert img.metadata["sidecar"].endswith("both.txt")


def test_zeiss(zeiss_tif):
    img = quiet_read(zeiss_tif)
    assert img.pixel_size == pytest.approx(0.0125)
    assert img.pixel_size_source == "zeiss"
    assert img.metadata["instrument"] == "Supra-4211"


@pytest.mark.parametrize(("key", "line", "expected"), [
    ("AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 0.0125 \xb5m", 0.0125),
    ("AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 12500 pm", 0.0125),
    ("AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 1.5 um", 1.5),
    ("AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 0.002 mm", 2.0),
    ("AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 7.5nm", 0.0075),  # no space: a string
    ("AP_PIXEL_SIZE", "Pixel Size = 3.2 nm", 0.0032),
])
def test_zeiss_units(tmp_path, key, line, expected):
    path = tmp_path / "z.tif"
    payload = zeiss_bytes(key, line)
    tifffile.imwrite(path, GREY8, extratags=[(34118, "B", len(payload), payload, True)])
    img = quiet_read(path)
    assert img.pixel_size == pytest.approx(expected)
    assert img.pixel_size_source == "zeiss"


def test_imagej(imagej_tif):
    img = quiet_read(imagej_tif)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.25), "imagej")


@pytest.mark.parametrize(("unit", "per_unit", "expected"), [
    ("nm", 1 / 250, 0.25), ("\\u00B5m", 4.0, 0.25), ("um", 0.5, 2.0), ("mm", 2000.0, 0.5),
])
def test_imagej_units(tmp_path, unit, per_unit, expected):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, GREY8, imagej=True, resolution=(per_unit, per_unit), metadata={"unit": unit})
    assert quiet_read(path).pixel_size == pytest.approx(expected)


def test_tiff_centimetre_resolution(tmp_path):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, GREY8, resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.1), "tiff-resolution")


def test_jeol_sidecar(jeol_png):
    img = quiet_read(jeol_png)
    assert img.pixel_size == pytest.approx(5.0 / 200)
    assert img.pixel_size_source == "sidecar"
    assert img.metadata["instrument"] == "JSM-7800F"
    assert img.metadata["vendor"] == "JEOL"


def test_jeol_sidecar_scaled_to_image_width(tmp_path):
    path = tmp_path / "small.bmp"
    PILImage.fromarray(GREY8).save(path)  # 16 px wide, the frame was 64 px
    path.with_suffix(".txt").write_text("$CM_FULL_SIZE 64 48\n$$SM_MICRON_BAR 100\n"
                                        "$$SM_MICRON_MARKER 500nm\n")
    assert quiet_read(path).pixel_size == pytest.approx(0.5 / 100 * 64 / 16)


def test_hitachi_sidecar(hitachi_tif):
    img = quiet_read(hitachi_tif)
    assert img.pixel_size == pytest.approx(9.921875e-3)
    assert img.pixel_size_source == "sidecar"
    assert img.metadata["instrument"] == "S-4800"


def test_explicit_wins_and_does_not_warn(fei_tif):
    img = quiet_read(fei_tif, pixel_size=0.1)
    assert (img.pixel_size, img.pixel_size_source) == (0.1, "explicit")
    assert img.metadata["instrument"] == "Helios G4 UX"


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "abc"])
def test_bad_explicit_pixel_size(fei_tif, bad):
    with pytest.raises(InputError, match="pixel_size"):
        read_image(fei_tif, pixel_size=bad)


def test_unknown_pixel_size_warns_once(tmp_path):
    path = tmp_path / "bare.png"
    PILImage.fromarray(GREY8).save(path)
    with pytest.warns(UserWarning) as record:
        img = read_image(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert str(path) in message and "pixel_size=" in message and "--pixel-size" in message
    assert img.pixel_size is None and img.pixel_size_source == "unknown"
    assert record[0].filename == __file__  # stacklevel points at the caller


@pytest.mark.parametrize("how", ["pillow-72dpi", "tifffile-default", "imagej-no-unit"])
def test_default_resolution_is_not_a_pixel_size(tmp_path, how):
    path = tmp_path / "dpi.tif"
    if how == "pillow-72dpi":
        PILImage.fromarray(GREY8).save(path, dpi=(72, 72))
    elif how == "tifffile-default":
        tifffile.imwrite(path, GREY8)
    else:
        tifffile.imwrite(path, GREY8, imagej=True)
    with pytest.warns(UserWarning, match="pixel size unknown"):
        assert read_image(path).pixel_size is None


# ---------------------------------------------------------------- formats and layouts
@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_16bit_round_trip(tmp_path, suffix):
    data = RNG.integers(0, 65536, (9, 7), dtype=np.uint16)
    write_image(tmp_path / f"a{suffix}", data)
    img = read_image(tmp_path / f"a{suffix}", pixel_size=1.0)
    assert img.data.dtype == np.uint16
    np.testing.assert_array_equal(img.data, data)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int32])
def test_tiff_round_trip_keeps_pixel_size(tmp_path, dtype):
    data = (RNG.random((6, 5)) * 100).astype(dtype)
    write_image(tmp_path / "a.tif", data, pixel_size=0.0123)
    img = quiet_read(tmp_path / "a.tif")
    assert img.data.dtype == dtype
    np.testing.assert_array_equal(img.data, data)
    assert img.pixel_size == pytest.approx(0.0123, rel=1e-6)


def test_image_object_carries_pixel_size(tmp_path):
    write_image(tmp_path / "a.tif", Image(GREY8, pixel_size=0.02))
    assert quiet_read(tmp_path / "a.tif").pixel_size == pytest.approx(0.02)
    write_image(tmp_path / "b.tif", Image(GREY8, pixel_size=0.02), pixel_size=0.03)
    assert quiet_read(tmp_path / "b.tif").pixel_size == pytest.approx(0.03)


@pytest.mark.parametrize("suffix", [".tif", ".png", ".bmp"])
def test_rgb(tmp_path, suffix):
    rgb = RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    write_image(tmp_path / f"c{suffix}", rgb, pixel_size=0.5)
    img = read_image(tmp_path / f"c{suffix}", pixel_size=0.5)
    assert img.metadata["axes"] == "YXS" and img.is_rgb
    np.testing.assert_array_equal(img.data, rgb)


def test_rgba_becomes_rgb(tmp_path):
    rgba = RNG.integers(0, 256, (8, 10, 4), dtype=np.uint8)
    PILImage.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png", pixel_size=1.0)
    np.testing.assert_array_equal(img.data, rgba[..., :3])


def test_as_gray_matches_skimage(tmp_path):
    from skimage.color import rgb2gray

    rgb = RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    write_image(tmp_path / "c.png", rgb)
    img = read_image(tmp_path / "c.png", pixel_size=1.0, as_gray=True)
    assert img.data.dtype == np.uint8 and img.metadata["axes"] == "YX"
    expected = rgb2gray(rgb) * 255
    assert np.abs(img.data - expected).max() <= 0.5 + 1e-9


def test_equal_channels(tmp_path):
    grey16 = RNG.integers(0, 65536, (5, 6), dtype=np.uint16)
    rgb16 = np.repeat(grey16[..., None], 3, axis=-1)
    write_image(tmp_path / "g.tif", rgb16)
    kept = read_image(tmp_path / "g.tif", pixel_size=1.0)
    assert kept.data.shape == (5, 6, 3)  # only as_gray makes it grey
    grey = read_image(tmp_path / "g.tif", pixel_size=1.0, as_gray=True)
    np.testing.assert_array_equal(grey.data, grey16)  # exact, no rounding
    assert grey.data.dtype == np.uint16


def test_to_gray_float_keeps_dtype():
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0
    out = to_gray(rgb)
    assert out.dtype == np.float32 and out[0, 0] == pytest.approx(0.2125)


def test_bool_written_as_0_255(tmp_path):
    write_image(tmp_path / "m.png", np.eye(4, dtype=bool))
    data = read_image(tmp_path / "m.png", pixel_size=1.0).data
    np.testing.assert_array_equal(data, np.eye(4, dtype=np.uint8) * 255)


# ----------------------------------------------------------------------------- writing
def test_refuses_overwrite_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a.tif"
    write_image(path, GREY8)
    with pytest.raises(OutputExistsError, match="a.tif"):
        write_image(path, GREY8 // 2)
    write_image(path, GREY8 // 2, force=True)
    np.testing.assert_array_equal(tifffile.imread(path), GREY8 // 2)
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]


@pytest.mark.parametrize(("name", "data", "match"), [
    ("a.tif", np.zeros((2, 3, 4, 5), np.uint8), "shape"),
    ("a.tif", np.zeros((2, 3, 5), np.uint8), "shape"),
    ("a.png", np.zeros((4, 4), np.float32), "PNG cannot store grey float32"),
    ("a.png", np.zeros((4, 4, 3), np.uint16), "PNG cannot store colour uint16"),
    ("a.bmp", np.zeros((4, 4), np.uint16), "BMP"),
    ("a.xyz", np.zeros((4, 4), np.uint8), "a.xyz"),
    ("a.tif", np.zeros((4, 4), complex), "dtype"),
])
def test_write_errors(tmp_path, name, data, match):
    with pytest.raises(InputError, match=match):
        write_image(tmp_path / name, data)
    assert not list(tmp_path.iterdir())


def test_write_stack_image_refused(tmp_path):
    vol = Image(np.zeros((2, 3, 4), np.uint8), metadata={"axes": "ZYX"})
    with pytest.raises(InputError, match="write_stack"):
        write_image(tmp_path / "a.tif", vol)


# ------------------------------------------------------------------------------ errors
def test_missing_file(tmp_path):
    path = tmp_path / "nope.tif"
    with pytest.raises(FileNotFoundError) as info:
        read_image(path)
    assert isinstance(info.value, MissingFileError)
    assert str(info.value).startswith(str(path))


def test_unknown_extension(tmp_path):
    path = tmp_path / "a.xyz"
    path.write_bytes(b"hello")
    with pytest.raises(FileFormatError, match=r"a\.xyz.*unknown image format '\.xyz'"):
        read_image(path)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(FileFormatError, match="folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 100, 6, 0])
def test_truncated_tiff(tmp_path, keep):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, RNG.integers(0, 256, (64, 64), dtype=np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep) if keep < 1 else keep])
    with pytest.raises(FileFormatError) as info:
        read_image(path, pixel_size=1.0)
    message = str(info.value)
    assert message.startswith(str(path)) and "cannot read as TIFF" in message
    assert "Traceback" not in message


def test_not_a_png(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    with pytest.raises(FileFormatError, match=r"fake\.png: cannot read as PNG"):
        read_image(path, pixel_size=1.0)


def test_stack_and_4d_refused(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match="read_stack"):
        read_image(tmp_path / "s.tif", pixel_size=1.0)
    tifffile.imwrite(tmp_path / "h.tif", np.zeros((2, 3, 4, 5), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match=r"h\.tif.*4-dimensional"):
        read_image(tmp_path / "h.tif", pixel_size=1.0)


def test_fei_data_bar_is_cut_from_the_files_own_tags(tmp_path):
    # an FEI/Thermo TIFF: a 48 x 64 scanned field above a 16-row data bar
    data = np.zeros((64, 64), np.uint16)
    data[:48] = np.arange(64, dtype=np.uint16)
    data[48:] = 65535                                   # the bar: white text on black, say
    text = FEI_TEXT + "[Image]\r\nResolutionX=64\r\nResolutionY=48\r\n"
    path = tmp_path / "fei_bar.tif"
    tifffile.imwrite(path, data, extratags=[(34682, "s", 0, text, True)])
    img = quiet_read(path)
    assert img.shape == (48, 64) and (img.data != 65535).all()
    assert img.metadata["data_bar_rows"] == 16 and img.metadata["file_shape"] == [64, 64]
    full = quiet_read(path, crop_data_bar=False)
    assert full.shape == (64, 64) and "data_bar_rows" not in full.metadata
    # a file whose field is the whole image is left as it is
    tifffile.imwrite(path, data[:48], extratags=[(34682, "s", 0, text, True)])
    assert quiet_read(path).shape == (48, 64)


def test_rgb_written_as_grey_pages_is_read_as_one_rgb_image(tmp_path):
    """tifffile writes a (Y, X, 3) array with photometric='minisblack' as Y pages of (X, 3);
    that is an RGB image, not a stack of 3-px-wide slices (predict once called it 64 channels)."""

    from microseg import tasks

    rgb = (np.random.default_rng(0).random((64, 48, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "pages.tif", rgb, photometric="minisblack")
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    def read(name, **kw):
        return read_image(tmp_path / name, pixel_size=0.1, **kw)

    pages, proper = read("pages.tif", as_gray=False), read("rgb.tif", as_gray=False)
    assert pages.shape == proper.shape == (64, 48, 3) and np.array_equal(pages.data, proper.data)
    assert pages.metadata["axes"] == "YXS"
    assert np.array_equal(read("pages.tif").data, read("rgb.tif").data)
    stack = np.zeros((5, 16, 20), np.uint8)                     # a real stack keeps being one
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    with pytest.raises(InputError, match="stack of 5 slices"):
        read("stack.tif")
    assert tasks.segment(tmp_path / "pages.tif", method="otsu", pixel_size=0.1).images[0].prob.shape == (64, 48)
