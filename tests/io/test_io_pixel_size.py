"""Pixel size from OME-XML, JSON and ImageJ descriptions and TIFF resolution tags; precedence."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microseg.io import Image, read_image, read_stack, write_stack

GREY8 = np.random.default_rng(1).integers(0, 256, (12, 16), dtype=np.uint8)
PX_UM = 0.015  # 15 nm, the pixel size every fixture below states in its own way

FEI_TEXT = "[System]\r\nSystemType=Quanta 650\r\n[Scan]\r\nPixelWidth=5e-09\r\nPixelHeight={}\r\n"


def quiet_read(path, **kwargs) -> Image:
    """read_image that fails the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_image(path, **kwargs)


def read_unknown(path: Path) -> Image:
    """read_image that must give the usual "pixel size unknown" warning, once."""
    with pytest.warns(UserWarning, match="pixel size unknown") as record:
        img = read_image(path)
    assert len(record) == 1 and str(path) in str(record[0].message)
    assert (img.pixel_size, img.pixel_size_source) == (None, "unknown")
    return img


def write_description(path: Path, description: str | dict, **kwargs) -> Path:
    """A TIFF whose only ImageDescription is ``description`` (a dict is written as JSON)."""
    text = description if isinstance(description, str) else json.dumps(description)
    tifffile.imwrite(path, GREY8, description=text, metadata=None, **kwargs)
    return path


# ----------------------------------------------------------------------------- JSON
def test_user_file_json_with_resolution_unit_none(tmp_path):
    """The reported file: XResolution with no unit plus a JSON description."""
    path = write_description(
        tmp_path / "se.tif", {"pixel_size_um": PX_UM, "unit": "micron", "detector": "SE"},
        resolution=(1 / PX_UM, 1 / PX_UM), resolutionunit="NONE")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")


@pytest.mark.parametrize("meta", [
    {"pixel_size_um": 0.015},
    {"pixel_size_nm": 15},
    {"pixelSizeNm": 15.0},
    {"PixelSize": 15, "unit": "nm"},
    {"pixelsize": 0.015, "unit": "µm"},
    {"pixel_size": 0.015, "unit": "um"},
    {"Pixel Size": 0.015, "Units": "microns"},
    {"pixel_size": 15, "pixel_size_unit": "nanometer"},
    {"spacing": 15, "unit": "nm"},
    {"spacing_um": 0.015},
    {"resolution": 1.5e-5, "unit": "mm"},
    {"pixel_size": 1.5e-8, "unit": "m"},
    {"pixel_size": 150, "unit": "Å"},
    {"pixel_size": "15 nm"},
    {"pixel_size": {"value": 15, "unit": "nm"}},
    {"pixel_size": {"x": 15, "y": 15, "unit": "nm"}},
    {"pixel_size_x": 15, "pixel_size_y": 15, "pixel_size_unit": "nm"},
    {"spacing": [15, 15], "unit": "nm"},
    {"spacing": [0.015, 0.015], "unit": "micron"},
    {"instrument": {"name": "SEM", "scan": {"pixel_size_nm": 15}}},
], ids=lambda meta: json.dumps(meta, ensure_ascii=False))
def test_json_keys(tmp_path, meta):
    # tifffile's own JSON description: {"shape": [12, 16], ...meta}
    tifffile.imwrite(tmp_path / "a.tif", GREY8, metadata=meta)
    img = quiet_read(tmp_path / "a.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")
    # the same object as the only description, without "shape"
    img = quiet_read(write_description(tmp_path / "b.tif", meta))
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")


def test_json_after_a_plain_description(tmp_path):
    """tifffile writes its JSON as a second ImageDescription after a given one."""
    tifffile.imwrite(tmp_path / "a.tif", GREY8, description="SE image", metadata={"pixel_size_nm": 15})
    assert quiet_read(tmp_path / "a.tif").pixel_size == pytest.approx(PX_UM)


@pytest.mark.parametrize("meta", [
    None,  # tifffile's default {"shape": [12, 16]}
    {"microseg": "prob", "scale": 255},
    {"pixel_size": 0.015},  # no unit anywhere: not taken
    {"pixel_size": 15, "unit": "px"},
    {"pixel_size": -15, "unit": "nm"},
    {"pixel_size": True, "unit": "nm"},
    {"resolution": [1024, 768], "unit": "um"},  # a frame size, not a pixel size
    {"camera": {"spacing": 15, "unit": "nm"}},  # spacing only at the top level
])
def test_json_without_pixel_size(tmp_path, meta):
    tifffile.imwrite(tmp_path / "a.tif", GREY8, **({} if meta is None else {"metadata": meta}))
    read_unknown(tmp_path / "a.tif")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"pixel_size": {"value": "abc"}}'])
def test_bad_json_description_is_not_an_error(tmp_path, text):
    read_unknown(write_description(tmp_path / "a.tif", text))


