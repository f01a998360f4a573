"""Oxford Instruments (HKL Channel 5 / AZtec) ``.ctf`` files: square grids.

Layout read
-----------
Tab-separated header lines ``XCells``, ``YCells``, ``XStep``, ``YStep`` (µm), ``AcqE1..3``,
``Phases N`` followed by ``N`` phase lines ``a;b;c<TAB>alpha;beta;gamma<TAB>name<TAB>
laue_group<TAB>space_group ...`` (Oxford Laue group numbers, :data:`OXFORD_LAUE`), then the
column line ``Phase X Y Bands Error Euler1 Euler2 Euler3 MAD BC BS`` and one row per point.

Rules
-----
- Phase 0 means **not indexed**.
- Euler angles are Bunge angles in degrees. They are converted to radians and passed to
  ``orix`` ``Rotation.from_euler`` *without any change of reference frame* — exactly what
  ``orix.io.load`` (0.15) does for ``.ctf`` files, so rotations agree with orix. (MTEX
  users often apply ``convertSpatial2EulerReferenceFrame`` to Oxford data and AZtec's
  hexagonal-crystal frame differs by 30° about c from EDAX's; neither is done here.)
- Quality fields are the remaining columns in lower case: ``bands``, ``error``, ``mad``,
  ``bc``, ``bs``.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, InputError, atomic_path
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io.ebsd._common import (
    OXFORD_LAUE, Columns, GridSpec, assemble_map, check_ebsd_file, laue_code, parse_table,
    quaternions_to_euler, read_text_lines, rename_phases, symmetry_from_code,
)

logger = logging.getLogger(__name__)

__all__ = ["read_ctf", "write_ctf"]

_GRID_KEYS = {"XCells": int, "YCells": int, "XStep": float, "YStep": float}
_POSITIONAL = ("Phase", "X", "Y", "Euler1", "Euler2", "Euler3")
QUALITY_COLUMNS = ("Bands", "Error", "MAD", "BC", "BS")


def _number(path: Path, number: int, key: str, text: str, kind: type):
    try:
        value = float(text.strip().replace(",", "."))
        if kind is int:
            if value != int(value):
                raise ValueError
            value = int(value)
        return value
    except (ValueError, OverflowError):
        raise FileFormatError(f"{path}, line {number}: {key} is {text.strip()[:30]!r}, not "
                              f"{'an integer' if kind is int else 'a number'}") from None


def _phase_line(path: Path, number: int, line: str, pid: int) -> Phase:
    parts = line.split("\t")
    if len(parts) < 4:
        raise FileFormatError(f"{path}, line {number}: phase line needs 'a;b;c<TAB>alpha;beta;"
                              "gamma<TAB>name<TAB>Laue group', got "
                              f"{len(parts)} tab-separated fields")
    try:
        lattice = tuple(float(v.replace(",", ".")) for v in (parts[0] + ";" + parts[1]).split(";"))
    except ValueError:
        lattice = ()
    if len(lattice) != 6:
        raise FileFormatError(f"{path}, line {number}: lattice must be 'a;b;c' and "
                              "'alpha;beta;gamma' numbers")
    group = symmetry_from_code(parts[3].strip(), OXFORD_LAUE, where=f"{path}, line {number}",
                               kind="Oxford Laue group")
    return Phase(pid, parts[2].strip() or f"phase{pid}", group, lattice)


def _parse_header(path: Path, lines: list[str]):
    """Grid entries, phases, metadata, the column names and the index of the first data line."""
    entries, metadata, phases = {}, {}, {}
    i = 0
    while i < len(lines):
        parts = lines[i].rstrip("\r\n").split("\t")
        key, number = parts[0].strip(), i + 1
        i += 1
        if key == "Phase" and "Euler1" in lines[i - 1].split():
            return entries, phases, metadata, lines[i - 1].split(), i
        if key in _GRID_KEYS and len(parts) > 1:
            entries[key] = _number(path, number, key, parts[1], _GRID_KEYS[key])
        elif key == "Phases" and len(parts) > 1:
            count = _number(path, number, "Phases", parts[1], int)
            if not 0 < count < 256 or i + count > len(lines):
                raise FileFormatError(f"{path}, line {number}: 'Phases {count}' but the header "
                                      f"does not hold that many phase lines")
            for k in range(count):
                phases[k + 1] = _phase_line(path, i + 1, lines[i], k + 1)
                i += 1
        elif len(parts) == 2 and key:
            metadata[key] = parts[1].strip()
        elif len(parts) > 2 and len(parts) % 2 == 1:
            metadata.update({parts[k].strip(): parts[k + 1].strip()
                             for k in range(1, len(parts) - 1, 2) if parts[k].strip()})
    raise FileFormatError(f"{path}: no data column line 'Phase X Y Bands Error Euler1 Euler2 "
                          "Euler3 MAD BC BS'; is this an Oxford .ctf file?")


def read_ctf(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read an Oxford Instruments ``.ctf`` file.

    Parameters
    ----------
    path : str or path-like
        The ``.ctf`` file.
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases (by id, or in id order 1, 2, ...).

    Returns
    -------
    EBSDMap
        Square grid; quality ``bands``, ``error``, ``mad``, ``bc``, ``bs``. See the module
        docstring for the Euler-angle convention.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    FileFormatError
        If the file is empty or binary, lacks ``XCells``/``YCells``/``XStep``/``YStep``,
        ``Phases`` or the column line, has an unknown Laue group, ragged or non-numeric
        rows, or more or fewer rows than ``XCells * YCells``; the message names the line.
    """
    path = check_ebsd_file(path, None)
    lines = read_text_lines(path, what=".ctf")
    entries, phases, metadata, names, first = _parse_header(path, lines)
    for key in _GRID_KEYS:
        if key not in entries:
            raise FileFormatError(f"{path}: header has no '{key}' line (needed for the grid)")
    if not phases:
        raise FileFormatError(f"{path}: header has no 'Phases N' line with phase lines")
    missing = [c for c in _POSITIONAL if c not in names]
    if missing or len(set(names)) != len(names):
        raise FileFormatError(f"{path}, line {first}: column line lacks {missing} or repeats "
                              "a name")
    phases = rename_phases(phases, phase_names, where=str(path))
    table, numbers = parse_table(path, lines, first, len(names))
    col = {n: table[:, k] for k, n in enumerate(names)}
    raw = col["Phase"]
    bad = raw != np.rint(raw)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise FileFormatError(f"{path}, line {numbers[k]}: phase {raw[k]:g} is not an integer")
    phase = np.clip(raw, -1, 1 << 30).astype(np.int64)
    phase[phase <= 0] = -1
    euler = np.radians(np.column_stack([col["Euler1"], col["Euler2"], col["Euler3"]]))
    quality = {n.lower(): v.astype(np.float32) for n, v in col.items() if n not in _POSITIONAL}
    cols = Columns(euler, phase, col["X"], col["Y"], quality, where=lambda k: f"line {numbers[k]}")
    spec = GridSpec("square", entries["XStep"], entries["YStep"], entries["YCells"],
                    entries["XCells"], entries["XCells"])
    ebsd = assemble_map(cols, spec, phases, file=str(path),
                        metadata={"format": "ctf", "columns": names, **metadata})
    logger.debug("read %s: %r", path, ebsd)
    return ebsd


