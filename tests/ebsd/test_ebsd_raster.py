"""The boundary raster on synthetic polycrystals with exact truth, square and hexagonal."""
from __future__ import annotations

import math

import numpy as np
import pytest
from orix.quaternion import Rotation
from scipy import ndimage

from microseg._util import InputError
from microseg.ebsd import (
    boundaries_from_cells, boundary_raster, classify_boundaries, clean_ebsd, pair_classes,
    rasterize_cells, segment_cells,
)
from microseg.io import EBSDMap, Phase
from microseg.synth import make_polycrystal

NI = {1: Phase(1, "Ni", "m-3m")}
CONJ = np.array([1.0, -1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def poly():
    return make_polycrystal((160, 160), mean_diameter_px=28, twin_fraction=0.35,
                            subgrain_fraction=0.25, seed=3)


def perturb(q, noise_deg, rng):
    """Rotate each quaternion by a random axis and a Gaussian angle of RMS ``noise_deg``."""
    v = rng.normal(size=(q[..., 0].size, 3)) * np.radians(noise_deg) / math.sqrt(3.0)
    dq = Rotation.from_axes_angles(v, np.linalg.norm(v, axis=1))
    return (dq * Rotation(q.reshape(-1, 4))).data.reshape(q.shape)


def square_map(poly, *, noise=0.0, missing=0.0, seed=0):
    """The polycrystal sampled at every pixel (EBSD rotation = conjugate synth quaternion)."""
    rng = np.random.default_rng(seed)
    q = poly.orientation_map() * CONJ
    if noise:
        q = perturb(q, noise, rng)
    ph = np.where(rng.random(poly.shape) < missing, -1, 1).astype(np.int32)
    return EBSDMap(q, ph, NI, step=1.0)


def hex_map(poly, step):
    """The polycrystal sampled on a hexagonal grid of ``step`` pixels (1 µm = 1 px)."""
    ny = int((poly.shape[0] - 1) / (step * math.sqrt(3) / 2)) + 1
    nx = int((poly.shape[1] - 1 - step / 2) / step) + 1
    r, c = np.indices((ny, nx))
    x = c * step + (r % 2) * step / 2
    y = r * step * math.sqrt(3) / 2
    cells = poly.cells[np.rint(y).astype(int), np.rint(x).astype(int)]
    q = poly.orientations[cells] * CONJ
    return EBSDMap(q, np.ones((ny, nx), np.int32), NI, step=step, grid="hexagonal")


def found(truth_classes, classes, *, tolerance=0):
    """Fraction of true boundary pixels with the same class in the raster within
    ``tolerance`` px (Chebyshev)."""
    hits = []
    for k in (1, 2, 3):
        t = truth_classes == k
        if not t.any():
            continue
        near = ndimage.binary_dilation(classes == k, np.ones((3, 3)), iterations=tolerance) \
            if tolerance else classes == k
        hits.append(near[t])
    return np.concatenate(hits).mean()


def test_boundaries_from_cells_reproduce_the_synthetic_truth(poly):
    # independent check: the truth's own pair classes on the truth's cells
    table = {}
    for a, b, out in ((poly.cells[:, :-1], poly.cells[:, 1:], poly.classes[:, :-1]),
                      (poly.cells[:-1], poly.cells[1:], poly.classes[:-1])):
        diff = a != b
        for x, y in zip(a[diff], b[diff]):
            table.setdefault((min(x, y), max(x, y)), None)
    b, _ = boundaries_from_cells(poly.cells)
    np.testing.assert_array_equal(b, poly.boundaries)
    # array form of the table and dict form agree
    some = np.array([[a, b_, 3] for a, b_ in list(table)[:5]])
    _, c1 = boundaries_from_cells(poly.cells, some)
    _, c2 = boundaries_from_cells(poly.cells, {(int(r[1]), int(r[0])): 3 for r in some})
    np.testing.assert_array_equal(c1, c2)
    assert (c1 == 3).any() and set(np.unique(c1)) <= {0, 1, 3}


def test_cells_next_to_zero_are_not_boundary():
    cells = np.array([[1, 0, 2], [1, 1, 2]])
    b, c = boundaries_from_cells(cells, {(1, 2): 2})
    np.testing.assert_array_equal(b, [[0, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(c, [[0, 0, 0], [0, 2, 0]])
    with pytest.raises(InputError, match="cells"):
        boundaries_from_cells(np.zeros((2, 2)))


def test_exact_square_map_gives_the_exact_classes(poly):
    m = square_map(poly)
    r = boundary_raster(m)
    assert r.cells.max() == poly.n_cells
    np.testing.assert_array_equal(r.boundaries, poly.boundaries)
    np.testing.assert_array_equal(r.classes, poly.classes)
    assert set(np.unique(poly.classes)) == {0, 1, 2, 3}
    # the pieces agree with the chain
    edges = classify_boundaries(m)
    cells = segment_cells(m, edges=edges)
    assert pair_classes(m, cells, edges) == r.pair_class
    np.testing.assert_array_equal(cells, r.cells)


def test_noisy_map_with_holes_after_clean_up(poly):
    m = square_map(poly, noise=0.5, missing=0.02, seed=1)
    assert (~m.indexed).mean() == pytest.approx(0.02, abs=0.005)
    m = clean_ebsd(m)
    assert m.indexed.all()
    r = boundary_raster(m)
    assert found(poly.classes, r.classes) >= 0.95
    assert (r.boundaries[poly.boundaries == 0] > 0).mean() < 0.01  # few spurious pixels


@pytest.mark.parametrize("step", [1.0, 0.5])
def test_hexagonal_map(poly, step):
    m = hex_map(poly, step)
    r = boundary_raster(m, pixel_size=1.0)
    h, w = r.classes.shape
    assert poly.shape[0] - 2 <= h <= poly.shape[0] and poly.shape[1] - 2 <= w <= poly.shape[1]
    truth = poly.classes[:h, :w]
    assert found(truth, r.classes[:h, :w], tolerance=1) >= 0.95
    assert abs(r.boundaries.mean() - (truth > 0).mean()) < 0.25 * (truth > 0).mean()


def test_rasterize_hexagonal_picks_the_nearest_point():
    m = EBSDMap(np.tile([1.0, 0, 0, 0], (3, 3, 1)), np.ones((3, 3), np.int32), NI, step=2.0,
                grid="hexagonal")
    idx = np.arange(9).reshape(3, 3)
    out = rasterize_cells(m, idx, pixel_size=0.25)
    x, y = m.coordinates()
    yy, xx = np.indices(out.shape) * 0.25
    d = (xx[..., None] - x.ravel()) ** 2 + (yy[..., None] - y.ravel()) ** 2
    brute = np.argmin(d, axis=-1)
    tie = np.ptp(np.sort(d, axis=-1)[..., :2], axis=-1) < 1e-9
    np.testing.assert_array_equal(out[~tie], brute[~tie])
    assert out.shape == (int(2 * math.sqrt(3) / 0.25) + 1, int(5.0 / 0.25) + 1)
    with pytest.raises(InputError, match="pixel_size"):
        rasterize_cells(m, idx, pixel_size=-1)


def test_pair_class_is_the_majority_of_the_edges():
    base = Rotation.from_axes_angles([1, 2, 3], 37, degrees=True)
    twin = Rotation.from_axes_angles([1, 1, 1], 60, degrees=True) * base
    q = np.empty((4, 4, 4))
    q[:, :2] = base.data[0]
    for row, off in enumerate((8.0, 7.5, 8.2, 9.8)):  # Σ3 deviation up to 8.66° is Σ3
        q[row, 2:] = (Rotation.from_axes_angles([1, 0, 0], off, degrees=True) * twin).data[0]
    ph = np.ones((4, 4), np.int32)
    ph[0, 3] = -1
    m = EBSDMap(q, ph, NI, step=1.0)
    edges = classify_boundaries(m)
    assert edges.classes[0, :, 1].tolist() == [3, 3, 3, 1]
    cells = segment_cells(m, edges=edges)
    assert cells.max() == 2 and cells[0, 3] == 0
    assert pair_classes(m, cells, edges) == {(1, 2): 3}
    r = boundary_raster(m)
    np.testing.assert_array_equal(r.classes[:, 1], [3, 3, 3, 3])
    assert r.boundaries[0, 2] == 0  # next to the non-indexed point: not a boundary
