"""Volumes through the 2D path: an ``x + 1`` predictor gives the volume plus one exactly, through
slices, tiles, dask chunks and 2.5D neighbours; the context of a model is checked."""
from __future__ import annotations

import numpy as np
import pytest

from microseg._util import InputError
from microseg.infer import LoadedModel, predict_tiled
from microseg.infer.volume import (
    as_float_slices, check_context, classic_slice_predictor, learned_slice_predictor, neighbour_indices,
    predict_volume, predict_volume_dask,
)


def _tiled_plus_one(x: np.ndarray) -> np.ndarray:
    """The middle slice plus one, through blended tiles that do not divide the slice."""
    mid = x.shape[0] // 2
    return predict_tiled(lambda t: t + 1, x[mid:mid + 1].astype(np.float32), tile_size=16, overlap=0.3)[0]


def _tiled_mean_plus_one(x: np.ndarray) -> np.ndarray:
    return predict_tiled(lambda t: t.mean(axis=1, keepdims=True) + 1, x.astype(np.float32), tile_size=16,
                         overlap=5)[0]


def _expected_mean(volume: np.ndarray, k: int) -> np.ndarray:
    z = volume.shape[0]
    return np.stack([volume[[min(max(i, 0), z - 1) for i in range(j - k, j + k + 1)]].astype(np.float32).mean(0)
                     for j in range(z)]) + 1


@pytest.fixture
def volume():
    return np.random.default_rng(0).random((11, 37, 29), dtype=np.float32)


def test_x_plus_one_through_slices_and_tiles_is_exact(volume):
    out = np.full(volume.shape, np.nan, np.float32)
    seen = []
    predict_volume(_tiled_plus_one, volume, out=out, on_slice=lambda z, r: seen.append(z))
    assert np.array_equal(out, volume + 1)
    assert seen == list(range(volume.shape[0]))


@pytest.mark.parametrize("chunk", [1, 3, 4, 11])
def test_x_plus_one_through_dask_chunks_is_exact(volume, chunk):
    lazy = predict_volume_dask(_tiled_plus_one, volume, chunk_slices=chunk)
    assert lazy.chunks[0][0] == chunk
    assert np.array_equal(lazy.compute(scheduler="threads"), volume + 1)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("chunk", [2, 5])
def test_2_5d_neighbours_are_the_same_streamed_and_in_chunks(volume, k, chunk):
    expected = _expected_mean(volume, k)
    out = np.empty_like(volume)
    predict_volume(_tiled_mean_plus_one, volume, out=out, context=k)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-7)
    lazy = predict_volume_dask(_tiled_mean_plus_one, volume, context=k, chunk_slices=chunk)
    assert np.array_equal(lazy.compute(scheduler="sync"), out)    # chunk edges: bit for bit


def test_each_slice_is_read_once_when_streaming():
    class Counting:
        shape = (6, 4, 5)

        def __init__(self):
            self.reads = []

        def __getitem__(self, z):
            self.reads.append(z)
            return np.full((4, 5), z, np.uint8)

    stack = Counting()
    out = np.empty(stack.shape, np.float32)
    predict_volume(lambda x: x.astype(np.float32).sum(0), stack, out=out, context=2)
    assert stack.reads == list(range(6))
    assert out[0, 0, 0] == 0 + 0 + 0 + 1 + 2 and out[5, 0, 0] == 3 + 4 + 5 + 5 + 5


def test_neighbours_repeat_the_edge_slices():
    assert neighbour_indices(0, 3, 2) == [0, 0, 0, 1, 2]
    assert neighbour_indices(1, 1, 1) == [0, 0, 0]


def test_integer_slices_are_scaled_like_2d_images():
    x = np.array([[[0, 65535]]], np.uint16)
    assert as_float_slices(x).tolist() == [[[0.0, 1.0]]]


def test_a_predictor_of_the_wrong_shape_is_a_bug_not_silence(volume):
    with pytest.raises(RuntimeError, match="returned shape"):
        predict_volume(lambda x: x[0, :-1], volume)


def test_a_stack_that_is_not_3d_is_refused():
    with pytest.raises(InputError, match=r"\(Z, Y, X\)"):
        predict_volume(lambda x: x[0], np.zeros((4, 4)))


# --------------------------------------------------------------------------------- models
class _MeanModel:
    """A 2.5D 'model': logits are the mean of its channels (so sigmoid(mean) is its probability)."""

    def __init__(self, channels):
        self.in_channels = channels

    def __call__(self, x):
        return x.mean(dim=1, keepdim=True)


def test_a_2_5d_model_sees_its_neighbours_as_channels(volume):
    model = LoadedModel(_MeanModel(3), {"input": {"context": 1}}, "m25")
    k = check_context([model], None)
    assert k == 1
    predictor = learned_slice_predictor([model], device="cpu", tile_size=16, overlap=0.25)
    out = np.empty_like(volume)
    predict_volume(predictor, volume, out=out, context=k)
    expected = 1 / (1 + np.exp(-(_expected_mean(volume, 1) - 1).astype(np.float64)))
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_context_mismatches_are_one_line_errors():
    two_d = LoadedModel(_MeanModel(1), {}, "flat")
    three = LoadedModel(_MeanModel(3), {"input": {"context": 1}}, "deep")
    with pytest.raises(InputError, match="single slices"):
        check_context([two_d], 1)
    with pytest.raises(InputError, match="context 1"):
        check_context([three], 0)
    with pytest.raises(InputError, match="different contexts"):
        check_context([two_d, three], None)
    wrong = LoadedModel(_MeanModel(1), {"input": {"context": 1}}, "wrong")
    with pytest.raises(InputError, match="takes 1 input channel"):
        check_context([wrong], None)


def test_the_classical_predictor_segments_the_middle_slice():
    from microseg import classic

    seg = classic.build("otsu", polarity="bright")
    stack = np.zeros((3, 20, 20), np.uint8)
    stack[1, 5:15, 5:15] = 200
    stack[0] = 200
    p = classic_slice_predictor(seg)(stack)
    assert np.array_equal(p >= 0.5, seg.predict(stack[1]) >= 0.5)


def test_a_2_5d_model_refuses_a_2d_image():
    from microseg.infer import predict_image

    model = (_MeanModel(3), {"input": {"context": 1}})
    with pytest.raises(InputError, match="2.5D model .* microseg volume"):
        predict_image(model, np.zeros((16, 16), np.float32), device="cpu")
    three = np.zeros((3, 16, 16), np.float32)   # its channels given: taken as they are
    assert predict_image(model, three, device="cpu").shape == (16, 16)
