"""Label maps and probability maps: round trips, storage dtypes and value checks."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from microseg._util import InputError, OutputExistsError
from microseg.io import read_labels, read_prob, write_labels, write_prob

RNG = np.random.default_rng(2)


# ------------------------------------------------------------------------------ labels
@pytest.mark.parametrize(("shape", "top", "stored"), [
    ((8, 9), 300, np.uint16), ((3, 8, 9), 65535, np.uint16), ((8, 9), 70000, np.int32),
])
def test_labels_round_trip(tmp_path, shape, top, stored):
    labels = RNG.integers(0, top + 1, shape).astype(np.int64)
    labels.flat[0] = top
    write_labels(tmp_path / "l.tif", labels)
    assert tifffile.imread(tmp_path / "l.tif").dtype == stored
    back = read_labels(tmp_path / "l.tif")
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, labels)


def test_labels_refuse_overwrite(tmp_path):
    write_labels(tmp_path / "l.tif", np.zeros((3, 3), np.int32))
    with pytest.raises(OutputExistsError):
        write_labels(tmp_path / "l.tif", np.zeros((3, 3), np.int32))
    write_labels(tmp_path / "l.tif", np.ones((3, 3), np.int32), force=True)
    assert read_labels(tmp_path / "l.tif").sum() == 9


@pytest.mark.parametrize(("labels", "match"), [
    (np.full((3, 3), -1), "labels must be >= 0"),
    (np.zeros((3, 3), np.float32), "integer array"),
    (np.zeros((2, 2, 2, 2), np.int32), r"labels must be a 2D \(Y, X\) or 3D"),
    (np.full((3, 3), 2**31, np.int64), "labels must be <="),
])
def test_write_labels_errors(tmp_path, labels, match):
    with pytest.raises(InputError, match=match):
        write_labels(tmp_path / "l.tif", labels)


def test_write_labels_needs_tiff(tmp_path):
    with pytest.raises(InputError, match=r"l\.png.*TIFF"):
        write_labels(tmp_path / "l.png", np.zeros((3, 3), np.int32))


def test_read_labels_float_and_png(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.array([[0.0, 1.0], [2.0, 7.0]], np.float32))
    np.testing.assert_array_equal(read_labels(tmp_path / "f.tif"), [[0, 1], [2, 7]])
    tifffile.imwrite(tmp_path / "g.tif", np.array([[0.5, 1.0]], np.float32))
    with pytest.raises(InputError, match=r"g\.tif.*non-integer"):
        read_labels(tmp_path / "g.tif")
    tifffile.imwrite(tmp_path / "n.tif", np.array([[-3, 1]], np.int16))
    with pytest.raises(InputError, match=r"n\.tif.*negative"):
        read_labels(tmp_path / "n.tif")
    PILImage.fromarray(np.array([[0, 4]], np.uint8)).save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "p.png"), [[0, 4]])


# -------------------------------------------------------------------- probability maps
def test_prob_float32_round_trip_exact(tmp_path):
    prob = RNG.random((3, 8, 9)).astype(np.float32)
    write_prob(tmp_path / "p.tif", prob)
    back = read_prob(tmp_path / "p.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, prob)


@pytest.mark.parametrize(("dtype", "atol"), [("float16", 5e-4), ("uint8", 0.5 / 255)])
def test_prob_compact_round_trip(tmp_path, dtype, atol):
    prob = RNG.random((8, 9))
    write_prob(tmp_path / "p.tif", prob, dtype=dtype)
    assert tifffile.imread(tmp_path / "p.tif").dtype == np.dtype(dtype)
    np.testing.assert_allclose(read_prob(tmp_path / "p.tif"), prob, atol=atol + 1e-7)


def test_prob_uint8_small_values_keep_their_scale(tmp_path):
    # stored values are only 0 and 1, but the file says they are 1/255 steps
    prob = np.array([[0.0, 0.003]])
    write_prob(tmp_path / "p.tif", prob, dtype="uint8")
    np.testing.assert_allclose(read_prob(tmp_path / "p.tif"), [[0.0, 1 / 255]])


def test_prob_uint8_png(tmp_path):
    prob = np.array([[0.0, 0.5, 1.0]])
    write_prob(tmp_path / "p.png", prob, dtype="uint8")
    np.testing.assert_allclose(read_prob(tmp_path / "p.png"), [[0, 128 / 255, 1]])


def test_prob_nan_file(tmp_path):
    data = RNG.random((6, 6)).astype(np.float32)
    data.flat[:12] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, data)
    with pytest.raises(InputError, match=r"nan\.tif: contains 12 NaN values"):
        read_prob(path)


def test_prob_out_of_range_file(tmp_path):
    path = tmp_path / "range.tif"
    tifffile.imwrite(path, np.array([[-0.2, 0.5], [1.3, 1.0]], np.float32))
    with pytest.raises(InputError, match=r"range\.tif: values range -0\.2\.\.1\.3, expected 0\.\.1"):
        read_prob(path)


def test_prob_rounding_noise_clipped(tmp_path):
    tifffile.imwrite(tmp_path / "p.tif", np.array([[1 + 1e-7, -1e-7]], np.float32))
    back = read_prob(tmp_path / "p.tif")
    assert back.max() == 1.0 and back.min() == 0.0


@pytest.mark.parametrize(("stored", "expected"), [
    (np.array([[0, 1, 1]], np.uint8), [[0, 1, 1]]),
    (np.array([[0, 51, 255]], np.uint8), [[0, 0.2, 1]]),
    (np.array([[0, 1]], np.uint16), [[0, 1]]),
    (np.array([[0, 65535, 13107]], np.uint16), [[0, 1, 0.2]]),
    (np.array([[True, False]]), [[1, 0]]),
])
def test_prob_integer_files(tmp_path, stored, expected):
    tifffile.imwrite(tmp_path / "p.tif", stored)
    back = read_prob(tmp_path / "p.tif")
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, expected, rtol=1e-6)


def test_prob_rgb(tmp_path):
    grey = np.array([[0, 255]], np.uint8)
    PILImage.fromarray(np.repeat(grey[..., None], 3, axis=-1)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_prob(tmp_path / "g.png"), [[0.0, 1.0]])
    PILImage.fromarray(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(InputError, match=r"c\.png: is a colour image"):
        read_prob(tmp_path / "c.png")


def test_prob_bad_dtype_file(tmp_path):
    tifffile.imwrite(tmp_path / "i.tif", np.array([[0, 3]], np.int16))
    with pytest.raises(InputError, match=r"i\.tif.*dtype int16"):
        read_prob(tmp_path / "i.tif")


@pytest.mark.parametrize(("prob", "kwargs", "match"), [
    (np.array([[np.nan, 0.5]]), {}, "prob: contains 1 NaN values"),
    (np.array([[2.0, 0.5]]), {}, r"values range 0\.5\.\.2"),
    (np.array([[1, 0]], np.int32), {}, "float array"),
    (np.zeros((2, 2, 2, 2)), {}, r"prob must be a 2D \(Y, X\) or 3D"),
    (np.zeros((2, 2)), {"dtype": "float64"}, "did you mean"),
])
def test_write_prob_errors(tmp_path, prob, kwargs, match):
    with pytest.raises(InputError, match=match):
        write_prob(tmp_path / "p.tif", prob, **kwargs)
    assert not list(tmp_path.iterdir())


def test_write_prob_png_needs_uint8(tmp_path):
    with pytest.raises(InputError, match=r"p\.png.*TIFF"):
        write_prob(tmp_path / "p.png", np.zeros((2, 2)))


def test_prob_map_keeps_its_pixel_size(tmp_path):
    from microseg.io import read_prob_image, write_prob

    prob = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    for dtype in ("float32", "uint8"):
        path = tmp_path / f"p_{dtype}.tif"
        write_prob(path, prob, dtype=dtype, pixel_size=0.05)
        image = read_prob_image(path)
        assert image.pixel_size == pytest.approx(0.05)
        np.testing.assert_allclose(image.data, prob, atol=1 / 255)
    assert read_prob_image(tmp_path / "p_uint8.tif", pixel_size=0.1).pixel_size == 0.1
    write_prob(tmp_path / "nosize.tif", prob)
    with pytest.warns(UserWarning, match="nosize.tif: pixel size unknown"):
        assert read_prob_image(tmp_path / "nosize.tif").pixel_size is None


def test_read_mask_any_channel_and_bit_depth(tmp_path):
    from microseg.io import read_mask

    rgb = np.zeros((6, 8, 4), np.uint16)
    rgb[1:4, 2:5, 2] = 65535                          # a 16-bit RGBA mask, blue = specimen
    tifffile.imwrite(tmp_path / "m.tif", rgb, photometric="rgb", extrasamples=["unassalpha"])
    mask = read_mask(tmp_path / "m.tif", shape=(6, 8))
    assert mask.dtype == bool and mask.sum() == 9 and mask[1:4, 2:5].all()
    with pytest.raises(InputError, match=r"m.tif: the mask has shape \(6, 8\)"):
        read_mask(tmp_path / "m.tif", shape=(8, 8))
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((6, 8), np.uint8))
    with pytest.raises(InputError, match="z.tif: the mask is empty"):
        read_mask(tmp_path / "z.tif")
