"""The grain stage in place: the same labels as before, without second label images or full-map EDTs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.segmentation import relabel_sequential

from microseg import synth
from microseg.grains import analyse_grains, fill_unlabelled, label_grains
from microseg.grains import label as label_module
from microseg.grains.label import border_labels, label_counts, relabel

RNG = np.random.default_rng(11)


def padded_fill(labels: np.ndarray, max_passes: int = 8, edt: bool = True) -> np.ndarray:
    """The former implementation (a zero-padded copy, then a full-image EDT): the reference."""
    labels = labels.copy()
    padded = np.pad(labels, 1)
    flat = padded.ravel()
    strides = np.cumprod((1,) + padded.shape[:0:-1])[::-1]
    zero = np.flatnonzero(labels.ravel() == 0)
    zero = np.ravel_multi_index(tuple(c + 1 for c in np.unravel_index(zero, labels.shape)), padded.shape)
    for _ in range(max_passes):
        if zero.size == 0:
            break
        best = np.zeros(zero.size, dtype=padded.dtype)
        for stride in strides:
            np.maximum(best, flat[zero + stride], out=best)
            np.maximum(best, flat[zero - stride], out=best)
        got = best > 0
        flat[zero[got]] = best[got]
        zero = zero[~got]
    labels[...] = padded[tuple(slice(1, -1) for _ in range(labels.ndim))]
    if zero.size and edt:
        nearest = ndi.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
        labels[...] = labels[tuple(nearest)]
    return labels


def sparse_labels(shape, fraction=0.3) -> np.ndarray:
    lab = RNG.integers(1, 40, shape).astype(np.int32)
    lab[RNG.random(shape) < fraction] = 0
    return lab


@pytest.mark.parametrize("shape", [(37, 53), (1, 40), (40, 1), (9, 11, 13)])
def test_fill_equals_the_padded_passes(shape) -> None:
    lab = sparse_labels(shape)
    np.testing.assert_array_equal(fill_unlabelled(lab.copy()), padded_fill(lab))


def test_fill_far_pixels_get_the_nearest_label() -> None:
    lab = np.zeros((120, 150), np.int32)
    seeds = RNG.random(lab.shape) < 0.002
    lab[seeds] = RNG.integers(1, 9, int(seeds.sum()))
    lab[5, 7], lab[100, 140], lab[60, 20] = 1, 2, 3
    passed = padded_fill(lab, max_passes=2, edt=False)       # what the passes leave
    out = fill_unlabelled(lab, max_passes=2)
    assert out is lab and (out > 0).all()
    far = passed == 0                                         # filled by the distance transform
    assert far.sum() > 1000
    d_any = ndi.distance_transform_edt(passed == 0)
    for value in np.unique(passed[passed > 0]):
        got = far & (out == value)
        if got.any():
            np.testing.assert_allclose(ndi.distance_transform_edt(passed != value)[got], d_any[got])


def test_fill_far_pixels_in_a_small_box_match_the_full_transform() -> None:
    lab = np.ones((200, 200), np.int32)
    lab[:, 100:] = 2
    lab[40:70, 30:61] = 0          # a hole far from the image edge, 31 px wide
    lab[150:160, 140:190] = 0
    np.testing.assert_array_equal(fill_unlabelled(lab.copy(), max_passes=1), padded_fill(lab, max_passes=1))


def test_fill_a_non_contiguous_view_in_place() -> None:
    lab = sparse_labels((30, 40))
    view = lab.T
    expected = padded_fill(np.ascontiguousarray(view))
    fill_unlabelled(view)
    np.testing.assert_array_equal(view, expected)


def test_relabel_and_counts_chunk_by_chunk(monkeypatch) -> None:
    monkeypatch.setattr(label_module, "CHUNK", 97)
    lab = sparse_labels((61, 73))
    lut = RNG.integers(0, 9, int(lab.max()) + 1).astype(np.int32)
    expected = lut[lab]
    np.testing.assert_array_equal(relabel(lab.copy(), lut), expected)
    np.testing.assert_array_equal(relabel(lab.copy().T, lut), expected.T)
    np.testing.assert_array_equal(label_counts(lab), np.bincount(lab.ravel()))
    assert label_counts(lab, 60).size == 61


@pytest.mark.parametrize("close_gaps", ["none", "merge"])
@pytest.mark.parametrize("masked", [False, True])
def test_analyse_labels_as_relabel_sequential_gives_them(close_gaps, masked) -> None:
    poly = synth.make_polycrystal((256, 256), mean_diameter_px=20.0, pixel_size=0.05, seed=4)
    b = poly.boundaries.copy()
    b[RNG.integers(0, 256, 40), RNG.integers(0, 256, 40)] = 0        # a few gaps
    rows, cols = np.indices(b.shape)
    mask = (rows - 128) ** 2 + (cols - 128) ** 2 < 110 ** 2 if masked else None
    result = analyse_grains(b, pixel_size=0.05, mask=mask, close_gaps=close_gaps)
    # the former way: a filled copy, np.isin and relabel_sequential
    prob = b if mask is None else np.where(mask, b, 1).astype(b.dtype)
    interiors = label_grains(prob, fill_boundaries=False, close_gaps=close_gaps, exclude_border=False,
                             pixel_size=0.05)
    cut = border_labels(interiors)
    labels_all = fill_unlabelled(interiors.copy())
    if mask is not None:
        labels_all[~mask] = 0
        outside = ndi.binary_dilation(~mask, structure=np.ones((3, 3), bool))
        cut = np.union1d(cut, np.unique(interiors[outside & (interiors > 0)]))
    expected = relabel_sequential(np.where(np.isin(labels_all, cut), 0, labels_all))[0]
    assert result.labels.dtype == np.int32
    np.testing.assert_array_equal(result.labels, expected)
