"""open_image / open_image_writer / open_prob_writer: images read and written piece by piece."""
from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
import tifffile

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.io import lazy, read_image, read_prob, read_prob_image, to_gray, write_image
from microseg.io.lazy import LazyImage, open_image, open_image_writer, open_prob_writer

RNG = np.random.default_rng(0)


def sample(dtype, shape=(301, 517)) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return RNG.random(shape, dtype=np.float32).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


class CountingOpen:
    """``open`` that counts the bytes read through the files it opens (an independent check)."""

    def __init__(self) -> None:
        self.read = 0

    def __call__(self, *args, **kwargs):
        fh = builtins.open(*args, **kwargs)
        counter = self
        original = fh.read

        class Wrapped:
            def __getattr__(self, name):
                return getattr(fh, name)

            def read(self, n=-1):
                data = original(n)
                counter.read += len(data)
                return data

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

        return Wrapped()


# --------------------------------------------------------------------------- writing
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_writer_round_trip_exact_with_pixel_size(tmp_path: Path, dtype) -> None:
    data = sample(dtype)
    path = tmp_path / "out.tif"
    with open_image_writer(path, data.shape, dtype, pixel_size=0.025, tile=64) as w:
        for r in range(0, data.shape[0], 37):            # bands that do not line up with the tiles
            w[r:r + 37, :] = data[r:r + 37]
    image = read_image(path)
    assert image.data.dtype == dtype
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size == pytest.approx(0.025) and image.pixel_size_source == "imagej"
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.is_tiled and tif.pages.first.tilewidth == 64
    lazy_image = open_image(path)
    assert lazy_image.shape == data.shape and lazy_image.dtype == dtype
    assert lazy_image.pixel_size == pytest.approx(0.025)
    np.testing.assert_array_equal(lazy_image[10:200, 33:400], data[10:200, 33:400])


def test_writer_takes_tiles_in_any_order_within_a_band_row(tmp_path: Path) -> None:
    data = sample(np.uint16, (130, 170))
    path = tmp_path / "tiles.tif"
    with open_image_writer(path, data.shape, np.uint16, tile=32) as w:
        for r0 in range(0, 130, 50):                  # compute tiles of 50 x 60, right to left
            for c0 in reversed(range(0, 170, 60)):
                w[r0:r0 + 50, c0:c0 + 60] = data[r0:r0 + 50, c0:c0 + 60]
    np.testing.assert_array_equal(read_image(path, pixel_size=1.0).data, data)


def test_writer_holds_one_band_of_tiles(tmp_path: Path) -> None:
    w = open_image_writer(tmp_path / "band.tif", (1000, 300), np.float32, tile=64)
    try:
        w[0:70, :] = 1.0                  # band 0 is complete and goes to the file; band 1 waits
        assert w.rows_written == 64 and sorted(w._bands) == [1]
        w[70:128, :] = 2.0
        assert w.rows_written == 128 and not w._bands
    finally:
        w.abort()


def test_writer_channel_first_shape(tmp_path: Path) -> None:
    data = sample(np.float32, (1, 90, 50))
    path = tmp_path / "k.tif"
    with open_image_writer(path, data.shape, np.float32, tile=16) as w:
        assert w.shape == (1, 90, 50)
        for r in range(0, 90, 40):
            w[:, r:r + 40, :] = data[:, r:r + 40]
    np.testing.assert_array_equal(read_image(path, pixel_size=1.0).data, data[0])


def test_writer_refuses_rows_out_of_order_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "order.tif"
    w = open_image_writer(path, (100, 40), np.uint8, tile=16)
    w[0:50, :] = 1
    with pytest.raises(InputError, match="row order"):
        w[10:20, :] = 2
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_writer_close_with_rows_missing_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.tif"
    w = open_image_writer(path, (100, 40), np.uint8, tile=16)
    w[0:60, :] = 1
    with pytest.raises(InputError, match="40 of 100 rows were never given"):
        w.close()
    assert list(tmp_path.iterdir()) == []


def test_writer_error_in_block_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "old.tif"
    write_image(path, np.zeros((5, 5), np.uint8), pixel_size=1.0)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        open_image_writer(path, (10, 10), np.uint8)
    with pytest.raises(RuntimeError, match="boom"):
        with open_image_writer(path, (100, 40), np.uint8, tile=16, force=True) as w:
            w[0:50, :] = 7
            raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.tif"]


def test_writer_checks_dtype_tile_and_shape(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="multiple of 16"):
        open_image_writer(tmp_path / "a.tif", (10, 10), np.uint8, tile=20)
    with pytest.raises(InputError, match="shape"):
        open_image_writer(tmp_path / "a.tif", (3, 10, 10), np.uint8)
    with pytest.raises(InputError, match=".tif"):
        open_image_writer(tmp_path / "a.png", (10, 10), np.uint8)
    with open_image_writer(tmp_path / "a.tif", (10, 10), np.uint8, tile=16) as w:
        with pytest.raises(InputError, match="cannot store float64"):
            w[:, :] = np.zeros((10, 10))
        w[:, :] = 3
    assert list(tmp_path.iterdir()) == [tmp_path / "a.tif"]


def test_prob_writer_round_trip(tmp_path: Path) -> None:
    prob = RNG.random((130, 70), dtype=np.float32)
    for dtype, tol in (("float32", 0.0), ("uint8", 0.5 / 255 + 1e-7), ("float16", 1e-3)):
        path = tmp_path / f"p_{dtype}.tif"
        with open_prob_writer(path, prob.shape, pixel_size=0.1, dtype=dtype, tile=32) as w:
            for r in range(0, 130, 64):
                w[r:r + 64, :] = prob[r:r + 64]
        back = read_prob_image(path)
        assert np.abs(back.data - prob).max() <= tol, dtype
        assert back.pixel_size == pytest.approx(0.1)
    assert read_prob(tmp_path / "p_uint8.tif").max() <= 1.0


