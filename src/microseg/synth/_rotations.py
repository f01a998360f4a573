"""Unit quaternions and cubic-symmetry misorientation, just enough for the generators.

Quaternions are ``(..., 4)`` arrays ``(w, x, y, z)``. An orientation ``q`` maps crystal
coordinates to sample coordinates: ``v_sample = q v_crystal q*``. The misorientation from
``a`` to ``b`` is ``a* b`` (expressed in the crystal frame of ``a``).
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "quat_multiply", "quat_conjugate", "quat_from_axis_angle", "random_quaternions",
    "rotate_vectors", "disorientation_angle", "sigma3_deviation", "boundary_class",
    "CUBIC_SYMMETRY", "SIGMA3",
]

#: Brandon's criterion for Σ3: 15° / sqrt(3).
SIGMA3_TOLERANCE_DEG = 15.0 / np.sqrt(3.0)
HAGB_DEG = 15.0
LAGB_DEG = 2.0


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a b`` of quaternion arrays that broadcast, shape ``(..., 4)``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion), shape ``(..., 4)``."""
    q = np.array(q, dtype=float)
    q[..., 1:] *= -1.0
    return q


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotation by ``angle`` (radians) about ``axis`` (``(..., 3)``, need not be unit)."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    half = np.broadcast_to(0.5 * np.asarray(angle, dtype=float), axis.shape[:-1])[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def random_quaternions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` orientations uniform on SO(3) (normalised 4-D Gaussians), ``w >= 0``."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q


def rotate_vectors(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Apply rotations ``q`` (``(..., 4)``) to vectors ``v`` (``(..., 3)``)."""
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def _cubic_symmetry() -> np.ndarray:
    """The 24 proper rotations of the cubic point group 432 as quaternions."""
    ops = [np.array([1.0, 0.0, 0.0, 0.0])]
    for axis in np.eye(3):
        for k in (1, 2, 3):
            ops.append(quat_from_axis_angle(axis, k * np.pi / 2))
    for s in [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]:
        ops.append(quat_from_axis_angle(np.array(s, float), np.pi))
    for s in itertools.product((1, -1), repeat=2):
        axis = np.array([1.0, s[0], s[1]])
        for k in (1, 2):
            ops.append(quat_from_axis_angle(axis, k * 2 * np.pi / 3))
    return np.array(ops)


def _unique_rotations(q: np.ndarray) -> np.ndarray:
    """Drop duplicates of ``q`` (rows), treating ``q`` and ``-q`` as the same rotation."""
    q = q * np.where(q[:, :1] < -1e-12, -1.0, 1.0)
    keep: list[np.ndarray] = []
    for row in q:
        if not any(abs(float(row @ k)) > 1 - 1e-9 for k in keep):
            keep.append(row)
    return np.array(keep)


CUBIC_SYMMETRY = _cubic_symmetry()
#: The Σ3 twin misorientation: 60° about [111].
SIGMA3 = quat_from_axis_angle(np.array([1.0, 1.0, 1.0]), np.pi / 3)
# Every equivalent of the Σ3 misorientation under the cubic symmetry on both sides.
_SIGMA3_EQUIVALENTS = _unique_rotations(
    quat_multiply(quat_multiply(CUBIC_SYMMETRY[:, None], SIGMA3), CUBIC_SYMMETRY[None, :]).reshape(-1, 4)
)


def _angle_from_max_dot(dots: np.ndarray) -> np.ndarray:
    return 2.0 * np.arccos(np.clip(np.max(np.abs(dots), axis=-1), 0.0, 1.0))


def disorientation_angle(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Disorientation angle (radians) between cubic orientations ``qa`` and ``qb``.

    Uses ``angle(d S) = 2 arccos |d . S*|`` for ``d = qa* qb`` and the 24 symmetry
    rotations ``S``; the angle is invariant to conjugation, so one side suffices.
    """
    d = quat_multiply(quat_conjugate(qa), qb)
    return _angle_from_max_dot(d @ CUBIC_SYMMETRY.T)


def sigma3_deviation(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Smallest angle (radians) between ``qa* qb`` and any cubic equivalent of 60°@<111>."""
    d = quat_multiply(quat_conjugate(qa), qb)
    return _angle_from_max_dot(d @ _SIGMA3_EQUIVALENTS.T)


def boundary_class(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Boundary class of orientation pairs: 1 HAGB, 2 LAGB, 3 Σ3 twin (uint8).

    Σ3 is Brandon's criterion (within 15°/√3 of 60°@<111>), HAGB a disorientation above
    15°, and everything else LAGB (pairs below 2° are reported as LAGB too: two distinct
    cells always have a boundary).
    """
    angle = np.degrees(disorientation_angle(qa, qb))
    twin = np.degrees(sigma3_deviation(qa, qb)) <= SIGMA3_TOLERANCE_DEG
    out = np.where(angle > HAGB_DEG, 1, 2).astype(np.uint8)
    out[twin] = 3
    return out
