"""Realistic correlated SEM (SE/BSE) + EBSD pairs with exact truth, and an out-of-distribution
BSE set: a curved polycrystal in the sample frame, seen by the SEM through a distorted,
drifting scan and sampled by a partial, noisy EBSD map."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from microseg._util import InputError, look_up_option
from microseg._validate import check_int
from microseg.io._ebsd import EBSDMap
from microseg.io._image import Image
from microseg.register import Landmarks, LandmarkTransform, Registration
from microseg.synth import _rotations as rot
from microseg.synth._curved import (
    CurvedMicrostructure, channelling_yield, fiducial_cover, make_curved_microstructure, sample_ebsd,
    scratch_lines, scratch_profile,
)
from microseg.synth._polycrystal import _cell_pairs, _classes
from microseg.synth._registration import _Drift
from microseg.synth._sem import smooth_noise
from microseg.synth._tessellation import boundary_mask, clean_cells

logger = logging.getLogger(__name__)

__all__ = ["CorrelatedPair", "SyntheticMicrograph", "make_correlated_pair", "make_ood_set"]

_MODES = ("se", "bse")
_MIN_AREA = 12
_RING = np.array([[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]])


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A rendered micrograph with its exact truth in the image frame.

    Attributes
    ----------
    image : Image
        ``(Y, X)`` uint16 with ``pixel_size`` in µm.
    boundaries : ndarray of uint8, shape (Y, X)
        1 where the right or lower 4-neighbour is another truth cell (all boundaries above
        2°: HAGB, LAGB, Σ3); closed, so the 4-connected components of ``boundaries == 0``
        are exactly ``labels``.
    classes : ndarray of uint8, shape (Y, X)
        0 interior, 1 HAGB, 2 LAGB, 3 Σ3 (the strongest class at a pixel, HAGB > Σ3 > LAGB).
    labels : ndarray of int32, shape (Y, X)
        ``cells`` with boundary pixels set to 0.
    cells : ndarray of int32, shape (Y, X)
        The full truth tessellation ``1..N``.
    fiducial_mask : ndarray of bool, shape (Y, X)
        Pixels covered by a Pt fiducial (grains hidden there).
    metadata : dict
        Generation parameters and measured statistics (JSON-serialisable).
    contrast : ndarray of float32, shape (Y, X), optional
        Peak contrast of the truth boundary at each boundary pixel (groove, channelling step
        and relief, in signal units where grain interiors span ~0.4-0.6 in SE; 0 off the
        boundaries). Below ``image.metadata["contrast_floor"]`` (the shot noise of a
        2 x 20 px average along the boundary at the image's dose) no detector can see it:
        the physics limit of boundary recall on this image.
    """

    image: Image
    boundaries: np.ndarray
    classes: np.ndarray
    labels: np.ndarray
    cells: np.ndarray
    fiducial_mask: np.ndarray
    metadata: dict = field(default_factory=dict)
    contrast: np.ndarray | None = None


@dataclass(frozen=True)
class CorrelatedPair(SyntheticMicrograph):
    """An SEM micrograph and an EBSD map of the same sample, with the exact registration.

    Besides the fields of :class:`SyntheticMicrograph`:

    Attributes
    ----------
    ebsd : EBSDMap
        Square grid; ``(x_um, y_um) = (col, row) * step`` from its first point.
    landmarks : Landmarks
        The fiducial centres: EBSD µm -> image px with ~1 px click noise.
    valid : ndarray of bool, shape (Y, X)
        Pixels whose sample point the EBSD map covers (nearest point within half a step).
    registration : Registration
        The exact EBSD µm -> image px map: ``transform`` (projective: rotation, scale,
        shear, keystone, field offset) and ``displacement`` (scan drift, ``(2, Y, X)``).
    sample : CurvedMicrostructure
        The microstructure in the sample frame that both modalities saw.
    ebsd_truth : dict of str to ndarray
        Per EBSD point ``(R, C)``: ``misindexed``, ``not_indexed``, ``mixed`` (the pattern
        came from across a boundary) and ``domain`` (the domain at the point).
    """

    ebsd: EBSDMap | None = None
    landmarks: Landmarks | None = None
    valid: np.ndarray | None = None
    registration: Registration | None = None
    sample: CurvedMicrostructure | None = None
    ebsd_truth: dict = field(default_factory=dict)

    def ebsd_to_image(self, xy_um) -> np.ndarray:
        """Exact image ``(col, row)`` ``(N, 2)`` of EBSD points ``(x_um, y_um)`` ``(N, 2)``:
        solves ``q = transform(x) + d(q)`` by fixed-point iteration on the drift field."""
        base = self.registration.transform(np.atleast_2d(np.asarray(xy_um, float)))
        d = self.registration.displacement
        q = base.copy()
        for _ in range(20):
            at = [np.clip(q[:, 1], 0, d.shape[1] - 1), np.clip(q[:, 0], 0, d.shape[2] - 1)]
            shift = [ndimage.map_coordinates(d[k], at, order=1) for k in (1, 0)]
            q = base + np.stack(shift, axis=1)
        return q


