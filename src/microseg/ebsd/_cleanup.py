"""The clean-up a lab applies before reconstructing boundaries: quality threshold, wild-spike
removal, small-grain merge ("grain dilation") and a bounded neighbour fill.

The steps follow EDAX OIM and MTEX practice: a misindexed point disagrees with every
neighbour and draws a closed loop of false boundary around itself; it is made non-indexed
and the neighbour fill of :func:`microseg.ebsd.clean_ebsd` gives it its neighbours'
orientation. Grains of a few points (clusters of misindexed points, noise at the LAGB
threshold) are made non-indexed and filled from the grains around them.
"""
from __future__ import annotations

import logging

import numpy as np

from microseg._util import InputError, look_up_option
from microseg.ebsd._grid import DIRECTIONS, neighbour_index
from microseg.ebsd.clean import _IDENTITY, _fill, _fill_points, _threshold
from microseg.ebsd.grains import reconstruct_grains
from microseg.ebsd.misorientation import _check_map, neighbour_misorientation
from microseg.io import EBSDMap

logger = logging.getLogger(__name__)

__all__ = ["remove_wild_spikes", "merge_small_grains", "lab_cleanup", "auto_quality", "CLEANUP_MODES"]

#: Modes of :func:`lab_cleanup`: ``"lab"`` all steps, ``"none"`` the map unchanged.
CLEANUP_MODES = ("lab", "none")

