"""Boundary classes of neighbour edges (HAGB, LAGB, Σ3 and other CSL, phase boundaries) and
their lengths."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from microseg._util import InputError
from microseg.ebsd import _orientation as ori
from microseg.ebsd.misorientation import NeighbourMisorientation, _check_map, neighbour_misorientation
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["BoundaryEdges", "classify_boundaries", "boundary_summary", "CLASS_NAMES",
           "NONE", "HAGB", "LAGB", "SIGMA3", "PHASE"]

NONE, HAGB, LAGB, SIGMA3, PHASE = 0, 1, 2, 3, 4
#: Class number -> name. 0-3 are the data contract (interior, HAGB, LAGB, Σ3 twin), 4 is a
#: phase boundary, 5 and up the other CSL boundaries of :data:`microseg.ebsd.CSL`.
CLASS_NAMES = {NONE: "none", HAGB: "hagb", LAGB: "lagb", PHASE: "phase",
               **{c[3]: f"sigma{n}" for n, c in ori.CSL.items()}}


@dataclass(frozen=True)
class BoundaryEdges:
    """Boundary class of every neighbour edge of an EBSD map.

    Attributes
    ----------
    grid : {"square", "hexagonal"}
    directions : tuple of str
        Direction of each layer (see :class:`NeighbourMisorientation`).
    classes : ndarray of uint8, shape (D, Y, X)
        Class of the edge from each point to its neighbour in ``directions[k]``:
        0 none (disorientation <= ``lagb``, not indexed, or outside the map), 1 HAGB
        (> ``hagb``), 2 LAGB (``lagb`` < angle <= ``hagb``), 3 Σ3 twin, 4 phase boundary,
        5+ other CSL boundaries (:data:`CLASS_NAMES`). CSL classes take precedence over
        HAGB/LAGB; a lower Σ over a higher one.
    angle : ndarray of float32, shape (D, Y, X)
        Disorientation angle in degrees (NaN where undefined).
    edge_length : ndarray of float64, shape (D,)
        Boundary length in µm that one edge of each direction stands for.
    lagb, hagb : float
        Thresholds in degrees.
    csl : tuple of str
        CSL boundaries that were looked for.
    """

    grid: str
    directions: tuple[str, ...]
    classes: np.ndarray
    angle: np.ndarray
    edge_length: np.ndarray
    lagb: float
    hagb: float
    csl: tuple[str, ...]

    @property
    def phase_boundary(self) -> np.ndarray:
        """Bool ``(D, Y, X)``: edges between two indexed points of different phases."""
        return self.classes == PHASE


def _check_thresholds(lagb: float, hagb: float) -> None:
    if not (np.isfinite(lagb) and lagb >= 0):
        raise InputError(f"lagb must be a non-negative angle in degrees, got {lagb!r}")
    if not (np.isfinite(hagb) and lagb < hagb <= 180):
        raise InputError(f"hagb must be in (lagb, 180] degrees, got hagb={hagb!r} with lagb={lagb!r}")


def classify_boundaries(m: EBSDMap, *, lagb: float = 2.0, hagb: float = 15.0, sigma3: bool = True,
                        brandon: bool = True, csl=(3,),
                        misorientation: NeighbourMisorientation | None = None) -> BoundaryEdges:
    """Classify every neighbour edge of an EBSD map.

    Parameters
    ----------
    m : EBSDMap
    lagb, hagb : float, optional
        Disorientations above ``lagb`` degrees are boundaries (dislocation walls at or below
        it are not); above ``hagb`` high-angle, else low-angle.
    sigma3 : bool, optional
        Look for Σ3 twins (class 3); ``False`` drops Σ3 even when ``csl`` names it.
    brandon : bool, optional
        CSL tolerance ``15° / sqrt(Σ)`` (Brandon); ``False``: ``15° / Σ^(5/6)`` (Palumbo–Aust).
    csl : iterable of int or str, optional
        CSL boundaries to flag (cubic phases only): ``3`` -> class 3, ``5, 7, 9, 11, "13a",
        "13b", "27a", "27b"`` -> classes 5-12 (:data:`CLASS_NAMES`).
    misorientation : NeighbourMisorientation, optional
        Reuse a result of :func:`neighbour_misorientation` (it must hold the CSL deviations
        asked for).

    Returns
    -------
    BoundaryEdges

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.empty((1, 4, 4))
    >>> q[0, 0] = q[0, 1] = Rotation.identity().data
    >>> q[0, 2] = Rotation.from_axes_angles([0, 0, 1], 10, degrees=True).data
    >>> q[0, 3] = Rotation.from_axes_angles([0, 0, 1], 40, degrees=True).data
    >>> m = EBSDMap(q, np.ones((1, 4), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> classify_boundaries(m).classes[0]  # right edges: none, LAGB, HAGB, (none: outside)
    array([[0, 2, 1, 0]], dtype=uint8)
    """
    m = _check_map(m)
    _check_thresholds(lagb, hagb)
    names = tuple(n for n in ori.csl_names(csl) if sigma3 or n != "3")
    nm = misorientation
    if nm is None:
        nm = neighbour_misorientation(m, csl=names, csl_min_angle=min(lagb, 2.0))
    else:
        missing = [n for n in names if n not in nm.csl_deviation]
        if missing or nm.angle.shape[1:] != m.shape:
            raise InputError("misorientation does not match: it must come from "
                             f"neighbour_misorientation(m, csl={names}) of this map "
                             f"(missing CSL {missing}, shape {nm.angle.shape[1:]} vs {m.shape})")
    a = nm.angle
    classes = np.zeros(a.shape, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        boundary = a > lagb
        classes[boundary] = LAGB
        classes[a > hagb] = HAGB
        for name in reversed(names):  # lower Σ written last wins
            tol = ori.csl_tolerance(name, brandon=brandon)
            classes[boundary & (nm.csl_deviation[name] <= tol)] = ori.CSL[name][3]
    classes[nm.phase_boundary] = PHASE
    return BoundaryEdges(grid=m.grid, directions=nm.directions, classes=classes, angle=a,
                         edge_length=nm.edge_length, lagb=float(lagb), hagb=float(hagb), csl=names)


def boundary_summary(m: EBSDMap, edges: BoundaryEdges) -> dict:
    """Boundary lengths per class.

    Each edge stands for one side of a Voronoi cell (``edges.edge_length``: the step on a
    square grid, ``step / sqrt(3)`` on a hexagonal one).

    Returns
    -------
    dict
        ``length_um`` (class name -> µm, classes exclusive as in ``edges.classes``),
        ``count`` (class name -> edges), ``percent`` (class name -> % of all grain
        boundaries, i.e. every class but phase boundaries), ``percent_by_angle`` (``lagb``,
        ``hagb``: the same total split by angle alone, so CSL boundaries count with the band
        their angle falls in; Σ3 is part of ``hagb`` here), ``total_um`` (grain boundaries),
        ``phase_boundary_um``.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.empty((3, 2, 4)); q[:, 0] = Rotation.identity().data
    >>> q[:, 1] = Rotation.from_axes_angles([0, 0, 1], 30, degrees=True).data
    >>> m = EBSDMap(q, np.ones((3, 2), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=0.5)
    >>> s = boundary_summary(m, classify_boundaries(m))
    >>> s["length_um"]["hagb"], s["percent"]["hagb"], s["count"]["hagb"]
    (1.5, 100.0, 3)
    """
    m = _check_map(m)
    if not isinstance(edges, BoundaryEdges) or edges.classes.shape[1:] != m.shape:
        raise InputError("edges must be the BoundaryEdges of this map (classify_boundaries(m))")
    lengths = edges.edge_length[:, None]
    counts = np.stack([np.bincount(c.ravel(), minlength=256) for c in edges.classes])
    by_class = (counts * lengths).sum(axis=0)
    present = [c for c in CLASS_NAMES if c != NONE]
    grain = [c for c in present if c != PHASE]
    total = float(sum(by_class[c] for c in grain))
    pct = (lambda v: 100.0 * v / total if total > 0 else float("nan"))
    a = edges.angle
    with np.errstate(invalid="ignore"):
        in_grain = (edges.classes > 0) & (edges.classes != PHASE)
        hagb = float(((in_grain & (a > edges.hagb)).reshape(len(lengths), -1).sum(1) * lengths[:, 0]).sum())
    lagb = total - hagb
    wanted = [c for c in present if c in (HAGB, LAGB, PHASE) or CLASS_NAMES[c][5:] in edges.csl]
    return {
        "length_um": {CLASS_NAMES[c]: float(by_class[c]) for c in wanted},
        "count": {CLASS_NAMES[c]: int(counts[:, c].sum()) for c in wanted},
        "percent": {CLASS_NAMES[c]: pct(float(by_class[c])) for c in wanted if c != PHASE},
        "percent_by_angle": {"lagb": pct(lagb), "hagb": pct(hagb)},
        "total_um": total,
        "phase_boundary_um": float(by_class[PHASE]),
        "thresholds": {"lagb": edges.lagb, "hagb": edges.hagb, "csl": list(edges.csl)},
    }