def test_json_anisotropic_uses_x_and_warns_once(tmp_path):
    path = write_description(tmp_path / "aniso.tif", {"spacing": [0.02, PX_UM], "unit": "um"})
    with pytest.warns(UserWarning, match="not square") as record:
        img = read_image(path)
    assert len(record) == 1
    assert str(path) in str(record[0].message) and "width" in str(record[0].message)
    assert record[0].filename == __file__  # stacklevel points at the caller
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")
    assert img.metadata["pixel_size_y_um"] == pytest.approx(0.02)


def test_nearly_square_json_spacing_is_square(tmp_path):
    path = write_description(tmp_path / "a.tif", {"spacing": [PX_UM * (1 + 1e-5), PX_UM], "unit": "um"})
    img = quiet_read(path)
    assert img.pixel_size == pytest.approx(PX_UM) and "pixel_size_y_um" not in img.metadata


@pytest.mark.parametrize(("unit", "per_unit"), [("micron", 1 / PX_UM), ("nm", 1 / 15), ("µm", 1 / PX_UM)])
def test_json_unit_with_resolution_unit_none(tmp_path, unit, per_unit):
    path = write_description(tmp_path / "a.tif", {"unit": unit, "detector": "SE"},
                             resolution=(per_unit, per_unit), resolutionunit="NONE")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")


@pytest.mark.parametrize("per_unit", [1.0, 72.0, 96.0])
def test_json_unit_with_default_resolution_is_unknown(tmp_path, per_unit):
    path = write_description(tmp_path / "a.tif", {"unit": "um"},
                             resolution=(per_unit, per_unit), resolutionunit="NONE")
    read_unknown(path)


def test_tiff_resolution_unit_wins_over_json_unit(tmp_path):
    path = write_description(tmp_path / "a.tif", {"unit": "nm"},
                             resolution=(1e4 / PX_UM, 1e4 / PX_UM), resolutionunit="CENTIMETER")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "tiff-resolution")


