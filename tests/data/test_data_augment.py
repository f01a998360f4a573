"""Augmentation, crops and pre-processing (pure numpy)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from microseg._util import InputError
from microseg.data import (
    augment, dihedral, dihedral_copies, median_filter, normalization_stats, normalize, pad_to_size,
    preprocessing_spec, apply_preprocessing, random_crop,
)


def _position_pair(h=6, w=6):
    """An image whose value encodes the pixel position and a mask that is its low bit."""
    code = np.arange(h * w, dtype=np.int64).reshape(h, w)
    return np.stack([code, -code]).astype(np.float64), (code % 2).astype(np.uint8), code


def test_dihedral_transforms_are_eight_and_distinct():
    a = np.arange(9).reshape(3, 3)
    outs = {dihedral(a, k).tobytes() for k in range(8)}
    assert len(outs) == 8
    assert np.array_equal(dihedral(a, 0), a)


@pytest.mark.parametrize("seed", range(12))
def test_augment_keeps_image_and_mask_aligned(seed):
    image, mask, code = _position_pair()
    out_img, out_mask = augment(image, mask, rng=np.random.default_rng(seed))
    assert out_img.shape == image.shape and out_mask.dtype == np.uint8
    # every output pixel's mask is the mask of the input pixel its image value came from
    src = out_img[0].astype(np.int64)
    assert np.array_equal(out_mask, mask.ravel()[src])
    assert np.array_equal(out_img[1], -out_img[0])
    # and the geometric change is one of the 8 dihedral transforms
    assert any(np.array_equal(src, dihedral(code, k)) for k in range(8))


def test_augment_draws_all_eight_transforms():
    image, mask, code = _position_pair()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        out, _ = augment(image, mask, rng=rng)
        seen.add(next(k for k in range(8) if np.array_equal(out[0], dihedral(code, k))))
    assert seen == set(range(8))


def test_augment_only_flips_or_only_rotations():
    image, mask, code = _position_pair()
    rng = np.random.default_rng(1)
    flips = {0, 2, 4, 6}  # identity, 180°, and the two mirrors of (rows, cols)
    rots = {0, 1, 2, 3}
    for ops, allowed in ((("flip",), flips), (("rot90",), rots), ((), {0})):
        for _ in range(30):
            out, _ = augment(image, mask, ops=ops, rng=rng)
            k = next(k for k in range(8) if np.array_equal(out[0], dihedral(code, k)))
            assert k in allowed


def test_augment_is_reproducible_by_seed():
    image = np.random.default_rng(0).random((1, 16, 16))
    mask = (image[0] > 0.5).astype(np.uint8)
    a = augment(image, mask, rng=5, intensity=0.3, blur=1.0)
    b = augment(image, mask, rng=5, intensity=0.3, blur=1.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_intensity_and_blur_jitter_change_the_image_only():
    image = np.random.default_rng(0).random((1, 16, 16)).astype(np.float32)
    mask = (image[0] > 0.5).astype(np.uint8)
    out, out_mask = augment(image, mask, ops=(), rng=2, intensity=0.5, blur=2.0)
    assert np.array_equal(out_mask, mask)
    assert out.dtype == np.float32 and not np.allclose(out, image)


def test_augment_bad_input():
    with pytest.raises(InputError, match="unknown augmentation op 'flp'.*did you mean 'flip'"):
        augment(np.zeros((4, 4)), np.zeros((4, 4)), ops=("flp",), rng=0)
    with pytest.raises(InputError, match=r"image is 4 × 4 .* mask is 4 × 5"):
        augment(np.zeros((4, 4)), np.zeros((4, 5)), rng=0)
    with pytest.raises(InputError, match="intensity must be"):
        augment(np.zeros((4, 4)), np.zeros((4, 4)), rng=0, intensity=-1)


def test_dihedral_copies_flip_four_times():
    image, mask, code = _position_pair(4, 5)
    copies = dihedral_copies(image, mask)
    assert len(copies) == 4
    expected = [code, code[:, ::-1], code[::-1], code[::-1, ::-1]]
    for (img, msk), exp in zip(copies, expected):
        assert np.array_equal(img[0], exp) and np.array_equal(msk, exp % 2)
    assert len({img.tobytes() for img, _ in dihedral_copies(image[:, :4, :4], mask[:4, :4], rotations=True)}) == 8


def test_random_crop_aligned_inside_and_uniform():
    image, mask, code = _position_pair(20, 30)
    rng = np.random.default_rng(0)
    tops = set()
    for _ in range(300):
        img, msk = random_crop(image, mask, size=(8, 10), rng=rng)
        assert img.shape == (2, 8, 10)
        top, left = divmod(int(img[0, 0, 0]), 30)
        assert np.array_equal(img[0], code[top:top + 8, left:left + 10])
        assert np.array_equal(msk, mask[top:top + 8, left:left + 10])
        tops.add(top)
    assert tops == set(range(13))


def test_random_crop_pads_small_images_by_reflection():
    img, msk = random_crop(np.arange(6.0).reshape(2, 3), np.ones((2, 3), np.uint8), size=4, rng=0)
    assert img.shape == msk.shape == (4, 4) and msk.all()
    assert np.array_equal(pad_to_size(np.array([[1, 2]]), (3, 7)),
                          [[1, 2, 2, 1, 1, 2, 2]] * 3)


def test_normalize_modes():
    x = np.array([[[1.0, 2.0], [3.0, 6.0]]])
    z = normalize(x)
    assert z.dtype == np.float32 and abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-6
    np.testing.assert_allclose(normalize(x, mode="minmax"), (x - 1) / 5, rtol=1e-6)
    assert np.array_equal(normalize(x, mode="none"), x.astype(np.float32))
    assert not normalize(np.full((3, 3), 7.0)).any()
    stats = normalization_stats(x)
    assert stats == {"mode": "per_image", "mean": 3.0, "std": float(np.std(x))}
    crop = x[:, :1]
    np.testing.assert_allclose(normalize(crop, stats=stats), z[:, :1], rtol=1e-6)
    with pytest.raises(InputError, match="unknown normalize mode 'per-image'.*did you mean 'per_image'"):
        normalize(x, mode="per-image")
    with pytest.raises(InputError, match="stats are for mode 'minmax'"):
        normalize(x, stats=normalization_stats(x, mode="minmax"))


def test_median_filter_matches_scipy_per_channel():
    x = np.random.default_rng(0).random((2, 9, 9))
    out = median_filter(x, size=3)
    for c in range(2):
        np.testing.assert_array_equal(out[c], ndimage.median_filter(x[c], size=3, mode="reflect"))
    assert np.array_equal(median_filter(x, size=0), x)
    with pytest.raises(InputError, match="size must be"):
        median_filter(x, size=-1)


def test_preprocessing_spec_round_trip():
    x = np.random.default_rng(0).random((1, 8, 8))
    spec = preprocessing_spec(normalize="minmax", median=3)
    assert spec == {"normalize": {"mode": "minmax"}, "median": 3}
    np.testing.assert_allclose(apply_preprocessing(x, spec),
                               normalize(median_filter(x, size=3), mode="minmax"))
