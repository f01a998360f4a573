"""ASTM E112 grain size number: planimetric (Jeffries) and intercept (Heyn lines, Abrams circles).

Formulas (ASTM E112-13): planimetric ``G = 3.321928 log10(N_A) - 2.954`` with ``N_A`` grains
per mm²; intercept ``G = -6.643856 log10(l) - 3.288`` with ``l = 1 / P_L`` the mean lineal
intercept in mm. The two agree for equiaxed grains.

The intercept procedure counts the intersections ``P`` of a test pattern with the boundary
pixels (their centre lines, by default), field by field, with E112's counting rules (see
:func:`grain_size_intercept`), and reports E112's statistics over the fields: mean, standard
deviation ``s``, 95 % confidence interval ``t(0.975, n - 1) s / sqrt(n)`` and the % relative
accuracy ``100 CI / mean``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from microseg._util import InputError, look_up_option
from microseg._validate import as_labels, check_ndim, check_pixel_size
from microseg.grains._intercepts import (  # noqa: F401  (count_intersections, LineCount: public here)
    LineCount, _circle_samples, _count_paths, _digital_path, _prepare, _segment_samples, centre_lines,
    count_intersections,
)
from microseg.grains.label import border_labels

#: Intercept test patterns: Abrams' three circles, Heyn's line grid, E112 Fig. 5's four lines.
PATTERNS = ("circles", "lines", "four_lines")
#: Intersections wanted per field when the field size is chosen (E112: at least 50 per field
#: for Heyn lines, 40-100 per application of the three circles).
_TARGET_PER_FIELD = 50.0
_MIN_FIELD = 8


@dataclass(frozen=True)
class GrainSizeNumber:
    """An ASTM E112 planimetric grain size estimate.

    ``g`` is the grain size number, ``method`` ``"planimetric"``, ``count`` the grains counted
    (fractional: E112's halves and quarters) and ``n_a_per_mm2`` the grains per mm².
    ``mean_intercept_um`` and ``test_length_um`` stay None (intercepts are
    :class:`InterceptGrainSize`); they are kept so that stored summaries keep their keys.
    """

    g: float
    method: str
    count: float
    n_a_per_mm2: float | None = None
    mean_intercept_um: float | None = None
    test_length_um: float | None = None


@dataclass(frozen=True)
class FieldStatistics:
    """E112 statistics of per-field measurements: ``mean``, standard deviation ``std``
    (``n - 1`` in the denominator), ``ci95 = t(0.975, n - 1) std / sqrt(n)`` and
    ``relative_accuracy_pct = 100 ci95 / mean``; ``None`` where undefined (one field, mean 0)."""

    mean: float
    std: float | None
    ci95: float | None
    relative_accuracy_pct: float | None
    n: int


@dataclass(frozen=True)
class InterceptGrainSize:
    """An ASTM E112 intercept grain size estimate over several fields.

    Lengths are in ``length_unit`` (``"µm"`` with a pixel size, else ``"px"``); densities in
    ``density_unit`` (E112's ``"1/mm"`` with a pixel size, else ``"1/px"``).

    ``p_l`` / ``n_l`` are the mean intersections / intercepts per unit test length over the
    fields, ``mean_intercept = 1 / p_l`` (l-bar), ``g`` the grain size number (``None``
    without a pixel size: G needs one; ``note`` then says so). ``p_l_std``, ``p_l_ci95`` and
    ``relative_accuracy_pct`` are E112's statistics of the per-field ``P_L`` (the relative
    accuracy of l-bar is the same to first order); ``None`` with one field.
    ``intersections`` and ``intercepts`` hold the per-field counts ``P`` and ``N``,
    ``field_length`` the test length of one field, ``field_origins`` the (row, col) of each
    square field of ``field_size_px`` pixels, ``junctions`` the runs counted as triple (1.5)
    or quadruple (2) points.
    """

    method: str
    g: float | None
    mean_intercept: float
    p_l: float
    n_l: float
    p_l_std: float | None
    p_l_ci95: float | None
    relative_accuracy_pct: float | None
    n_fields: int
    intersections: tuple[float, ...]
    intercepts: tuple[float, ...]
    field_length: float
    field_size_px: int
    field_origins: tuple[tuple[int, int], ...]
    junctions: int
    length_unit: str
    density_unit: str
    pixel_size_um: float | None
    note: str = ""


def g_from_n_a(n_a_per_mm2: float) -> float:
    """ASTM E112 G from the number of grains per mm² (``3.321928 log10(N_A) - 2.954``)."""
    return 3.321928 * math.log10(n_a_per_mm2) - 2.954


def g_from_intercept(mean_intercept_mm: float) -> float:
    """ASTM E112 G from the mean lineal intercept in mm (``-6.643856 log10(l) - 3.288``)."""
    return -6.643856 * math.log10(mean_intercept_mm) - 3.288


def _pixel_size_2d(pixel_size: object, *, required: bool = True) -> float | None:
    size = check_pixel_size(pixel_size, ndim=2)
    if size is None:
        if required:
            raise InputError("pixel_size: the ASTM grain size needs the pixel size in µm")
        return None
    if not np.isclose(size[0], size[1]):
        raise InputError(f"pixel_size: ASTM estimates need square pixels, got {tuple(size)}")
    return float(size[0])


def grain_size_planimetric(labels: np.ndarray, *, pixel_size: float,
                           mask: np.ndarray | None = None) -> GrainSizeNumber:
    """ASTM E112 planimetric (Jeffries) grain size number of a label image.

    The test area is the whole image (a 0 pixel still counts as area). Grains inside count 1, grains cut by the image edge
    count 1/2, and grains holding an image corner count 1/4 (E112's rectangle rule, the
    ``+1`` of ``N_inside + N_intercepted / 2 + 1`` when the four corners lie in four
    grains). Label the map with ``exclude_border=False`` so that the cut grains are there.
    With ``mask`` (bool (Y, X), True = measured) the test area is the mask and a grain that
    touches its edge or the image edge counts 1/2 (E112's rule for a test circle).

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = np.indices((100, 100))
    >>> lab = ((rows + 5) // 10 * 11 + (cols + 5) // 10 + 1).astype(np.int32)
    >>> r = grain_size_planimetric(lab, pixel_size=1.0)     # 10 x 10 µm squares, cut by the edge
    >>> round(r.n_a_per_mm2), round(r.g, 3)
    (10000, 10.334)
    """
    labels = as_labels(check_ndim(labels, (2,), "labels", allow_empty=False))
    size = _pixel_size_2d(pixel_size)
    if mask is not None:
        inside = np.asarray(mask)
        if inside.shape != labels.shape or inside.dtype != bool or not inside.any():
            raise InputError(f"mask: expected a bool array of shape {labels.shape} with some True, "
                             f"got {inside.dtype} {inside.shape}")
        labels = np.where(inside, labels, 0)
        present = np.unique(labels[labels != 0])
        edge = ndi.binary_dilation(~inside, np.ones((3, 3), bool))
        cut = np.union1d(np.unique(labels[edge & (labels != 0)]), border_labels(labels))
        count, area_px = (present.size - cut.size) + 0.5 * cut.size, int(inside.sum())
    else:
        present = np.unique(labels)
        present = present[present != 0]
        cut = border_labels(labels)
        corners = np.unique([labels[0, 0], labels[0, -1], labels[-1, 0], labels[-1, -1]])
        corners = corners[corners != 0]
        count = (present.size - cut.size) + 0.5 * (cut.size - corners.size) + 0.25 * corners.size
        area_px = labels.size
    if count == 0:
        raise InputError("labels: no grains to count; label the map with exclude_border=False")
    n_a = count / (area_px * (size / 1000.0) ** 2)
    return GrainSizeNumber(g_from_n_a(n_a), "planimetric", float(count), n_a_per_mm2=float(n_a))


# ------------------------------------------------------------------------------ statistics
def field_statistics(values: object) -> FieldStatistics:
    """E112 statistics of per-field measurements (e.g. ``P_L`` of each field).

    Examples
    --------
    >>> s = field_statistics([10.0, 12.0, 11.0, 9.0, 13.0])
    >>> round(s.std, 4), round(s.ci95, 4), round(s.relative_accuracy_pct, 2)
    (1.5811, 1.9632, 17.85)
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError(f"values: expected a non-empty 1D array of finite numbers, got {x.shape} array")
    mean = float(x.mean())
    if x.size < 2:
        return FieldStatistics(mean, None, None, None, 1)
    std = float(x.std(ddof=1))
    ci = float(stats.t.ppf(0.975, x.size - 1) * std / math.sqrt(x.size))
    ra = 100.0 * ci / mean if mean != 0 else None
    return FieldStatistics(mean, std, ci, ra, int(x.size))


# ------------------------------------------------------------------------- digital test lines
def _pattern(pattern: str, size: int, n_lines: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The test lines of a field at (0, 0): pixels (K, 2), path ids, closed flags, total length.

    Straight lines run from pixel centre to pixel centre (their length), circles have their
    nominal length ``2 pi r``.
    """
    last = size - 1
    if pattern == "circles":  # E112 Fig. 5: diameters 79.58, 53.05, 26.53 mm (3 : 2 : 1)
        r1 = (size - 2) / 2
        lines = [(_circle_samples((last / 2, last / 2), r), True, 2 * math.pi * r)
                 for r in (r1, 2 * r1 / 3, r1 / 3)]
    elif pattern == "lines":
        lines = []
        for o in ((np.arange(n_lines) + 0.5) * size / n_lines).astype(int):
            lines.append((_segment_samples((o, 0), (o, last)), False, float(last)))
            lines.append((_segment_samples((0, o), (last, o)), False, float(last)))
    else:
        mid, diagonal = size // 2, last * math.sqrt(2)
        lines = [(_segment_samples((mid, 0), (mid, last)), False, float(last)),
                 (_segment_samples((0, mid), (last, mid)), False, float(last)),
                 (_segment_samples((0, 0), (last, last)), False, diagonal),
                 (_segment_samples((0, last), (last, 0)), False, diagonal)]
    paths = [_digital_path(samples, closed) for samples, closed, _ in lines]
    pid = np.repeat(np.arange(len(paths)), [len(p) for p in paths])
    closed = np.array([c for _, c, _ in lines])
    return np.clip(np.vstack(paths), 0, last), pid, closed, float(sum(n for *_, n in lines))


def _length_per_side(pattern: str, n_lines: int) -> float:
    """Test length of one field divided by its side."""
    return {"circles": 2 * math.pi, "lines": 2.0 * n_lines, "four_lines": 2 + 2 * math.sqrt(2)}[pattern]


def _largest_fitting(shape: tuple[int, int], fields: int) -> int:
    h, w = shape
    return max(min(h // ny, w // -(-fields // ny)) for ny in range(1, fields + 1))


def _auto_field_size(boundary: np.ndarray, inside: np.ndarray | None, pattern: str, n_lines: int,
                     fields: int | None) -> int:
    """Field side giving about 50 intersections per field, from a first P_L estimate."""
    h, w = boundary.shape
    step = max(1, min(h, w) // 64)
    inside = np.ones(boundary.shape, bool) if inside is None else inside
    hits = length = 0
    for lines, keep in ((boundary[step // 2::step], inside[step // 2::step]),
                        (boundary[:, step // 2::step].T, inside[:, step // 2::step].T)):
        enter = np.c_[lines[:, :1], lines[:, 1:] & ~lines[:, :-1]] & keep
        hits, length = hits + int(np.count_nonzero(enter)), length + int(keep.sum())
    if hits == 0:
        raise InputError("boundaries: the test lines cross no grain boundary; the grains are "
                         "larger than the map or the map has no boundaries")
    per_count = length / (hits * _length_per_side(pattern, n_lines))  # field side per intersection
    size = int(math.ceil(_TARGET_PER_FIELD * per_count))
    if fields is None:  # smaller fields, down to ~20 counts each, where five would not fit
        size = min(size, max(_largest_fitting((h, w), 5), int(math.ceil(20 * per_count))))
    cap = min(h, w) if fields is None else _largest_fitting((h, w), fields)
    return int(min(max(size, _MIN_FIELD, n_lines), cap))


def _field_origins(shape: tuple[int, int], size: int, fields: int | None,
                   inside: np.ndarray | None) -> np.ndarray:
    """(F, 2) top-left corners of non-overlapping square fields on a grid centred on the map
    (on the mask's bounding box, keeping the fields wholly inside it), evenly spread."""
    top, left, (h, w) = 0, 0, shape
    if inside is not None:
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        top, left, h, w = rows[0], cols[0], rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    ny, nx = h // size, w // size
    rows, cols = np.meshgrid(top + (h - ny * size) // 2 + size * np.arange(ny),
                             left + (w - nx * size) // 2 + size * np.arange(nx), indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.int64)
    if inside is not None and len(grid):
        out = np.pad(np.cumsum(np.cumsum(~inside, 0), 1), ((1, 0), (1, 0)))
        r, c = grid[:, 0], grid[:, 1]
        grid = grid[out[r + size, c + size] - out[r, c + size] - out[r + size, c] + out[r, c] == 0]
        if not len(grid):
            raise InputError(f"mask: no field of {size} px lies wholly inside the mask; "
                             "pass a smaller field_size")
    if fields is None:
        return grid
    if fields > len(grid):
        where = "inside the mask" if inside is not None else f"in the {shape[0]}x{shape[1]} map"
        raise InputError(f"fields: only {len(grid)} fields of {size} px fit {where}, asked for "
                         f"{fields}; pass a smaller field_size")
    return grid[((np.arange(fields) + 0.5) * len(grid) / fields).astype(int)]


def _check_int(value: object, name: str, low: int, high: int | None = None, hint: str = "") -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        span = f"{low} to {high}" if high is not None else f">= {low}"
        raise InputError(f"{name}: expected an integer {span}{hint}, got {value!r}")


def _notes(pixel_size: float | None, n_fields: int, mean_count: float, accuracy: float | None) -> str:
    notes = []
    if pixel_size is None:
        notes.append("G needs a pixel size: intercepts and P_L are in px")
    if n_fields < 5:
        notes.append(f"{n_fields} field(s): E112 asks for at least 5")
    if mean_count < 40:
        notes.append(f"{mean_count:.0f} intersections per field: E112 asks for 40-100 (larger fields)")
    if accuracy is not None and accuracy > 10:
        notes.append(f"relative accuracy {accuracy:.0f} %: E112 takes 10 % or less as acceptable (more fields)")
    return "; ".join(notes)


def grain_size_intercept(boundaries: np.ndarray, *, pixel_size: float | None = None,
                         pattern: str = "lines", field_size: int | None = None,
                         fields: int | None = None, n_lines: int = 5, threshold: float = 0.5,
                         thin: bool = True, mask: np.ndarray | None = None) -> InterceptGrainSize:
    """ASTM E112 intercept grain size from a boundary map, over several fields.

    The map is divided into non-overlapping square fields of ``field_size`` px on a centred
    grid; the test pattern is placed on each and its intersections ``P`` with the boundaries
    are counted per field. ``P_L = P / L`` per field (``L`` the test length of the pattern),
    ``l = 1 / mean(P_L)`` and ``G = -6.643856 log10(l) - 3.288`` (l in mm).

    Counting rules (E112-13, Heyn and Abrams procedures), on the pixels of the map:

    * Every test line is followed as a 4-connected pixel path, which cannot slip between
      the pixels of an 8-connected boundary line. Straight lines run from the centre of their
      first pixel to the centre of their last (their length); circles have length ``2 pi r``.
    * A maximal run of boundary pixels along the path that the line crosses (the grains
      before and after it differ; grains are the 4-connected interiors) is one
      intersection, however thick the boundary is drawn.
    * A run whose pixels' 3x3 neighbourhoods meet a grain that the line does not enter
      next to it (within 2 px) passes a junction: with ``n`` grains around the run it counts
      ``n / 2``, i.e. 1 1/2 at a triple and 2 at a quadruple point (E112), also when the line
      grazes the junction without changing grain.
    * The end of a straight line on a boundary pixel counts 1/2; an end inside a grain is no
      intersection. Intercepts ``N`` count grain segments instead: 1 between two
      intersections, 1/2 for the segment at an end inside a grain (E112), with the same
      junction extra, so ``N = P`` as E112 states for one phase, except that a line inside
      one grain is one intercept and no intersection. Circles have no ends: ``N = P``.
    * Not E112: a run with the same grain on both sides away from a junction (a tangency,
      which E112 counts 1) counts 0. In a pixel map such touches are mostly the staircase
      of one digital line grazing another beside a real crossing: counted, they read
      circles 20-30 % high against the exact intersections with Poisson-Voronoi edges (3-7 %
      after merging 1-px slivers); not counted, within 1 % (benchmarks/bench_astm.py).

    Parameters
    ----------
    boundaries : ndarray, shape (Y, X)
        Boundary map (1 = boundary) or probability (``>= threshold`` is boundary). Gaps are
        not closed: a test line through a gap does not count it.
    pixel_size : float, optional
        µm per pixel. Without it lengths are in px, ``P_L`` is per px and ``g`` is None.
    pattern : {"lines", "circles", "four_lines"}, optional
        ``"circles"``: Abrams' three concentric circles, circumferences 3 : 2 : 1 (E112
        Fig. 5: diameters 79.58, 53.05, 26.53 mm, 500 mm in all), scaled so that the largest
        fits the field (diameter ``field_size - 2``); they average over directions.
        ``"lines"``: Heyn's grid of ``n_lines`` horizontal and ``n_lines`` vertical lines
        across the field, evenly spaced. ``"four_lines"``: the straight lines of E112
        Fig. 5, a horizontal, a vertical and the two diagonals of the field.
    field_size : int, optional
        Side of a field in px. Default: the size at which a field is expected to give about
        50 intersections (E112: at least 50 per field; 40-100 per placement of the
        circles), from a first count along rows and columns of the whole map, made smaller
        (down to about 20 per field) where fewer than the five fields E112 asks for would
        fit; at most the shorter side of the map.
    fields : int, optional
        Number of fields, spread evenly over the grid of those that fit; default all. With
        the default ``field_size``, fields are made smaller when this many would not fit.
    n_lines : int, optional
        Lines per direction and field for ``"lines"``.
    threshold : float, optional
        Probability at or above which a pixel is boundary (ignored for binary maps).
    thin : bool, optional
        Count on the centre lines of the boundaries (:func:`centre_lines`), as an
        observer counts a drawn line. On Poisson-Voronoi maps drawn 3 px wide (cells 16-32
        px across), counting as drawn read 7-19 % low (crossings near junctions merge, and
        junctions are missed: a run's 3x3 neighbourhood does not reach past a thick node),
        the centre lines 0-7 % low (the line grid more than the circles). A 1-px map is left
        as it is. ``False`` counts the pixels as drawn.
    mask : ndarray of bool, shape (Y, X), optional
        The area to measure (True): only fields wholly inside it are used.

    Returns
    -------
    InterceptGrainSize
        Per-field counts, ``p_l``, ``n_l``, ``mean_intercept``, ``g`` and E112's statistics.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.zeros((200, 200), np.uint8)
    >>> b[:, 5::20] = 1; b[5::20, :] = 1            # 20 µm squares
    >>> r = grain_size_intercept(b, pixel_size=1.0, field_size=100)
    >>> r.n_fields, r.intersections                  # 10 lines of 99 µm, 5 crossings each
    (4, (50.0, 50.0, 50.0, 50.0))
    >>> round(r.mean_intercept, 3), round(r.g, 2), r.relative_accuracy_pct
    (19.8, 8.03, 0.0)
    >>> r = grain_size_intercept(b, pattern="circles", field_size=200)   # no pixel size: px
    >>> r.length_unit, r.g, round(r.mean_intercept / (np.pi / 4 * 20), 2)   # l = pi d / 4
    ('px', None, 1.01)
    >>> r.note
    'G needs a pixel size: intercepts and P_L are in px; 1 field(s): E112 asks for at least 5'
    """
    pattern = look_up_option(pattern, PATTERNS, what="intercept pattern")
    size_um = _pixel_size_2d(pixel_size, required=False)
    m = _prepare(boundaries, threshold, thin)
    shape = m.boundary.shape
    _check_int(n_lines, "n_lines", 1)
    if fields is not None:
        _check_int(fields, "fields", 1, hint=" or None (as many as fit)")
    inside = None
    if mask is not None:
        inside = np.asarray(mask)
        if inside.shape != shape or inside.dtype != bool or not inside.any():
            raise InputError(f"mask: expected a bool array of shape {shape} with some True, got "
                             f"{inside.dtype} {inside.shape}")
    if field_size is None:
        field_size = _auto_field_size(m.boundary, inside, pattern, int(n_lines), fields)
    _check_int(field_size, "field_size", max(_MIN_FIELD, int(n_lines)), min(shape),
               f" px (at most the shorter side of the {shape[0]}x{shape[1]} map)")
    origins = _field_origins(shape, int(field_size), fields, inside)
    path, pid, closed, length = _pattern(pattern, int(field_size), int(n_lines))
    n_fields, n_paths = len(origins), closed.size
    all_paths = (path[None] + origins[:, None]).reshape(-1, 2)
    all_pid = (pid[None] + n_paths * np.arange(n_fields)[:, None]).ravel()
    p, n, j = _count_paths(m, all_paths, all_pid, np.tile(closed, n_fields))
    counts, intercepts = p.reshape(n_fields, n_paths).sum(1), n.reshape(n_fields, n_paths).sum(1)
    if counts.sum() == 0:
        raise InputError("boundaries: the test lines cross no grain boundary; the grains are "
                         "larger than the fields or the map has no boundaries")
    per = length * size_um / 1000.0 if size_um else length  # P_L per mm (E112) or per px
    stats = field_statistics(counts / per)
    return InterceptGrainSize(
        method=pattern, g=g_from_intercept(1.0 / stats.mean) if size_um else None,
        mean_intercept=(1000.0 if size_um else 1.0) / stats.mean, p_l=stats.mean,
        n_l=float(np.mean(intercepts) / per), p_l_std=stats.std, p_l_ci95=stats.ci95,
        relative_accuracy_pct=stats.relative_accuracy_pct, n_fields=n_fields,
        intersections=tuple(counts.tolist()), intercepts=tuple(intercepts.tolist()),
        field_length=length * size_um if size_um else length, field_size_px=int(field_size),
        field_origins=tuple((int(r), int(c)) for r, c in origins), junctions=int(j.sum()),
        length_unit="µm" if size_um else "px", density_unit="1/mm" if size_um else "1/px",
        pixel_size_um=size_um,
        note=_notes(size_um, n_fields, float(counts.mean()), stats.relative_accuracy_pct))
