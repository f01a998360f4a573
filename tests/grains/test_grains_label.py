from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from microseg._util import InputError
from microseg.grains import fill_unlabelled, label_grains
from microseg.grains._runs import nonconvex_labels


def voronoi_cells(shape=(256, 256), n=60, *, seed=0, twins=0):
    """Nearest-seed cells (int) with ``twins`` cells cut by a straight band 3-6 px wide."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n, len(shape))) * np.array(shape)
    grid = np.indices(shape).reshape(len(shape), -1).T
    cell = cKDTree(pts).query(grid)[1].reshape(shape).astype(np.int64)
    if twins:
        rows, cols = np.indices(shape)
        for c in rng.choice(n, twins, replace=False):
            inside = cell == c
            ang = rng.uniform(0, np.pi)
            proj = rows * np.sin(ang) + cols * np.cos(ang)
            mid = np.median(proj[inside])
            width = rng.uniform(3, 6)
            band = inside & (proj >= mid) & (proj < mid + width)
            beyond = inside & (proj >= mid + width)
            cell[band] = cell.max() + 1
            cell[beyond] = cell.max() + 1
    return cell


def boundaries_of(cell):
    b = np.zeros(cell.shape, np.uint8)
    b[:, :-1] |= cell[:, :-1] != cell[:, 1:]
    b[:-1, :] |= cell[:-1, :] != cell[1:, :]
    return b


def cells_under(labels, cell):
    """For each label 1..N the set of distinct cells under it (as a count)."""
    n = labels.max()
    pairs = np.unique(labels.astype(np.int64) * (cell.max() + 1) + cell)
    pairs = pairs[pairs // (cell.max() + 1) > 0]
    return np.bincount(pairs // (cell.max() + 1), minlength=n + 1)[1:]


RAW = dict(exclude_border=False, fill_boundaries=False)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_watershed_equals_none_on_complete_voronoi_with_twins(seed):
    cell = voronoi_cells(seed=seed, twins=8)
    b = boundaries_of(cell)
    none = label_grains(b, close_gaps="none", **RAW)
    ws = label_grains(b, close_gaps="watershed", **RAW)
    np.testing.assert_array_equal(ws, none)
    assert np.all(cells_under(none, cell) == 1)          # every grain inside one cell
    # and one grain per connected piece of each cell's interior (a sliver cut off at an acute
    # corner is its own piece, for "none" as for "watershed"), counted independently
    interior = b == 0
    pieces = sum(ndi.label(interior & (cell == c))[1] for c in np.unique(cell))
    assert none.max() == pieces
    assert pieces >= len(np.unique(cell)) - 2
    # the full pipeline (fill + border exclusion) agrees as well
    np.testing.assert_array_equal(label_grains(b, close_gaps="watershed"), label_grains(b, close_gaps="none"))


def test_h_maxima_alone_does_not_split_convex_cells():
    # bypass the convexity shortcut: the neck analysis itself must leave convex cells whole
    from microseg.grains import _gaps

    cell = voronoi_cells(seed=5, twins=6)
    b = boundaries_of(cell)
    lab, n = ndi.label(b == 0)
    lab = lab.astype(np.int32)
    original = _gaps.nonconvex_labels
    try:
        _gaps.nonconvex_labels = lambda labels, n_labels: np.r_[False, np.ones(n_labels, bool)]
        out, n_out = _gaps.split_joined_grains(lab.copy(), n, h=2.0)
    finally:
        _gaps.nonconvex_labels = original
    assert n_out == n
    np.testing.assert_array_equal(out, lab)


def cut_gaps(b, n_gaps, rng):
    b = b.copy()
    ys, xs = np.nonzero(b[4:-4, 4:-4])
    for i in rng.choice(ys.size, n_gaps, replace=False):
        y, x = ys[i] + 4, xs[i] + 4
        b[y - 1:y + 2, x - 1:x + 2] = 0
    return b


def recovered(labels, cell, interior):
    """Cells whose interior is >= 90 % one label that lies >= 90 % in the cell."""
    n_cells = cell.max() + 1
    key = cell[interior].astype(np.int64) * (labels.max() + 1) + labels[interior]
    joint = np.bincount(key, minlength=n_cells * (labels.max() + 1)).reshape(n_cells, -1)
    joint[:, 0] = 0
    cell_size = joint.sum(1)
    lab_size = joint.sum(0)
    best = joint.argmax(1)
    share = joint[np.arange(n_cells), best]
    ok = (cell_size > 0) & (share >= 0.9 * cell_size) & (share >= 0.9 * lab_size[best])
    return int(ok.sum())


@pytest.mark.parametrize("method", ["watershed", "merge"])
@pytest.mark.parametrize("seed", [0, 1])
def test_gap_closing_recovers_grains_joined_through_gaps(seed, method):
    cell = voronoi_cells((300, 300), 80, seed=seed)
    b = boundaries_of(cell)
    interior = b == 0
    gapped = cut_gaps(b, 20, np.random.default_rng(seed))
    truth = recovered(label_grains(b, close_gaps="none", **RAW), cell, interior)
    none = recovered(label_grains(gapped, close_gaps="none", **RAW), cell, interior)
    closed = recovered(label_grains(gapped, close_gaps=method, **RAW), cell, interior)
    assert truth >= 78
    assert none <= truth - 15            # 20 gaps merge at least 15 grains
    assert closed >= truth - 3           # the gap closing gets nearly all of them back
    # a complete map of cells comes back as its components are, numbered alike
    np.testing.assert_array_equal(label_grains(b, close_gaps=method, **RAW),
                                  label_grains(b, close_gaps="none", **RAW))


def test_watershed_on_probability_splits_at_the_weak_gap():
    prob = np.zeros((40, 80), np.float32)
    prob[:, 39:41] = 0.9
    prob[18:22, 39:41] = 0.3                     # a weak stretch below the threshold
    none = label_grains(prob, close_gaps="none", **RAW)
    ws = label_grains(prob, close_gaps="watershed", **RAW)
    assert none.max() == 1 and ws.max() == 2
    assert np.all(ws[:, :39] == ws[0, 0]) and np.all(ws[:, 41:] == ws[0, -1])
    hyst = label_grains(prob, close_gaps="hysteresis", low=0.2, **RAW)
    assert hyst.max() == 2                       # the weak stretch joins the strong boundary


def test_fill_boundaries_tiles_image_and_matches_cells():
    cell = voronoi_cells(seed=3)
    b = boundaries_of(cell)
    lab = label_grains(b, exclude_border=False)
    assert lab.dtype == np.int32 and lab.min() == 1
    # every filled grain is its cell up to the 1-px boundary assignment
    for g in (1, lab.max() // 2, lab.max()):
        c = np.bincount(cell[lab == g]).argmax()
        overlap = np.sum((lab == g) & (cell == c))
        assert overlap >= 0.85 * max(np.sum(lab == g), np.sum(cell == c))


def test_fill_unlabelled_thick_gap_uses_nearest():
    lab = np.zeros((5, 30), np.int32)
    lab[:, :2] = 1
    lab[:, -2:] = 2
    out = fill_unlabelled(lab.copy(), max_passes=3)        # beyond 3 passes: EDT fallback
    np.testing.assert_array_equal(out[:, :15], 1)
    np.testing.assert_array_equal(out[:, 15:], 2)


def test_exclude_border_and_relabel_consecutive():
    b = np.zeros((30, 30), np.uint8)
    b[10, :] = 1
    b[20, :] = 1
    b[:, 10] = 1
    b[:, 20] = 1
    lab = label_grains(b, close_gaps="none")
    assert lab.max() == 1 and np.sum(lab == 1) == 100      # centre 9x9 + its boundary share
    lab_all = label_grains(b, close_gaps="none", exclude_border=False, fill_boundaries=False)
    assert lab_all.max() == 9 and set(np.unique(lab_all)) == set(range(10))


def test_min_size_and_min_diameter():
    b = np.zeros((40, 40), np.uint8)
    b[:, 5] = 1                               # left grain 5 px wide: area 200
    lab = label_grains(b, close_gaps="none", exclude_border=False, fill_boundaries=False, min_size=201)
    assert lab.max() == 1 and lab[0, 0] == 0 and lab[0, 39] == 1
    # ECD of 200 px = 15.96 px; with 0.5 µm pixels that is 7.98 µm
    kept = label_grains(b, close_gaps="none", exclude_border=False, min_diameter=7.9, pixel_size=0.5)
    gone = label_grains(b, close_gaps="none", exclude_border=False, min_diameter=8.1, pixel_size=0.5)
    assert kept.max() == 2 and gone.max() == 1 and np.all(gone == 1)   # filled by the neighbour
    with pytest.raises(InputError, match="min_diameter.*pixel_size"):
        label_grains(b, min_diameter=1.0)


def test_edge_cases_all_zero_and_all_boundary():
    empty = np.zeros((20, 20), np.uint8)
    assert label_grains(empty).max() == 0                      # one grain, touching the edge
    np.testing.assert_array_equal(label_grains(empty, exclude_border=False), 1)
    full = np.ones((20, 20), np.uint8)
    out = label_grains(full)
    assert out.dtype == np.int32 and out.shape == (20, 20) and out.max() == 0
    assert label_grains(np.ones((4, 5, 6), bool), close_gaps="watershed").max() == 0


def test_input_errors_name_the_argument():
    prob = np.zeros((10, 10), np.float32)
    prob[3, 3] = np.nan
    with pytest.raises(InputError, match="boundaries.*NaN"):
        label_grains(prob)
    with pytest.raises(InputError, match="boundaries.*2D"):
        label_grains(np.zeros(10))
    with pytest.raises(InputError, match="boundaries.*0 and 1"):
        label_grains(np.full((5, 5), 255, np.uint8))
    with pytest.raises(InputError, match="boundaries.*\\[0, 1\\]"):
        label_grains(np.full((5, 5), 1.5))
    with pytest.raises(InputError, match="did you mean 'watershed'"):
        label_grains(np.zeros((5, 5)), close_gaps="watershd")
    with pytest.raises(InputError, match="connectivity"):
        label_grains(np.zeros((5, 5)), connectivity=3)


def test_3d_labels_and_gap_closing():
    cell = voronoi_cells((24, 40, 40), 12, seed=2)
    b = np.zeros(cell.shape, np.uint8)
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        b[tuple(lo)] |= cell[tuple(lo)] != cell[tuple(hi)]
    none = label_grains(b, close_gaps="none", **RAW)
    ws = label_grains(b, close_gaps="watershed", **RAW)
    np.testing.assert_array_equal(ws, none)
    assert np.all(cells_under(none, cell) == 1) and none.max() == len(np.unique(cell))
    # two boxes joined by a 3x3 hole in the wall between them
    box = np.zeros((20, 20, 40), np.uint8)
    box[:, :, 19] = 1
    box[9:12, 9:12, 19] = 0
    assert label_grains(box, close_gaps="none", **RAW).max() == 1
    assert label_grains(box, close_gaps="watershed", **RAW).max() == 2


def test_nonconvex_labels_flags_only_nonconvex():
    lab = np.zeros((10, 10), np.int32)
    lab[1:4, 1:4] = 1                    # square: convex
    lab[5:9, 5] = 2
    lab[8, 5:9] = 2                      # an L: rows and columns are still single runs
    lab[1:6, 6:9] = 3
    lab[2:4, 7] = 0                      # a ring: two runs on rows 2-3
    assert nonconvex_labels(lab, 3).tolist() == [False, False, False, True]


@pytest.mark.parametrize("method", ["watershed", "merge"])
def test_a_necked_grain_with_its_whole_boundary_stays_whole(method):
    # a dumbbell: two discs joined by a wide neck, with its whole boundary drawn (no open end)
    rows, cols = np.indices((80, 140))
    grain = ((rows - 40) ** 2 + (cols - 35) ** 2 < 28 ** 2) | ((rows - 40) ** 2 + (cols - 105) ** 2 < 28 ** 2)
    grain |= (np.abs(rows - 40) < 9) & (cols > 35) & (cols < 105)
    b = (ndi.binary_dilation(grain) & ~grain).astype(np.uint8)
    inside = ndi.binary_erosion(grain, iterations=2)
    assert len(np.unique(label_grains(b, close_gaps=method, **RAW)[inside])) == 1
    # the same neck with a boundary drawn across it, and a gap in that boundary: split again
    b[30:51, 70] = 1
    b[39:42, 70] = 0
    assert np.count_nonzero(np.unique(label_grains(b, close_gaps=method, **RAW)[inside])) == 2


def test_open_ends_of_staircase_lines_and_junctions():
    from microseg.grains._gaps import SPUR, open_ends

    b = np.zeros((24, 24), bool)
    for i in range(4, 16):                   # a 4-connected staircase, as boundary_mask draws
        b[i, i] = b[i, i + 1] = True
    b[9, 11] = True                          # a one-pixel bump: no end
    ends = np.argwhere(open_ends(b))
    assert len(ends) == 2                    # each end comes back SPUR px short, no more
    for tip in ((4, 4), (15, 16)):
        assert np.abs(ends - tip).max(1).min() <= SPUR + 1
    b[15, 17:] = True                        # now it runs into a line to the image edge
    ends = np.argwhere(open_ends(b))
    assert len(ends) == 1 and np.abs(ends[0] - (4, 4)).max() <= SPUR + 1
    cross = np.zeros((15, 15), bool)
    cross[7], cross[:, 7] = True, True       # lines to the image edge and a junction: no end
    assert not open_ends(cross).any()


@pytest.mark.parametrize("method", ["watershed", "merge", "hysteresis"])
def test_every_mode_leaves_complete_curved_maps_as_they_are(method):
    # warped, non-convex grains with twin lamellae and subgrains: nothing to close, nothing split
    from microseg.synth._curved import make_curved_microstructure
    from microseg.synth._tessellation import boundary_mask

    for seed, extra in ((2, {}), (3, {}), (4, {"twin_end_fraction": 0.5, "island_fraction": 0.3}),
                        (5, {"twin_end_fraction": 0.5, "island_fraction": 0.3})):
        # the last two: lamellae that end inside their grain and grains inside grains
        sources = make_curved_microstructure((512, 512), mean_diameter_um=1.0, seed=seed, **extra).sources()
        b = boundary_mask(sources).astype(np.uint8)
        np.testing.assert_array_equal(label_grains(b, close_gaps=method, **RAW),
                                      label_grains(b, close_gaps="none", **RAW))