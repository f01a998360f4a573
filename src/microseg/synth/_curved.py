"""The sample frame: curved, non-convex polycrystals (warped Laguerre grains with straight Σ3
annealing-twin lamellae, low-angle subgrains and dense dislocation walls), the
orientation-dependent electron channelling yield that makes them visible, and the surface
features both microscopes see (Pt fiducials, polishing scratches), and the EBSD map
sampled from it."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from microseg._util import InputError
from microseg._validate import check_pixel_size
from microseg.io._ebsd import EBSDMap, Phase
from microseg.synth import _rotations as rot
from microseg.synth._polycrystal import (
    _TWIN_AXES, _band_mask, _cell_orientations, _cell_pairs, _grains, _sub_rotations, _twin_choice,
)
from microseg.synth._ebsd import _not_indexed, ebsd_rotations
from microseg.synth._sem import smooth_noise

logger = logging.getLogger(__name__)

__all__ = ["CurvedMicrostructure", "make_curved_microstructure", "channelling_yield", "fiducial_cover",
           "scratch_lines", "scratch_profile", "sample_ebsd", "AUSTENITE"]

#: The phase of every map: austenite (316L), fcc.
AUSTENITE = Phase(1, "Austenite", "m-3m", (3.595, 3.595, 3.595, 90.0, 90.0, 90.0))

#: Source kinds.
GRAIN, TWIN, SUBGRAIN = 0, 1, 2
# Empirical: twins and subgrains split grains, so parent grains are drawn larger to keep
# the mean ECD of the truth cells near the nominal one (as in make_polycrystal).
_ECD_GAIN, _TWIN_GAIN, _SUBGRAIN_GAIN = 1.07, 1.6, 1.2
_WALL_STEP_DEG = (0.4, 1.3)   # misorientation across one dislocation wall
_WALL_SPREAD_DEG = 3.0        # largest deviation of a wall domain from its grain
# Zone axes (reduced to the standard triangle, see channelling_yield), their weights and
# angular half widths in degrees: near a low-index zone axis the beam channels and the
# backscatter yield drops.
_ZONES = ((np.array([0, 0, 1.0]), 0.55, 9.0), (np.array([0, 1, 1.0]) / np.sqrt(2), 0.35, 7.0),
          (np.array([1, 1, 1.0]) / np.sqrt(3), 0.30, 6.0),
          (np.array([1, 1, 2.0]) / np.sqrt(6), 0.18, 4.0),
          (np.array([0, 1, 3.0]) / np.sqrt(10), 0.12, 3.5))


@dataclass(frozen=True)
class CurvedMicrostructure:
    """A polycrystal rasterised in the sample frame.

    Pixel ``(row, col)`` lies at ``(x_um, y_um) = origin_um + (col, row) * pixel_size``.
    A *source* is one truth crystal (a grain, a twin lamella or a subgrain; its 4-connected
    pieces are the truth cells); a *domain* is a region of one orientation: sources split by
    dense dislocation walls (misorientation below 2°, not boundaries) into several domains.

    Attributes
    ----------
    domains : ndarray of int32, shape (Y, X)
        Domain id ``1..D`` of every pixel.
    source_of_domain : ndarray of int32, shape (D + 1,)
        Source id ``1..S`` of each domain.
    grain_of_source : ndarray of int32, shape (S + 1,)
        Parent grain ``1..G`` of each source.
    kind_of_source : ndarray of uint8, shape (S + 1,)
        0 grain, 1 Σ3 twin lamella, 2 subgrain.
    orientations : ndarray of float64, shape (S + 1, 4)
        Quaternion per source (crystal to sample, as :class:`~microseg.synth.Polycrystal`).
    domain_orientations : ndarray of float64, shape (D + 1, 4)
        Quaternion per domain: its source's, rotated by the accumulated wall misorientation.
    twin_normal : ndarray of float64, shape (G + 1, 3)
        Sample-frame normal of the twin plane of twinned grains (zero elsewhere).
    walled : ndarray of bool, shape (G + 1,)
        Grains that hold dislocation walls.
    origin_um : (float, float)
        ``(x, y)`` of pixel ``(0, 0)`` in µm.
    pixel_size : float
        Grid spacing in µm.
    """

    domains: np.ndarray
    source_of_domain: np.ndarray
    grain_of_source: np.ndarray
    kind_of_source: np.ndarray
    orientations: np.ndarray
    domain_orientations: np.ndarray
    twin_normal: np.ndarray
    walled: np.ndarray
    origin_um: tuple[float, float]
    pixel_size: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(Y, X)``."""
        return tuple(self.domains.shape)

    def sources(self) -> np.ndarray:
        """Source id of every pixel, int32 ``(Y, X)``."""
        return self.source_of_domain[self.domains]

    def to_pixels(self, xy_um: np.ndarray) -> np.ndarray:
        """``(x_um, y_um)`` ``(N, 2)`` -> fractional ``(row, col)`` ``(N, 2)`` on this grid."""
        xy = (np.asarray(xy_um, float) - np.asarray(self.origin_um)) / self.pixel_size
        return xy[:, ::-1]