#: Quality limits that ``min_quality="auto"`` applies, in order of preference: field,
#: ``"min"`` (keep points at or above) or ``"max"`` (at or below), value.
AUTO_QUALITY = (("ci", "min", 0.1), ("mad", "max", 1.0))


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_angle(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not (np.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a non-negative angle in degrees, got {value!r}")
    return float(value)


def _unindex(m: EBSDMap, mask: np.ndarray) -> EBSDMap:
    """``m`` with the points of ``mask`` (Y, X) not indexed (phase -1, identity)."""
    if not mask.any():
        return m
    phase = np.where(mask, -1, m.phase_ids).astype(np.int32)
    q = np.array(m.rotations, dtype=np.float64)
    q[mask] = _IDENTITY
    return m.with_(rotations=q, phase_ids=phase)


def _refill(m: EBSDMap, points: np.ndarray) -> tuple[EBSDMap, int, int]:
    """Fill the non-indexed ``points`` (Y, X) from their neighbours, pass after pass until
    none is left that has an indexed neighbour; return the map, points filled, passes."""
    phase = m.phase_ids.astype(np.int32).copy()
    q = np.array(m.rotations, dtype=np.float64).reshape(-1, 4)
    filled, passes = _fill_points(m, phase, q, points & (phase <= 0), int(points.sum()))
    return m.with_(rotations=q.reshape(m.rotations.shape), phase_ids=phase), filled, passes


def _spike_mask(m: EBSDMap, angle: float, max_agreeing: int, min_neighbours: int) -> np.ndarray:
    """Indexed points that agree with at most ``max_agreeing`` of their indexed neighbours
    and have at least ``min_neighbours`` of them."""
    nm = neighbour_misorientation(m, csl=())
    n = m.shape[0] * m.shape[1]
    compared, agreeing = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for k, direction in enumerate(DIRECTIONS[m.grid]):
        nbr = neighbour_index(m.shape, m.grid, direction).ravel()
        a = nm.angle[k].ravel()
        both = np.isfinite(a) | nm.phase_boundary[k].ravel()  # both indexed, inside
        with np.errstate(invalid="ignore"):
            agree = a <= angle
        for sel, counts in ((both, compared), (agree, agreeing)):
            idx = np.flatnonzero(sel)
            counts += np.bincount(idx, minlength=n) + np.bincount(nbr[idx], minlength=n)
    spikes = m.indexed.ravel() & (compared >= min_neighbours) & (agreeing <= max_agreeing)
    return spikes.reshape(m.shape)


def remove_wild_spikes(m: EBSDMap, *, angle: float = 5.0, max_agreeing: int = 0,
                       min_neighbours: int = 2) -> EBSDMap:
    """Make "wild spikes" non-indexed: points whose orientation agrees with none of their
    indexed neighbours (the EDAX OIM / MTEX clean-up of misindexed points).

    A neighbour agrees when it is of the same phase and its disorientation (symmetry-aware)
    is at most ``angle``; neighbours are the grid's (4 on a square grid, 6 on a hexagonal
    one). A point is a spike when at most ``max_agreeing`` of its indexed neighbours agree
    and it has at least ``min_neighbours`` indexed neighbours. All points are judged on the
    input map (one pass). Fill the removed points with :func:`clean_ebsd` or use
    :func:`lab_cleanup`, which does both.

    Parameters
    ----------
    m : EBSDMap
    angle : float, optional
        Largest disorientation in degrees between agreeing neighbours.
    max_agreeing : int, optional
        0 (default): a spike disagrees with all its neighbours, so a grain of two points
        stays. 1: also points that agree with one neighbour ("all but one"), which removes
        grains of two points and one-point-wide protrusions.
    min_neighbours : int, optional
        Points with fewer indexed neighbours are kept (an isolated point at the edge of a
        non-indexed region is not judged on one neighbour).

    Returns
    -------
    EBSDMap
        A new map; quality fields as they were; ``metadata["remove_wild_spikes"]`` records
        the options and the number of points removed.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (3, 3, 1))
    >>> q[1, 1] = Rotation.from_axes_angles([1, 1, 0], 40, degrees=True).data
    >>> m = EBSDMap(q, np.ones((3, 3), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> remove_wild_spikes(m).phase_ids
    array([[ 1,  1,  1],
           [ 1, -1,  1],
           [ 1,  1,  1]], dtype=int32)
    """
    m = _check_map(m)
    angle = _check_angle(angle, "angle")
    max_agreeing = _check_int(max_agreeing, "max_agreeing", 0)
    min_neighbours = _check_int(min_neighbours, "min_neighbours", 1)
    spikes = _spike_mask(m, angle, max_agreeing, min_neighbours)
    out = _unindex(m, spikes)
    meta = dict(m.metadata)
    meta["remove_wild_spikes"] = {"angle_deg": angle, "max_agreeing": max_agreeing,
                                  "min_neighbours": min_neighbours, "removed": int(spikes.sum())}
    logger.info("remove_wild_spikes: %d points removed", int(spikes.sum()))
    return out.with_(metadata=meta)


def _small_grain_mask(m: EBSDMap, min_size: int, lagb: float) -> tuple[np.ndarray, int]:
    """Points of grains (at ``lagb``) with fewer than ``min_size`` points; and their number."""
    labels = reconstruct_grains(m, threshold=lagb)
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    return small[labels], int(small.sum())


def merge_small_grains(m: EBSDMap, *, min_size: int = 5, lagb: float = 2.0,
                       fill: bool = True) -> EBSDMap:
    """Give grains of fewer than ``min_size`` points to the grains around them ("grain
    dilation").

    Grains are reconstructed with :func:`reconstruct_grains` at ``threshold=lagb`` (the cells
    the boundary labels are drawn from). All small grains are made non-indexed at once and,
    with ``fill``, filled from the hole edges inward by the neighbour rule of
    :func:`clean_ebsd` (most common phase among the indexed neighbours, ties to the lowest
    phase id; the medoid orientation of those neighbours), pass after pass until no point
    with an indexed neighbour is left. So a small grain is never merged into another small
    grain; one with no indexed neighbour (an island in a non-indexed region) stays non-indexed.
    The result depends only on the map (no random ties).

    Parameters
    ----------
    m : EBSDMap
    min_size : int, optional
        Grains with fewer points are merged; 0 or 1 merges none.
    lagb : float, optional
        Grain threshold in degrees.
    fill : bool, optional
        False: only make the small grains non-indexed.

    Returns
    -------
    EBSDMap
        A new map; ``metadata["merge_small_grains"]`` records the options, the number of
        grains and points removed and the points filled.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (3, 4, 1))
    >>> q[1, 1:3] = Rotation.from_axes_angles([1, 1, 0], 40, degrees=True).data
    >>> m = EBSDMap(q, np.ones((3, 4), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> out = merge_small_grains(m, min_size=3)
    >>> np.allclose(out.rotations, Rotation.identity().data), out.metadata["merge_small_grains"]["grains"]
    (True, 1)
    """
    m = _check_map(m)
    min_size = _check_int(min_size, "min_size", 0)
    lagb = _check_angle(lagb, "lagb")
    small, grains = _small_grain_mask(m, min_size, lagb)
    out = _unindex(m, small)
    filled = passes = 0
    if fill and small.any():
        out, filled, passes = _refill(out, small)
    meta = dict(m.metadata)
    meta["merge_small_grains"] = {"min_size": min_size, "lagb_deg": lagb, "fill": bool(fill),
                                  "grains": grains, "removed": int(small.sum()),
                                  "filled": filled, "passes": passes}
    logger.info("merge_small_grains: %d grains (%d points) below %d points, %d filled",
                grains, int(small.sum()), min_size, filled)
    return out.with_(metadata=meta)


def auto_quality(m: EBSDMap) -> tuple[dict[str, float], dict[str, float], str]:
    """The quality limits ``min_quality="auto"`` applies to a map.

    The first field of :data:`AUTO_QUALITY` the map has whose values vary over the indexed
    points: ``ci >= 0.1`` (EDAX ``.ang`` / EDAX HDF5 confidence index), else ``mad <= 1.0``
    (Oxford ``.ctf`` / ``.h5oina`` mean angular deviation, degrees), else none. A field that
    is constant over the indexed points (a CI column of zeros) carries no information and
    is skipped.

    Returns
    -------
    min_quality, max_quality : dict of str to float
        For :func:`clean_ebsd`.
    reason : str
        What was chosen and why, for the record.
    """
    m = _check_map(m)
    for name, side, value in AUTO_QUALITY:
        if name not in m.quality:
            continue
        field = np.asarray(m.quality[name])[m.indexed]
        field = field[np.isfinite(field)]
        if field.size == 0 or np.ptp(field) == 0:
            logger.info("auto quality: %s is constant over the indexed points, not used", name)
            continue
        limit = {name: float(value)}
        low, high = (limit, {}) if side == "min" else ({}, limit)
        return low, high, f"auto: {name} {'>=' if side == 'min' else '<='} {value:g}"
    return {}, {}, "auto: no usable quality field"


def _quality_limits(m: EBSDMap, min_quality, max_quality) -> tuple[dict, dict, str]:
    """Resolve the quality arguments of :func:`lab_cleanup`."""
    if max_quality is not None and not isinstance(max_quality, dict):
        raise InputError(f"max_quality must be None or a dict of quality field -> value, got {max_quality!r}")
    high = {str(k): float(v) for k, v in (max_quality or {}).items()}
    if isinstance(min_quality, str):
        choice = look_up_option(min_quality, ("auto", "none"), what="min_quality")
        if choice == "none":
            return {}, high, "none"
        low, auto_high, reason = auto_quality(m)
        return low, {**auto_high, **high}, reason
    if min_quality is None:
        return {}, high, "none" if not high else "given"
    if not isinstance(min_quality, dict):
        raise InputError("min_quality must be 'auto', 'none', None or a dict of quality field -> "
                         f"value, got {min_quality!r}")
    return {str(k): float(v) for k, v in min_quality.items()}, high, "given"


def _check_options(mode, spike_angle, min_grain_size, lagb, max_hole, max_iterations) -> str:
    mode = look_up_option(mode, CLEANUP_MODES, what="clean-up mode")
    _check_angle(spike_angle, "spike_angle")
    _check_int(min_grain_size, "min_grain_size", 0)
    _check_angle(lagb, "lagb")
    _check_int(max_iterations, "max_iterations", 0)
    if max_hole is not None and (isinstance(max_hole, bool) or not isinstance(max_hole, (int, float, np.number))
                                 or not max_hole >= 0):
        raise InputError(f"max_hole must be None or a non-negative number of points, got {max_hole!r}")
    return mode


def _quality_step(m: EBSDMap, low: dict, high: dict, reason: str) -> tuple[EBSDMap, dict]:
    bad = _threshold(m, low or None, upper=False, arg="min_quality")
    bad |= _threshold(m, high or None, upper=True, arg="max_quality")
    bad &= m.indexed
    return _unindex(m, bad), {"choice": reason, "min_quality": low, "max_quality": high,
                              "removed": int(bad.sum())}


def _spike_step(m: EBSDMap, angle: float) -> tuple[EBSDMap, dict]:
    mask = _spike_mask(m, angle, 0, 2)
    return _unindex(m, mask), {"angle_deg": angle, "max_agreeing": 0, "min_neighbours": 2,
                               "removed": int(mask.sum())}


def _small_grain_step(m: EBSDMap, min_size: int, lagb: float) -> tuple[EBSDMap, dict]:
    mask, grains = _small_grain_mask(m, min_size, lagb)
    m, filled, passes = _refill(_unindex(m, mask), mask) if mask.any() else (m, 0, 0)
    return m, {"min_size": min_size, "lagb_deg": lagb, "grains": grains,
               "removed": int(mask.sum()), "filled": filled, "passes": passes}


def _fill_step(m: EBSDMap, max_hole, max_iterations: int) -> tuple[EBSDMap, dict]:
    phase = m.phase_ids.astype(np.int32).copy()
    q = np.array(m.rotations, dtype=np.float64).reshape(-1, 4)
    filled, passes = _fill(m, phase, q, max_iterations, max_hole)
    m = m.with_(rotations=q.reshape(m.rotations.shape), phase_ids=phase)
    return m, {"max_hole": None if max_hole is None else int(max_hole),
               "max_iterations": max_iterations, "filled": filled, "passes": passes}


def lab_cleanup(m: EBSDMap, *, mode: str = "lab", min_quality: str | dict[str, float] | None = "auto",
                max_quality: dict[str, float] | None = None, spikes: bool = True,
                spike_angle: float = 5.0, min_grain_size: int = 5, lagb: float = 2.0,
                fill: bool = True, max_hole: int | None = 50, max_iterations: int = 10) -> EBSDMap:
    """Clean an EBSD map the way a lab does before reconstructing boundaries.

    In this order (each step sees the result of the previous one):

    1. **quality**: points below ``min_quality`` or above ``max_quality`` become
       non-indexed. ``"auto"`` (:func:`auto_quality`): ``ci >= 0.1`` where the map has a
       confidence index (EDAX ``.ang``, EDAX HDF5), else ``mad <= 1.0`` where it has a mean
       angular deviation (Oxford ``.ctf``, ``.h5oina``), else no threshold.
    2. **spikes** (``spikes``): :func:`remove_wild_spikes` at ``spike_angle`` — points that
       agree with none of their indexed neighbours become non-indexed.
    3. **small_grains** (``min_grain_size`` > 1): :func:`merge_small_grains` — grains at
       ``lagb`` of fewer than ``min_grain_size`` indexed points are filled from the grains
       around them.
    4. **fill** (``fill``): non-indexed points are filled from their neighbours as in
       :func:`clean_ebsd` (at most ``max_iterations`` passes); holes of more than ``max_hole``
       points (a non-indexed sample border, a pore) stay non-indexed.

    Parameters
    ----------
    m : EBSDMap
    mode : {"lab", "none"}, optional
        ``"none"``: no clean-up at all; the map comes back unchanged except for the record.
    min_quality : "auto", "none", None or dict of str to float, optional
        Lower limits per quality field (``{"ci": 0.1}``), or ``"auto"``, which may also set
        an upper limit (MAD).
    max_quality : dict of str to float, optional
        Upper limits per quality field (``{"mad": 1.3}``), added to those of ``"auto"``.
    spikes : bool, optional
        Remove wild spikes.
    spike_angle : float, optional
        Disorientation in degrees above which neighbours disagree.
    min_grain_size : int, optional
        Smallest grain kept, in points (the "five-pixel" clean of seed 000); 0 or 1 keeps all.
    lagb : float, optional
        Threshold in degrees of the grains of step 3 (the cells of the boundary labels).
    fill : bool, optional
        Fill the non-indexed points of step 4.
    max_hole : int or None, optional
        Largest hole filled in step 4, in points; None fills every hole.
    max_iterations : int, optional
        Passes of the fill of step 4 (one point deep each).

    Returns
    -------
    EBSDMap
        A new map; quality fields as they were. ``metadata["clean_ebsd"]`` (JSON-ready)
        holds ``mode``, ``steps`` (names of the steps applied, in order), one dict per step
        with its options and counts (``removed``, ``grains``, ``filled``, ``passes``), and
        ``indexed_before``, ``removed``, ``filled`` and ``not_indexed`` over all steps.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from microseg.io import EBSDMap, Phase
    >>> q = np.tile(Rotation.identity().data, (4, 4, 1))
    >>> q[1, 2] = Rotation.from_axes_angles([1, 1, 0], 40, degrees=True).data
    >>> ci = np.full((4, 4), 0.8, np.float32); ci[2, 1] = 0.05
    >>> m = EBSDMap(q, np.ones((4, 4), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0,
    ...             quality={"ci": ci})
    >>> out = lab_cleanup(m)
    >>> np.allclose(out.rotations, Rotation.identity().data), bool(out.indexed.all())
    (True, True)
    >>> rec = out.metadata["clean_ebsd"]
    >>> rec["steps"], rec["quality"]["removed"], rec["spikes"]["removed"], rec["filled"]
    (['quality', 'spikes', 'small_grains', 'fill'], 1, 1, 2)
    """
    m = _check_map(m)
    mode = _check_options(mode, spike_angle, min_grain_size, lagb, max_hole, max_iterations)
    record: dict = {"mode": mode, "steps": [], "indexed_before": int(m.indexed.sum())}
    steps = []
    if mode == "lab":
        low, high, reason = _quality_limits(m, min_quality, max_quality)
        if low or high:
            steps.append(("quality", lambda x: _quality_step(x, low, high, reason)))
        if spikes:
            steps.append(("spikes", lambda x: _spike_step(x, float(spike_angle))))
        if min_grain_size > 1:
            steps.append(("small_grains", lambda x: _small_grain_step(x, int(min_grain_size), float(lagb))))
        if fill and m.phases:
            steps.append(("fill", lambda x: _fill_step(x, max_hole, int(max_iterations))))
    for name, step in steps:
        m, record[name] = step(m)
        record["steps"].append(name)
    record.update(removed=sum(record[n].get("removed", 0) for n in record["steps"]),
                  filled=sum(record[n].get("filled", 0) for n in record["steps"]),
                  not_indexed=int((~m.indexed).sum()))
    logger.info("lab_cleanup (%s): %s; %d removed, %d filled, %d not indexed", mode,
                ", ".join(record["steps"]) or "nothing", record["removed"], record["filled"],
                record["not_indexed"])
    return m.with_(metadata={**m.metadata, "clean_ebsd": record})
