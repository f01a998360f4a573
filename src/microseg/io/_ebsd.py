"""The EBSD map type: orientations on a square or hexagonal grid, phases and quality fields."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._validate import check_positive

GRIDS = ("square", "hexagonal")


@dataclass(frozen=True)
class Phase:
    """One crystallographic phase of an EBSD map.

    Parameters
    ----------
    id : int
        Phase id as used in :attr:`EBSDMap.phase_ids` (>= 1; 0 and -1 are reserved).
    name : str
        Phase name as in the file (``"Nickel"``, ``"Ni3Al"``, ...).
    point_group : str
        Hermann–Mauguin point group understood by :mod:`orix.quaternion.symmetry`
        (``"m-3m"``, ``"6/mmm"``, ``"4/mmm"``, ...).
    lattice : tuple of float
        ``(a, b, c, alpha, beta, gamma)`` in Å and degrees, when the file gives them.
    """

    id: int
    name: str
    point_group: str
    lattice: tuple[float, ...] = ()

    def symmetry(self):
        """The proper rotations of the point group, an :class:`orix.quaternion.Symmetry`
        (``432`` for ``m-3m``): what misorientation calculations need."""
        return point_group(self.point_group).proper_subgroup


def point_group(name: str):
    """The :mod:`orix` point group called ``name`` (Hermann–Mauguin, e.g. ``"m-3m"``).

    Raises :class:`~microseg._util.InputError` listing the valid names for an unknown one.
    """
    from orix.quaternion import symmetry

    from microseg._util import look_up_option

    groups = {g.name: g for g in symmetry._groups}
    return groups[look_up_option(str(name), sorted(groups), what="point group")]


@dataclass(frozen=True)
class EBSDMap:
    """An EBSD orientation map on a regular grid.

    Arrays are laid out ``(Y, X)`` like an image: row 0 is the top of the scan (smallest y),
    column 0 its left edge.

    Parameters
    ----------
    rotations : ndarray of float64, shape (Y, X, 4)
        Unit quaternions ``(w, x, y, z)``, exactly ``orix.quaternion.Rotation.from_euler``
        of the Bunge Euler angles in the file (orix's convention); identity where a point is
        not indexed.
    phase_ids : ndarray of int32, shape (Y, X)
        Phase id per point (keys of ``phases``); ``-1`` where not indexed.
    phases : dict of int to Phase
        The phases present.
    step : float
        Distance between neighbouring points along x in µm.
    grid : {"square", "hexagonal"}
        On a hexagonal grid odd rows (1, 3, ...) are shifted by ``+step / 2`` in x and rows are
        ``step * sqrt(3) / 2`` apart; rows are stored padded to one width, padding not indexed.
    quality : dict of str to ndarray
        Per-point quality fields, (Y, X) float32, lower-case names: ``ci``, ``iq``, ``fit``
        (EDAX); ``bc``, ``bs``, ``mad``, ``bands``, ``error`` (Oxford) — whatever the file has.
    source : str, optional
        The file it was read from.
    metadata : dict
        Header values worth keeping (microscope, voltage, tilt, ...), JSON-serialisable.
    y_step : float, optional
        Row spacing in µm when it differs from ``step`` on a square grid.
    """

    rotations: np.ndarray
    phase_ids: np.ndarray
    phases: dict[int, Phase]
    step: float
    grid: str = "square"
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    y_step: float | None = None

    def __post_init__(self) -> None:
        where = self.source or "EBSD map"
        if self.grid not in GRIDS:
            raise InputError(f"{where}: grid must be one of {GRIDS}, got {self.grid!r}")
        r, p = np.asarray(self.rotations), np.asarray(self.phase_ids)
        if r.ndim != 3 or r.shape[-1] != 4:
            raise InputError(f"{where}: rotations must have shape (Y, X, 4), got {r.shape}")
        if p.shape != r.shape[:2]:
            raise InputError(f"{where}: phase_ids shape {p.shape} does not match rotations {r.shape[:2]}")
        for name, q in self.quality.items():
            if np.shape(q) != p.shape:
                raise InputError(f"{where}: quality field {name!r} has shape {np.shape(q)}, expected {p.shape}")
        check_positive(self.step, f"{where}: step", unit="µm", what="EBSD step")
        unknown = set(np.unique(p[p > 0]).tolist()) - set(self.phases)
        if unknown:
            raise InputError(f"{where}: phase ids {sorted(unknown)} are not in the phase list "
                             f"{sorted(self.phases)}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(Y, X)`` points."""
        return tuple(self.phase_ids.shape)  # type: ignore[return-value]

    @property
    def indexed(self) -> np.ndarray:
        """Boolean (Y, X): points with a solved orientation."""
        return self.phase_ids > 0

    @property
    def row_step(self) -> float:
        """Distance between rows in µm."""
        if self.grid == "hexagonal":
            return self.step * math.sqrt(3.0) / 2.0
        return self.y_step if self.y_step is not None else self.step

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` in µm of every point, each (Y, X), origin at the first point."""
        rows, cols = np.indices(self.shape, dtype=np.float64)
        x = cols * self.step
        if self.grid == "hexagonal":
            x += (rows % 2) * self.step / 2.0
        return x, rows * self.row_step

    def with_(self, **changes: Any) -> EBSDMap:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        import dataclasses

        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        names = ", ".join(f"{k}:{v.name}({v.point_group})" for k, v in sorted(self.phases.items()))
        return (f"EBSDMap(shape={self.shape}, grid={self.grid!r}, step={self.step} µm, "
                f"indexed={self.indexed.mean():.1%}, phases=[{names}], quality={sorted(self.quality)}, "
                f"source={self.source!r})")
