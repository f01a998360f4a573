"""EBSD map files: one module per vendor format, dispatched by extension.

=============== =============================== ============ ===========
extension       format                          read         write
=============== =============================== ============ ===========
``.ang``        EDAX/TSL text (square, hex)     read_ang     write_ang
``.ctf``        Oxford text (square)            read_ctf     write_ctf
``.cpr/.crc``   Oxford Channel 5 project        read_cpr     write_cpr
``.h5oina``     Oxford AZtec HDF5               read_h5oina
``.h5``         EDAX OIM HDF5                   read_edax_h5
=============== =============================== ============ ===========

Other formats are not read; :data:`CONVERTERS` says how to get one of the above, and
:func:`read_ebsd` says it for an extension it does not read.

The formats are one :class:`~microseg._registry.Registry` keyed by extension,
:data:`EBSD_READERS` (description: what the format is; capability ``writer``: the writer
of the format, or None); a new format is one module plus one ``register`` line.

Every reader returns an :class:`~microseg.io.EBSDMap` whose rotations are exactly
``orix.quaternion.Rotation.from_euler`` of the file's Bunge angles (identity where not
indexed) and raises :class:`~microseg._util.FileFormatError` naming the file (and, for text
formats, the line) for malformed input.
"""
from __future__ import annotations

import os
from pathlib import Path

from microseg._registry import Registry
from microseg._util import FileFormatError
from microseg.io._ebsd import EBSDMap
from microseg.io.ebsd.ang import read_ang, write_ang
from microseg.io.ebsd.cpr import read_cpr, write_cpr
from microseg.io.ebsd.ctf import read_ctf, write_ctf
from microseg.io.ebsd.edax_h5 import read_edax_h5
from microseg.io.ebsd.h5oina import read_h5oina

__all__ = ["read_ebsd", "write_ebsd", "read_ang", "write_ang", "read_ctf", "write_ctf",
           "read_cpr", "write_cpr", "read_h5oina", "read_edax_h5", "EBSD_READERS",
           "EBSD_WRITERS", "CONVERTERS"]

#: Extension -> reader ``f(path, *, phase_names=None) -> EBSDMap``, in the order of messages.
EBSD_READERS = Registry("EBSD format", capabilities={"writer": None})
EBSD_READERS.register(".ang", read_ang, description="EDAX/TSL text", writer=write_ang)
EBSD_READERS.register(".ctf", read_ctf, description="Oxford text", writer=write_ctf)
EBSD_READERS.register(".cpr", read_cpr, description="Oxford Channel 5", writer=write_cpr)
EBSD_READERS.register(".crc", read_cpr, description="Oxford Channel 5", writer=write_cpr)
EBSD_READERS.register(".h5oina", read_h5oina, description="Oxford AZtec HDF5")
EBSD_READERS.register(".h5", read_edax_h5, description="EDAX OIM HDF5")

#: Extension -> writer ``f(path, ebsd_map, *, force=False) -> Path`` (from the registry).
EBSD_WRITERS = {ext: EBSD_READERS.capabilities(ext)["writer"] for ext in EBSD_READERS
                if EBSD_READERS.capabilities(ext)["writer"] is not None}
#: What each extension read holds, for messages (from the registry).
FORMAT_NAMES = {ext: EBSD_READERS.describe(ext)["description"] for ext in EBSD_READERS}
#: Extensions of EBSD formats microseg does not read -> (what it is, how to get a format
#: microseg reads).
_ORIX_TO_ANG = "load it with orix (orix.io.load) or kikuchipy and save the map as .ang " \
               "(orix.io.save)"
CONVERTERS = {
    ".osc": ("an EDAX OIM binary scan", "export it as .ang from OIM Analysis"),
    ".edaxh5": ("an EDAX APEX file", "export the scan as .ang from APEX or OIM Analysis"),
    ".h5ebsd": ("HDF5 EBSD (EMsoft, Bruker, kikuchipy)", _ORIX_TO_ANG),
    ".hdf5": ("HDF5 of another EBSD program", _ORIX_TO_ANG),
    ".bcf": ("a Bruker Esprit project", "export the map as .ctf from Esprit"),
    ".oip": ("an Oxford AZtec project", "export the map as .h5oina or .ctf from AZtec"),
    ".dream3d": ("a DREAM.3D file", "write the slice as .ang or .ctf with DREAM.3D"),
    ".txt": ("a text export", "export the map as .ang or .ctf from the acquisition software"),
    ".csv": ("a text export", "export the map as .ang or .ctf from the acquisition software"),
}


def _unknown_format(path, suffix: str) -> str:
    """The message for an extension no reader takes: the formats read and, where known,
    how to convert."""
    read = ", ".join(f"{ext} ({FORMAT_NAMES[ext]})" for ext in EBSD_READERS
                     if ext != ".crc").replace(".cpr (", ".cpr/.crc (")
    hint = ""
    if suffix in CONVERTERS:
        what, how = CONVERTERS[suffix]
        hint = f". {suffix} is {what}: {how}"
    return (f"{path}: unknown EBSD format {suffix or '(no extension)'!r}; supported: "
            f"{read}{hint}")


def read_ebsd(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read an EBSD map, choosing the reader by the file's extension.

    Parameters
    ----------
    path : str or path-like
        ``.ang``, ``.ctf``, ``.cpr`` or ``.crc`` (Oxford Channel 5, either file of the
        pair), ``.h5oina`` or ``.h5`` (EDAX OIM).
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
        If the extension is not one of the above (the message lists the formats read and,
        for known other formats such as ``.osc``, how to convert) or the file is malformed.

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
        raise FileFormatError(_unknown_format(path, suffix))
    return EBSD_READERS.build(suffix, path, phase_names=phase_names)


def write_ebsd(path: str | os.PathLike, ebsd_map: EBSDMap, *, force: bool = False) -> Path:
    """Write an EBSD map as ``.ang``, ``.ctf`` or ``.cpr``/``.crc``, chosen by the extension.

    Parameters
    ----------
    path : str or path-like
        Output file; written atomically, an existing one kept unless ``force``.
    ebsd_map : EBSDMap
        The map (``.ctf`` and ``.cpr``/``.crc`` take square grids only; either Channel 5
        extension writes both files).
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
