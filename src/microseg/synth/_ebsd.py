"""Synthetic EBSD maps: a :class:`~microseg.synth.Polycrystal` sampled on a square or
hexagonal EBSD grid, with orientation noise, non-indexed points and quality fields."""
from __future__ import annotations

import logging
import math

import numpy as np
from scipy import ndimage

from microseg._util import InputError, look_up_option
from microseg._validate import check_positive
from microseg.io._ebsd import GRIDS, EBSDMap, Phase
from microseg.synth import _rotations as rot

logger = logging.getLogger(__name__)

__all__ = ["make_ebsd_map"]

#: The phase of every synthetic map.
NICKEL = Phase(1, "Nickel", "m-3m", (3.524, 3.524, 3.524, 90.0, 90.0, 90.0))


def _grid_points(shape: tuple[int, int], step: float, grid: str):
    """Pixel coordinates ``(y, x)`` of the EBSD points, each (R, W), and which lie in the
    image (hexagonal: odd rows shifted by ``step / 2``, the last one may fall outside)."""
    row_step = step * math.sqrt(3) / 2 if grid == "hexagonal" else step
    nrows = int(math.floor((shape[0] - 1) / row_step)) + 1
    ncols = int(math.floor((shape[1] - 1) / step)) + 1
    r, c = np.indices((nrows, ncols), dtype=np.float64)
    y, x = r * row_step, c * step
    if grid == "hexagonal":
        x += (r % 2) * step / 2
    return y, x, (x <= shape[1] - 1) & (y <= shape[0] - 1)


def _not_indexed(valid: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """About ``fraction`` of the valid points: 40 % in small 3x3 clusters, the rest isolated."""
    mask = np.zeros(valid.shape, dtype=bool)
    target = int(round(fraction * valid.sum()))
    rows, cols = valid.shape
    while mask.sum() < 0.4 * target:
        r, c = rng.integers(0, rows), rng.integers(0, cols)
        mask[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = True
    mask &= valid
    free = np.flatnonzero(valid.ravel() & ~mask.ravel())
    rest = max(target - int(mask.sum()), 0)
    mask.flat[rng.choice(free, size=min(rest, len(free)), replace=False)] = True
    return mask


def _check(poly, step_px, grid, noise, fraction) -> str:
    if not hasattr(poly, "cells") or not hasattr(poly, "orientations"):
        raise InputError(f"poly must be a microseg.synth.Polycrystal, got {type(poly).__name__}")
    if not (math.isfinite(step_px) and step_px >= 1):
        raise InputError(f"step_px must be >= 1 image pixel, got {step_px!r}")
    check_positive(noise, "orientation_noise_deg", allow_zero=True)
    if not 0 <= fraction <= 0.5:
        raise InputError(f"nonindexed_fraction must be in [0, 0.5], got {fraction!r}")
    return look_up_option(grid, GRIDS, what="grid")


def ebsd_rotations(q_synth: np.ndarray, noise_deg: float, rng: np.random.Generator) -> np.ndarray:
    """EBSD (orix) rotations of synth orientations ``(..., 4)``: the conjugate, times a
    random rotation about a random axis with a Gaussian angle of std ``noise_deg``."""
    q = rot.quat_conjugate(q_synth)
    shape = q.shape[:-1]
    angle = rng.normal(0.0, math.radians(noise_deg), shape)
    noise = rot.quat_from_axis_angle(rng.normal(size=shape + (3,)) + 1e-12, angle)
    q = rot.quat_multiply(noise, q)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q *= np.where(q[..., :1] < 0, -1.0, 1.0)
    return q


def make_ebsd_map(poly, *, step_px: float = 2.0, grid: str = "square",
                  orientation_noise_deg: float = 0.5, nonindexed_fraction: float = 0.02,
                  seed: int = 0) -> EBSDMap:
    """Sample a synthetic polycrystal as an EBSD map.

    Each grid point takes the orientation of the cell under it (nearest pixel). The EBSD
    rotation is the **conjugate** of the polycrystal's quaternion (synth: crystal to sample;
    EBSD/orix: sample to crystal), times a random rotation about a random axis whose angle
    is Gaussian with standard deviation ``orientation_noise_deg``. A ``nonindexed_fraction``
    of the points is not indexed (phase -1, identity, CI -1): isolated points and a few 3x3
    clusters. Quality ``ci`` and ``iq`` (float32) drop near boundaries.

    Parameters
    ----------
    poly : Polycrystal
        From :func:`microseg.synth.make_polycrystal`.
    step_px : float
        Distance between points in image pixels; ``step = step_px * poly.pixel_size`` µm.
    grid : {"square", "hexagonal"}
        Hexagonal: odd rows shifted by half a step, rows ``step * sqrt(3) / 2`` apart; a
        point of an odd row that falls outside the image is padding (not indexed).
    orientation_noise_deg : float
        Standard deviation of the per-point misorientation, degrees.
    nonindexed_fraction : float
        Fraction of points that are not indexed, in [0, 0.5].
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    EBSDMap
        One phase, ``NICKEL`` (m-3m); ``metadata`` holds the arguments.

    Examples
    --------
    >>> from microseg.synth import make_polycrystal
    >>> poly = make_polycrystal((64, 64), mean_diameter_px=20, seed=1)
    >>> make_ebsd_map(poly, step_px=4).shape
    (16, 16)
    """
    grid = _check(poly, float(step_px), grid, float(orientation_noise_deg),
                  float(nonindexed_fraction))
    rng = np.random.default_rng(seed)
    y, x, valid = _grid_points(poly.cells.shape, float(step_px), grid)
    iy = np.clip(np.rint(y).astype(int), 0, poly.cells.shape[0] - 1)
    ix = np.clip(np.rint(x).astype(int), 0, poly.cells.shape[1] - 1)
    q = ebsd_rotations(poly.orientations[poly.cells[iy, ix]], orientation_noise_deg, rng)
    missing = _not_indexed(valid, float(nonindexed_fraction), rng) | ~valid
    q[missing] = (1.0, 0.0, 0.0, 0.0)
    near = 1.0 - np.exp(-ndimage.distance_transform_edt(poly.boundaries == 0)[iy, ix] / 3.0)
    ci = np.clip(0.25 + 0.7 * near + rng.normal(0, 0.03, valid.shape), 0.01, 1.0)
    iq = 3000.0 + 2000.0 * near + rng.normal(0, 50.0, valid.shape)
    ci[missing], iq[missing & valid], iq[~valid] = -1.0, 0.3 * iq[missing & valid], 0.0
    phase_ids = np.where(missing, -1, 1).astype(np.int32)
    logger.debug("synthetic EBSD map %s (%s), %.1f%% not indexed", valid.shape, grid,
                 100 * missing[valid].mean())
    return EBSDMap(q, phase_ids, {1: NICKEL}, float(step_px) * poly.pixel_size, grid=grid,
                   quality={"ci": ci.astype(np.float32), "iq": iq.astype(np.float32)},
                   metadata={"synthetic": True, "step_px": float(step_px), "seed": int(seed),
                             "orientation_noise_deg": float(orientation_noise_deg),
                             "nonindexed_fraction": float(nonindexed_fraction)})