def _header(ebsd_map: EBSDMap, names: list[str]) -> str:
    ny, nx = ebsd_map.shape
    out = ["Channel Text File", "Prj\tmicroseg", "Author\tmicroseg", "JobMode\tGrid",
           f"XCells\t{nx}", f"YCells\t{ny}", f"XStep\t{ebsd_map.step:.6f}",
           f"YStep\t{ebsd_map.row_step:.6f}", "AcqE1\t0.0000", "AcqE2\t0.0000", "AcqE3\t0.0000",
           "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t0\tCoverage\t100\t"
           "Device\t0\tKV\t0\tTiltAngle\t70\tTiltAxis\t0",
           f"Phases\t{len(ebsd_map.phases)}"]
    for pid in range(1, len(ebsd_map.phases) + 1):
        phase = ebsd_map.phases[pid]
        code = laue_code(phase.point_group, OXFORD_LAUE, where=f"phase {pid} ({phase.name})")
        lat = phase.lattice if len(phase.lattice) == 6 else (1, 1, 1, 90, 90, 90)
        out.append(";".join(f"{v:.4f}" for v in lat[:3]) + "\t"
                   + ";".join(f"{v:.4f}" for v in lat[3:]) + f"\t{phase.name}\t{code}\t0")
    out.append("\t".join(names))
    return "\n".join(out) + "\n"


