"""Vectorised disorientation and CSL-deviation kernels built on orix.

orix supplies the crystal symmetry operators, the quaternion products and the CSL
equivalents; the kernels only take the largest ``|dot|`` of each misorientation with a small
set of reference rotations (numpy, in chunks), which is what
:meth:`orix.quaternion.Orientation.dot` does for one pair of arrays.

Conventions: EBSD rotations are orix orientations (sample -> crystal, ``Rotation.from_euler``
of the Bunge angles), so the misorientation from point ``a`` to point ``b`` in the crystal
frame is ``q_b * ~q_a`` and the symmetries act on both sides of it.
"""
from __future__ import annotations

import functools

import numpy as np

from microseg._util import look_up_option

#: Cubic CSL boundaries: name -> (Σ, angle in degrees, axis, class number in boundary maps).
#: Classes 1 HAGB, 2 LAGB and 4 phase boundary are taken; Σ3 keeps 3 (the data contract).
CSL = {
    "3": (3, 60.0, (1, 1, 1), 3),
    "5": (5, 36.87, (1, 0, 0), 5),
    "7": (7, 38.21, (1, 1, 1), 6),
    "9": (9, 38.94, (1, 1, 0), 7),
    "11": (11, 50.48, (1, 1, 0), 8),
    "13a": (13, 22.62, (1, 0, 0), 9),
    "13b": (13, 27.80, (1, 1, 1), 10),
    "27a": (27, 31.59, (1, 1, 0), 11),
    "27b": (27, 35.43, (2, 1, 0), 12),
}

_CHUNK = 1 << 18
_BLOCK = 1 << 14


def csl_names(csl) -> tuple[str, ...]:
    """Normalise a collection of Σ values (``3``, ``"9"``, ``"27a"``, ``"Σ3"``) to keys of
    :data:`CSL`, in ascending class order; unknown names raise an error listing the valid."""
    names = []
    for value in csl:
        name = str(value).lower().lstrip("σs").strip()
        names.append(look_up_option(name, list(CSL), what="CSL boundary (Σ value)"))
    return tuple(sorted(set(names), key=lambda n: CSL[n][3]))


def csl_tolerance(name: str, *, brandon: bool = True) -> float:
    """Largest deviation in degrees for a CSL boundary: Brandon ``15° / Σ^(1/2)`` or, with
    ``brandon=False``, Palumbo–Aust ``15° / Σ^(5/6)``."""
    sigma = CSL[name][0]
    return 15.0 / sigma ** (0.5 if brandon else 5.0 / 6.0)


@functools.lru_cache(maxsize=64)
def symmetry_operators(point_group_name: str) -> np.ndarray:
    """Quaternions ``(K, 4)`` of the proper rotations of a point group (orix)."""
    from microseg.io import point_group

    return np.ascontiguousarray(point_group(point_group_name).proper_subgroup.data)


@functools.lru_cache(maxsize=64)
def is_cubic(point_group_name: str) -> bool:
    """Whether a point group is cubic (CSL references only exist for cubic crystals here)."""
    from microseg.io import point_group

    return point_group(point_group_name).system == "cubic"


@functools.lru_cache(maxsize=64)
def csl_equivalents(name: str, point_group_name: str) -> np.ndarray:
    """All symmetry equivalents ``(K, 4)`` of a CSL misorientation (orix
    :meth:`~orix.quaternion.Misorientation.equivalent`, both grain orders, unique)."""
    from orix.quaternion import Misorientation, Rotation

    from microseg.io import point_group

    sym = point_group(point_group_name).proper_subgroup
    _, angle, axis, _ = CSL[name]
    m = Misorientation.from_axes_angles(np.asarray(axis, float), angle, degrees=True)
    m.symmetry = (sym, sym)
    return np.ascontiguousarray(Rotation(m.equivalent(grain_exchange=True)).unique().data)


def misorientation(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Crystal-frame misorientations ``q_b * ~q_a`` ``(N, 4)`` (orix product)."""
    from orix.quaternion import Quaternion

    return (Quaternion(qb) * ~Quaternion(qa)).data


def min_angle(m: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Smallest rotation angle in degrees between each ``m`` ``(N, 4)`` and any reference
    ``(K, 4)``: ``2 arccos max_k |m . r_k|`` (in cache-sized blocks)."""
    m = np.ascontiguousarray(m, dtype=np.float64)
    ref_t = np.ascontiguousarray(np.asarray(references, dtype=np.float64).T)
    dots = np.empty(len(m))
    buf = np.empty((min(_BLOCK, len(m)), ref_t.shape[1]))
    for s in range(0, len(m), _BLOCK):
        n = min(_BLOCK, len(m) - s)
        b = buf[:n]
        np.matmul(m[s:s + n], ref_t, out=b)
        np.abs(b, out=b)
        b.max(axis=1, out=dots[s:s + n])
    np.minimum(dots, 1.0, out=dots)
    return np.degrees(2.0 * np.arccos(dots))


def disorientation(qa: np.ndarray, qb: np.ndarray, point_group_name: str) -> np.ndarray:
    """Disorientation angles in degrees of orientation pairs ``(N, 4)`` of one phase,
    computed in chunks (float64)."""
    ops = symmetry_operators(point_group_name)
    out = np.empty(len(qa), dtype=np.float64)
    for s in range(0, len(qa), _CHUNK):
        out[s:s + _CHUNK] = min_angle(misorientation(qa[s:s + _CHUNK], qb[s:s + _CHUNK]), ops)
    return out


def chunks(n: int):
    """Slices of ``range(n)`` of the kernels' chunk size."""
    for s in range(0, n, _CHUNK):
        yield slice(s, min(s + _CHUNK, n))


