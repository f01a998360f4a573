"""ARI and VI: cross-checks with scikit-learn and scikit-image, edge cases, properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score, mutual_info_score
from skimage.metrics import variation_of_information as sk_vi

from microseg._util import InputError
from microseg.metrics import adjusted_rand_index, variation_of_information
from microseg.metrics import cluster as cluster_module


def voronoi(shape, n, seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n, len(shape))) * np.asarray(shape)
    grid = np.indices(shape).reshape(len(shape), -1).T
    return (cKDTree(pts).query(grid)[1].reshape(shape) + 1).astype(np.int32)


def _entropy_bits(x):
    _, c = np.unique(x, return_counts=True, axis=0)
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def _pairs():
    rng = np.random.default_rng(0)
    a = voronoi((40, 50), 30, 1)
    yield "voronoi", a, voronoi((40, 50), 25, 2)
    yield "random", rng.integers(0, 5, (30, 30)), rng.integers(0, 9, (30, 30))
    yield "identical", a, a
    yield "permuted ids", a, rng.permutation(a.max() + 1)[a] * 7 - 3
    yield "one cluster each", np.zeros((10, 10), int), np.full((10, 10), 4)
    yield "one cluster vs many", np.zeros((10, 10), int), np.arange(100).reshape(10, 10)
    yield "singletons both", np.arange(100).reshape(10, 10), np.arange(100)[::-1].reshape(10, 10)
    yield "3d", voronoi((6, 12, 12), 10, 3), voronoi((6, 12, 12), 14, 4)
    yield "huge and negative ids", rng.integers(-5, 5, (20, 20)) * 10**12, rng.integers(0, 3, (20, 20))
    yield "bool", rng.random((15, 15)) < 0.5, rng.random((15, 15)) < 0.3


@pytest.mark.parametrize("name,a,b", list(_pairs()), ids=[p[0] for p in _pairs()])
def test_ari_matches_sklearn(name, a, b):
    expected = adjusted_rand_score(np.ravel(a), np.ravel(b))
    assert adjusted_rand_index(a, b) == pytest.approx(expected, abs=1e-12)
    assert adjusted_rand_index(b, a) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name,a,b", list(_pairs()), ids=[p[0] for p in _pairs()])
def test_vi_matches_entropies_and_skimage(name, a, b):
    a, b = np.asarray(a).astype(np.int64).ravel(), np.asarray(b).astype(np.int64).ravel()
    h_ab = _entropy_bits(np.stack([a, b], axis=1))
    split = h_ab - _entropy_bits(b)  # H(A | B)
    merge = h_ab - _entropy_bits(a)  # H(B | A)
    vi = variation_of_information(a, b)
    assert vi["split"] == pytest.approx(split, abs=1e-9)
    assert vi["merge"] == pytest.approx(merge, abs=1e-9)
    assert vi["vi"] == pytest.approx(split + merge, abs=1e-9)
    # VI = H(A) + H(B) - 2 I(A; B), with sklearn's mutual information in nats
    mi_bits = mutual_info_score(a, b) / np.log(2)
    assert vi["vi"] == pytest.approx(_entropy_bits(a) + _entropy_bits(b) - 2 * mi_bits, abs=1e-9)
    if a.min() >= 0 and b.min() >= 0:  # skimage wants non-negative labels
        assert np.allclose(sk_vi(b, a), [vi["split"], vi["merge"]], atol=1e-9)


def test_named_values():
    assert adjusted_rand_index([1, 1, 2, 2], [5, 5, 3, 3]) == 1.0
    assert adjusted_rand_index([1, 1, 2, 2], [1, 2, 1, 2]) == pytest.approx(-0.5)
    assert adjusted_rand_index(np.zeros(9), np.arange(9)) == 0.0
    assert variation_of_information([1, 1, 2, 2], [3, 3, 3, 3]) == {"vi": 1.0, "split": 1.0, "merge": 0.0}


def test_ari_is_python_float():
    assert type(adjusted_rand_index([1, 2], [1, 2])) is float
    assert all(type(v) is float for v in variation_of_information([1, 2], [1, 1]).values())


def test_ignore_background_drops_pixels_zero_in_either():
    a = voronoi((30, 30), 12, 5)
    b = voronoi((30, 30), 9, 6)
    a[::4] = 0
    b[:, ::5] = 0
    keep = (a != 0) & (b != 0)
    expected = adjusted_rand_score(a[keep], b[keep])
    assert adjusted_rand_index(a, b, ignore_background=True) == pytest.approx(expected, abs=1e-12)
    vi = variation_of_information(a, b, ignore_background=True)
    assert vi == pytest.approx(variation_of_information(a[keep], b[keep]))
    assert adjusted_rand_index(a, b) != pytest.approx(expected)


def test_empty_and_all_ignored():
    e = np.zeros((0, 4), np.int32)
    assert adjusted_rand_index(e, e) == 1.0
    assert variation_of_information(e, e) == {"vi": 0.0, "split": 0.0, "merge": 0.0}
    z = np.zeros((5, 5), np.int32)
    assert adjusted_rand_index(z, z + 1, ignore_background=True) == 1.0
    assert variation_of_information(z, z + 1, ignore_background=True)["vi"] == 0.0


def test_sorted_table_path_matches_dense(monkeypatch):
    a, b = voronoi((40, 40), 50, 7), voronoi((40, 40), 60, 8)
    dense = (adjusted_rand_index(a, b), variation_of_information(a, b))
    monkeypatch.setattr(cluster_module, "_MIN_DENSE_TABLE", 0)
    a2 = a.astype(np.uint64) * 3  # unsigned labels, a wider label range
    assert adjusted_rand_index(a2, b) == pytest.approx(dense[0], abs=1e-12)
    assert variation_of_information(a2, b) == pytest.approx(dense[1])


def test_errors():
    with pytest.raises(InputError, match=r"labels_a \(3, 3\) and labels_b \(3, 4\)"):
        adjusted_rand_index(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(InputError, match="labels_b contains NaN"):
        variation_of_information(np.zeros(3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(InputError, match="labels_a must hold integer labels"):
        adjusted_rand_index(np.array([0.5, 1.0]), np.array([1, 2]))


labelings = arrays(np.int8, st.integers(1, 40), elements=st.integers(-3, 5))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ari_properties(data):
    a = data.draw(labelings)
    b = data.draw(arrays(np.int8, a.shape, elements=st.integers(0, 4)))
    ari = adjusted_rand_index(a, b)
    assert ari == adjusted_rand_index(b, a)
    assert ari <= 1.0 + 1e-12
    perm = np.random.default_rng(0).permutation(16)
    assert adjusted_rand_index(a, perm[a + 3]) == 1.0
    vi, vi_swapped = variation_of_information(a, b), variation_of_information(b, a)
    assert vi["vi"] >= 0.0 and vi["split"] >= 0.0 and vi["merge"] >= 0.0
    assert vi["split"] == pytest.approx(vi_swapped["merge"], abs=1e-9)
    assert variation_of_information(a, perm[a + 3])["vi"] == pytest.approx(0.0, abs=1e-9)