def _raw_yield(q: np.ndarray, beam: np.ndarray) -> np.ndarray:
    v = rot.rotate_vectors(rot.quat_conjugate(q), beam)
    v = np.sort(np.abs(v), axis=-1)  # a <= b <= c: the standard triangle
    out = 0.45 + 0.35 * np.clip(v[..., 0] * np.sqrt(3.0), 0, 1) \
        + 0.2 * np.clip((v[..., 1] - v[..., 0]) * np.sqrt(2.0), 0, 1)
    for axis, weight, width in _ZONES:
        cos = v @ np.sort(axis)  # the sorted zone axis is the equivalent nearest v
        out -= weight * np.exp(-0.5 * (np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) / width) ** 2)
    return out


@functools.lru_cache(maxsize=8)
def _yield_quantiles(beam: tuple[float, float, float]) -> np.ndarray:
    """Raw yields of 20 000 fixed random orientations at 101 quantiles."""
    q = rot.random_quaternions(20000, np.random.default_rng(20240601))
    return np.quantile(_raw_yield(q, np.asarray(beam)), np.linspace(0, 1, 101))


def channelling_yield(orientations: np.ndarray, *, beam=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Relative backscatter yield in [0, 1] of cubic crystals ``(..., 4)`` (crystal to sample).

    The beam direction in the crystal frame is reduced by the cubic symmetry to the
    standard triangle (sorted absolute components). The raw yield is a broad term rising
    from <001> to <111> minus dips at the zone axes <001>, <011>, <111>, <112>, <013>
    (channelling); it is then mapped through its own distribution over random orientations,
    so random grains spread evenly over the grey scale, some unrelated neighbours look
    alike, and a 1° rotation near a zone axis changes the grey level visibly.

    Examples
    --------
    >>> float(channelling_yield(np.array([1.0, 0, 0, 0])))  # beam along [001]: darkest
    0.0
    """
    beam = np.asarray(beam, float) / np.linalg.norm(beam)
    raw = _raw_yield(np.asarray(orientations, float), beam)
    table = _yield_quantiles(tuple(float(b) for b in beam))
    return np.interp(raw, table, np.linspace(0, 1, len(table)))


def _check(shape, pixel_size, mean_diameter_um, size_spread, fractions, curvature):
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape must be a pair of ints (Y, X), got {shape!r}") from None
    if len(shape) != 2 or min(shape) < 16:
        raise InputError(f"shape must be (Y, X) with both sides >= 16, got {shape!r}")
    check_pixel_size(pixel_size, optional=False)
    if not (np.isfinite(mean_diameter_um) and mean_diameter_um / pixel_size >= 10):
        raise InputError(f"mean_diameter_um must be at least 10 pixels ({10 * pixel_size:g} µm), "
                         f"got {mean_diameter_um!r}")
    if not 0 <= size_spread <= 1.2:
        raise InputError(f"size_spread must be in [0, 1.2], got {size_spread!r}")
    for name, value in fractions.items():
        if not 0 <= value <= 1:
            raise InputError(f"{name} must be in [0, 1], got {value!r}")
    if fractions["twin_fraction"] + fractions["lagb_fraction"] > 1:
        raise InputError("twin_fraction + lagb_fraction must be <= 1 (a grain is twinned or "
                         "split into subgrains, not both)")
    if not 0 <= curvature <= 2:
        raise InputError(f"curvature must be in [0, 2], got {curvature!r}")
    return shape


def _subgrains(grains, chosen, rng):
    """Split the ``chosen`` grains into 2-4 Voronoi subgrains. Returns ``(source,
    grain_of_source, rel)``: source map (grains keep their id), parent and rotation."""
    g1 = int(grains.max()) + 1
    source = grains.copy()
    grain_of, rel = [np.arange(g1)], [np.tile([1.0, 0, 0, 0], (g1, 1))]
    sub_rot = _sub_rotations(g1, rng)
    nxt = g1
    for g, sl in enumerate(ndimage.find_objects(grains), start=1):
        if sl is None or not chosen[g]:
            continue
        yy, xx = np.nonzero(grains[sl] == g)
        k = int(rng.integers(2, 5))
        if len(yy) < 60 * k:
            continue
        pick = rng.choice(len(yy), k, replace=False)
        d2 = (yy[:, None] - yy[pick]) ** 2 + (xx[:, None] - xx[pick]) ** 2
        source[sl][yy, xx] = nxt + np.argmin(d2, axis=1)
        grain_of.append(np.full(k, g))
        rel.append(sub_rot[g, :k])
        nxt += k
    return source, np.concatenate(grain_of), np.concatenate(rel)


def _walls(source, grain_of, walled, diameter, rng):
    """Split the sources of ``walled`` grains into domains between near-parallel walls
    (spacing 0.2-0.45 grain diameters). Returns ``(domain map, source_of_domain,
    wall_rotation)``; each wall rotates the lattice by 0.4-1.3° about one axis per grain,
    a random walk kept within 3° of the grain's orientation."""
    n_src = len(grain_of)
    index = np.zeros(source.shape, dtype=np.int64)
    spacing = rng.uniform(0.2, 0.45, n_src) * diameter
    theta = rng.uniform(0, np.pi, n_src)
    for s, sl in enumerate(ndimage.find_objects(source), start=1):
        if sl is None or not walled[grain_of[s]]:
            continue
        yy, xx = np.nonzero(source[sl] == s)
        t = yy * np.sin(theta[s]) + xx * np.cos(theta[s])
        index[sl][yy, xx] = 1 + ((t - t.min()) / spacing[s]).astype(np.int64)
    key = source.astype(np.int64) * 4096 + index
    uniq, inverse = np.unique(key, return_inverse=True)
    domains = (inverse.reshape(source.shape) + 1).astype(np.int32)
    src_of = np.concatenate([[0], uniq // 4096]).astype(np.int32)
    wall_idx = np.concatenate([[0], uniq % 4096])
    axis = rng.normal(size=(n_src, 3))
    steps = np.radians(rng.uniform(*_WALL_STEP_DEG, (n_src, 64)) * rng.choice([-1, 1], (n_src, 64)))
    walk = np.clip(np.cumsum(steps, axis=1), -np.radians(_WALL_SPREAD_DEG), np.radians(_WALL_SPREAD_DEG))
    angle = np.where(wall_idx > 0, walk[src_of, np.minimum(wall_idx, 63)], 0.0)
    return domains, src_of, rot.quat_from_axis_angle(axis[src_of], angle)


def _warp(maps, margin, amplitude, scale, rng):
    """Nearest-neighbour warp of ``maps`` (each ``(Y + 2m, X + 2m)``) by a smooth random
    displacement field of two scales; returns the ``(Y, X)`` centre of each."""
    shape = tuple(s - 2 * margin for s in maps[0].shape)
    dy = amplitude * (smooth_noise(shape, scale, rng) + 0.3 * smooth_noise(shape, scale / 3, rng))
    dx = amplitude * (smooth_noise(shape, scale, rng) + 0.3 * smooth_noise(shape, scale / 3, rng))
    yy, xx = np.indices(shape, dtype=np.float32)
    iy = np.clip(np.rint(yy + margin + dy), 0, maps[0].shape[0] - 1).astype(np.intp)
    ix = np.clip(np.rint(xx + margin + dx), 0, maps[0].shape[1] - 1).astype(np.intp)
    return [m[iy, ix] for m in maps]


def _end_inside(band, grain, normal, rng):
    """The lamellae of ``band`` cut off 35-70 % of the way along their trace across ``grain``
    (both masks in the grain's box): they end inside the grain, as twins often do."""
    n = normal[[1, 0]] / max(float(np.hypot(normal[0], normal[1])), 1e-9)
    yy, xx = np.nonzero(grain)
    along = -yy * n[1] + xx * n[0]
    cut = along.min() + rng.uniform(0.35, 0.7) * np.ptp(along)
    by, bx = np.nonzero(band)
    out = np.zeros_like(band)
    keep = -by * n[1] + bx * n[0] <= cut
    out[by[keep], bx[keep]] = True
    return out


def _islands(domains, src_of, grain_of, kind, fraction, rng):
    """A small grain wholly inside a ``fraction`` of the grains (a section through a
    neighbour's protrusion): a disc of 25-45 % of the grain's inscribed radius at its
    centre. Returns the new arrays and the number of new grains."""
    grains = np.asarray(grain_of)[np.asarray(src_of)[domains]]
    src_of, grain_of, kind = list(src_of), list(grain_of), list(kind)
    next_grain = int(max(grain_of)) + 1
    first = next_grain
    for g, sl in enumerate(ndimage.find_objects(grains), start=1):
        if sl is None or rng.random() >= fraction:
            continue
        dist = ndimage.distance_transform_edt(np.pad(grains[sl] == g, 1))[1:-1, 1:-1]
        r_in = float(dist.max())
        radius = rng.uniform(0.25, 0.45) * r_in
        if radius < 4 or r_in - radius < 4:
            continue
        cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
        yy, xx = np.indices(dist.shape)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2) & (grains[sl] == g)
        domains[sl][disc] = len(src_of)
        src_of.append(len(grain_of))
        grain_of.append(next_grain)
        kind.append(GRAIN)
        next_grain += 1
    return (domains, np.array(src_of, np.int32), np.array(grain_of, np.int32), np.array(kind, np.uint8),
            next_grain - first)


def _twins(domains, src_of, grain_of, kind, twinned, normal, rng, end_fraction=0.0):
    """Cut 1-3 straight parallel lamellae (walls along the twin plane's trace) across each
    ``twinned`` grain, in an ``end_fraction`` of them ending inside it; each lamella set is a
    new source (kind 1) and a new domain."""
    grains = grain_of[src_of[domains]]
    src_of, grain_of, kind = list(src_of), list(grain_of), list(kind)
    n_bands = 1 + (rng.random(len(twinned)) < 0.45) + (rng.random(len(twinned)) < 0.2)
    widths, centres = rng.uniform(0.08, 0.28, (len(twinned), 3)), rng.uniform(0.12, 0.88, (len(twinned), 3))
    for g, sl in enumerate(ndimage.find_objects(grains), start=1):
        if sl is None or not twinned[g]:
            continue
        mask = _band_mask(grains[sl] == g, normal[g], n_bands[g], widths[g], centres[g])
        if mask is not None and end_fraction > 0 and rng.random() < end_fraction:
            mask = _end_inside(mask, grains[sl] == g, normal[g], rng)
        if mask is None or not mask.any():
            continue
        domains[sl][mask] = len(src_of)
        src_of.append(len(grain_of))
        grain_of.append(g)
        kind.append(TWIN)
    return domains, np.array(src_of, np.int32), np.array(grain_of, np.int32), np.array(kind, np.uint8)


def make_curved_microstructure(shape: tuple[int, int], *, pixel_size: float = 0.015,
                               mean_diameter_um: float = 1.5, size_spread: float = 0.45,
                               twin_fraction: float = 0.4, lagb_fraction: float = 0.15,
                               wall_fraction: float = 0.3, curvature: float = 1.0,
                               twin_end_fraction: float = 0.0, island_fraction: float = 0.0,
                               origin_um: tuple[float, float] = (0.0, 0.0),
                               seed: int | np.random.Generator = 0) -> CurvedMicrostructure:
    """A curved polycrystal with twins, subgrains and dislocation walls in the sample frame.

    Laguerre cells of relaxed disks with log-normal radii (log-std ``size_spread``) get
    2-4 Voronoi subgrains in a ``lagb_fraction`` of grains (rotated 3-10°, LAGB) and
    near-parallel dislocation walls in a ``wall_fraction`` of the others (0.4-1.3° per wall,
    not boundaries). The whole map is then warped by a smooth random displacement field
    (about ``0.15 * curvature`` grain diameters at the grain scale plus a finer third),
    which bends every boundary and makes grains non-convex. Only then are 1-3 straight,
    parallel Σ3 lamellae (60° about the <111> of a steep {111} plane, walls along its
    trace) cut across a ``twin_fraction`` of grains: coherent twin boundaries stay straight;
    a ``twin_end_fraction`` of the lamella sets end inside their grain (an incoherent step
    across the lamella). An ``island_fraction`` of grains get a small grain wholly inside
    them. Grain orientations are redrawn until all boundaries between grains are HAGB.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` of the grid.
    pixel_size : float
        Grid spacing in µm.
    mean_diameter_um : float
        Nominal mean ECD of the truth cells (twins and subgrains included), µm.
    size_spread, twin_fraction, lagb_fraction, wall_fraction, curvature : float
        See above.
    twin_end_fraction, island_fraction : float
        See above; 0 (the default) draws no random numbers for them, so maps made before
        they existed come out the same.
    origin_um : (float, float)
        ``(x, y)`` of pixel ``(0, 0)``.
    seed : int or numpy.random.Generator

    Returns
    -------
    CurvedMicrostructure

    Examples
    --------
    >>> m = make_curved_microstructure((96, 96), pixel_size=0.05, mean_diameter_um=1.5)
    >>> m.domains.shape, int(m.kind_of_source.max()) <= 2
    ((96, 96), True)
    """
    fr = {"twin_fraction": twin_fraction, "lagb_fraction": lagb_fraction, "wall_fraction": wall_fraction,
          "twin_end_fraction": twin_end_fraction, "island_fraction": island_fraction}
    shape = _check(shape, pixel_size, mean_diameter_um, size_spread, fr, curvature)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    gain = _ECD_GAIN * (1.0 + _TWIN_GAIN * twin_fraction + _SUBGRAIN_GAIN * lagb_fraction)
    diameter = float(mean_diameter_um) / float(pixel_size) * gain
    amplitude = 0.15 * curvature * diameter
    margin = int(np.ceil(3.0 * amplitude)) + 2
    raw = _grains((shape[0] + 2 * margin, shape[1] + 2 * margin), diameter, size_spread, rng)
    g1 = int(raw.max()) + 1
    u = rng.random(g1)
    twinned, split = u < twin_fraction, (u >= twin_fraction) & (u < twin_fraction + lagb_fraction)
    walled = ~split & (rng.random(g1) < wall_fraction / max(1.0 - lagb_fraction, 1e-9))
    source, grain_of, rel = _subgrains(raw, split, rng)
    kind = np.where(np.arange(len(grain_of)) < g1, GRAIN, SUBGRAIN).astype(np.uint8)
    domains, src_of, wall_rot = _walls(source, grain_of, walled, diameter, rng)
    (domains,) = _warp([domains], margin, amplitude, diameter, rng)
    grain_ori = np.concatenate([[[1.0, 0, 0, 0]], rot.random_quaternions(g1 - 1, rng)])
    variant, normal = _twin_choice(grain_ori, rng)
    twin_normal = np.where(twinned[:, None], normal, 0.0)
    n_dom = len(src_of)
    domains, src_of, grain_of, kind = _twins(domains, src_of, grain_of, kind, twinned, normal, rng,
                                             end_fraction=twin_end_fraction)
    twin_rel = rot.quat_from_axis_angle(_TWIN_AXES[variant[grain_of[len(rel):]]], np.pi / 3)
    rel = np.concatenate([rel, twin_rel.reshape(-1, 4)])
    wall_rot = np.concatenate([wall_rot, np.tile([1.0, 0, 0, 0], (len(src_of) - n_dom, 1))])
    if island_fraction > 0:
        n_dom, n_src = len(src_of), len(grain_of)
        domains, src_of, grain_of, kind, n_new = _islands(domains, src_of, grain_of, kind, island_fraction, rng)
        rel = np.concatenate([rel, np.tile([1.0, 0, 0, 0], (len(grain_of) - n_src, 1))])
        wall_rot = np.concatenate([wall_rot, np.tile([1.0, 0, 0, 0], (len(src_of) - n_dom, 1))])
        grain_ori = np.concatenate([grain_ori, rot.random_quaternions(n_new, rng)])
        twin_normal = np.concatenate([twin_normal, np.zeros((n_new, 3))])
        walled = np.concatenate([walled, np.zeros(n_new, bool)])
    pairs = _cell_pairs(src_of[domains])[0]
    ori = _cell_orientations(pairs, grain_of, rel, grain_ori, twin_normal, rng)
    dom_ori = rot.quat_multiply(ori[src_of], wall_rot)
    dom_ori[0] = (1.0, 0.0, 0.0, 0.0)
    logger.debug("curved microstructure %s: %d grains, %d sources, %d domains", shape, g1 - 1,
                 len(grain_of) - 1, len(src_of) - 1)
    return CurvedMicrostructure(domains, src_of, grain_of, kind, ori, dom_ori, twin_normal, walled,
                                (float(origin_um[0]), float(origin_um[1])), float(pixel_size))


def _mark_distance(local: np.ndarray, size: float, kind: int) -> np.ndarray:
    """Signed distance (µm) to a square (even ``kind``) or a cross (odd) of edge ``size``."""
    ax, ay = np.abs(local[..., 0]), np.abs(local[..., 1])
    half, arm = size / 2, size / 7
    if kind % 2 == 0:
        return np.maximum(ax, ay) - half
    return np.minimum(np.maximum(ax - half, ay - arm), np.maximum(ax - arm, ay - half))


def fiducial_cover(points_um: np.ndarray, marks, pixel_size: float) -> np.ndarray:
    """Anti-aliased Pt coverage in [0, 1] at sample points ``(..., 2)`` (µm).

    ``marks = (centres (N, 2) µm, edge length µm, turn (N,) radians, kind (N,))``; kind 0
    is a square, 1 a cross (arms a seventh of the edge wide)."""
    pos, size, turn, kinds = marks
    cover = np.zeros(points_um.shape[:-1], np.float32)
    for k in range(len(pos)):
        c, s = np.cos(turn[k]), np.sin(turn[k])
        d = points_um - pos[k]
        local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
        cover = np.maximum(cover, np.clip(0.5 - _mark_distance(local, size, int(kinds[k])) / pixel_size, 0, 1))
    return cover


def scratch_lines(rng: np.random.Generator, n_mean: float = 2.0) -> list:
    """Polishing scratches, straight lines ``(point in [0, 1]^2 of the field, unit normal,
    width in pixels, depth)``: one plus a Poisson number."""
    n = 1 + rng.poisson(n_mean)
    ang = rng.uniform(0, np.pi, n)
    return [(rng.uniform(0, 1, 2), np.array([np.cos(a), np.sin(a)]), rng.uniform(0.6, 1.6),
             rng.uniform(0.3, 1.0)) for a in ang]


def scratch_profile(points_um: np.ndarray, lines: list, box, pixel_size: float) -> np.ndarray:
    """Depth profile in [0, 1] of the scratches at sample points ``(..., 2)`` (µm);
    ``box = (lower corner, extent)`` of the field in µm."""
    lo, ext = box
    out = np.zeros(points_um.shape[:-1], np.float32)
    for p, nrm, wfac, depth in lines:
        d = (points_um - (lo + p * ext)) @ nrm / (wfac * pixel_size)
        out = np.maximum(out, depth * np.exp(-0.5 * d ** 2))
    return out


def _lookup(sample: CurvedMicrostructure, xy: np.ndarray) -> np.ndarray:
    """Domain id at sample points ``(..., 2)`` (nearest grid pixel)."""
    rc = sample.to_pixels(xy.reshape(-1, 2))
    iy = np.clip(np.rint(rc[:, 0]), 0, sample.shape[0] - 1).astype(np.intp)
    ix = np.clip(np.rint(rc[:, 1]), 0, sample.shape[1] - 1).astype(np.intp)
    return sample.domains[iy, ix].reshape(xy.shape[:-1])


def _edges(a: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another value (both sides of every edge)."""
    edge = np.zeros(a.shape, bool)
    dv, dh = a[1:] != a[:-1], a[:, 1:] != a[:, :-1]
    edge[1:] |= dv
    edge[:-1] |= dv
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    return edge


def _boundary_distance(sample, xy) -> tuple[np.ndarray, np.ndarray]:
    """Distance (µm) from sample points ``(R, C, 2)`` to the nearest truth boundary and to
    the nearest dislocation wall (computed on the sample grid around the points)."""
    rc = sample.to_pixels(xy.reshape(-1, 2))
    lo = np.maximum(np.floor(rc.min(0)).astype(int) - 4, 0)
    hi = np.minimum(np.ceil(rc.max(0)).astype(int) + 5, sample.shape)
    dom = sample.domains[lo[0]:hi[0], lo[1]:hi[1]]
    boundary = _edges(sample.source_of_domain[dom])
    iy = np.clip(np.rint(rc[:, 0]) - lo[0], 0, dom.shape[0] - 1).astype(np.intp)
    ix = np.clip(np.rint(rc[:, 1]) - lo[1], 0, dom.shape[1] - 1).astype(np.intp)
    out = []
    for edge in (boundary, _edges(dom) & ~boundary):
        dist = ndimage.distance_transform_edt(~edge) if edge.any() else np.full(dom.shape, 1e6)
        out.append(dist[iy, ix].reshape(xy.shape[:-1]) * sample.pixel_size)
    return out[0], out[1]


def _ebsd_quality(sample, xy, dom, step, scratch, rng) -> dict[str, np.ndarray]:
    """CI, IQ and fit: patterns near a boundary overlap (beam spread), near a wall or in a
    scratch they are strained; IQ varies a little with orientation."""
    d_b, d_w = _boundary_distance(sample, xy)
    mix = np.exp(-0.5 * (d_b / (0.35 * step)) ** 2)
    wmix = np.exp(-0.5 * (d_w / (0.35 * step)) ** 2)
    y = channelling_yield(sample.domain_orientations[dom])
    iq = 4200 * (0.85 + 0.15 * y) * (1 - 0.5 * mix) * (1 - 0.12 * wmix) * (1 - 0.4 * scratch)
    iq *= 1 + rng.normal(0, 0.03, iq.shape)
    ci = np.clip(0.92 - 0.62 * mix - 0.08 * wmix - 0.3 * scratch + rng.normal(0, 0.05, iq.shape), 0.02, 1.0)
    fit = 0.55 + 1.1 * mix + 0.3 * wmix + np.abs(rng.normal(0, 0.08, iq.shape))
    return {"ci": ci, "iq": iq, "fit": fit}


def sample_ebsd(sample: CurvedMicrostructure, rect, step: float, cover, scratch, options: dict,
                rng: np.random.Generator) -> tuple[EBSDMap, dict]:
    """An EBSD map of ``sample`` on the square grid ``rect = (x0, y0, rows, cols)`` (µm, from
    the first point) with ``step`` µm. ``cover(xy)`` and ``scratch(xy)`` give the Pt
    coverage and scratch depth at sample points; ``options`` holds
    ``misindexed_fraction``, ``nonindexed_fraction`` and ``orientation_noise_deg`` (see
    :func:`microseg.synth.make_correlated_pair`). Returns the map and the per-point truth.
    """
    x0, y0, n_r, n_c = rect
    rr, cc = np.indices((n_r, n_c), dtype=np.float64)
    xy = np.stack([x0 + cc * step, y0 + rr * step], axis=-1)
    dom = _lookup(sample, xy + rng.normal(0, 0.22 * step, xy.shape))  # beam spread
    nominal = _lookup(sample, xy)
    quality = _ebsd_quality(sample, xy, dom, step, scratch(xy), rng)
    q = sample.domain_orientations[dom].reshape(-1, 4)
    missing = _not_indexed(np.ones((n_r, n_c), bool), options["nonindexed_fraction"], rng)
    missing |= cover(xy) > 0.3
    cand = np.flatnonzero(~missing)
    pick = rng.choice(cand, int(round(options["misindexed_fraction"] * cand.size)), replace=False)
    k = len(pick)
    twin = rot.quat_from_axis_angle(_TWIN_AXES[rng.integers(0, 4, k)], np.pi / 3)
    pseudo = (rng.random(k) < 0.4)[:, None]
    q[pick] = np.where(pseudo, rot.quat_multiply(q[pick], twin), rot.random_quaternions(k, rng))
    ci, iq, fit = (quality[n].reshape(-1) for n in ("ci", "iq", "fit"))
    ci[pick] = np.where(rng.random(k) < 0.75, rng.uniform(0.0, 0.1, k), rng.uniform(0.1, 0.3, k))
    iq[pick] *= rng.uniform(0.4, 0.8, k)
    fit[pick] = rng.uniform(1.5, 3.0, k)
    rotations = ebsd_rotations(q, options["orientation_noise_deg"], rng).reshape(n_r, n_c, 4)
    rotations[missing] = (1.0, 0.0, 0.0, 0.0)
    ci.reshape(n_r, n_c)[missing] = -1.0
    iq.reshape(n_r, n_c)[missing] *= 0.25
    misindexed = np.zeros(n_r * n_c, bool)
    misindexed[pick] = True
    src = sample.source_of_domain
    truth = {"misindexed": misindexed.reshape(n_r, n_c), "not_indexed": missing, "domain": nominal,
             "mixed": (src[dom] != src[nominal]) & ~missing}
    meta = {"synthetic": True, "origin_um": [x0, y0], **{k: float(v) for k, v in options.items()},
            "misindexed_points": int(k), "not_indexed_points": int(missing.sum())}
    emap = EBSDMap(rotations, np.where(missing, -1, 1).astype(np.int32), {1: AUSTENITE}, float(step),
                   quality={n: quality[n].astype(np.float32) for n in ("ci", "iq", "fit")}, metadata=meta)
    return emap, truth
