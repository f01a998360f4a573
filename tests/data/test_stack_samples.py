"""Stacks as training data: one sample per slice with its neighbours as channels (2.5D), and
splits that keep a stack's neighbouring slices on one side."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.data import DataConfig, load_pair_folder, load_samples
from microseg.data.stacks import slice_block_split, slice_windows, stack_samples, stack_slice_split
from microseg.infer.volume import as_float_slices, slice_channels
from microseg.io import write_image, write_stack
from microseg.train.pretrain import synthetic_samples


def _stack(shape=(6, 10, 12), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 65536, shape).astype(np.uint16)
    mask = (rng.random(shape) < 0.3).astype(np.uint8) * 255
    return image, mask


def _by_numpy(image, z, k):
    """Slices z-k..z+k by numpy indexing, the edge slice repeated, scaled as training scales uint16."""
    idx = np.clip(np.arange(z - k, z + k + 1), 0, image.shape[0] - 1)
    return image[idx].astype(np.float32) / np.float32(65535)


@pytest.fixture
def stack_folders(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    image, mask = _stack()
    write_stack(images / "fib.tif", image, pixel_size=0.02, slice_spacing=0.02)
    write_stack(masks / "fib.tif", mask, pixel_size=0.02, slice_spacing=0.02)
    return images, masks, image, mask


@pytest.mark.parametrize("k", [0, 1, 2])
def test_slices_of_a_stack_have_their_neighbours_as_channels(stack_folders, k):
    images, masks, image, mask = stack_folders
    samples = load_samples(f"{images}:{masks}", positive="nonzero", context=k)
    assert [s.name for s in samples] == [f"fib_z{z:03d}" for z in range(6)]
    for z, s in enumerate(samples):
        assert s.image.shape == (2 * k + 1, 10, 12) and s.z == z and s.pixel_size == pytest.approx(0.02)
        np.testing.assert_array_equal(s.image, _by_numpy(image, z, k))
        np.testing.assert_array_equal(s.mask, (mask[z] > 0).astype(np.uint8))
    assert samples[0].image[0].tolist() == samples[0].image[k].tolist()   # slice 0 repeated below the stack


def test_training_channels_are_what_inference_gives_the_model(stack_folders):
    images, masks, image, _ = stack_folders
    samples = load_samples(f"{images}:{masks}", positive="nonzero", context=2)
    for z in (0, 1, 3, 5):
        np.testing.assert_array_equal(samples[z].image, as_float_slices(slice_channels(image, z, 2)))


def test_windows_are_views_of_one_padded_copy():
    volume = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    windows = slice_windows(volume, 1)
    assert len(windows) == 4 and all(w.base is windows[0].base for w in windows)
    np.testing.assert_array_equal(windows[3], volume[[2, 3, 3]])


def test_csv_lists_and_pair_folders_of_stacks(tmp_path, stack_folders):
    images, masks, image, mask = stack_folders
    (tmp_path / "pairs.csv").write_text("image,mask\nimages/fib.tif,masks/fib.tif\n")
    listed = load_samples(tmp_path / "pairs.csv", positive="nonzero", context=1)
    assert [s.name for s in listed][:2] == ["fib_z000", "fib_z001"] and listed[4].image.shape == (3, 10, 12)
    pair = tmp_path / "pairs" / "p1"
    pair.mkdir(parents=True)
    write_stack(pair / "image.tif", image, pixel_size=0.02)
    write_stack(pair / "boundaries.tif", (mask > 0).astype(np.uint8), pixel_size=0.02)
    folders = load_samples(tmp_path / "pairs", context=1)
    assert [s.name for s in folders] == [f"p1_z{z:03d}" for z in range(6)]
    np.testing.assert_array_equal(folders[5].image, _by_numpy(image, 5, 1))
    with pytest.raises(InputError, match=r"image.tif: a \(Z, Y, X\) stack of 6 slices; read it with load_samples"):
        load_pair_folder(pair)


def test_2d_images_still_load_and_context_refuses_them(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir()
    masks.mkdir()
    write_image(images / "a.tif", np.arange(80, dtype=np.uint8).reshape(8, 10), pixel_size=0.1)
    write_image(masks / "a.tif", (np.arange(80).reshape(8, 10) % 3 == 0).astype(np.uint8), pixel_size=0.1)
    (s,) = load_samples(f"{images}:{masks}", positive="nonzero")
    assert s.image.shape == (1, 8, 10) and s.z is None and s.name == "a"
    with pytest.raises(InputError, match=r"a\.tif: a 2D image, but context 1 .*2\.5D needs stacks"):
        load_samples(f"{images}:{masks}", positive="nonzero", context=1)


def test_a_mask_stack_of_another_shape_names_both_files(tmp_path, stack_folders):
    images, masks, image, mask = stack_folders
    write_stack(masks / "fib.tif", mask[:5], force=True)
    with pytest.raises(InputError, match=r"image .*images/fib\.tif is a stack of 6 × 10 × 12 .* but mask "
                                         r".*masks/fib\.tif is a stack of 5 × 10 × 12"):
        load_samples(f"{images}:{masks}", positive="nonzero", context=1)
    (masks / "fib.tif").unlink()
    write_image(masks / "fib.tif", mask[0], pixel_size=0.02)   # a 2D mask for a stack
    with pytest.raises(InputError, match=r"but mask .*masks/fib\.tif is 10 × 12 \(YX, not a grey stack\)"):
        load_samples(f"{images}:{masks}", positive="nonzero")


@pytest.mark.parametrize("depth,fraction,k,seed", [(10, 0.2, 1, 0), (30, 0.1, 2, 3), (7, 0.3, 0, 5), (40, 0.25, 3, 1)])
def test_validation_is_one_block_and_training_is_2k_plus_1_away(depth, fraction, k, seed):
    train, val = slice_block_split(depth, val_fraction=fraction, context=k, seed=seed)
    assert len(val) == max(1, int(fraction * depth + 1e-9)) and val == list(range(val[0], val[-1] + 1))
    assert min(abs(t - v) for t in train for v in val) >= 2 * k + 1
    # every slice more than 2k from the block trains: nothing more is thrown away
    assert len(train) == sum(1 for z in range(depth) if min(abs(z - v) for v in val) > 2 * k)
    assert slice_block_split(depth, val_fraction=fraction, context=k, seed=seed) == (train, val)


def test_stack_split_groups_slices_by_stack_and_leaves_2d_images_alone():
    image, mask = _stack((12, 8, 8))
    a = stack_samples(image, mask, context=1, name="a", source="a.tif")
    b = stack_samples(image[:9], mask[:9], context=1, name="b", source="b.tif")
    flat = synthetic_samples("porous", n_images=1, size=16, pore_size_px=6)
    role = stack_slice_split([*a, *flat, *b], val_fraction=0.25, context=1)
    assert len(flat) == 1 and len(a) not in role   # the 2D image (index 12) is no stack's
    assert set(role) == set(range(len(a))) | set(range(len(a) + 1, len(a) + 1 + len(b)))
    for start, n in ((0, len(a)), (len(a) + 1, len(b))):
        roles = [role[start + z] for z in range(n)]
        val = [z for z, r in enumerate(roles) if r == "val"]
        assert len(val) == max(1, int(0.25 * n)) and val == list(range(val[0], val[-1] + 1))
        assert all(min(abs(z - v) for v in val) >= 3 for z, r in enumerate(roles) if r == "train")
    with pytest.raises(InputError, match=r"stack a\.tif: 12 slices; .*leave none to train on"):
        stack_slice_split(a, val_fraction=0.5, context=3)


def test_synthetic_porous_stacks_for_25d():
    samples = synthetic_samples("porous", n_images=2, size=(20, 24), depth=5, context=1, pore_size_px=6,
                                porosity=[0.2, 0.4], seed=4)
    assert len(samples) == 10 and samples[7].name == "synthetic_porous_1_z002" and samples[7].z == 2
    assert {s.image.shape for s in samples} == {(3, 20, 24)} and {s.source for s in samples} == {
        "synthetic:porous:4:0", "synthetic:porous:4:1"}
    np.testing.assert_array_equal(samples[0].image[[0, 1]], np.stack([samples[0].image[1]] * 2))
    np.testing.assert_array_equal(samples[1].image[1], samples[2].image[0])   # neighbours share slices
    assert 0.1 < np.mean([s.mask.mean() for s in samples[:5]]) < 0.5   # pores are the positive class
    flat = synthetic_samples("porous", n_images=1, size=16, depth=3, pore_size_px=6)
    assert [s.image.shape[0] for s in flat] == [1, 1, 1] and flat[2].z == 2
    with pytest.raises(InputError, match="synthetic:se makes 2D images, but data.context: 1 needs stacks"):
        synthetic_samples("se", n_images=1, size=32, context=1)
    with pytest.raises(InputError, match="unknown option of synthetic:porous stacks 'contrast'"):
        synthetic_samples("porous", n_images=1, size=16, context=1, contrast=0.3)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_data_context_must_be_a_non_negative_integer(bad):
    with pytest.raises(InputError, match=r"data.context must be an integer >= 0 .*; got"):
        DataConfig(context=bad).check()
    DataConfig(context=2).check()
