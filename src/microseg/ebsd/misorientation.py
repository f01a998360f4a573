"""Neighbour misorientation (disorientation angle, CSL deviation) and kernel average
misorientation of EBSD maps."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from microseg._util import InputError
from microseg.ebsd import _orientation as ori
from microseg.ebsd._grid import DIRECTIONS, edge_lengths, kernel_offsets, neighbour_index
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["NeighbourMisorientation", "neighbour_misorientation", "kernel_average_misorientation"]


@dataclass(frozen=True)
class NeighbourMisorientation:
    """Misorientation between every point and its neighbours, one layer per direction.

    Attributes
    ----------
    grid : {"square", "hexagonal"}
    directions : tuple of str
        ``("right", "down")`` on a square grid, ``("right", "down_left", "down_right")`` on
        a hexagonal one; layer ``k`` of every array belongs to ``directions[k]``.
    angle : ndarray of float32, shape (D, Y, X)
        Disorientation angle in degrees between a point and its neighbour; NaN where either
        is not indexed, the neighbour is outside the map or the phases differ.
    phase_boundary : ndarray of bool, shape (D, Y, X)
        Both points indexed, different phases.
    csl_deviation : dict of str to ndarray of float32, shape (D, Y, X)
        Per CSL name (``"3"``, ``"9"``, ...) the smallest angle in degrees between the
        misorientation and any symmetry equivalent of that CSL misorientation; only for
        cubic phases and where ``angle >= csl_min_angle``, NaN elsewhere.
    edge_length : ndarray of float64, shape (D,)
        Length in µm of the boundary segment that an edge in each direction stands for (the
        shared side of the two Voronoi cells: the row step or step on a square grid,
        ``step / sqrt(3)`` on a hexagonal one).
    csl_min_angle : float
        See ``csl_deviation``.
    """

    grid: str
    directions: tuple[str, ...]
    angle: np.ndarray
    phase_boundary: np.ndarray
    csl_deviation: dict[str, np.ndarray] = field(default_factory=dict)
    edge_length: np.ndarray = field(default_factory=lambda: np.zeros(0))
    csl_min_angle: float = 2.0

    @property
    def sigma3(self) -> np.ndarray | None:
        """Σ3 deviation in degrees ``(D, Y, X)`` (``csl_deviation["3"]``), if computed."""
        return self.csl_deviation.get("3")


def _check_map(m) -> EBSDMap:
    if not isinstance(m, EBSDMap):
        raise InputError(f"m must be a microseg.io.EBSDMap, got {type(m).__name__}")
    return m


def neighbour_misorientation(m: EBSDMap, *, csl=("3",), csl_min_angle: float = 2.0
                             ) -> NeighbourMisorientation:
    """Disorientation angle and CSL deviation between each point and its neighbours.

    Parameters
    ----------
    m : EBSDMap
        The map; symmetry from each phase's point group (its proper rotations).
    csl : iterable of int or str, optional
        CSL boundaries whose deviation is computed (keys of
        :data:`microseg.ebsd.CSL`: ``3, 5, 7, 9, 11, "13a", "13b", "27a", "27b"``).
    csl_min_angle : float, optional
        Deviations are only computed where the disorientation is at least this many degrees
        (every CSL misorientation is far above it; it saves the work on grain interiors).

    Returns
    -------
    NeighbourMisorientation

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.empty((2, 3, 4)); q[:, :2] = Rotation.identity().data
    >>> q[:, 2] = Rotation.from_axes_angles([0, 0, 1], 30, degrees=True).data
    >>> m = EBSDMap(q, np.ones((2, 3), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> nm = neighbour_misorientation(m)
    >>> np.round(nm.angle[0], 1)  # right neighbours; the last column has none
    array([[ 0., 30., nan],
           [ 0., 30., nan]], dtype=float32)
    """
    m = _check_map(m)
    names = ori.csl_names(csl)
    directions = DIRECTIONS[m.grid]
    shape = (len(directions), *m.shape)
    angle = np.full(shape, np.nan, dtype=np.float32)
    pboundary = np.zeros(shape, dtype=bool)
    dev = {n: np.full(shape, np.nan, dtype=np.float32) for n in names}
    q = np.ascontiguousarray(m.rotations, dtype=np.float64).reshape(-1, 4)
    ph = m.phase_ids.ravel()
    for k, direction in enumerate(directions):
        nbr = neighbour_index(m.shape, m.grid, direction).ravel()
        pb = np.where(nbr >= 0, ph[np.maximum(nbr, 0)], -1)
        both = (ph > 0) & (pb > 0)
        pboundary[k].flat[np.flatnonzero(both & (ph != pb))] = True
        for pid, phase in sorted(m.phases.items()):
            sel = np.flatnonzero(both & (ph == pid) & (pb == pid))
            cubic = names and ori.is_cubic(phase.point_group)
            for part in ori.chunks(len(sel)):
                idx = sel[part]
                mis = ori.misorientation(q[idx], q[nbr[idx]])
                a = ori.min_angle(mis, ori.symmetry_operators(phase.point_group))
                angle[k].flat[idx] = a
                if cubic:
                    far = a >= csl_min_angle
                    for n in names:
                        dev[n][k].flat[idx[far]] = ori.min_angle(
                            mis[far], ori.csl_equivalents(n, phase.point_group))
    logger.debug("neighbour misorientation of %s: %d directions", m.shape, len(directions))
    return NeighbourMisorientation(grid=m.grid, directions=directions, angle=angle,
                                   phase_boundary=pboundary, csl_deviation=dev,
                                   edge_length=edge_lengths(m.grid, m.step, m.row_step),
                                   csl_min_angle=float(csl_min_angle))


def kernel_average_misorientation(m: EBSDMap, *, order: int = 1, max_angle: float = 5.0
                                  ) -> np.ndarray:
    """Kernel average misorientation (KAM) in degrees.

    The mean disorientation between a point and the points of its kernel, ignoring
    neighbours that are not indexed, of another phase, or more than ``max_angle`` away
    (grain boundaries).

    Parameters
    ----------
    m : EBSDMap
    order : int, optional
        Kernel: all points within ``order`` steps of the neighbour graph (4-neighbours on a
        square grid, 6 on a hexagonal one; order 2 adds the neighbours' neighbours).
    max_angle : float, optional
        Disorientations above this many degrees are left out.

    Returns
    -------
    kam : ndarray of float32, shape (Y, X)
        NaN where the point is not indexed or no kernel point qualifies.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (3, 3, 1))
    >>> q[1, 1] = Rotation.from_axes_angles([1, 0, 0], 2, degrees=True).data
    >>> m = EBSDMap(q, np.ones((3, 3), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> np.round(kernel_average_misorientation(m), 2)
    array([[0.  , 0.67, 0.  ],
           [0.67, 2.  , 0.67],
           [0.  , 0.67, 0.  ]], dtype=float32)
    """
    m = _check_map(m)
    if not (np.isfinite(max_angle) and max_angle > 0):
        raise InputError(f"max_angle must be a positive number of degrees, got {max_angle!r}")
    ny, nx = m.shape
    q = np.ascontiguousarray(m.rotations, dtype=np.float64)
    ph = m.phase_ids
    total = np.zeros(m.shape)
    count = np.zeros(m.shape)
    parities = (0, 1) if m.grid == "hexagonal" else (0,)
    for parity in parities:
        rows = np.arange(parity, ny, len(parities))
        for dr, dc in kernel_offsets(m.grid, order, parity):
            r0 = rows[(rows + dr >= 0) & (rows + dr < ny)]
            c0 = np.arange(max(0, -dc), min(nx, nx - dc))
            a_ph, b_ph = ph[np.ix_(r0, c0)], ph[np.ix_(r0 + dr, c0 + dc)]
            ok = (a_ph > 0) & (a_ph == b_ph)
            rr, cc = np.nonzero(ok)
            rr, cc = r0[rr], c0[cc]
            ang = np.full(len(rr), np.nan)
            for pid, phase in m.phases.items():
                s = ph[rr, cc] == pid
                ang[s] = ori.disorientation(q[rr[s], cc[s]], q[rr[s] + dr, cc[s] + dc],
                                            phase.point_group)
            use = ang <= max_angle
            np.add.at(total, (rr[use], cc[use]), ang[use])
            np.add.at(count, (rr[use], cc[use]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        kam = np.where((count > 0) & (ph > 0), total / count, np.nan)
    return kam.astype(np.float32)
