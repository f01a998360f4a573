"""ASTM E112 grain size: formulas, E112's counting rules on hand-built maps, statistics, and
the stereology of isotropic tessellations (P_L = 2 L_A / pi) on Poisson-Voronoi maps whose
boundary length is computed exactly from the polygon edges (scipy.spatial.Voronoi)."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy import stats
from scipy.spatial import Voronoi
from skimage.draw import line as draw_line

from microseg._util import InputError
from microseg.grains import (analyse_grains, g_from_intercept, g_from_n_a, grain_size_intercept,
                             grain_size_planimetric, label_grains)
from microseg.grains import astm
from microseg.grains.astm import count_intersections, field_statistics, centre_lines


def square_grid(size, side, offset, width=1):
    """Boundary lines of ``width`` px centred on rows/columns offset + k * side."""
    b = np.zeros((size, size), np.uint8)
    for k in range(-(width // 2), width - width // 2):
        b[:, offset + k::side] = 1
        b[offset + k::side, :] = 1
    return b


# ---------------------------------------------------------------------------- Poisson-Voronoi
def _clip(p, q, lo, hi):
    """Liang-Barsky: the part of each segment p->q (N, 2) inside the box [lo, hi]; mask of kept."""
    d = q - p
    t0, t1 = np.zeros(len(p)), np.ones(len(p))
    keep = np.ones(len(p), bool)
    for k in range(2):
        for pk, qk in ((-d[:, k], p[:, k] - lo[k]), (d[:, k], hi[k] - p[:, k])):
            parallel = pk == 0
            keep &= ~(parallel & (qk < 0))
            t = np.where(parallel, 0.0, qk / np.where(parallel, 1.0, pk))
            t0 = np.where(~parallel & (pk < 0), np.maximum(t0, t), t0)
            t1 = np.where(~parallel & (pk > 0), np.minimum(t1, t), t1)
    keep &= t0 < t1
    return p + t0[:, None] * d, p + t1[:, None] * d, keep


def poisson_voronoi(size, mean_area, seed):
    """A 1-px 8-connected boundary map of a Poisson-Voronoi tessellation, its exact boundary
    length per area L_A (edges clipped to the window [-0.5, size - 0.5]^2) and the edges."""
    rng = np.random.default_rng(seed)
    margin = 4 * math.sqrt(mean_area)  # all edges that reach the window are finite
    n = rng.poisson((size + 2 * margin) ** 2 / mean_area)
    vor = Voronoi(rng.uniform(-margin, size + margin, (n, 2)))
    ridges = np.array([r for r in vor.ridge_vertices if -1 not in r])
    p, q, keep = _clip(vor.vertices[ridges[:, 0]], vor.vertices[ridges[:, 1]],
                       np.full(2, -0.5), np.full(2, size - 0.5))
    p, q = p[keep], q[keep]
    b = np.zeros((size, size), np.uint8)
    for a, c in zip(np.clip(np.rint(p), 0, size - 1).astype(int), np.clip(np.rint(q), 0, size - 1).astype(int)):
        b[draw_line(a[0], a[1], c[0], c[1])] = 1
    return b, float(np.hypot(*(q - p).T).sum()) / size**2, (p, q)


def circle_crossings(p, q, centre, radius):
    """Exact number of intersections of segments p->q with a circle."""
    d, f = q - p, p - centre
    a, b, c = (d * d).sum(1), 2 * (f * d).sum(1), (f * f).sum(1) - radius**2
    disc = b * b - 4 * a * c
    root = np.sqrt(np.where(disc > 0, disc, 0.0))
    return sum(int(np.count_nonzero((disc > 0) & (t >= 0) & (t <= 1)))
               for t in ((-b - root) / (2 * a), (-b + root) / (2 * a)))


# ---------------------------------------------------------------------------------- formulas
def test_formulas_against_the_astm_table():
    # ASTM E112 Table 4: G = 1 at N_A = 15.50 /mm² and l = 0.2 mm... within rounding
    assert g_from_n_a(15.50) == pytest.approx(1.0, abs=0.01)
    assert g_from_n_a(1984.0) == pytest.approx(8.0, abs=0.01)
    assert g_from_intercept(0.0226) == pytest.approx(7.6, abs=0.1)
    # the two formulas agree for l = sqrt(pi / 4 / N_A)-ish equiaxed grains: G(l) ~ G(N_A)
    assert g_from_intercept(1 / math.sqrt(1984.0)) == pytest.approx(g_from_n_a(1984.0), abs=0.4)


@pytest.mark.parametrize("side,pixel", [(20, 1.0), (32, 0.5)])
def test_planimetric_on_square_grains(side, pixel):
    b = square_grid(600, side, 7)
    labels = label_grains(b, close_gaps="none", exclude_border=False)
    r = grain_size_planimetric(labels, pixel_size=pixel)
    expected = g_from_n_a(1 / (side * pixel / 1000) ** 2)
    assert r.g == pytest.approx(expected, abs=0.1)
    assert r.method == "planimetric"


# ---------------------------------------------------------------------------- counting rules
@pytest.mark.parametrize("field_size,n_lines", [(100, 5), (120, 3), (64, 4)])
def test_line_grid_on_squares_counts_exactly(field_size, n_lines):
    side, offset = 20, 5
    b = square_grid(400, side, offset)
    r = grain_size_intercept(b, pixel_size=0.5, field_size=field_size, n_lines=n_lines)
    # independent count: boundary lines strictly between the first and last pixel centre of each
    # test line (none falls on a line end or along a test line here)
    expected = []
    for top, left in r.field_origins:
        positions = [(o + (i + 0.5) * field_size / n_lines) for o in (top, left) for i in range(n_lines)]
        assert all((int(x) - offset) % side for x in positions)   # no test line on a boundary
        ends = [(left, left + field_size - 1)] * n_lines + [(top, top + field_size - 1)] * n_lines
        expected.append(sum(sum(lo < k < hi for k in range(offset, 400, side)) for lo, hi in ends))
    assert r.intersections == tuple(float(e) for e in expected)
    assert r.intercepts == r.intersections
    length_um = 2 * n_lines * (field_size - 1) * 0.5
    assert r.field_length == pytest.approx(length_um)
    assert r.p_l == pytest.approx(np.mean(expected) / (length_um / 1000))
    assert r.mean_intercept == pytest.approx(1000 / r.p_l)
    assert r.g == pytest.approx(g_from_intercept(r.mean_intercept / 1000))
    assert r.junctions == 0 and r.length_unit == "µm" and r.density_unit == "1/mm"


@pytest.mark.parametrize("field_size", [200, 150, 96, 120])
def test_circles_on_squares_match_the_exact_count(field_size):
    side, offset = 20, 5
    b = square_grid(600, side, offset)
    r = grain_size_intercept(b, pattern="circles", field_size=field_size)
    lines = np.arange(offset, 600, side)
    r1 = (field_size - 2) / 2
    path, pid, closed, _ = astm._pattern("circles", field_size, 5)
    m = astm._prepare(b, 0.5, True)
    compared = 0
    for top, left in r.field_origins:
        cy, cx = top + (field_size - 1) / 2, left + (field_size - 1) / 2
        counts = astm._count_paths(m, path + (top, left), pid, closed)[0]
        assert r.intersections[r.field_origins.index((top, left))] == counts.sum()
        for count, rad in zip(counts, (r1, 2 * r1 / 3, r1 / 3)):
            # a circle crosses the line x = k twice when |k - cx| < r; through a grid node it
            # meets two lines at once, which E112's quadruple point (2) counts the same. Skip a
            # circle that runs along a line within a pixel (a tangency E112 has no rule for).
            gaps = np.abs(np.abs(np.r_[lines - cy, lines - cx]) - rad)
            if gaps.min() > 1.0:
                exact = sum(2 * int(np.sum(np.abs(lines - c) < rad)) for c in (cy, cx))
                assert count == exact
                compared += 1
    assert compared >= 1.5 * len(r.field_origins)
    assert r.field_length == pytest.approx(2 * np.pi * r1 * 2)   # circumferences 3 : 2 : 1
    # random directions on squares: l = pi side / 4 (boundary length per area 2 / side)
    assert r.mean_intercept == pytest.approx(np.pi / 4 * side, rel=0.03)


def t_junction():
    b = np.zeros((41, 61), np.uint8)
    b[20, :] = 1
    b[20:, 30] = 1
    return b


def test_a_line_through_a_triple_junction_counts_one_and_a_half():
    b = t_junction()
    assert count_intersections(b, [(10, 20), (30, 40)]) == (1.5, 1.5, 1)   # diagonal through it
    assert count_intersections(b, [(10, 30), (25, 30)]).intersections == 0.5   # ends on the stem
    assert count_intersections(b, [(10, 29), (38, 29)]).intersections == 1.0   # 1 px beside it
    assert count_intersections(b, [(10, 10), (30, 10)]).intersections == 1.0   # far from it
    assert count_intersections(b, [(30, 5), (30, 55)]).intersections == 1.0    # crosses the stem
    # a Y drawn with 8-connected lines
    y = np.zeros((41, 41), np.uint8)
    y[:21, 20] = 1
    for end in ((40, 0), (40, 40)):
        y[draw_line(20, 20, *end)] = 1
    assert count_intersections(y, [(20, 2), (20, 38)]).intersections == 1.5
    assert count_intersections(y, [(25, 2), (25, 38)]).intersections == 2.0
    assert count_intersections(y, [(15, 2), (15, 38)]).intersections == 1.0


def test_a_quadruple_point_counts_two_and_a_closed_line_has_no_ends():
    b = np.zeros((41, 41), np.uint8)
    b[20, :] = 1
    b[:, 20] = 1
    assert count_intersections(b, [(5, 5), (35, 35)]) == (2.0, 2.0, 1)
    square = [(10, 10), (10, 30), (30, 30), (30, 10)]      # a closed line around the node
    assert count_intersections(b, square, closed=True) == (4.0, 4.0, 0)


def test_heyn_line_ends_in_a_grain_count_half_an_intercept():
    b = np.zeros((40, 60), np.uint8)
    b[:, 30] = 1
    # both ends inside grains: 1 intersection; 2 end segments of 1/2 intercept each
    assert count_intersections(b, [(20, 5), (20, 55)]) == (1.0, 1.0, 0)
    # one end on the boundary: 1/2 intersection (E112), and 1/2 intercept for the other end
    assert count_intersections(b, [(20, 5), (20, 30)]) == (0.5, 0.5, 0)
    # both ends on boundaries: 1/2 + 1/2 intersections, one whole intercept between them
    b[:, 10] = 1
    assert count_intersections(b, [(20, 10), (20, 30)]) == (1.0, 1.0, 0)
    # a line inside one grain: no intersection, one intercept (two ends of 1/2)
    assert count_intersections(b, [(5, 12), (35, 28)]) == (0.0, 1.0, 0)


@pytest.mark.parametrize("pattern,thin", [("lines", True), ("circles", True), ("four_lines", True),
                                          ("lines", False)])
def test_thick_boundaries_count_once(pattern, thin):
    thin_map = square_grid(400, 20, 15)
    thick = square_grid(400, 20, 15, width=3)
    a = grain_size_intercept(thin_map, pattern=pattern, field_size=100)
    b = grain_size_intercept(thick, pattern=pattern, field_size=100, thin=thin)
    prob = np.where(thick == 1, 0.8, 0.1).astype(np.float32)
    c = grain_size_intercept(prob, pattern=pattern, field_size=100, thin=thin)
    assert b.intersections == a.intersections == c.intersections
    assert (centre_lines(thick) == thin_map.astype(bool)).all()


def test_as_drawn_a_thick_junction_is_one_crossing():
    # counted as drawn, the 3x3 neighbourhood of a run does not reach past a 3-px node:
    # a diagonal through it counts 1 (its skeleton: 2, a quadruple point)
    thick = square_grid(100, 20, 15, width=3)
    assert count_intersections(thick, [(0, 0), (99, 99)], thin=False).intersections == 5.0
    assert count_intersections(thick, [(0, 0), (99, 99)]).intersections == 10.0


def test_without_pixel_size_lengths_are_px_and_g_needs_one():
    b = square_grid(300, 20, 5)
    r = grain_size_intercept(b, field_size=100)
    assert r.g is None and r.pixel_size_um is None
    assert r.length_unit == "px" and r.density_unit == "1/px"
    assert r.mean_intercept == pytest.approx(1 / r.p_l)
    assert r.note.startswith("G needs a pixel size")
    with_size = grain_size_intercept(b, field_size=100, pixel_size=0.25)
    assert with_size.mean_intercept == pytest.approx(0.25 * r.mean_intercept)
    assert with_size.p_l == pytest.approx(r.p_l * 1000 / 0.25)
    assert with_size.g is not None and "pixel size" not in with_size.note


def test_analysis_summary_carries_intercepts_in_px_without_pixel_size():
    b, _, _ = poisson_voronoi(384, 30.0**2, 3)
    s = analyse_grains(b).summary["astm_e112"]
    assert s["planimetric"] is None and s["length_unit"] == "px"
    assert any("pixel size" in note for note in s["notes"])
    for key in ("intercept_lines", "intercept_circles"):
        assert s[key]["g"] is None and s[key]["length_unit"] == "px" and s[key]["n_fields"] >= 4
        assert 15 < s[key]["mean_intercept"] < 40
    with_size = analyse_grains(b, pixel_size=0.1).summary["astm_e112"]
    assert with_size["intercept_circles"]["g"] == pytest.approx(
        g_from_intercept(with_size["intercept_circles"]["mean_intercept"] / 1000))
    assert with_size["planimetric"]["g"] > 0


def test_fields_are_spread_over_the_map_and_inside_the_mask():
    b = square_grid(400, 20, 5)
    every = grain_size_intercept(b, field_size=100)
    assert every.n_fields == 16 and len(set(every.field_origins)) == 16
    five = grain_size_intercept(b, field_size=100, fields=5)
    assert five.n_fields == 5 and set(five.field_origins) <= set(every.field_origins)
    auto = grain_size_intercept(b, fields=9)   # default size shrinks until 9 fit
    assert auto.n_fields == 9 and auto.field_size_px <= 400 // 3
    mask = np.zeros(b.shape, bool)
    mask[50:380, 20:300] = True
    masked = grain_size_intercept(b, field_size=100, mask=mask)
    for top, left in masked.field_origins:
        assert mask[top:top + 100, left:left + 100].all()
    assert masked.n_fields == 6


def test_default_field_size_aims_at_fifty_intersections():
    b = square_grid(1000, 20, 5)
    for pattern in ("lines", "circles", "four_lines"):
        r = grain_size_intercept(b, pattern=pattern)
        assert 35 <= np.mean(r.intersections) <= 75, pattern
        assert r.n_fields >= 5


@pytest.mark.parametrize("call,match", [
    (lambda b: grain_size_intercept(b, pattern="circle"), r"unknown intercept pattern 'circle'.*did you mean 'circles'"),
    (lambda b: grain_size_intercept(b, field_size=4), r"field_size: expected an integer 8 to 100"),
    (lambda b: grain_size_intercept(b, field_size=101), r"field_size: .* 101"),
    (lambda b: grain_size_intercept(b, field_size=50.0), r"field_size: expected an integer"),
    (lambda b: grain_size_intercept(b, fields=0), r"fields: expected an integer >= 1"),
    (lambda b: grain_size_intercept(b, field_size=50, fields=5), r"fields: only 4 fields of 50 px fit"),
    (lambda b: grain_size_intercept(b, n_lines=0), r"n_lines: expected an integer >= 1"),
    (lambda b: grain_size_intercept(b.astype(np.float32), threshold=1.5), r"threshold: expected a probability"),
    (lambda b: grain_size_intercept(b, pixel_size=-1.0), r"pixel_size must be positive"),
    (lambda b: grain_size_intercept(b, pixel_size=(1.0, 2.0)), r"pixel_size: ASTM estimates need square pixels"),
    (lambda b: grain_size_intercept(b, mask=np.ones((10, 10), bool)), r"mask: expected a bool array of shape \(100, 100\)"),
    (lambda b: grain_size_intercept(b * 2), r"boundaries must hold only 0 and 1"),
    (lambda b: grain_size_intercept(np.zeros((100, 100), np.uint8)), r"boundaries: the test lines cross no grain"),
    (lambda b: grain_size_intercept(np.stack([b, b])), r"boundaries: expected a 2D"),
    (lambda b: count_intersections(b, [(1, 1)]), r"points: expected a \(K, 2\) array"),
    (lambda b: count_intersections(b, [(1, 1), (1, 200)]), r"points: every \(row, col\) vertex"),
    (lambda b: field_statistics([]), r"values: expected a non-empty 1D array"),
])
def test_bad_input_gives_a_one_line_error_naming_it(call, match):
    with pytest.raises(InputError, match=match) as info:
        call(square_grid(100, 20, 5))
    assert "\n" not in str(info.value)


def test_planimetric_errors():
    with pytest.raises(InputError, match="labels.*no grains"):
        grain_size_planimetric(np.zeros((50, 50), np.int32), pixel_size=1.0)
    with pytest.raises(InputError, match="pixel_size: the ASTM grain size needs the pixel size"):
        grain_size_planimetric(np.ones((50, 50), np.int32), pixel_size=None)


# -------------------------------------------------------------------------------- statistics
def test_field_statistics_follow_e112_with_students_t():
    values = [41.0, 52.0, 47.0, 39.0, 55.0, 44.0]
    s = field_statistics(values)
    n, mean, sd = len(values), statistics.fmean(values), statistics.stdev(values)
    ci = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)   # t(0.975, 5) = 2.5706
    assert (s.n, s.mean, s.std) == (n, pytest.approx(mean), pytest.approx(sd))
    assert s.ci95 == pytest.approx(2.570582 * sd / math.sqrt(n), rel=1e-6) == pytest.approx(ci)
    assert s.relative_accuracy_pct == pytest.approx(100 * ci / mean)
    one = field_statistics([3.0])
    assert (one.mean, one.std, one.ci95, one.relative_accuracy_pct, one.n) == (3.0, None, None, None, 1)


def test_intercept_statistics_are_those_of_the_field_p_l():
    b, _, _ = poisson_voronoi(512, 25.0**2, 1)
    r = grain_size_intercept(b, pattern="circles", pixel_size=0.2, field_size=100)
    p_l = np.array(r.intersections) / (r.field_length / 1000)
    s = field_statistics(p_l)
    assert r.n_fields == 25
    assert (r.p_l, r.p_l_std, r.p_l_ci95, r.relative_accuracy_pct) == pytest.approx(
        (s.mean, s.std, s.ci95, s.relative_accuracy_pct))
    assert r.mean_intercept == pytest.approx(1000 / s.mean)


# ------------------------------------------------------------------------------- stereology
@pytest.fixture(scope="module")
def tessellations():
    """Six 1024² Poisson-Voronoi maps with cells 48 px across (about 450 cells each)."""
    return [poisson_voronoi(1024, 48.0**2, seed) for seed in range(6)]


@pytest.mark.parametrize("pattern,field_size", [("circles", 72), ("lines", 64), ("four_lines", 96)])
def test_isotropic_tessellation_gives_p_l_of_2_l_a_over_pi(tessellations, pattern, field_size):
    ratios = []
    for b, l_a, _ in tessellations:
        r = grain_size_intercept(b, pattern=pattern, field_size=field_size, n_lines=4)
        ratios.append(r.p_l / (2 * l_a / np.pi))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.02), ratios


def test_circle_counts_match_the_exact_intersections_with_the_edges(tessellations):
    digital = exact = 0.0
    size = 72
    r1 = (size - 2) / 2
    for b, _, (p, q) in tessellations[:3]:
        r = grain_size_intercept(b, pattern="circles", field_size=size)
        for (top, left), count in zip(r.field_origins, r.intersections):
            centre = np.array([top, left]) + (size - 1) / 2
            exact += sum(circle_crossings(p, q, centre, rad) for rad in (r1, 2 * r1 / 3, r1 / 3))
            digital += count
    assert digital / exact == pytest.approx(1.0, abs=0.015)


def test_thick_predicted_boundaries_are_counted_on_their_centre_lines(tessellations):
    ratios = {True: [], False: []}
    for b, l_a, _ in tessellations[:3]:
        thick = ndi.binary_dilation(b, np.ones((3, 3), bool)).astype(np.uint8)
        for thin in ratios:
            r = grain_size_intercept(thick, pattern="circles", field_size=72, thin=thin)
            ratios[thin].append(r.p_l / (2 * l_a / np.pi))
    assert np.mean(ratios[True]) == pytest.approx(1.0, abs=0.03)
    assert np.mean(ratios[False]) < np.mean(ratios[True]) - 0.02   # as drawn: junctions merge


def test_planimetric_in_a_mask_counts_cut_grains_half_over_the_mask_area():
    rows, cols = np.indices((100, 100))
    lab = ((rows // 10) * 10 + cols // 10 + 1).astype(np.int32)      # 10 x 10 px squares
    mask = np.zeros((100, 100), bool)
    mask[25:65, 35:85] = True                                        # its edge halves squares
    r = grain_size_planimetric(lab, pixel_size=1.0, mask=mask)
    # independently: a grain is whole when all its pixels are inside, cut when only some are
    n_in = np.bincount(lab[mask], minlength=101)
    n_all = np.bincount(lab.ravel(), minlength=101)
    whole, cut = np.sum((n_in == n_all) & (n_all > 0)), np.sum((n_in > 0) & (n_in < n_all))
    assert (whole, cut) == (12, 18)
    assert r.count == whole + 0.5 * cut
    assert r.n_a_per_mm2 == pytest.approx(r.count / (mask.sum() * 1e-6))