def write_ctf(path: str | os.PathLike, ebsd_map: EBSDMap, *, force: bool = False) -> Path:
    """Write ``ebsd_map`` as an Oxford ``.ctf`` file (square grids only).

    Euler angles are written in degrees (orix's ``to_euler``, no frame change, the inverse of
    :func:`read_ctf`); points that are not indexed get phase 0 and angles 0. Quality
    fields ``bands``, ``error``, ``mad``, ``bc``, ``bs`` are written (0 where the map lacks
    them); other quality fields (``ci``, ``iq``, ...) have no column in the format and are
    dropped (logged at INFO).

    Parameters
    ----------
    path : str or path-like
        Output file; written atomically.
    ebsd_map : EBSDMap
        A square-grid map whose phase ids are ``1..P``.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        If the grid is hexagonal, the phase ids are not ``1..P`` or a point group has no
        Oxford Laue group.
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    """
    if not isinstance(ebsd_map, EBSDMap):
        raise InputError(f"ebsd_map must be an EBSDMap, got {type(ebsd_map).__name__}")
    if ebsd_map.grid != "square":
        raise InputError(f"{path}: .ctf files hold square grids only; this map is "
                         f"{ebsd_map.grid}. Write it with write_ang (.ang supports HexGrid)")
    if sorted(ebsd_map.phases) != list(range(1, len(ebsd_map.phases) + 1)):
        raise InputError(f"{path}: .ctf numbers phases 1..N; this map has phase ids "
                         f"{sorted(ebsd_map.phases)}")
    dropped = sorted(set(ebsd_map.quality) - {c.lower() for c in QUALITY_COLUMNS})
    if dropped:
        logger.info("%s: quality fields %s have no .ctf column and are not written", path, dropped)
    indexed = ebsd_map.indexed.ravel()
    euler = np.zeros((indexed.size, 3))
    euler[indexed] = np.degrees(quaternions_to_euler(ebsd_map.rotations.reshape(-1, 4)[indexed]))
    x, y = (c.ravel() for c in ebsd_map.coordinates())
    q = {c: ebsd_map.quality[c.lower()].ravel() if c.lower() in ebsd_map.quality
         else np.zeros(indexed.size) for c in QUALITY_COLUMNS}
    table = np.column_stack([np.where(indexed, ebsd_map.phase_ids.ravel(), 0), x, y, q["Bands"],
                             q["Error"], euler, q["MAD"], q["BC"], q["BS"]])
    names = ["Phase", "X", "Y", "Bands", "Error", "Euler1", "Euler2", "Euler3", "MAD", "BC", "BS"]
    body = io.StringIO()
    np.savetxt(body, table, fmt=["%d", "%.5f", "%.5f", "%.8g", "%.8g", "%.5f", "%.5f", "%.5f",
                                 "%.8g", "%.8g", "%.8g"], delimiter="\t")
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(_header(ebsd_map, names) + body.getvalue(), encoding="utf-8")
    logger.debug("wrote %s: %r", path, ebsd_map)
    return Path(path)
