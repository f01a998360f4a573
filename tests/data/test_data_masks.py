"""Masks as they come: colours at any bit depth, class labels, near-binary masks, empty classes."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microseg._util import InputError
from microseg.data import binary_mask, check_positive_class, load_image_mask_folders, load_samples
from microseg.data.masks import full_scale_colour


def _rgba(dtype=np.uint8, shape=(6, 8)):
    """A grey micrograph showing through, a pure-blue block (rows 1-2) and a pure-red pixel."""
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    grey = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * (top / 20)).astype(dtype) + dtype(top // 10)
    rgba = np.stack([grey, grey, grey, np.full(shape, top, dtype)], axis=-1)
    rgba[1:3, 2:5, :3] = (0, 0, top)
    rgba[4, 6, :3] = (top, 0, 0)
    return rgba


def _folders(tmp_path, mask, *, image_dtype=np.uint8):
    images, masks = tmp_path / "img", tmp_path / "msk"
    images.mkdir()
    masks.mkdir()
    tifffile.imwrite(images / "x.tif", np.zeros(mask.shape[:2], image_dtype))
    extra = {"photometric": "rgb", "extrasamples": [2]} if mask.ndim == 3 and mask.shape[-1] == 4 else {}
    tifffile.imwrite(masks / "x_mask.tif", mask, **extra)
    return images, masks


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_colours_work_at_any_bit_depth(dtype):
    rgba = _rgba(dtype)
    blue = binary_mask(rgba, positive="blue")
    expected = np.zeros((6, 8), np.uint8)
    expected[1:3, 2:5] = 1
    assert np.array_equal(blue, expected)
    assert binary_mask(rgba, positive="red").sum() == 1
    assert binary_mask(rgba, positive="blue+red").sum() == 7
    assert full_scale_colour((0, 0, 255), np.dtype(dtype)).tolist()[2] == (
        np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0)


def test_16_bit_rgba_mask_file_gives_the_blue_class(tmp_path):
    """The super3 'different_test' masks: RGBA uint16 with blue = (0, 0, 65535)."""
    images, masks = _folders(tmp_path, _rgba(np.uint16))
    (s,) = load_image_mask_folders(images, masks, positive="blue")
    assert s.mask.sum() == 6 and s.mask[1:3, 2:5].all()


def test_a_colour_that_does_not_occur_is_an_error_listing_the_colours(tmp_path):
    rgba = _rgba(np.uint16)
    rgba[1:3, 2:5, :3] = (0, 0, 255)                       # 8-bit blue written into a 16-bit mask
    images, masks = _folders(tmp_path, rgba)
    with pytest.raises(InputError, match=r"x_mask.tif: no pixel has the positive colour 'blue' = "
                                         r"\(0, 0, 65535\) \(uint16\); the mask's colours are "
                                         r"\(0, 0, 255\) \(6 px\), \(65535, 0, 0\) \(1 px\); plus \d+ grey"):
        load_image_mask_folders(images, masks, positive="blue")
    # a mask known to lack the class loads as background when asked to
    (s,) = load_image_mask_folders(images, masks, positive="blue", allow_empty=True)
    assert s.mask.sum() == 0
    # '#RRGGBB' picks any colour (8-bit notation, scaled to the dtype)
    assert binary_mask(_rgba(np.uint16), positive="#FF0000").sum() == 1


def test_class_label_masks(tmp_path):
    labels = np.zeros((4, 6), np.uint8)
    labels[0, :3] = 1
    labels[2, 2:] = 2
    assert binary_mask(labels, positive=1).sum() == 3
    assert binary_mask(labels, positive=[1, 2]).sum() == 7
    assert np.array_equal(binary_mask(labels, positive="2"), (labels == 2).astype(np.uint8))
    images, masks = _folders(tmp_path, labels)
    (s,) = load_samples(f"{images}:{masks}", positive=[1, 2])
    assert np.array_equal(s.mask, (labels > 0).astype(np.uint8))
    with pytest.raises(InputError, match=r"x_mask.tif: no pixel holds the positive class\(es\) \[3\]; "
                                         r"the mask holds the values 0, 1, 2"):
        load_samples(f"{images}:{masks}", positive=3)
    with pytest.raises(InputError, match=r"a colour mask, but positive=\[1\] names class labels"):
        binary_mask(_rgba(), positive=1)
    with pytest.raises(InputError, match="positive must be a colour"):
        check_positive_class([1, -2])


def test_non_binary_grey_mask_error_suggests_classes_and_a_threshold(tmp_path):
    labels = np.array([[0, 1, 2, 0]] * 4, np.uint8)
    images, masks = _folders(tmp_path, labels)
    with pytest.raises(InputError, match=r"x_mask.tif: a binary mask .* holds 3 distinct values: 0, 1, 2; "
                                         r"for class labels .*positive=1 or positive=\[1, 2\].*data.positive.*"
                                         r"mask_threshold=128; data.mask_threshold"):
        load_image_mask_folders(images, masks)


def test_near_binary_8_bit_masks_take_a_threshold(tmp_path):
    """JPEG-like foreground 252..255 and background 0..3: value >= 128 is positive."""
    rng = np.random.default_rng(0)
    truth = rng.random((16, 16)) < 0.3
    lossy = np.where(truth, rng.integers(252, 256, truth.shape), rng.integers(0, 4, truth.shape)).astype(np.uint8)
    images, masks = _folders(tmp_path, lossy)
    with pytest.raises(InputError, match="mask_threshold=128"):
        load_image_mask_folders(images, masks)
    (s,) = load_image_mask_folders(images, masks, mask_threshold=128)
    assert np.array_equal(s.mask, truth.astype(np.uint8))
    rgb = np.repeat(lossy[..., None], 3, axis=-1)           # the same, stored as equal-channel RGB
    assert np.array_equal(binary_mask(rgb, positive="blue", threshold=128), truth.astype(np.uint8))
    with pytest.raises(InputError, match="either class labels .* or a threshold"):
        binary_mask(lossy, positive=[1], threshold=128)


def test_binary_grey_masks_keep_working():
    assert binary_mask(np.array([[0, 65535]], np.uint16), positive="blue").tolist() == [[0, 1]]
    assert binary_mask(np.zeros((2, 2), np.uint8), positive="blue").sum() == 0   # empty grey: background
    grey_rgb = np.repeat(np.array([[[0], [255]]], np.uint8), 3, axis=-1)
    assert binary_mask(grey_rgb, positive="blue").tolist() == [[0, 1]]


@pytest.mark.realdata
def test_real_super3_16_bit_masks(shared_data):
    root = shared_data / "sem" / "super3"
    if not (root / "different_test").is_dir():
        pytest.skip(f"{root} is absent")
    samples = load_image_mask_folders(root / "different_test", root / "different_test_annot", positive="blue")
    assert len(samples) == 5
    for s in samples:
        assert s.mask.shape == (512, 512) and 0.3 < s.mask.mean() < 0.7, s.name
    sixteen = [s for s in samples if "SE_15k" in s.name]
    assert len(sixteen) == 2 and all(0.4 < s.mask.mean() for s in sixteen)
