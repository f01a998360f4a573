"""Automatic refinement of an EBSD-to-SEM registration from the boundaries in the image.

Both stages maximise one score: the boundary evidence of the image (see
:func:`~microseg.register.boundary_evidence`), Gaussian-blurred, sampled where the EBSD
boundaries land, minus the same sampled at EBSD grain interiors. The EBSD boundaries
enter as points midway between neighbouring EBSD points of different cells, so the score
is a smooth function of the transform with an exact gradient (no re-warping and no
nearest-neighbour steps inside the optimiser).
"""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage, optimize

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.register._bspline import BSplineGrid
from microseg.register._evidence import (
    boundary_evidence, cell_boundaries, check_image, score_evidence,
)
from microseg.register._transform import LandmarkTransform, apply_matrix
from microseg.register._warp import Registration, check_cells, check_step, warp_cells

logger = logging.getLogger(__name__)

__all__ = ["refine_registration"]

_MAX_BOUNDARY_POINTS = 150_000
_MAX_INTERIOR_POINTS = 60_000
_COARSE_POINTS = 40_000  # enough at blurs >= 4 px, where detail is smoothed away
_AFFINE_POINTS = 30_000  # 6 parameters need far fewer points than the drift field
_LBFGS = {"maxiter": 200, "ftol": 1e-7}


def _ebsd_points(cells: np.ndarray, step: float, rng: np.random.Generator):
    """Boundary midpoints and interior points of an EBSD cell map, ``(N, 2)`` in µm, in
    random order (interior points: >= 2 steps from any boundary)."""
    pts = []
    for axis in (0, 1):
        a = cells[:-1] if axis == 0 else cells[:, :-1]
        b = cells[1:] if axis == 0 else cells[:, 1:]
        r, c = np.nonzero((a != b) & (a != 0) & (b != 0))
        pts.append(np.stack([c + 0.5 * axis, r + 0.5 * (1 - axis)], axis=1))
    boundary = np.concatenate(pts) * step
    edge = cell_boundaries(cells).astype(bool)
    edge[1:] |= edge[:-1]
    edge[:, 1:] |= edge[:, :-1]
    inner = ~ndimage.binary_dilation(edge, iterations=2) & (cells != 0)
    r, c = np.nonzero(inner)
    interior = np.stack([c, r], axis=1).astype(float) * step
    # random order, so that any prefix is a uniform subsample
    boundary = boundary[rng.permutation(len(boundary))[:_MAX_BOUNDARY_POINTS]]
    n_inner = min(_MAX_INTERIOR_POINTS, max(len(boundary), 1000))
    interior = interior[rng.permutation(len(interior))[:n_inner]]
    return boundary, interior