class _View:
    """The SEM's view of the sample: ``q = P(s) + delta(q)`` with ``P`` a projective map
    (sample µm -> px) and ``delta`` the scan drift as a function of the scan position."""

    def __init__(self, shape, pixel_size, drift_px, rng):
        h, w = shape
        self.shape, self.params = shape, {
            "rotation_deg": float(rng.uniform(-2, 2)), "scale": float(rng.uniform(0.97, 1.03)),
            "shear": float(rng.uniform(-0.02, 0.02)), "keystone": float(rng.uniform(0.01, 0.03)),
            "keystone_angle_deg": float(rng.uniform(0, 360))}
        t, a = np.radians(self.params["rotation_deg"]), np.radians(self.params["keystone_angle_deg"])
        lin = self.params["scale"] * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) \
            @ np.array([[1.0, self.params["shear"]], [0.0, 1.0]])
        m = np.eye(3)
        m[:2, :2] = lin
        m[2, :2] = self.params["keystone"] * np.array([np.cos(a), np.sin(a)]) / (0.5 * max(h, w))
        c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        tc, tmc, scale = np.eye(3), np.eye(3), np.diag([1 / pixel_size, 1 / pixel_size, 1.0])
        tc[:2, 2], tmc[:2, 2] = c, -c
        self.matrix = tc @ m @ tmc @ scale
        self.inverse = np.linalg.inv(self.matrix)
        self.drift = _Drift(float(drift_px), rng)

    def delta(self, q: np.ndarray) -> np.ndarray:
        """Drift ``(d_col, d_row)`` ``(N, 2)`` at image points ``q`` (N, 2)."""
        h, w = self.shape
        dx, dy = self.drift(q[:, 1] / max(h - 1, 1), q[:, 0] / max(w - 1, 1))
        return np.stack([dx, dy], axis=1)

    def to_sample(self, q: np.ndarray) -> np.ndarray:
        return _apply(self.inverse, q - self.delta(q))

    def to_image(self, s: np.ndarray) -> np.ndarray:
        base = _apply(self.matrix, s)
        q = base.copy()
        for _ in range(30):
            q = base + self.delta(q)
        return q


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h = pts @ m[:2, :2].T + m[:2, 2]
    return h / (pts @ m[2, :2] + m[2, 2])[:, None]


