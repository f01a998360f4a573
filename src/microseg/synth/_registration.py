"""Synthetic SEM/EBSD pairs with an exact registration: affine plus smooth scan drift."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.register import Landmarks, LandmarkTransform, Registration
from microseg.synth._polycrystal import Polycrystal, make_polycrystal
from microseg.synth._sem import render_sem

logger = logging.getLogger(__name__)

__all__ = ["RegistrationPair", "make_registration_pair"]

# Fiducial positions as fractions of the EBSD map (x, y): corners, centre, one more.
_FIDUCIALS = np.array([[0.1, 0.1], [0.9, 0.12], [0.12, 0.9], [0.88, 0.88], [0.5, 0.5],
                       [0.55, 0.15]])


@dataclass(frozen=True)
class RegistrationPair:
    """An SEM micrograph and an EBSD cell map of the same polycrystal, with exact truth.

    Attributes
    ----------
    image : ndarray of float32, shape (Y, X)
        Rendered SE or BSE micrograph of ``poly``.
    poly : Polycrystal
        The truth in the SEM frame (``poly.boundaries`` are the true SEM boundaries).
    cells : ndarray of int32, shape (R, C)
        EBSD cell map (cell ids of ``poly``; 0 where the EBSD point falls outside the image).
    step_um : float
        EBSD step in µm.
    affine : LandmarkTransform
        True global map EBSD ``(x_um, y_um)`` -> SEM ``(col, row)``.
    displacement : ndarray of float32, shape (2, Y, X)
        True drift field ``(d_row, d_col)`` in the convention of
        :class:`~microseg.register.Registration`.
    landmarks : Landmarks
        Fiducial pairs (their SEM positions include the drift and the landmark noise).
    """

    image: np.ndarray
    poly: Polycrystal
    cells: np.ndarray
    step_um: float
    affine: LandmarkTransform
    displacement: np.ndarray
    landmarks: Landmarks

    @property
    def registration(self) -> Registration:
        """The true registration (``warp_cells`` with it reproduces ``poly.cells``)."""
        return Registration(self.affine, self.displacement)


def _random_affine(shape, pixel_size, rng) -> np.ndarray:
    """EBSD µm -> SEM px: rotation of a few degrees, scale 1.0-1.1, shear ~0.02 and a
    translation of ~10 px, about the image centre."""
    theta = np.deg2rad(rng.uniform(-3.0, 3.0))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    lin = rng.uniform(1.0, 1.1) * rot @ np.array([[1.0, rng.uniform(-0.02, 0.02)], [0.0, 1.0]])
    angle = rng.uniform(0, 2 * np.pi)
    shift = 10.0 * np.array([np.cos(angle), np.sin(angle)])
    centre = np.array([(shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0])
    m = np.eye(3)
    m[:2, :2] = lin / pixel_size
    m[:2, 2] = centre + shift - lin @ centre
    return m


class _Drift:
    """Smooth drift ``delta(u, v)`` in px, ``u`` = scan row fraction (time), ``v`` = column
    fraction: a few slow sinusoids in ``u`` plus a low-order 2D polynomial term."""

    def __init__(self, amplitude: float, rng: np.random.Generator):
        self.freq = rng.uniform(0.3, 1.2, (2, 3))
        self.phase = rng.uniform(0, 2 * np.pi, (2, 3))
        self.amp = rng.uniform(0.3, 1.0, (2, 3))
        self.poly = rng.uniform(-1.0, 1.0, (2, 3))
        uu, vv = np.meshgrid(np.linspace(0, 1, 65), np.linspace(0, 1, 65), indexing="ij")
        peak = float(np.hypot(*self._raw(uu, vv)).max())
        self.scale = amplitude / peak if peak > 0 else 0.0

    def _raw(self, u, v):
        out = []
        for k in range(2):
            row = sum(self.amp[k, i] * np.sin(2 * np.pi * self.freq[k, i] * u + self.phase[k, i])
                      for i in range(3))
            a, b, c = self.poly[k]
            out.append(row + 0.6 * (a * (u - 0.5) * (v - 0.5) * 4 + b * (v - 0.5) ** 2 * 4 + c * v))
        return out

    def __call__(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        """``(d_col, d_row)`` in px."""
        dx, dy = self._raw(u, v)
        return dx * self.scale, dy * self.scale


def make_registration_pair(shape: tuple[int, int] = (512, 512), *, mean_diameter_px: float = 40.0,
                           step_px: float = 2.0, affine=None, drift_amplitude_px: float = 15.0,
                           landmark_noise_px: float = 0.5, mode: str = "se",
                           seed: int = 0) -> RegistrationPair:
    """A synthetic SEM image and EBSD cell map related by a known affine plus scan drift.

    The polycrystal of :func:`make_polycrystal` is the truth in the SEM frame and is
    rendered with :func:`render_sem`. The true map of an EBSD point ``x`` (µm) into the
    image is ``affine(x) + delta(x)``, where the drift ``delta`` (max ``drift_amplitude_px``)
    varies slowly with the scan row (time) plus a low-order 2D term. The EBSD map,
    covering about the image at ``step_px`` image pixels per step, reads ``poly.cells``
    (nearest) at each point's true position.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` of the SEM image.
    mean_diameter_px : float
        Mean cell diameter in image pixels.
    step_px : float
        EBSD step in image pixels (``step_um = step_px * poly.pixel_size``).
    affine : (3, 3) array or LandmarkTransform, optional
        True EBSD µm -> SEM px affine; default a random rotation of +-3°, scale 1.0-1.1,
        shear +-0.02 and a 10 px shift about the image centre.
    drift_amplitude_px : float
        Largest drift displacement in px (0 for none).
    landmark_noise_px : float
        Standard deviation of the Gaussian noise on the landmarks' image positions.
    mode : {"se", "bse"}
        Rendering passed to :func:`render_sem`.
    seed : int
        Seed of everything random.

    Returns
    -------
    RegistrationPair

    Examples
    --------
    >>> pair = make_registration_pair((96, 96), mean_diameter_px=20, seed=1)
    >>> pair.image.shape, pair.cells.shape, pair.displacement.shape, len(pair.landmarks)
    ((96, 96), (48, 48), (2, 96, 96), 6)
    """
    if not (np.isfinite(step_px) and 0.5 <= step_px <= 16):
        raise InputError(f"step_px must be in [0.5, 16] image px, got {step_px!r}")
    for name, value in (("drift_amplitude_px", drift_amplitude_px),
                        ("landmark_noise_px", landmark_noise_px)):
        check_positive(value, name, allow_zero=True)
    rng = np.random.default_rng([seed, 7])
    poly = make_polycrystal(shape, mean_diameter_px=mean_diameter_px, seed=seed)
    image = render_sem(poly, mode=mode, seed=seed).data
    shape = poly.shape
    step_um = float(step_px * poly.pixel_size)
    if affine is None:
        affine = _random_affine(shape, poly.pixel_size, rng)
    if not isinstance(affine, LandmarkTransform):
        affine = LandmarkTransform(affine, kind="affine")
    true = affine
    grid = (int(np.ceil(shape[0] / step_px)), int(np.ceil(shape[1] / step_px)))
    drift = _Drift(drift_amplitude_px, rng)

    def forward(xy_um):  # EBSD µm -> SEM (col, row), drift included
        dx, dy = drift(xy_um[:, 1] / step_um / grid[0], xy_um[:, 0] / step_um / grid[1])
        return true(xy_um) + np.stack([dx, dy], axis=1)

    rr, cc = np.indices(grid).reshape(2, -1)
    q = np.floor(forward(np.stack([cc, rr], axis=1) * step_um) + 0.5)
    ok = (q[:, 0] >= 0) & (q[:, 0] < shape[1]) & (q[:, 1] >= 0) & (q[:, 1] < shape[0])
    cells = np.zeros(rr.size, np.int32)
    cells[ok] = poly.cells[q[ok, 1].astype(np.intp), q[ok, 0].astype(np.intp)]
    displacement = _backward_field(true, drift, shape, step_um, grid)
    src = _FIDUCIALS * (np.array(grid[::-1]) - 1) * step_um
    src = src + rng.normal(0, 2 * step_um, src.shape)
    dst = forward(src) + landmark_noise_px * rng.normal(0.0, 1.0, src.shape)
    logger.debug("registration pair %s: drift max %.1f px", shape, drift_amplitude_px)
    return RegistrationPair(image, poly, cells.reshape(grid), step_um, true, displacement,
                            Landmarks(src, dst, tuple(f"F{i + 1}" for i in range(len(src)))))


def _backward_field(true: LandmarkTransform, drift: _Drift, shape, step_um, grid) -> np.ndarray:
    """``d(q) = delta(x(q))`` where ``true(x) + delta(x) = q``, by fixed-point iteration."""
    rr, cc = np.indices(shape, dtype=np.float64).reshape(2, -1)
    q = np.stack([cc, rr], axis=1)
    inv = true.inverse
    d = np.zeros_like(q)
    for _ in range(12):
        x = inv(q - d)
        dx, dy = drift(x[:, 1] / step_um / grid[0], x[:, 0] / step_um / grid[1])
        d = np.stack([dx, dy], axis=1)
    return np.stack([d[:, 1], d[:, 0]]).reshape(2, *shape).astype(np.float32)


def registration_ebsd_map(pair: RegistrationPair, *, orientation_noise_deg: float = 0.5,
                          seed: int = 0):
    """The EBSD map of a :class:`RegistrationPair`: orientations of ``pair.poly`` on the
    EBSD grid of ``pair.cells`` (orix convention, with per-point noise), not indexed where
    the grid falls outside the image. Write it with :func:`microseg.io.write_ebsd` to get
    an ``.ang``/``.ctf`` file whose true registration onto ``pair.image`` is known.

    Examples
    --------
    >>> pair = make_registration_pair((96, 96), mean_diameter_px=30, seed=1)
    >>> m = registration_ebsd_map(pair)
    >>> m.shape == pair.cells.shape, m.step == pair.step_um
    (True, True)
    """
    from microseg.io import EBSDMap
    from microseg.synth._ebsd import NICKEL, ebsd_rotations

    rng = np.random.default_rng(seed)
    cells = pair.cells
    q = ebsd_rotations(pair.poly.orientations[cells], float(orientation_noise_deg), rng)
    missing = cells == 0
    q[missing] = (1.0, 0.0, 0.0, 0.0)
    ci = np.where(missing, -1.0, 0.8).astype(np.float32)
    return EBSDMap(q, np.where(missing, -1, 1).astype(np.int32), {1: NICKEL}, float(pair.step_um),
                   quality={"ci": ci}, metadata={"synthetic": True, "seed": int(seed),
                                                 "orientation_noise_deg": float(orientation_noise_deg)})
