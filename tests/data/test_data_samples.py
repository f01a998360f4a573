"""Reading samples: pair folders, image/mask folders with colour masks, and real SEM data."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microseg._util import InputError
from microseg.data import binary_mask, load_image_mask_folders, load_pair_folder, load_samples, to_float_image
from microseg.io import MissingFileError, write_image

BLUE, RED = (0, 0, 255), (255, 0, 0)


def _write_pair(folder, *, shape=(12, 16), dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    boundaries = (rng.random(shape) < 0.2).astype(np.uint8)
    write_image(folder / "image.tif", image, pixel_size=0.05)
    write_image(folder / "boundaries.tif", boundaries, pixel_size=0.05)
    return image, boundaries


def _colour_mask(shape=(8, 10)):
    """RGBA mask: grey background with varied levels, a blue block and a red block."""
    grey = np.add.outer(np.arange(shape[0]) * 7, np.arange(shape[1]) * 3).astype(np.uint8) + 20
    rgba = np.stack([grey, grey, grey, np.full(shape, 255, np.uint8)], axis=-1)
    rgba[1:4, 2:6, :3] = BLUE
    rgba[5:7, 7:9, :3] = RED
    rgba[7, 0, :3] = (0, 0, 254)  # nearly blue is not blue
    return rgba


@pytest.fixture
def sem_folders(tmp_path):
    """images/ + masks/ with a 16-bit grey image and an RGB image, RGBA colour masks."""
    images, masks = tmp_path / "train", tmp_path / "train_annot"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(1)
    grey16 = rng.integers(0, 65536, (8, 10)).astype(np.uint16)
    grey16[0, 0], grey16[0, 1] = 0, 65535
    rgb = np.repeat(rng.integers(0, 256, (8, 10, 1)).astype(np.uint8), 3, axis=-1)
    rgb[0, 0] = (255, 0, 0)
    tifffile.imwrite(images / "a10.tif", rgb, photometric="rgb")
    tifffile.imwrite(images / "a2.tif", grey16)
    for name in ("a2", "a10"):
        tifffile.imwrite(masks / f"{name}_mask.tif", _colour_mask(), photometric="rgb", extrasamples=[2])
    return images, masks, grey16, rgb


def test_to_float_image_scales_by_dtype_range():
    assert to_float_image(np.array([[0, 65535]], np.uint16)).tolist() == [[[0.0, 1.0]]]
    assert to_float_image(np.array([[0, 51]], np.uint8)).tolist() == [[[0.0, np.float32(0.2)]]]
    assert to_float_image(np.ones((2, 2), bool)).dtype == np.float32
    with pytest.raises(InputError, match="channels must be 1"):
        to_float_image(np.zeros((2, 2)), channels=2)


def test_binary_mask_colours():
    rgba = _colour_mask()
    blue = binary_mask(rgba, positive="blue")
    red = binary_mask(rgba, positive="red")
    both = binary_mask(rgba, positive="blue+red")
    assert blue.dtype == np.uint8 and blue.sum() == 12 and blue[1:4, 2:6].all()
    assert red.sum() == 4 and red[5:7, 7:9].all()
    assert np.array_equal(both, blue | red)
    with pytest.raises(InputError, match=r"unknown positive class 'green'"):
        binary_mask(rgba, positive="green")


def test_load_pair_folder(tmp_path):
    image, boundaries = _write_pair(tmp_path / "pair1")
    s = load_pair_folder(tmp_path / "pair1")
    assert s.name == "pair1" and s.source == str(tmp_path / "pair1")
    assert s.image.shape == (1, 12, 16) and s.image.dtype == np.float32
    np.testing.assert_allclose(s.image[0], image / 65535.0, rtol=1e-6)
    assert s.mask.dtype == np.uint8 and np.array_equal(s.mask, boundaries)
    assert s.pixel_size == pytest.approx(0.05, rel=1e-3)
    assert load_pair_folder(tmp_path / "pair1", channels=3).image.shape == (3, 12, 16)


def test_load_samples_dispatch(tmp_path, sem_folders):
    _write_pair(tmp_path / "pairs" / "p10", seed=1)
    _write_pair(tmp_path / "pairs" / "p2", seed=2)
    assert [s.name for s in load_samples(tmp_path / "pairs")] == ["p2", "p10"]
    assert [s.name for s in load_samples(tmp_path / "pairs" / "p2")] == ["p2"]
    images, masks, *_ = sem_folders
    assert [s.name for s in load_samples(f"{images}:{masks}")] == ["a2", "a10"]
    both = load_samples([tmp_path / "pairs" / "p10", f"{images}:{masks}"], positive="red")
    assert [s.name for s in both] == ["p10", "a2", "a10"] and both[1].mask.sum() == 4
    with pytest.raises(InputError, match="neither a training pair folder"):
        load_samples(images)
    with pytest.raises(MissingFileError, match="nope: no such folder"):
        load_samples(tmp_path / "nope")


def test_load_image_mask_folders(sem_folders):
    images, masks, grey16, rgb = sem_folders
    samples = load_image_mask_folders(images, masks)
    assert [s.name for s in samples] == ["a2", "a10"]
    for s in samples:
        assert s.image.shape == (1, 8, 10) and s.image.dtype == np.float32
        assert s.mask.dtype == np.uint8 and s.mask.sum() == 12 and s.mask[1:4, 2:6].all()
        assert s.pixel_size is None
    np.testing.assert_allclose(samples[0].image[0], grey16 / 65535.0, rtol=1e-6)
    assert samples[0].image.min() == 0.0 and samples[0].image.max() == 1.0
    colour = load_image_mask_folders(images, masks, channels=3)
    np.testing.assert_allclose(colour[1].image, np.moveaxis(rgb, -1, 0) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(colour[0].image[0], colour[0].image[2])


def test_grey_masks_must_be_binary(tmp_path):
    images, masks = tmp_path / "img", tmp_path / "msk"
    images.mkdir()
    masks.mkdir()
    tifffile.imwrite(images / "x.tif", np.zeros((4, 4), np.uint8))
    tifffile.imwrite(masks / "x_mask.tif", np.array([[0, 255] * 2] * 4, np.uint8))
    assert load_image_mask_folders(images, masks)[0].mask.tolist() == [[0, 1, 0, 1]] * 4
    tifffile.imwrite(masks / "x_mask.tif", np.array([[0, 1, 2, 0]] * 4, np.uint8))
    with pytest.raises(InputError, match=r"x_mask.tif: a binary mask .* holds 3 distinct values: 0, 1, 2"):
        load_image_mask_folders(images, masks)


def test_boundaries_with_unexpected_values(tmp_path):
    _write_pair(tmp_path / "p")
    write_image(tmp_path / "p" / "boundaries.tif", np.arange(12 * 16, dtype=np.uint8).reshape(12, 16), force=True)
    with pytest.raises(InputError, match=r"boundaries.tif: a binary mask .* 192 distinct values: 0, 1, 2"):
        load_pair_folder(tmp_path / "p")


def test_image_and_mask_of_different_sizes(tmp_path, sem_folders):
    images, masks, *_ = sem_folders
    tifffile.imwrite(masks / "a2_mask.tif", _colour_mask((8, 9)), photometric="rgb", extrasamples=[2])
    with pytest.raises(InputError, match=r"image .*a2.tif is 8 × 10 .* mask .*a2_mask.tif is 8 × 9"):
        load_image_mask_folders(images, masks)
    _write_pair(tmp_path / "p")
    write_image(tmp_path / "p" / "boundaries.tif", np.zeros((12, 15), np.uint8), force=True)
    with pytest.raises(InputError, match=r"image.tif is 12 × 16 .*boundaries.tif is 12 × 15"):
        load_pair_folder(tmp_path / "p")


def test_missing_mask_and_files(tmp_path, sem_folders):
    images, masks, *_ = sem_folders
    (masks / "a10_mask.tif").unlink()
    with pytest.raises(MissingFileError, match=r"a10.tif: no mask for this image; looked for .*a10_mask"):
        load_image_mask_folders(images, masks)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="boundaries.tif: missing"):
        _write_pair(tmp_path / "q")
        (tmp_path / "q" / "boundaries.tif").unlink()
        load_pair_folder(tmp_path / "q")
    with pytest.raises(InputError, match="holds no image file"):
        load_image_mask_folders(tmp_path / "empty", masks)
    with pytest.raises(MissingFileError, match="no such folder \\(masks_dir\\)"):
        load_image_mask_folders(images, tmp_path / "absent")


@pytest.mark.realdata
def test_real_super1_training_set(shared_data):
    root = shared_data / "sem" / "super1"
    if not (root / "train").is_dir():
        pytest.skip(f"{root} is absent")
    samples = load_image_mask_folders(root / "train", root / "train_annot", positive="blue")
    assert len(samples) == 10
    for s in samples:
        assert s.image.shape == (1, 512, 512) and s.mask.shape == (512, 512)
        assert 0.0 <= s.image.min() and s.image.max() <= 1.0 and s.image.std() > 0.01
        assert 0.01 < s.mask.mean() < 0.60
    both = load_samples(f"{root / 'train'}:{root / 'train_annot'}", positive="blue+red")
    assert all(b.mask.sum() >= s.mask.sum() for b, s in zip(both, samples))