def test_json_spacing_of_a_stack_is_the_slice_spacing(tmp_path):
    """microseg writes plain (non-ImageJ) stacks with {"spacing": <slice>, "unit": "um"}."""
    vol = np.arange(3 * 4 * 5, dtype=np.int32).reshape(3, 4, 5)
    write_stack(tmp_path / "v.tif", vol, pixel_size=0.2, slice_spacing=0.35)
    img = read_stack(tmp_path / "v.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.2), "tiff-resolution")
    assert img.slice_spacing == pytest.approx(0.35)
    write_stack(tmp_path / "one.tif", vol[:1], pixel_size=0.2, slice_spacing=0.35)
    assert quiet_read(tmp_path / "one.tif").pixel_size == pytest.approx(0.2)  # Z = 1, read as 2D
    write_stack(tmp_path / "nopx.tif", vol, slice_spacing=0.35)
    with pytest.warns(UserWarning, match="pixel size unknown"):
        assert read_stack(tmp_path / "nopx.tif").pixel_size is None


# -------------------------------------------------------------------------- OME-XML
@pytest.mark.parametrize(("meta", "expected"), [
    ({"PhysicalSizeX": 15, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 15, "PhysicalSizeYUnit": "nm"},
     PX_UM),
    ({"PhysicalSizeX": PX_UM, "PhysicalSizeY": PX_UM}, PX_UM),  # OME default unit: µm
    ({"PhysicalSizeX": 150, "PhysicalSizeXUnit": "Å"}, PX_UM),
    ({"PhysicalSizeX": 2e-3, "PhysicalSizeXUnit": "mm"}, 2.0),
])
def test_ome(tmp_path, meta, expected):
    tifffile.imwrite(tmp_path / "a.ome.tif", GREY8, ome=True, metadata=meta)
    img = quiet_read(tmp_path / "a.ome.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(expected), "ome")


def test_ome_anisotropic_warns(tmp_path):
    tifffile.imwrite(tmp_path / "a.ome.tif", GREY8, ome=True,
                     metadata={"PhysicalSizeX": PX_UM, "PhysicalSizeY": 0.03})
    with pytest.warns(UserWarning, match="not square") as record:
        img = read_image(tmp_path / "a.ome.tif")
    assert len(record) == 1 and "a.ome.tif" in str(record[0].message)
    assert img.pixel_size == pytest.approx(PX_UM)
    assert img.metadata["pixel_size_y_um"] == pytest.approx(0.03)


def test_ome_without_physical_size(tmp_path):
    tifffile.imwrite(tmp_path / "a.ome.tif", GREY8, ome=True)
    read_unknown(tmp_path / "a.ome.tif")


def test_broken_ome_xml_is_not_an_error(tmp_path):
    read_unknown(write_description(tmp_path / "a.tif", '<?xml version="1.0"?><OME><Image><Pixels'))


# ---------------------------------------------------------------- ImageJ and TIFF tags
@pytest.mark.parametrize(("unit", "per_unit"), [("micron", 1 / PX_UM), ("nm", 1 / 15), ("um", 1 / PX_UM)])
def test_imagej_unit(tmp_path, unit, per_unit):
    tifffile.imwrite(tmp_path / "ij.tif", GREY8, imagej=True, resolution=(per_unit, per_unit),
                     metadata={"unit": unit})
    with tifffile.TiffFile(tmp_path / "ij.tif") as tif:
        assert tif.pages.first.tags.valueof("ResolutionUnit") == 1  # ImageJ: no TIFF unit
    img = quiet_read(tmp_path / "ij.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "imagej")


@pytest.mark.parametrize(("unit", "per_unit"), [
    ("INCH", 25400 / PX_UM), ("CENTIMETER", 1e4 / PX_UM), ("INCH", 25400 / 0.5),
])
def test_tiff_resolution_units(tmp_path, unit, per_unit):
    tifffile.imwrite(tmp_path / "a.tif", GREY8, resolution=(per_unit, per_unit), resolutionunit=unit)
    img = quiet_read(tmp_path / "a.tif")
    assert img.pixel_size == pytest.approx(25400 / per_unit if unit == "INCH" else 1e4 / per_unit)
    assert img.pixel_size_source == "tiff-resolution"


@pytest.mark.parametrize(("dpi", "unit"), [
    (72, "INCH"), (96, "INCH"), (300, "INCH"), (600, "INCH"), (1200, "INCH"), (72, "NONE"),
    (10, "CENTIMETER"),  # 1 mm per pixel: a print setting too
])
def test_print_resolution_is_unknown(tmp_path, dpi, unit):
    tifffile.imwrite(tmp_path / "a.tif", GREY8, resolution=(dpi, dpi), resolutionunit=unit)
    read_unknown(tmp_path / "a.tif")


@pytest.mark.parametrize("dpi", [72, 96])
def test_image_editor_dpi_is_unknown(tmp_path, dpi):
    PILImage.fromarray(GREY8).save(tmp_path / "a.tif", dpi=(dpi, dpi))
    read_unknown(tmp_path / "a.tif")


def test_anisotropic_resolution_warns(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", GREY8, resolution=(1e4 / PX_UM, 1e4 / 0.02),
                     resolutionunit="CENTIMETER")
    with pytest.warns(UserWarning, match="not square"):
        img = read_image(tmp_path / "a.tif")
    assert img.pixel_size == pytest.approx(PX_UM)
    assert img.metadata["pixel_size_y_um"] == pytest.approx(0.02)


def test_fei_pixel_height_differs(tmp_path):
    tifffile.imwrite(tmp_path / "fei.tif", GREY8,
                     extratags=[(34682, "s", 0, FEI_TEXT.format("1e-08"), True)])
    with pytest.warns(UserWarning, match=r"fei\.tif.*not square"):
        img = read_image(tmp_path / "fei.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.005), "fei")
    assert img.metadata["pixel_size_y_um"] == pytest.approx(0.01)


# ------------------------------------------------------------------------ precedence
def test_fei_wins_over_json(tmp_path):
    path = write_description(tmp_path / "a.tif", {"pixel_size_nm": 15},
                             extratags=[(34682, "s", 0, FEI_TEXT.format("5e-09"), True)])
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.005), "fei")
    assert img.metadata["instrument"] == "Quanta 650"


def test_zeiss_wins_over_ome(tmp_path):
    payload = "\r\n".join(("0", "AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 12.5 nm")).encode("latin-1")
    tifffile.imwrite(tmp_path / "z.ome.tif", GREY8, ome=True, metadata={"PhysicalSizeX": 1.0},
                     extratags=[(34118, "B", len(payload), payload, True)])
    img = quiet_read(tmp_path / "z.ome.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(0.0125), "zeiss")


def test_json_wins_over_tiff_resolution_and_sidecar(tmp_path):
    path = write_description(tmp_path / "a.tif", {"pixel_size_nm": 15},
                             resolution=(1e4, 1e4), resolutionunit="CENTIMETER")
    path.with_suffix(".txt").write_text("[SemImageFile]\nInstructName=S-4800\nPixelSize=100\n")
    img = quiet_read(path)
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "json")
    assert img.metadata["instrument"] == "S-4800"  # the sidecar's strings are still kept


def test_sidecar_when_description_has_no_pixel_size(tmp_path):
    tifffile.imwrite(tmp_path / "S4800.tif", GREY8, metadata={"detector": "SE"})
    (tmp_path / "S4800.txt").write_text("InstructName=S-4800\nPixelSize=15\n")
    img = quiet_read(tmp_path / "S4800.tif")
    assert (img.pixel_size, img.pixel_size_source) == (pytest.approx(PX_UM), "sidecar")


# ------------------------------------------------------------------------- real data
@pytest.mark.realdata
@pytest.mark.parametrize(("name", "expected_nm"), [("steel_SEM_001.tif", 66.9), ("steel_SEM_002.tif", 77.1)])
def test_real_fei_files(shared_data, name, expected_nm):
    path = shared_data / "sem" / "openecci" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    img = quiet_read(path)  # the files also carry 96/128 dpi: FEI wins, no warning
    assert img.pixel_size_source == "fei"
    assert img.pixel_size * 1e3 == pytest.approx(expected_nm, abs=0.05)
    assert "pixel_size_y_um" not in img.metadata
    assert img.metadata["data_bar_rows"] == 70                 # README: 70 rows of data bar
    assert img.shape == tuple(img.metadata["specimen_shape"])
