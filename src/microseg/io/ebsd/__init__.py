"""EBSD map files: one module per vendor format, dispatched by extension.

========== ============================ =========== ===========
extension  format                       read        write
========== ============================ =========== ===========
``.ang``   EDAX/TSL text (square, hex)  read_ang    write_ang
``.ctf``   Oxford text (square)         read_ctf    write_ctf
``.h5oina`` Oxford AZtec HDF5           read_h5oina
``.h5``    EDAX OIM HDF5                read_edax_h5
========== ============================ =========== ===========

Every reader returns an :class:`~microseg.io.EBSDMap` whose rotations are exactly
``orix.quaternion.Rotation.from_euler`` of the file's Bunge angles (identity where not
indexed) and raises :class:`~microseg._util.FileFormatError` naming the file (and, for text
formats, the line) for malformed input.
"""
from __future__ import annotations

import os
from pathlib import Path

from microseg._util import FileFormatError
from microseg.io._ebsd import EBSDMap
from microseg.io.ebsd.ang import read_ang, write_ang
from microseg.io.ebsd.ctf import read_ctf, write_ctf
from microseg.io.ebsd.edax_h5 import read_edax_h5
from microseg.io.ebsd.h5oina import read_h5oina

__all__ = ["read_ebsd", "write_ebsd", "read_ang", "write_ang", "read_ctf", "write_ctf",
           "read_h5oina", "read_edax_h5", "EBSD_READERS", "EBSD_WRITERS"]

#: Extension -> reader.
EBSD_READERS = {".ang": read_ang, ".ctf": read_ctf, ".h5oina": read_h5oina, ".h5": read_edax_h5}
#: Extension -> writer.
EBSD_WRITERS = {".ang": write_ang, ".ctf": write_ctf}


def read_ebsd(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read an EBSD map, choosing the reader by the file's extension.

    Parameters
    ----------
    path : str or path-like
        ``.ang``, ``.ctf``, ``.h5oina`` or ``.h5`` (EDAX OIM).
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases (by id, or in id order 1, 2, ...).

    Returns
    -------
    EBSDMap

    Raises
    ------
    MissingFileError
        If the file does not exist.
    FileFormatError
        If the extension is not one of the above or the file is malformed.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (2, 3, 1)), np.ones((2, 3), np.int32),
    ...             {1: Phase(1, "Nickel", "m-3m")}, 0.5)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scan.ang"
    >>> _ = write_ebsd(path, m)
    >>> read_ebsd(path).shape
    (2, 3)
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EBSD_READERS:
        raise FileFormatError(f"{path}: unknown EBSD format {suffix or '(no extension)'!r}; "
                              f"supported: {', '.join(EBSD_READERS)}")
    return EBSD_READERS[suffix](path, phase_names=phase_names)


def write_ebsd(path: str | os.PathLike, ebsd_map: EBSDMap, *, force: bool = False) -> Path:
    """Write an EBSD map as ``.ang`` or ``.ctf``, chosen by the extension of ``path``.

    Parameters
    ----------
    path : str or path-like
        Output file; written atomically, an existing one kept unless ``force``.
    ebsd_map : EBSDMap
        The map (``.ctf`` takes square grids only).
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        If the extension cannot be written or the map does not fit the format.
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    """
    from microseg._util import InputError

    suffix = Path(path).suffix.lower()
    if suffix not in EBSD_WRITERS:
        raise InputError(f"{path}: cannot write EBSD format {suffix or '(no extension)'!r}; "
                         f"writable: {', '.join(EBSD_WRITERS)}")
    return EBSD_WRITERS[suffix](path, ebsd_map, force=force)