class _Evidence:
    """A blurred evidence map and its gradient, sampled bilinearly at ``(col, row)``."""

    def __init__(self, evidence: np.ndarray, blur: float):
        e = ndimage.gaussian_filter(evidence, blur) if blur > 0 else evidence
        g_row, g_col = np.gradient(e)
        # (Y + 1, X + 1, 3): the padding keeps idx + nx + 2 in range
        maps = np.zeros((e.shape[0] + 1, e.shape[1] + 1, 3), np.float32)
        maps[:-1, :-1] = np.stack([e, g_col, g_row], axis=-1)
        self.maps = maps
        self.flat = maps.reshape(-1, 3)

    def sample(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N,)`` and gradients ``(N, 2)`` as ``(d/dcol, d/drow)``; 0 outside."""
        ny, nx = self.maps.shape[0] - 1, self.maps.shape[1] - 1
        q = q.astype(np.float32)
        c0, r0 = np.floor(q[:, 0]), np.floor(q[:, 1])
        fc, fr = (q[:, 0] - c0)[:, None], (q[:, 1] - r0)[:, None]
        inside = (c0 >= 0) & (c0 < nx - 1) & (r0 >= 0) & (r0 < ny - 1)
        idx = np.where(inside, r0 * (nx + 1) + c0, 0).astype(np.intp)
        f = self.flat
        top = f[idx]
        top += (f[idx + 1] - top) * fc
        bottom = f[idx + nx + 1]
        bottom += (f[idx + nx + 2] - bottom) * fc
        top += (bottom - top) * fr
        top[~inside] = 0.0
        return top[:, 0], top[:, 1:]

    def contrast(self, qb: np.ndarray, qi: np.ndarray):
        """``mean E(qb) - mean E(qi)`` and its gradients w.r.t. each point."""
        vb, gb = self.sample(qb)
        vi, gi = self.sample(qi)
        return float(vb.mean() - vi.mean()), gb / len(qb), -gi / len(qi)


def _refine_affine(ev: np.ndarray, pts_b, pts_i, transform, blurs) -> LandmarkTransform:
    """Stage 1: a correction affine (6 parameters, in px at the frame's half-diagonal)
    applied after ``transform``, coarse to fine over ``blurs``."""
    qb0, qi0 = transform(pts_b), transform(pts_i)
    centre = np.array([(ev.shape[1] - 1) / 2.0, (ev.shape[0] - 1) / 2.0])
    half = float(np.hypot(*ev.shape)) / 2.0
    ub, ui = (qb0 - centre) / half, (qi0 - centre) / half

    def apply(p, q, u):
        return q + u @ p[:4].reshape(2, 2).T + p[4:]

    p = np.zeros(6)
    for blur in blurs:
        field = _Evidence(ev, blur)

        def cost(p):
            score, gb, gi = field.contrast(apply(p, qb0, ub), apply(p, qi0, ui))
            grad = np.concatenate([(gb.T @ ub).ravel() + (gi.T @ ui).ravel(),
                                   gb.sum(0) + gi.sum(0)])
            return -score, -grad

        res = optimize.minimize(cost, p, jac=True, method="L-BFGS-B", options=_LBFGS)
        p = res.x
        logger.debug("affine refinement, blur %.1f px: %d evaluations, shift %s px", blur,
                     res.nfev, np.round(p[4:], 2))
    m = np.eye(3)
    m[:2, :2] += p[:4].reshape(2, 2) / half
    m[:2, 2] = p[4:] - m[:2, :2] @ centre + centre
    return LandmarkTransform(m, kind="affine") @ transform


def _refine_drift(ev, pts_b, pts_i, transform, grid: BSplineGrid, blurs, smoothness):
    """Stage 2: B-spline drift control points (px) over the EBSD frame.

    The contrast is scaled by the number of control points ``K`` so that each control
    point's gradient is O(1) whatever the grid size, and the bending energy is a sum
    over control points: ``smoothness`` then weighs one control point's bending against
    the contrast of the boundaries near it, independently of the image size.
    """
    k = float(grid.n_control)
    control = np.zeros((grid.n_control, 2))
    for blur in blurs:
        n = _COARSE_POINTS if blur >= 4.0 else len(pts_b)
        b, i = pts_b[:n], pts_i[:n]
        qb0, qi0 = transform(b), transform(i)
        wb, wi = grid.matrix(b[:, 1], b[:, 0]), grid.matrix(i[:, 1], i[:, 0])
        wbt, wit = wb.T.tocsr(), wi.T.tocsr()
        field = _Evidence(ev, blur)

        def cost(flat):
            c = flat.reshape(-1, 2)
            score, gb, gi = field.contrast(qb0 + wb @ c, qi0 + wi @ c)
            energy, g_energy = grid.penalty(c)
            grad = wbt @ gb + wit @ gi
            return -k * score + smoothness * energy, (-k * grad + smoothness * g_energy).ravel()

        res = optimize.minimize(cost, control.ravel(), jac=True, method="L-BFGS-B",
                                options=_LBFGS)
        control = res.x.reshape(-1, 2)
        logger.debug("drift refinement, blur %.1f px: %d points, %d evaluations, max control "
                     "%.2f px", blur, n, res.nfev, float(np.abs(control).max()))
    return control


def _backward_field(transform, grid, control, shape, *, every: int = 8) -> np.ndarray:
    """Drift ``d(q) = delta(x(q))`` on the SEM grid, where ``transform(x) + delta(x) = q``
    (fixed-point iteration on a grid every ``every`` px, then linear interpolation)."""
    ys = np.arange(0, shape[0] + every, every, dtype=float)
    xs = np.arange(0, shape[1] + every, every, dtype=float)
    rr, cc = np.meshgrid(ys, xs, indexing="ij")
    q = np.stack([cc.ravel(), rr.ravel()], axis=1)
    inv = transform.inverse
    d = np.zeros_like(q)
    for _ in range(10):
        x = inv(q - d)
        d = grid.evaluate(control, x[:, 1], x[:, 0])
    coarse = d.reshape(len(ys), len(xs), 2)
    fy = np.arange(shape[0], dtype=float) / every
    fx = np.arange(shape[1], dtype=float) / every
    coords = np.meshgrid(fy, fx, indexing="ij")
    out = np.empty((2, *shape), dtype=np.float32)
    for k, comp in ((0, 1), (1, 0)):  # (d_row, d_col) from (d_col, d_row)
        out[k] = ndimage.map_coordinates(coarse[..., comp], coords, order=1, mode="nearest")
    return out


def _check_options(transform, blurs, drift_spacing_px, smoothness, evidence_sigma) -> tuple:
    if not isinstance(transform, LandmarkTransform):
        raise InputError(f"transform must be a LandmarkTransform (e.g. from estimate_transform), "
                         f"got {type(transform).__name__}")
    blurs = tuple(float(b) for b in np.atleast_1d(blurs))
    if not blurs or not all(np.isfinite(b) and b >= 0 for b in blurs):
        raise InputError(f"blurs must be a sequence of blur widths >= 0 px, got {blurs!r}")
    spacing = np.broadcast_to(np.asarray(drift_spacing_px, float), (2,))
    if not (np.isfinite(spacing).all() and (spacing >= 8).all()):
        raise InputError(f"drift_spacing_px must be >= 8 px (one value or (rows, cols)), got "
                         f"{drift_spacing_px!r}")
    check_positive(smoothness, "smoothness", allow_zero=True)
    check_positive(evidence_sigma, "evidence_sigma", unit="px")
    return blurs, spacing


def refine_registration(image, cells, transform: LandmarkTransform, *, step_um: float,
                        drift: bool = True, drift_spacing_px: float | tuple[float, float] = 64.0,
                        smoothness: float = 1e-3, blurs=(8.0, 4.0, 2.0, 1.0),
                        evidence_sigma: float = 1.5, seed: int = 0) -> Registration:
    """Refine an EBSD-to-SEM registration automatically, without clicking.

    Stage 1 refines the global map with a correction affine (6 parameters) applied after
    ``transform``; stage 2 adds a smooth scan-drift field, a cubic B-spline over the EBSD
    frame (so it follows the scan rows, i.e. time) with a bending-energy penalty. Both
    maximise the contrast of the image's boundary evidence (:func:`boundary_evidence`)
    between where the EBSD boundaries land and where EBSD grain interiors land, with
    L-BFGS on exact gradients, coarse to fine over ``blurs`` (the capture range is a
    few times the first blur).

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        SEM micrograph (SE or BSE, any real dtype).
    cells : ndarray of int, shape (R, C)
        EBSD cell map (each grain / subgrain / twin a cell, 0 = unknown).
    transform : LandmarkTransform
        Initial EBSD µm -> SEM px map, e.g. from :func:`estimate_transform` on fiducials;
        it should be right to within about ``2 * blurs[0]`` px.
    step_um : float
        EBSD step in µm.
    drift : bool
        Estimate the drift field (stage 2); ``False`` stops after the affine.
    drift_spacing_px : float or (float, float)
        Control-point spacing of the drift field in SEM px, ``(along rows, along
        columns)`` if two values. Larger is stiffer.
    smoothness : float
        Weight of the bending-energy penalty on the drift control points.
    blurs : sequence of float
        Gaussian blurs (px) of the evidence map, coarse to fine. With ``drift`` the
        affine stage uses those >= 4 px and the drift stage those <= 4 px (the drift
        field contains affine corrections, so fitting the affine finely is wasted).
    evidence_sigma : float
        Scale of :func:`boundary_evidence`.
    seed : int
        Seed for subsampling boundary points on large maps.

    Returns
    -------
    Registration
        Refined transform, drift field ``(2, Y, X)``, alignment scores before and after
        (:func:`alignment_score` over the pixels the EBSD map covers) and drift summary.
    """
    img = check_image(image)
    cells = check_cells(cells)
    step = check_step(step_um)
    blurs, spacing = _check_options(transform, blurs, drift_spacing_px, smoothness,
                                    evidence_sigma)
    ev = boundary_evidence(img, sigma=evidence_sigma)
    pts_b, pts_i = _ebsd_points(cells, step, np.random.default_rng(seed))
    if len(pts_b) < 10 or len(pts_i) < 10:
        raise InputError(f"cells has too few boundaries ({len(pts_b)} boundary points) to "
                         "register against the image; it needs several cells")
    logger.info("refining with %d boundary and %d interior EBSD points", len(pts_b), len(pts_i))
    coarse = tuple(b for b in blurs if b >= 4.0) or blurs[:1]
    n = _AFFINE_POINTS
    refined = _refine_affine(ev, pts_b[:n], pts_i[:n], transform, coarse if drift else blurs)
    displacement = None
    if drift:
        lin = refined.matrix[:2, :2]
        scale = float(np.sqrt(abs(np.linalg.det(lin))))
        extent = (cells.shape[0] * step, cells.shape[1] * step)
        n_intervals = tuple(int(np.ceil(e * scale / s)) for e, s in zip(extent, spacing))
        grid = BSplineGrid(extent, n_intervals)
        fine = tuple(b for b in blurs if b <= 4.0) or blurs[-1:]
        control = _refine_drift(ev, pts_b, pts_i, refined, grid, fine, smoothness)
        displacement = _backward_field(refined, grid, control, img.shape)
    result = Registration(refined, displacement)
    before = warp_cells(cells, transform, img.shape, step_um=step)
    after = warp_cells(cells, result, img.shape, step_um=step)
    score_before = score_evidence(ev, cell_boundaries(before), mask=before != 0)
    score_after = score_evidence(ev, cell_boundaries(after), mask=after != 0)
    logger.info("alignment score %.3f -> %.3f, drift max %.1f px", score_before, score_after,
                result.drift_summary.get("max", 0.0))
    return Registration(refined, displacement, score_before, score_after,
                        result.drift_summary or {"max": 0.0, "mean": 0.0})