def test_prob_writer_refuses_nan_and_leaves_nothing(tmp_path: Path) -> None:
    bad = np.full((20, 20), 0.5, np.float32)
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        with open_prob_writer(tmp_path / "p.tif", bad.shape, tile=16) as w:
            w[:, :] = bad
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reading
def test_region_read_touches_only_its_tiles(tmp_path: Path, monkeypatch) -> None:
    data = sample(np.uint16, (1024, 1024))
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, data, tile=(64, 64))
    image = open_image(path, pixel_size=1.0)
    counting = CountingOpen()
    monkeypatch.setattr(lazy, "open", counting, raising=False)
    region = image[100:164, 200:264]          # within 2 x 2 tiles
    np.testing.assert_array_equal(region, data[100:164, 200:264])
    tile_bytes = 64 * 64 * 2
    assert counting.read == image.bytes_read
    assert counting.read <= 4 * tile_bytes < path.stat().st_size / 50


def test_region_read_of_an_uncompressed_strip_reads_its_rows(tmp_path: Path, monkeypatch) -> None:
    data = sample(np.uint8, (900, 700))
    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, data)                # one strip, uncompressed
    image = open_image(path, pixel_size=1.0)
    counting = CountingOpen()
    monkeypatch.setattr(lazy, "open", counting, raising=False)
    np.testing.assert_array_equal(image[400:410, 5:50], data[400:410, 5:50])
    assert counting.read == 10 * 700


@pytest.mark.parametrize("layout", [{"tile": (32, 48)}, {"rowsperstrip": 7}])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_compressed_regions(tmp_path: Path, layout, dtype) -> None:
    data = sample(dtype, (211, 333))
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, data, compression="zlib", **layout)
    image = open_image(path, pixel_size=1.0)
    for rows, cols in ((slice(0, 211), slice(0, 333)), (slice(5, 100), slice(7, 300)),
                       (slice(200, 211), slice(330, 333))):
        np.testing.assert_array_equal(image[rows, cols], data[rows, cols])
    np.testing.assert_array_equal(np.asarray(image), data)


def test_indexing_like_an_array(tmp_path: Path) -> None:
    data = sample(np.uint16, (40, 50))
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data, tile=(16, 16))
    image = open_image(path, pixel_size=1.0)
    np.testing.assert_array_equal(image[3], data[3])
    np.testing.assert_array_equal(image[-1, 5:9], data[-1, 5:9])
    np.testing.assert_array_equal(image[..., 7], data[..., 7])
    np.testing.assert_array_equal(image[30:99], data[30:99])
    assert image[5:5, :].shape == (0, 50)
    with pytest.raises(InputError, match="step 1"):
        image[::2]
    with pytest.raises(IndexError):
        image[40]
    assert isinstance(image, LazyImage) and len(image) == 40 and image.ndim == 2


def test_rgb_regions_are_grey_by_to_gray(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 255, (50, 60, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", tile=(16, 16))
    image = open_image(path, pixel_size=1.0)
    assert image.shape == (50, 60)
    np.testing.assert_array_equal(image[10:30, 5:55], to_gray(rgb[10:30, 5:55]))
    colour = open_image(path, pixel_size=1.0, as_gray=False)
    assert colour.shape == (50, 60, 3)
    np.testing.assert_array_equal(colour[3:9, 4:20], rgb[3:9, 4:20])
    separate = tmp_path / "planes.tif"
    tifffile.imwrite(separate, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate", tile=(16, 16))
    np.testing.assert_array_equal(open_image(separate, pixel_size=1.0, as_gray=False)[:, :], rgb)


def test_pixel_size_and_data_bar_as_read_image(tmp_path: Path) -> None:
    fei = ("[Scan]\r\nPixelWidth=5e-09\r\nPixelHeight=5e-09\r\n"
           "[Image]\r\nResolutionX=16\r\nResolutionY=10\r\n")
    data = sample(np.uint8, (12, 16))
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, data, extratags=[(34682, "s", 0, fei, True)])
    whole = read_image(path)
    image = open_image(path)
    assert image.shape == whole.shape == (10, 16)
    assert image.pixel_size == whole.pixel_size and image.pixel_size_source == whole.pixel_size_source == "fei"
    assert image.metadata["data_bar_rows"] == 2
    np.testing.assert_array_equal(image[:, :], whole.data)
    assert image.read().shape == (10, 16)


def test_unknown_pixel_size_warns_and_explicit_wins(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    with pytest.warns(UserWarning, match="pixel size unknown"):
        assert open_image(path).pixel_size is None
    image = open_image(path, pixel_size=0.5)
    assert image.pixel_size == 0.5 and image.pixel_size_source == "explicit"


def test_png_is_read_whole(tmp_path: Path) -> None:
    data = sample(np.uint8, (20, 30))
    path = tmp_path / "a.png"
    write_image(path, data)
    image = open_image(path, pixel_size=1.0)
    np.testing.assert_array_equal(image[4:9, 2:20], data[4:9, 2:20])


def test_stack_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match="stack of 3"):
        open_image(path, pixel_size=1.0)


def test_damaged_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00garbage")
    with pytest.raises(FileFormatError, match="bad.tif"):
        open_image(path, pixel_size=1.0)