def _border(shape, every=8) -> np.ndarray:
    """Image points ``(col, row)`` around the frame, in order (for areas and extents)."""
    h, w = shape
    xs, ys = np.linspace(0, w - 1, max(2, w // every)), np.linspace(0, h - 1, max(2, h // every))
    return np.concatenate([np.stack([xs, np.zeros_like(xs)], 1), np.stack([np.full_like(ys, w - 1), ys], 1),
                           np.stack([xs[::-1], np.full_like(xs, h - 1)], 1),
                           np.stack([np.zeros_like(ys), ys[::-1]], 1)])


def _sample_grid(view: _View, pixel_size: float):
    """Origin (µm) and shape of a sample grid that holds the preimage of the frame."""
    s = view.to_sample(_border(view.shape, 4))
    lo = np.floor(s.min(0) / pixel_size) - 6
    hi = np.ceil(s.max(0) / pixel_size) + 6
    return tuple(lo * pixel_size), (int(hi[1] - lo[1]) + 1, int(hi[0] - lo[0]) + 1)


def _ebsd_rect(view, coverage, step, s_img, rng):
    """EBSD map ``(x0, y0, n_rows, n_cols)`` in the sample frame covering about
    ``coverage`` of the frame, offset at random; sized twice to hit the fraction."""
    s = view.to_sample(_border(view.shape, 4))
    area = 0.5 * abs(np.dot(s[:, 0], np.roll(s[:, 1], 1)) - np.dot(s[:, 1], np.roll(s[:, 0], 1)))
    h, w = view.shape
    centre = s.mean(0)
    side = np.sqrt(coverage * area * np.array([w / h, h / w]))
    slack = np.sqrt(area * np.array([w / h, h / w])) - side
    centre = centre + rng.uniform(-0.35, 0.35, 2) * slack
    for _ in range(2):
        x0, y0 = centre - side / 2
        n_c, n_r = (np.floor(side / step) + 1).astype(int)
        got = _covered(s_img, (x0, y0, n_r, n_c), step).mean()
        side = side * np.sqrt(coverage / max(got, 1e-3))
    return float(x0), float(y0), int(n_r), int(n_c)


def _covered(s_img, rect, step) -> np.ndarray:
    x0, y0, n_r, n_c = rect
    c = (s_img[:, 0] - x0) / step
    r = (s_img[:, 1] - y0) / step
    return (c >= -0.5) & (c < n_c - 0.5) & (r >= -0.5) & (r < n_r - 0.5)


def _fiducials(view, rect, step, n, pixel_size, rng):
    """``n`` Pt marks around the EBSD field (corners and edge midpoints), pulled inwards
    until the whole mark lies in the frame. Returns centres (µm), size (µm), kinds."""
    h, w = view.shape
    size_px = float(np.clip(0.05 * min(h, w), 10, 1.2 / pixel_size))
    if n == 0:
        return np.zeros((0, 2)), size_px * pixel_size, np.zeros(0), np.zeros(0, int)
    x0, y0, n_r, n_c = rect
    ext = np.array([n_c - 1, n_r - 1]) * step
    centre = np.array([x0, y0]) + ext / 2
    pos = np.array([x0, y0]) + _RING[np.arange(n) % 8] * ext + rng.normal(0, 0.03, (n, 2)) * ext
    m = size_px * 0.75 + 3
    for k in range(n):
        for t in np.linspace(1.0, 0.0, 21):
            p = centre + t * (pos[k] - centre)
            q = view.to_image(p[None])[0]
            if m <= q[0] <= w - 1 - m and m <= q[1] <= h - 1 - m:
                pos[k] = p
                break
    return pos, size_px * pixel_size, rng.uniform(-0.3, 0.3, n), np.arange(n) % 2


def _truth(sample: CurvedMicrostructure, s_img: np.ndarray, shape) -> SimpleNamespace:
    """Truth in the image frame: the source under each pixel's sample point (nearest),
    repaired into closed cells; classes from the cells' orientations. ``domains`` is the
    domain per pixel, 0 where clean-up gave the pixel to another cell."""
    rc = sample.to_pixels(s_img)
    iy = np.clip(np.rint(rc[:, 0]), 0, sample.shape[0] - 1).astype(np.intp)
    ix = np.clip(np.rint(rc[:, 1]), 0, sample.shape[1] - 1).astype(np.intp)
    dom = sample.domains[iy, ix].reshape(shape)
    cells, src_of = clean_cells(sample.source_of_domain[dom], min_area=_MIN_AREA)
    ori = sample.orientations[src_of]
    ori[0] = (1.0, 0.0, 0.0, 0.0)
    pairs = _cell_pairs(cells)
    classes = _classes(shape, *pairs, ori)
    boundaries = boundary_mask(cells).astype(np.uint8)
    dom = np.where(sample.source_of_domain[dom] == src_of[cells], dom, 0)
    return SimpleNamespace(cells=cells, src_of=src_of, ori=ori, classes=classes, pairs=pairs,
                           boundaries=boundaries, domains=dom,
                           labels=np.where(boundaries > 0, 0, cells).astype(np.int32))


def _paint(shape, masks, inverse, values) -> np.ndarray:
    """Per-pair ``values`` painted on the boundary pixels (max where pairs meet)."""
    out = np.zeros(shape, np.float32)
    for view, diff, inv in ((out[:, :-1], masks[0], inverse[0]), (out[:-1, :], masks[1], inverse[1])):
        view[diff] = np.maximum(view[diff], values[inv])
    return out


def _wide_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a large ``sigma`` (px), done on a grid coarser by ``sigma / 4``."""
    f = max(1, int(sigma // 4))
    small = ndimage.gaussian_filter(a[::f, ::f].astype(np.float32), sigma / f)
    return ndimage.zoom(small, (a.shape[0] / small.shape[0], a.shape[1] / small.shape[1]), order=1,
                        grid_mode=True, mode="nearest")[:a.shape[0], :a.shape[1]]


def _orientation_signal(sample, truth, mode, pixel_size, diameter_px, rng) -> np.ndarray:
    """Channelling contrast: a grey level per domain (steps at boundaries, faint steps at
    walls), thin strain lines at dislocation walls and smooth intragranular strain. In BSE
    the signal from below the surface smears the steps of inclined boundaries."""
    shape, bse = truth.cells.shape, mode == "bse"
    grey = np.where(truth.domains > 0, channelling_yield(sample.domain_orientations)[truth.domains],
                    channelling_yield(truth.ori)[truth.cells]).astype(np.float32)
    img = (0.12 + 0.66 * grey) if bse else (0.42 + 0.16 * grey)
    if bse:
        wide = ndimage.gaussian_filter(img, 0.04 / pixel_size)
        weight = 1.0 / (1.0 + np.exp(-2.0 * smooth_noise(shape, diameter_px, rng)))
        img += weight * (wide - img)
    d, c = truth.domains, truth.cells
    wall = np.zeros(shape, np.float32)
    wall[:, :-1] += (d[:, :-1] != d[:, 1:]) & (c[:, :-1] == c[:, 1:]) & (d[:, :-1] > 0) & (d[:, 1:] > 0)
    wall[:-1] += (d[:-1] != d[1:]) & (c[:-1] == c[1:]) & (d[:-1] > 0) & (d[1:] > 0)
    sign = rng.choice([-1.0, 1.0], c.max() + 1) * rng.uniform(0.5, 1.0, c.max() + 1)
    img += (0.14 if bse else 0.02) * 2.5 * ndimage.gaussian_filter(np.minimum(wall, 1) * sign[c], 1.0)
    strain = rng.uniform(0, 1, c.max() + 1).astype(np.float32) ** 2 * (0.1 if bse else 0.02)
    img += strain[c] * smooth_noise(shape, 0.3 * diameter_px, rng)
    return img


def _topography(truth, mode, rng) -> tuple[np.ndarray, dict]:
    """Polishing relief: grooves at boundaries (per boundary visibility: most HAGB, a few
    twins and LAGB), a bright rim, and slopes between grains of orientation-dependent
    height that face the detector or not. Strong in SE, faint in BSE."""
    shape = truth.cells.shape
    pairs, masks, inverse = truth.pairs
    cls = rot.boundary_class(truth.ori[pairs[:, 0]], truth.ori[pairs[:, 1]])
    n = len(pairs)
    vis = rng.uniform(0.35, 1.0, n)
    vis[rng.random(n) < 0.15] *= 0.1
    for k, (p_hidden, lo, hi) in ((3, (0.6, 0.1, 0.4)), (2, (0.75, 0.05, 0.3))):
        sel = cls == k
        vis[sel] = np.where(rng.random(sel.sum()) < p_hidden, 0.0, rng.uniform(lo, hi, sel.sum()))
    along = np.clip(1.0 + 0.4 * smooth_noise(shape, 10.0, rng), 0.1, 1.6)
    lines = _paint(shape, masks, inverse, vis.astype(np.float32)) * along
    depth = 0.22 if mode == "se" else 0.04
    out = depth * 2.2 * (0.35 * ndimage.gaussian_filter(lines, 2.2) - ndimage.gaussian_filter(lines, 0.9))
    height = channelling_yield(truth.ori, beam=(0.57, 0.0, 0.82)).astype(np.float32)
    gy, gx = np.gradient(ndimage.gaussian_filter(height[truth.cells], 1.5))
    a = rng.uniform(0, 2 * np.pi)
    out += (1.0 if mode == "se" else 0.2) * (0.25 * (np.cos(a) * gx + np.sin(a) * gy) + 0.15 * np.hypot(gx, gy))
    grey = channelling_yield(truth.ori)
    step = np.abs(grey[pairs[:, 0]] - grey[pairs[:, 1]])
    same = step < 0.03
    stats = {f"{name}_{what}": float(np.mean(sel[cls == k])) if np.any(cls == k) else float("nan")
             for name, k in (("hagb", 1), ("lagb", 2), ("sigma3", 3))
             for what, sel in (("groove_hidden", vis < 0.05), ("step_hidden", same))}
    # Peak contrast of each boundary in signal units: the groove's DoG of a 1-px line peaks at
    # 0.38 x its depth; the channelling step and the relief slope (height step through the
    # sigma-1.5 blur, peak gradient 0.27 x the step, at most 0.4 x that by the detector angle).
    relief = np.abs(height[pairs[:, 0]] - height[pairs[:, 1]]) * 0.27 * 0.4 * (1.0 if mode == "se" else 0.2)
    amplitude = depth * 2.2 * 0.38 * vis + (0.16 if mode == "se" else 0.66) * step + relief
    return out, stats, amplitude


def _contrast(truth, amplitude, dose) -> tuple[np.ndarray, float]:
    """Peak contrast per truth boundary pixel (the largest of the pairs of cells meeting
    there; 0 off the boundaries) and the floor below which no detector can see a boundary:
    the shot noise of a 2 x 20 px average along it at the image's dose (signal ~0.5)."""
    pairs, masks, inverse = truth.pairs
    out = _paint(truth.cells.shape, masks, inverse, amplitude.astype(np.float32))
    return np.where(truth.boundaries > 0, out, 0).astype(np.float32), float(np.sqrt(0.5 / dose / 40.0))


def _artefacts(img, mode, cover, scratch, size_px, rng) -> np.ndarray:
    """Pt fiducials (bright, grainy, SE edge rim and charging halo), polishing scratches,
    dust, a background ramp and a smooth charging/detector gradient."""
    shape, se = img.shape, mode == "se"
    grain = 0.03 * smooth_noise(shape, 2.0, rng)
    blurred = ndimage.gaussian_filter(cover, 2.0)
    rim = 4.0 * blurred * (1.0 - blurred)
    img = img * (1 - cover) + ((0.95 if se else 1.25) + grain) * cover + (0.2 if se else 0.04) * rim
    if se:
        img += 0.06 * np.clip(_wide_blur(cover, 2.0 * size_px), 0, 0.5) * 2
    img -= (0.12 if se else 0.05) * scratch
    img += (0.04 if se else 0.0) * ndimage.gaussian_filter(scratch, 2.0)
    h, w = shape
    for _ in range(rng.poisson(3.0)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 7)
        y0, y1, x0, x1 = (int(max(cy - 3 * r, 0)), int(min(cy + 3 * r, h)), int(max(cx - 3 * r, 0)),
                          int(min(cx + 3 * r, w)))
        far = int(size_px)
        if cover[max(y0 - far, 0):y1 + far, max(x0 - far, 0):x1 + far].any():
            continue  # the operator picked clean fiducials
        yy, xx = np.mgrid[y0:y1, x0:x1]
        e = rng.uniform(0.5, 1.5)
        blob = np.exp(-(((yy - cy) * e) ** 2 + ((xx - cx) / e) ** 2) / (2 * r ** 2)) > 0.5
        img[y0:y1, x0:x1] += (0.3 if se else -0.25) * blob
    yy, xx = np.meshgrid(np.linspace(-0.5, 0.5, h, dtype=np.float32),
                         np.linspace(-0.5, 0.5, w, dtype=np.float32), indexing="ij")
    a = rng.uniform(0, 2 * np.pi)
    img += rng.uniform(0.05, 0.15) * (np.cos(a) * yy + np.sin(a) * xx)
    img += 0.03 * smooth_noise(shape, max(h, w) / 3.0, rng)
    return img


def _detector(img, mode, rng) -> tuple[np.ndarray, dict]:
    """Probe blur, shot noise at a realistic dose, read noise, scan-line gain jitter and the
    brightness/contrast mapping to uint16."""
    se = mode == "se"
    sigma = float(rng.uniform(0.7, 1.2) if se else rng.uniform(0.9, 1.5))
    dose = float(rng.uniform(60, 120) if se else rng.uniform(20, 45))
    signal = np.clip(ndimage.gaussian_filter(img, sigma), 0.0, 1.3)
    counts = rng.poisson(signal * dose).astype(np.float32)
    counts += rng.normal(0, 1.5, counts.shape).astype(np.float32)
    counts *= 1.0 + rng.normal(0, 0.004, (counts.shape[0], 1)).astype(np.float32)
    offset = float(rng.uniform(800, 3000))
    gain = float(rng.uniform(0.7, 0.85) * (65535 - offset) / (1.1 * dose))
    out = np.clip(np.rint(offset + gain * counts), 0, 65535).astype(np.uint16)
    return out, {"psf_sigma_px": sigma, "dose_electrons": dose, "offset": offset, "gain": gain}


def _image_cover(view, s_hw, marks, pixel_size) -> np.ndarray:
    """Pt coverage of every image pixel, computed in a window around each mark."""
    h, w = view.shape
    out = np.zeros((h, w), np.float32)
    reach = int(np.ceil(marks[1] / pixel_size)) + 4
    for k, q in enumerate(view.to_image(marks[0]) if len(marks[0]) else []):
        r0, c0 = max(int(q[1]) - reach, 0), max(int(q[0]) - reach, 0)
        win = (slice(r0, min(int(q[1]) + reach, h)), slice(c0, min(int(q[0]) + reach, w)))
        one = (marks[0][k:k + 1], marks[1], marks[2][k:k + 1], marks[3][k:k + 1])
        out[win] = np.maximum(out[win], fiducial_cover(s_hw[win], one, pixel_size))
    return out


def _stats(truth, pixel_size) -> dict:
    """Mean ECD of the truth cells off the border, cell count and boundary class shares."""
    cells = truth.cells
    area = np.bincount(cells.ravel())
    border = np.unique(np.concatenate([cells[0], cells[-1], cells[:, 0], cells[:, -1]]))
    inner = np.setdiff1d(np.arange(1, len(area)), border)
    ecd = np.sqrt(4 * area[inner] / np.pi) * pixel_size
    share = np.bincount(truth.classes.ravel(), minlength=4)[1:4].astype(float)
    share /= max(share.sum(), 1)
    return {"n_cells": int(cells.max()), "mean_ecd_um": float(ecd.mean()) if len(ecd) else float("nan"),
            "boundary_share": dict(zip(("hagb", "lagb", "sigma3"), share.tolist()))}


def _scene(shape, mode, pixel_size, diameter, fractions, drift_px, rng, *, coverage=None,
           step=None, n_fiducials=0) -> SimpleNamespace:
    """Everything but the EBSD map: view, sample, truth, EBSD field, marks and the image."""
    view = _View(shape, pixel_size, drift_px, rng)
    rr, cc = np.indices(shape, dtype=np.float64)
    s_img = view.to_sample(np.stack([cc.ravel(), rr.ravel()], axis=1))
    origin, grid = _sample_grid(view, pixel_size)
    sample = make_curved_microstructure(grid, pixel_size=pixel_size, mean_diameter_um=diameter,
                                        origin_um=origin, seed=rng, **fractions)
    truth = _truth(sample, s_img, shape)
    rect = _ebsd_rect(view, coverage, step, s_img, rng) if coverage else None
    marks = _fiducials(view, rect, step, n_fiducials, pixel_size, rng)
    s_hw = s_img.reshape(*shape, 2)
    lines, box = scratch_lines(rng), (s_img.min(0), np.ptp(s_img, axis=0))
    cover = _image_cover(view, s_hw, marks, pixel_size)
    rng_image = np.random.default_rng(rng.integers(2 ** 62))  # the EBSD map does not depend on mode
    img = _orientation_signal(sample, truth, mode, pixel_size, diameter / pixel_size, rng_image)
    topo, hidden, amplitude = _topography(truth, mode, rng_image)  # shares of invisible boundaries
    img = _artefacts(img + topo, mode, cover, scratch_profile(s_hw, lines, box, pixel_size),
                     marks[1] / pixel_size, rng_image)
    data, detector = _detector(img, mode, rng_image)
    contrast, floor = _contrast(truth, amplitude, detector["dose_electrons"])
    detector["contrast_floor"] = floor
    hidden["invisible_pixel_share"] = float(((truth.boundaries > 0) & (contrast < floor)).sum()
                                            / max(truth.boundaries.sum(), 1))
    meta = {"mode": mode, "shape": list(shape), "pixel_size_um": float(pixel_size),
            "mean_diameter_um": float(diameter), **{k: float(v) for k, v in fractions.items()},
            "drift_px": float(drift_px), "view": view.params, "detector": detector,
            "hidden_boundaries": hidden, **_stats(truth, pixel_size)}
    return SimpleNamespace(view=view, s_img=s_img, sample=sample, truth=truth, rect=rect, marks=marks,
                           lines=lines, box=box, cover=cover, data=data, meta=meta, contrast=contrast)


def _check(shape, mode, pixel_size, drift_px, numbers: dict):
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape must be a pair of ints (Y, X), got {shape!r}") from None
    if len(shape) != 2 or min(shape) < 64:
        raise InputError(f"shape must be (Y, X) with both sides >= 64, got {shape!r}")
    mode = look_up_option(mode, _MODES, what="mode")
    if not (np.isfinite(pixel_size) and 0 < pixel_size <= 1):
        raise InputError(f"pixel_size must be in (0, 1] µm, got {pixel_size!r}")
    if not (np.isfinite(drift_px) and 0 <= drift_px <= 100):
        raise InputError(f"drift_px must be in [0, 100] px, got {drift_px!r}")
    for name, (value, lo, hi) in numbers.items():
        if not (np.isfinite(value) and lo <= value <= hi):
            raise InputError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return shape, mode


def make_correlated_pair(shape: tuple[int, int] = (512, 512), *, mode: str = "se",
                         pixel_size: float = 0.015, mean_diameter_um: float = 1.5,
                         ebsd_step_um: float = 0.05, coverage: float = 0.6,
                         twin_fraction: float = 0.4, lagb_fraction: float = 0.15,
                         wall_fraction: float = 0.3, drift_px: float = 15.0,
                         misindexed_fraction: float = 0.03, nonindexed_fraction: float = 0.01,
                         orientation_noise_deg: float = 0.5, n_fiducials: int = 8,
                         landmark_noise_px: float = 0.7, seed: int = 0) -> CorrelatedPair:
    """A realistic SE or BSE micrograph and a partial EBSD map of one curved polycrystal.

    The sample (:func:`~microseg.synth._curved.make_curved_microstructure`) lives in µm. The
    SEM sees it through ``q = P(s) + d(q)``: ``P`` a projective map (rotation ±2°, scale
    ±3 %, shear ±0.02, 1-3 % keystone) and ``d`` a smooth scan drift of at most
    ``drift_px`` that varies with the scan row (time). The truth is the sample's cells
    seen through that map (nearest), repaired into closed 1-px boundaries. The image has
    channelling contrast (steps at boundaries; walls faint), SE grooves and relief, Pt
    marks, scratches, dust, a background gradient, probe blur, shot noise and uint16
    output. The EBSD map (square grid, ``ebsd_step_um``) covers about ``coverage`` of
    the frame at a random offset, with beam spread at boundaries, orientation noise,
    misindexed and non-indexed points and ``ci``/``iq``/``fit`` fields.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` of the image (>= 64 each).
    mode : {"se", "bse"}
    pixel_size : float
        Image pixel size in µm (the sample is drawn at this resolution).
    mean_diameter_um : float
        Nominal mean ECD of the truth cells (see ``metadata["mean_ecd_um"]``), >= 10 px.
    ebsd_step_um : float
        EBSD step in µm, 1-16 image pixels.
    coverage : float
        Fraction of the image the EBSD map covers, in [0.2, 0.9].
    twin_fraction, lagb_fraction, wall_fraction : float
        Fractions of grains with Σ3 lamellae, with LAGB subgrains (not both; sum <= 1),
        and with dislocation walls (< 2°, not boundaries).
    drift_px : float
        Largest drift displacement in image pixels.
    misindexed_fraction, nonindexed_fraction : float
        Fractions of EBSD points with a wrong orientation (60 % random, 40 % the Σ3
        pseudo-symmetric solution; low CI) or not indexed (isolated and 3x3 clusters;
        points under Pt marks are not indexed either).
    orientation_noise_deg : float
        Standard deviation of the EBSD orientation noise.
    n_fiducials : int
        Pt marks (squares and crosses) on a ring around the EBSD field.
    landmark_noise_px : float
        Standard deviation per axis of the landmark click noise in image pixels.
    seed : int
        Seed of everything random; the same seed gives identical output.

    Returns
    -------
    CorrelatedPair

    Examples
    --------
    >>> pair = make_correlated_pair((128, 128), pixel_size=0.03, mean_diameter_um=0.9, seed=1)
    >>> pair.image.data.dtype.name, pair.boundaries.shape, len(pair.landmarks)
    ('uint16', (128, 128), 8)
    """
    shape, mode = _check(shape, mode, pixel_size, drift_px, {
        "coverage": (coverage, 0.2, 0.9), "misindexed_fraction": (misindexed_fraction, 0, 0.2),
        "nonindexed_fraction": (nonindexed_fraction, 0, 0.2),
        "orientation_noise_deg": (orientation_noise_deg, 0, 5), "n_fiducials": (n_fiducials, 3, 8),
        "landmark_noise_px": (landmark_noise_px, 0, 10)})
    if not (np.isfinite(ebsd_step_um) and 1 <= ebsd_step_um / pixel_size <= 16):
        raise InputError(f"ebsd_step_um must be 1-16 image pixels ({pixel_size:g}-{16 * pixel_size:g} µm), "
                         f"got {ebsd_step_um!r}")
    rng = np.random.default_rng(seed)
    fractions = {"twin_fraction": twin_fraction, "lagb_fraction": lagb_fraction,
                 "wall_fraction": wall_fraction}
    sc = _scene(shape, mode, pixel_size, mean_diameter_um, fractions, drift_px, rng,
                coverage=coverage, step=ebsd_step_um, n_fiducials=int(n_fiducials))
    options = {"misindexed_fraction": misindexed_fraction, "nonindexed_fraction": nonindexed_fraction,
               "orientation_noise_deg": orientation_noise_deg}
    ebsd, ebsd_truth = sample_ebsd(sc.sample, sc.rect, ebsd_step_um,
                             lambda xy: fiducial_cover(xy, sc.marks, pixel_size),
                             lambda xy: scratch_profile(xy, sc.lines, sc.box, pixel_size), options, rng)
    shift = np.eye(3)
    shift[:2, 2] = sc.rect[:2]
    transform = LandmarkTransform(sc.view.matrix @ shift, kind="projective")
    delta = sc.view.delta(np.stack([a.ravel() for a in np.indices(shape)[::-1]], axis=1).astype(float))
    displacement = np.stack([delta[:, 1], delta[:, 0]]).reshape(2, *shape).astype(np.float32)
    exact = sc.view.to_image(sc.marks[0])
    landmarks = Landmarks(sc.marks[0] - np.asarray(sc.rect[:2]),
                          exact + rng.normal(0, landmark_noise_px, exact.shape),
                          tuple(f"Pt{i + 1}" for i in range(len(exact))))
    valid = _covered(sc.s_img, sc.rect, ebsd_step_um).reshape(shape)
    meta = {**sc.meta, "seed": int(seed), "ebsd_step_um": float(ebsd_step_um),
            "ebsd_shape": list(ebsd.shape), "ebsd_origin_um": list(sc.rect[:2]),
            "coverage": float(coverage), "valid_fraction": float(valid.mean()),
            "landmark_noise_px": float(landmark_noise_px), "fiducial_size_um": float(sc.marks[1]),
            **options}
    image = Image(sc.data, pixel_size=float(pixel_size), pixel_size_source="synthetic",
                  metadata={"axes": "YX", "mode": mode, "seed": int(seed), **sc.meta["detector"]})
    logger.debug("correlated pair %s (%s): %d cells, EBSD %s", shape, mode, meta["n_cells"], ebsd.shape)
    t = sc.truth
    return CorrelatedPair(image, t.boundaries, t.classes, t.labels, t.cells, sc.cover > 0.5, meta,
                          sc.contrast, ebsd=ebsd, landmarks=landmarks, valid=valid,
                          registration=Registration(transform, displacement), sample=sc.sample,
                          ebsd_truth=ebsd_truth)


def make_ood_set(n: int = 5, *, shape: tuple[int, int] = (1024, 1024), pixel_size: float = 0.027,
                 mean_diameters_um=None, mode: str = "bse", seed: int = 0) -> list[SyntheticMicrograph]:
    """Out-of-distribution micrographs: another pixel size, other grain sizes and another
    microscope (each image draws its own twin/LAGB/wall fractions, drift, blur and dose).

    Parameters
    ----------
    n : int
        Number of images.
    shape : (int, int)
        ``(Y, X)`` of each image.
    pixel_size : float
        µm per pixel.
    mean_diameters_um : sequence of float, optional
        Nominal mean ECD per image (length ``n``); default ``n`` values evenly from 1.5 to
        4.7 µm (the range of seed 000's OOD samples).
    mode : {"se", "bse"}
    seed : int
        Image ``i`` uses the seed ``(seed, i)``.

    Returns
    -------
    list of SyntheticMicrograph

    Examples
    --------
    >>> ood = make_ood_set(2, shape=(128, 128), mean_diameters_um=(0.5, 0.9))
    >>> [o.image.shape for o in ood]
    [(128, 128), (128, 128)]
    """
    n = check_int(n, "n", low=1)
    diameters = np.linspace(1.5, 4.7, n) if mean_diameters_um is None \
        else np.asarray(mean_diameters_um, float).ravel()
    if len(diameters) != n:
        raise InputError(f"mean_diameters_um must have n={n} values, got {len(diameters)}")
    shape, mode = _check(shape, mode, pixel_size, 0.0, {})
    out = []
    for i, diameter in enumerate(diameters):
        rng = np.random.default_rng([seed, i])
        fractions = {"twin_fraction": float(rng.uniform(0.3, 0.5)),
                     "lagb_fraction": float(rng.uniform(0.05, 0.25)),
                     "wall_fraction": float(rng.uniform(0.2, 0.5))}
        sc = _scene(shape, mode, pixel_size, float(diameter), fractions, float(rng.uniform(3, 10)), rng)
        meta = {**sc.meta, "seed": [int(seed), i]}
        image = Image(sc.data, pixel_size=float(pixel_size), pixel_size_source="synthetic",
                      metadata={"axes": "YX", "mode": mode, "seed": [int(seed), i], **sc.meta["detector"]})
        t = sc.truth
        out.append(SyntheticMicrograph(image, t.boundaries, t.classes, t.labels, t.cells,
                                       sc.cover > 0.5, meta, sc.contrast))
    return out
