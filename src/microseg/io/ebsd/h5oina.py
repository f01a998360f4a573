"""Oxford Instruments ``.h5oina`` (AZtec HDF5) EBSD maps.

Layout read (Oxford's public H5OINA specification): ``/<slice>/EBSD/Data/`` with ``Euler``
``(N, 3)`` Bunge angles in radians, ``Phase`` (0 = not indexed), optional ``X``, ``Y``
(µm), ``Band Contrast``, ``Band Slope``, ``Bands``, ``Error``, ``Mean Angular Deviation``,
``Pattern Quality``; ``/<slice>/EBSD/Header/`` with ``X Cells``, ``Y Cells``, ``X Step``,
``Y Step`` and ``Phases/<n>/`` (``Phase Name``, ``Laue Group`` as an Oxford number,
``Lattice Dimensions`` in Å, ``Lattice Angles`` in radians). The slice is the first name in
the root ``Index`` dataset, else ``1``.

Rules: phase 0, or a NaN Euler angle (pixels outside an irregular acquisition area), means
not indexed. Rotations are ``orix`` ``Rotation.from_euler`` of the stored angles with no
reference-frame change, as for ``.ctf`` files.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from microseg._util import FileFormatError
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io.ebsd._common import (
    OXFORD_LAUE, Columns, GridSpec, assemble_map, check_ebsd_file, rename_phases,
    symmetry_from_code,
)
from microseg.io.ebsd._hdf import column, need, open_h5, scalar, text

logger = logging.getLogger(__name__)

__all__ = ["read_h5oina"]

#: Data set name -> quality field.
QUALITY = {"Band Contrast": "bc", "Band Slope": "bs", "Bands": "bands", "Error": "error",
           "Mean Angular Deviation": "mad", "Pattern Quality": "pattern_quality"}


def _phases(header, path) -> dict[int, Phase]:
    group = need(header, "Phases", path)
    phases = {}
    for key in group:
        if not key.isdigit() or int(key) < 1:
            raise FileFormatError(f"{path}: phase group {group.name}/{key} is not named 1, 2, ...")
        ph = group[key]
        where = f"{path}: {ph.name}"
        laue = symmetry_from_code(str(scalar(ph, "Laue Group", path, int)), OXFORD_LAUE,
                                  where=where, kind="Oxford Laue group")
        lattice = ()
        if "Lattice Dimensions" in ph and "Lattice Angles" in ph:
            dims = column(ph, "Lattice Dimensions", path)
            angles = np.degrees(column(ph, "Lattice Angles", path))
            lattice = tuple(float(v) for v in np.concatenate([dims, angles])[:6])
        phases[int(key)] = Phase(int(key), text(ph, "Phase Name", path) or f"phase{key}", laue,
                                 lattice)
    if not phases:
        raise FileFormatError(f"{path}: {group.name} holds no phase")
    return phases


def _slice_name(f) -> str:
    if "Index" in f:
        names = np.asarray(f["Index"][()]).ravel()
        if names.size:
            name = names[0].decode() if isinstance(names[0], bytes) else str(names[0])
            if name in f:
                return name
    return "1"


def read_h5oina(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read the EBSD map of an Oxford ``.h5oina`` file.

    Parameters
    ----------
    path : str or path-like
        The ``.h5oina`` file.
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases.

    Returns
    -------
    EBSDMap
        Square grid; quality fields from :data:`QUALITY` that the file holds.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    FileFormatError
        If it is not HDF5, lacks a mandatory data set (named in the message), holds an
        unknown Laue group or a number of points other than ``X Cells * Y Cells``.
    """
    path = check_ebsd_file(path, None)
    with open_h5(path, what="Oxford .h5oina EBSD map") as f:
        name = _slice_name(f)
        ebsd = need(need(f, name, path), "EBSD", path)
        header, data = need(ebsd, "Header", path), need(ebsd, "Data", path)
        nx, ny = scalar(header, "X Cells", path, int), scalar(header, "Y Cells", path, int)
        spec = GridSpec("square", scalar(header, "X Step", path), scalar(header, "Y Step", path),
                        ny, nx, nx)
        phases = rename_phases(_phases(header, path), phase_names, where=str(path))
        euler = column(data, "Euler", path, width=3)
        n = len(euler)
        raw = column(data, "Phase", path, n)
        xy = [column(data, k, path, n) if k in data else None for k in ("X", "Y")]
        quality = {q: column(data, k, path, n).astype(np.float32)
                   for k, q in QUALITY.items() if k in data}
    bad = ~np.all(np.isfinite(euler), axis=1) | ~np.isfinite(raw)
    phase = np.where(bad, -1, np.nan_to_num(raw)).astype(np.int64)
    phase[phase <= 0] = -1
    euler = np.where(bad[:, None], 0.0, euler)
    if xy[0] is not None and xy[1] is not None and np.all(np.isfinite(xy[0] + xy[1])):
        cols = Columns(euler, phase, xy[0], xy[1], quality, where=lambda i: f"point {i}")
    else:
        cols = Columns(euler, phase, None, None, quality, where=lambda i: f"point {i}")
    out = assemble_map(cols, spec, phases, file=str(path),
                       metadata={"format": "h5oina", "slice": name})
    logger.debug("read %s: %r", path, out)
    return out
