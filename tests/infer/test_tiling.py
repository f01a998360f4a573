"""Tile positions, blend windows and streamed tiled prediction (the x + 1 identity test)."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.infer.tiling import blend_window, overlap_px, predict_tiled, tile_slices, tile_starts


@pytest.mark.parametrize("length,tile,overlap", [(100, 40, 10), (97, 32, 8), (512, 512, 128), (33, 32, 31),
                                                 (1000, 256, 64), (5, 32, 8)])
def test_tiles_cover_the_axis_without_running_past_it(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= tile - overlap)
    covered = np.zeros(length, int)
    for s in starts:
        covered[s:s + size] += 1
    assert covered.min() >= 1


def test_overlap_as_fraction_or_pixels_and_bad_values():
    assert overlap_px(512, 0.25) == 128 and overlap_px(512, 64) == 64 and overlap_px(100, 0) == 0
    for bad in (-0.1, float("nan"), 512, 600):
        with pytest.raises(InputError, match="overlap"):
            overlap_px(512, bad)


def test_tile_slices_match_the_starts_per_axis():
    tiles = tile_slices((70, 45), 32, 0.25)
    assert {t[0].start for t in tiles} == set(tile_starts(70, 32, 8).tolist())
    assert {t[1].start for t in tiles} == set(tile_starts(45, 32, 8).tolist())
    assert len(tiles) == len(tile_starts(70, 32, 8)) * len(tile_starts(45, 32, 8))


@pytest.mark.parametrize("kind", ["gaussian", "cosine", "constant"])
def test_blend_windows_peak_in_the_centre_and_stay_positive(kind):
    w = blend_window((33, 20), kind)
    assert w.shape == (33, 20) and w.min() > 0 and w.max() == pytest.approx(1.0)
    assert w[16, 9] == w.max() or w[16, 10] == w.max()
    np.testing.assert_array_equal(w, w[::-1, ::-1])      # symmetric
    if kind != "constant":
        assert w[0, 0] < 0.05 * w.max()
    with pytest.raises(InputError, match="did you mean"):
        blend_window((4, 4), "gausian")


@pytest.mark.parametrize("shape", [(1, 70, 45), (2, 97, 131), (1, 20, 17), (3, 64, 64), (1, 1, 300)])
@pytest.mark.parametrize("window", ["gaussian", "cosine", "constant"])
def test_x_plus_one_comes_back_exactly(shape, window):
    image = np.random.default_rng(1).random(shape, dtype=np.float32) * 100
    out = predict_tiled(lambda x: x + 1, image, tile_size=32, overlap=0.25, batch_size=3, window=window)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, image + 1)


def test_blending_weighs_the_tile_centres():
    # a predictor that returns each tile's own index: the blend is a weighted mean of the tiles'
    # values, the centre of a tile gets (almost) only its own value
    calls = []

    def tile_index(x):
        calls.append(len(x))
        first = sum(calls[:-1])
        return np.stack([np.full((1, *x.shape[2:]), first + i, np.float32) for i in range(len(x))])

    out = predict_tiled(tile_index, np.zeros((1, 64, 32), np.float32), tile_size=32, overlap=16, batch_size=1)
    starts = tile_starts(64, 32, 16)           # 0, 16, 32: three tiles down one column
    assert len(starts) == 3 and sum(calls) == 3
    assert out[0, 2, 16] == pytest.approx(0, abs=1e-2)        # top of tile 0, no one else
    assert out[0, 32, 16] == pytest.approx(1, abs=0.05)       # centre of tile 1
    assert out[0, 62, 16] == pytest.approx(2, abs=1e-2)
    assert np.all(np.diff(out[0, :, 16]) >= -1e-6)           # monotone from tile to tile


def test_streams_into_a_memmap_and_reads_tiles_only(tmp_path):
    class Lazy:   # an array that records what is read and refuses a whole read
        shape, ndim = (1, 300, 200), 3

        def __init__(self):
            self.data = np.random.default_rng(2).random(self.shape, dtype=np.float32)
            self.largest = 0

        def __getitem__(self, key):
            part = self.data[key]
            self.largest = max(self.largest, part.size)
            return part

    lazy = Lazy()
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=(2, 300, 200))
    result = predict_tiled(lambda x: np.concatenate([x + 1, 2 * x], axis=1), lazy, tile_size=64, overlap=16,
                           out=out)
    assert result is out
    assert lazy.largest == 64 * 64
    np.testing.assert_array_equal(out[0], lazy.data[0] + 1)
    np.testing.assert_allclose(out[1], 2 * lazy.data[0], rtol=1e-6)


def test_bad_predictor_output_and_bad_input_are_clear():
    image = np.zeros((1, 40, 40), np.float32)
    with pytest.raises(InputError, match="returned shape"):
        predict_tiled(lambda x: x[:, :, :10], image, tile_size=32)
    with pytest.raises(InputError, match=r"\(C, H, W\)"):
        predict_tiled(lambda x: x, np.zeros((40, 40)), tile_size=32)
    with pytest.raises(InputError, match="batch_size"):
        predict_tiled(lambda x: x, image, tile_size=32, batch_size=0)
    with pytest.raises(InputError, match="tile_size"):
        predict_tiled(lambda x: x, image, tile_size=0)


@pytest.mark.parametrize("length,tile,overlap,align", [(257, 128, 32, 4), (300, 128, 32, 4), (1000, 256, 64, 32),
                                                       (2048, 512, 128, 32), (129, 64, 16, 16), (97, 32, 8, 1)])
def test_aligned_tiles_start_on_the_networks_grid_and_cover_the_axis(length, tile, overlap, align):
    starts = tile_starts(length, tile, overlap, align=align)
    step = max(align, (tile - overlap) // align * align)
    assert starts[0] == 0 and np.all(starts % align == 0)
    assert np.all(np.diff(starts) <= step)                           # neighbours share >= the overlap
    assert np.ptp(np.diff(starts)) <= align                          # spread evenly
    end = starts[-1] + tile
    assert length <= end < length + align                             # the last runs past by < align
    assert end == -(-length // align) * align                        # ... to where the network pads to


def test_tiles_are_spread_evenly_not_crowded_at_the_end():
    assert tile_starts(1024, 512, 128).tolist() == [0, 256, 512]
    assert tile_starts(2000, 512, 128).tolist() == [0, 372, 744, 1116, 1488]


def test_tiles_past_the_end_are_padded_like_the_network_pads_and_cropped():
    image = np.random.default_rng(3).random((1, 50, 37), dtype=np.float32)
    seen = []

    def record(x):
        seen.append(x.copy())
        return x + 1

    out = predict_tiled(record, image, tile_size=16, overlap=4, batch_size=4, align=4)
    np.testing.assert_array_equal(out, image + 1)
    assert all(b.shape[2:] == (16, 16) for b in seen)                 # every tile full size
    tiles = np.concatenate(seen)
    starts_r, starts_c = tile_starts(50, 16, 4, align=4), tile_starts(37, 16, 4, align=4)
    padded = np.pad(image, ((0, 0), (0, 52 - 50), (0, 40 - 37)), mode="reflect")   # torch's 'reflect'
    expected = [padded[:, r:r + 16, c:c + 16] for r in starts_r for c in starts_c]
    np.testing.assert_array_equal(tiles, np.stack(expected))
    assert len(seen) == int(np.ceil(len(expected) / 4))              # batches span rows of tiles


def test_a_tile_on_the_image_border_keeps_its_weight_there():
    w = blend_window((16, 16), "gaussian", flat=[(True, False), (False, True)])
    assert w[0, 8] == w[8, 15] == w.max() == 1.0                      # towards the border: the peak
    assert w[15, 8] < 0.01 and w[8, 0] < 0.01                         # towards the inside: weighed down
    np.testing.assert_array_equal(blend_window((9, 7), "cosine", flat=[(False, False)] * 2),
                                  blend_window((9, 7), "cosine"))


def test_resolve_tile_size():
    from microseg.infer.tiling import resolve_tile_size

    assert resolve_tile_size("auto", (1024, 1024)) is None and resolve_tile_size("AUTO", (1025, 10)) == 512
    assert resolve_tile_size(None, (9000, 9000)) is None and resolve_tile_size(0, (9000, 9000)) is None
    assert resolve_tile_size(300, (10, 10)) == 300
    for bad in (-1, 2.5, "big", True):
        with pytest.raises(InputError, match="tile_size"):
            resolve_tile_size(bad, (10, 10))
    with pytest.raises(InputError, match="align"):
        predict_tiled(lambda x: x, np.zeros((1, 8, 8)), tile_size=4, align=0)
