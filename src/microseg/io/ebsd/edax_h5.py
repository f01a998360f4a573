"""EDAX OIM ``.h5`` EBSD scans (OIM Analysis / APEX HDF5).

Layout read: one group per scan holding ``EBSD/Data/`` with ``Phi1``, ``Phi``, ``Phi2``
(Bunge, radians), ``X Position``, ``Y Position`` (µm), ``Phase``, ``CI``, ``IQ``, ``Fit`` and
optionally ``SEM Signal``; and ``EBSD/Header/`` with ``Grid Type`` (``SqrGrid`` or
``HexGrid``), ``nColumns``, ``nRows``, ``Step X``, ``Step Y`` and ``Phase/<n>/``
(``MaterialName``, ``Symmetry`` as a TSL code, ``Lattice Constant a``, ``b``, ``c``,
``alpha``, ``beta``, ``gamma``). Numbers may be scalars or one-element data sets.

Rules are those of :mod:`microseg.io.ebsd.ang`: not indexed where CI == -1, all Euler angles
are 4π, or the phase id is -1 (0 in a multi-phase scan; 0 means the phase in a single-phase
scan). A hexagonal scan has ``nColumns`` points in rows 1, 3, ... and ``nColumns - 1`` (or
``nColumns``) in the others, placed by position.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from microseg._util import FileFormatError, InputError
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io.ebsd._common import (
    TSL_SYMMETRY, Columns, GridSpec, assemble_map, check_ebsd_file, rename_phases,
    symmetry_from_code, tsl_phase_ids,
)
from microseg.io.ebsd._hdf import column, need, open_h5, scalar, text

logger = logging.getLogger(__name__)

__all__ = ["read_edax_h5", "scans"]

#: Data set name -> quality field.
QUALITY = {"CI": "ci", "IQ": "iq", "Fit": "fit", "SEM Signal": "detector_signal"}
_LATTICE = ("a", "b", "c", "alpha", "beta", "gamma")


def scans(f) -> list[str]:
    """Names of the groups of an open EDAX file that hold ``EBSD/Data`` and ``EBSD/Header``."""
    import h5py

    return [k for k in f if isinstance(f[k], h5py.Group) and "EBSD" in f[k]
            and "Data" in f[k]["EBSD"] and "Header" in f[k]["EBSD"]]


def _phases(header, path) -> dict[int, Phase]:
    group = need(header, "Phase", path)
    phases = {}
    for key in group:
        if not key.isdigit() or int(key) < 1:
            raise FileFormatError(f"{path}: phase group {group.name}/{key} is not named 1, 2, ...")
        ph = group[key]
        sym = symmetry_from_code(str(scalar(ph, "Symmetry", path, int)), TSL_SYMMETRY,
                                 where=f"{path}: {ph.name}/Symmetry", kind="TSL Symmetry code")
        lattice = ()
        if all(f"Lattice Constant {k}" in ph for k in _LATTICE):
            lattice = tuple(scalar(ph, f"Lattice Constant {k}", path) for k in _LATTICE)
        phases[int(key)] = Phase(int(key), text(ph, "MaterialName", path) or f"phase{key}", sym,
                                 lattice)
    if not phases:
        raise FileFormatError(f"{path}: {group.name} holds no phase")
    return phases


def _spec(header, path, n: int) -> GridSpec:
    grid = text(header, "Grid Type", path, "SqrGrid")
    if grid.lower() not in ("sqrgrid", "hexgrid"):
        raise FileFormatError(f"{path}: {header.name}/Grid Type is {grid!r}; expected SqrGrid "
                              "or HexGrid")
    ncols, nrows = scalar(header, "nColumns", path, int), scalar(header, "nRows", path, int)
    xstep, ystep = scalar(header, "Step X", path), scalar(header, "Step Y", path)
    if grid.lower() == "sqrgrid":
        return GridSpec("square", xstep, ystep, nrows, ncols, ncols)
    spec = GridSpec("hexagonal", xstep, ystep, nrows, ncols, ncols - 1)
    return spec if spec.size == n else GridSpec("hexagonal", xstep, ystep, nrows, ncols, ncols)


def read_edax_h5(path: str | os.PathLike, *, phase_names=None, scan: str | None = None) -> EBSDMap:
    """Read one scan of an EDAX OIM ``.h5`` file.

    Parameters
    ----------
    path : str or path-like
        The ``.h5`` file.
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases.
    scan : str, optional
        Name of the scan group; default the first one.

    Returns
    -------
    EBSDMap
        Quality fields ``ci``, ``iq``, ``fit`` (and ``detector_signal``) that the file holds.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    FileFormatError
        If it is not HDF5, holds no ``<scan>/EBSD/Data`` (Bruker and EMsoft ``.h5`` are not
        read here), lacks a data set (named), or does not fill its grid.
    InputError
        If ``scan`` is not in the file.
    """
    path = check_ebsd_file(path, None)
    with open_h5(path, what="EDAX OIM .h5 EBSD scan") as f:
        names = scans(f)
        if not names:
            raise FileFormatError(f"{path}: no '<scan>/EBSD/Data' and 'EBSD/Header' groups; not "
                                  "an EDAX OIM .h5 file (Bruker/EMsoft .h5 are not supported)")
        if scan is not None and scan not in names:
            raise InputError(f"{path}: no scan {scan!r}; scans: {', '.join(names)}")
        name = scan or names[0]
        header, data = f[name]["EBSD"]["Header"], f[name]["EBSD"]["Data"]
        phases = rename_phases(_phases(header, path), phase_names, where=str(path))
        euler = np.column_stack([column(data, k, path) for k in ("Phi1", "Phi", "Phi2")])
        n = len(euler)
        raw = column(data, "Phase", path, n)
        x, y = column(data, "X Position", path, n), column(data, "Y Position", path, n)
        quality = {q: column(data, k, path, n).astype(np.float32)
                   for k, q in QUALITY.items() if k in data}
        spec = _spec(header, path, n)
    bad = ~np.all(np.isfinite(euler), axis=1) | ~np.isfinite(raw) | (raw != np.rint(raw))
    phase = tsl_phase_ids(np.where(bad, -1, np.nan_to_num(raw)), np.nan_to_num(euler),
                          quality.get("ci"), phases)
    if not np.all(np.isfinite(x + y)):
        raise FileFormatError(f"{path}: {name}/EBSD/Data X or Y Position holds NaN or inf")
    cols = Columns(np.nan_to_num(euler), phase, x, y, quality, where=lambda i: f"point {i}")
    out = assemble_map(cols, spec, phases, file=str(path),
                       metadata={"format": "edax_h5", "scan": name})
    logger.debug("read %s: %r", path, out)
    return out
