"""Oxford Instruments HKL Channel 5 projects: a ``.cpr`` text file and its binary ``.crc``.

Layout read
-----------
The ``.cpr`` is INI-like: ``[Section]`` lines, then ``Key=Value`` lines (``;`` comments).
Used are ``[Job]`` ``xCells``, ``yCells``, ``GridDistX``, ``GridDistY`` (µm, all four
required); one ``[PhaseN]`` per phase (``[Phases] Count`` is only checked against them) with
``StructureName``, ``a b c alpha beta gamma`` (Å, degrees; or ``LatticeConstants``),
``LaueGroup`` (Oxford numbers, :data:`OXFORD_LAUE`, or a Laue group name; the ``SpaceGroup``
number when it is missing); ``[Fields]`` ``Count`` and ``Field1..N``,
the ids of the values each ``.crc`` record holds after its phase byte; ``[EDX Windows]``
names the EDX fields. Section and key names are matched without case or spaces.

The ``.crc`` holds one little-endian record per grid point, row by row from the top left
(x fastest): the phase (uint8, 0 = not indexed), then the fields in ``[Fields]`` order with
the types of :data:`CRC_FIELDS`. Its size must be ``xCells * yCells`` times the record size.

Rules
-----
- Euler angles are Bunge angles in **radians** (float32), passed to ``orix``
  ``Rotation.from_euler`` without a change of reference frame — the convention of
  :mod:`~microseg.io.ebsd.ctf`, so a project and the ``.ctf`` Channel 5 exports from it
  give the same map. (MTEX warns that Oxford spatial and Euler frames differ and offers
  ``convertSpatial2EulerReferenceFrame``; as for ``.ctf``, nothing is rotated here.)
- Quality fields are named as in ``.ctf``: ``mad``, ``bc``, ``bs``, ``bands``, ``error``;
  further fields ``reliability_index``, ``unknown9``, EDX windows as ``edx_<name>`` and
  unknown ids (> 12, read as float32) as ``field<id>``.
- Positions (fields 1, 2), when present, place the points and are checked against the grid;
  otherwise points are placed in file order.

Field table: MTEX ``interfaces/loadEBSD_crc.m`` (ids 1-12 with their byte sizes), agreeing
with DefDAP ``OxfordBinaryLoader`` (3-8, 10-12; EDX windows as ids ``100 + i``) and the
``.cpr``/``.crc`` pairs AZtec and MTEX's ``export_crc`` write (fields 3-8, 10-12).
"""
from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, InputError, atomic_path, check_output_path
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io._files import MissingFileError
from microseg.io.ebsd._common import (
    OXFORD_LAUE, Columns, GridSpec, assemble_map, check_ebsd_file, laue_code,
    quaternions_to_euler, read_text_lines, rename_phases, symmetry_from_code,
)

logger = logging.getLogger(__name__)

__all__ = ["read_cpr", "write_cpr", "CRC_FIELDS"]

#: ``.crc`` field id (``[Fields] FieldN=id``) -> (name, little-endian numpy type). Ids not
#: listed are float32: EDX windows ``100 + i`` (``edx_<name>``), others ``field<id>``.
CRC_FIELDS = {1: ("x", "<f4"), 2: ("y", "<f4"), 3: ("phi1", "<f4"), 4: ("phi", "<f4"),
              5: ("phi2", "<f4"), 6: ("mad", "<f4"), 7: ("bc", "u1"), 8: ("bs", "u1"),
              9: ("unknown9", "u1"), 10: ("bands", "u1"), 11: ("error", "u1"),
              12: ("reliability_index", "<f4")}
_EULER = ("phi1", "phi", "phi2")
_JOB_KEYS = {"xcells": ("xCells", int), "ycells": ("yCells", int),
             "griddistx": ("GridDistX", float), "griddisty": ("GridDistY", float)}
_LATTICE = ("a", "b", "c", "alpha", "beta", "gamma")
#: Fields :func:`write_cpr` writes (a Channel 5 grid job less field 12), in this order.
WRITTEN_FIELDS = (3, 4, 5, 6, 7, 8, 10, 11)
_SECTION = re.compile(r"\[(.*)\]$")


def _norm(name: str) -> str:
    return name.replace(" ", "").lower()


def _sibling(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` in the case of its own suffix (``.CPR`` -> ``.CRC``)."""
    own = path.suffix
    candidates = [path.with_suffix(suffix.upper() if own.isupper() else suffix),
                  path.with_suffix(suffix), path.with_suffix(suffix.upper())]
    return next((c for c in candidates if c.exists()), candidates[0])


def _project_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``.cpr`` and ``.crc`` of a project, from either; both must exist."""
    path = check_ebsd_file(path, (".cpr", ".crc"))
    other = _sibling(path, ".crc" if path.suffix.lower() == ".cpr" else ".cpr")
    cpr, crc = (path, other) if path.suffix.lower() == ".cpr" else (other, path)
    if not other.is_file():
        what = ("its project file (grid, phases and field list)" if other is cpr
                else "its binary data file")
        raise MissingFileError(f"{path}: {what} {other.name} is missing; an Oxford Channel 5 "
                               "map needs the .cpr and the .crc side by side")
    return cpr, crc


def _parse_cpr(path: Path) -> dict[str, dict[str, tuple[int, str, str]]]:
    """Sections (normalised name) -> keys (normalised) -> (line, original key, value)."""
    sections: dict[str, dict[str, tuple[int, str, str]]] = {}
    current = None
    for number, raw in enumerate(read_text_lines(path, what=".cpr"), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith(";"):
            continue
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(_norm(match.group(1)), {"": (number, "", "")})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[_norm(key)] = (number, key.strip(), value.strip())
        elif current is None:
            raise FileFormatError(f"{path}, line {number}: {line[:30]!r} before any [Section] "
                                  "line; is this an Oxford Channel 5 .cpr file?")
    return sections


def _number(path: Path, entry: tuple[int, str, str], kind: type):
    number, key, text = entry
    try:
        value = float(text.replace(",", "."))
        if kind is int:
            if value != int(value):
                raise ValueError
            value = int(value)
        if not math.isfinite(value):
            raise ValueError
        return value
    except (ValueError, OverflowError):
        raise FileFormatError(f"{path}, line {number}: {key} is {text[:30]!r}, not "
                              f"{'an integer' if kind is int else 'a number'}") from None


def _section(path: Path, cpr: dict, name: str, why: str) -> dict:
    if _norm(name) not in cpr:
        raise FileFormatError(f"{path}: no [{name}] section (needed for {why}); is this an "
                              "Oxford Channel 5 .cpr file?")
    return cpr[_norm(name)]


def _grid(path: Path, cpr: dict) -> GridSpec:
    job = _section(path, cpr, "Job", "the grid")
    values = {}
    for key, (name, kind) in _JOB_KEYS.items():
        if key not in job:
            raise FileFormatError(f"{path}, line {job[''][0]}: [Job] has no {name} (needed for "
                                  "the grid)")
        values[key] = _number(path, job[key], kind)
    return GridSpec("square", values["griddistx"], values["griddisty"], values["ycells"],
                    values["xcells"], values["xcells"])


def _phase(path: Path, section: dict, pid: int) -> Phase:
    where = f"{path}, line {section[''][0]}"
    if "lauegroup" in section:
        number, _, code = section["lauegroup"]
        group = code if code in OXFORD_LAUE.values() else symmetry_from_code(
            code, OXFORD_LAUE, where=f"{path}, line {number}", kind="Oxford Laue group")
    elif "spacegroup" in section:
        group = _laue_of_space_group(path, section["spacegroup"])
    else:
        raise FileFormatError(f"{where}: [Phase{pid}] has no LaueGroup or SpaceGroup")
    if all(k in section for k in _LATTICE):
        lattice = tuple(float(_number(path, section[k], float)) for k in _LATTICE)
    elif "latticeconstants" in section:
        number, _, text = section["latticeconstants"]
        try:
            lattice = tuple(float(v) for v in re.split(r"[;,\s]+", text.strip()))
        except ValueError:
            lattice = ()
        if len(lattice) != 6:
            raise FileFormatError(f"{path}, line {number}: LatticeConstants must be six "
                                  "numbers a b c alpha beta gamma")
    else:
        lattice = ()
    name = section.get("structurename", (0, "", ""))[2]
    return Phase(pid, name or f"phase{pid}", group, lattice)


def _laue_of_space_group(path: Path, entry: tuple[int, str, str]) -> str:
    number = _number(path, entry, int)
    bounds = ((2, "-1"), (15, "2/m"), (74, "mmm"), (88, "4/m"), (142, "4/mmm"), (148, "-3"),
              (167, "-3m"), (176, "6/m"), (194, "6/mmm"), (206, "m-3"), (230, "m-3m"))
    for last, group in bounds:
        if 1 <= number <= last:
            return group
    raise FileFormatError(f"{path}, line {entry[0]}: SpaceGroup {number} is not 1-230")


def _phases(path: Path, cpr: dict) -> dict[int, Phase]:
    declared = cpr.get("phases", {})
    found = sorted(n for n in (int(k[5:]) for k in cpr if re.fullmatch(r"phase\d+", k)) if n > 0)
    if not found:
        raise FileFormatError(f"{path}: no [Phase1] section; cannot tell the crystal symmetry")
    if "count" in declared and _number(path, declared["count"], int) != len(found):
        logger.warning("%s: [Phases] Count is %s but the file has sections for phases %s; "
                       "using those", path, declared["count"][2], found)
    if found[-1] > 255:
        raise FileFormatError(f"{path}: phase {found[-1]} does not fit the .crc phase byte")
    return {pid: _phase(path, cpr[f"phase{pid}"], pid) for pid in found}


def _record(path: Path, cpr: dict) -> tuple[np.dtype, list[int]]:
    """The ``.crc`` record type: phase byte, then the fields of ``[Fields]`` in order."""
    fields = _section(path, cpr, "Fields", "the layout of the .crc records")
    if "count" not in fields:
        raise FileFormatError(f"{path}, line {fields[''][0]}: [Fields] has no Count")
    count = _number(path, fields["count"], int)
    if not 0 <= count <= 256:
        raise FileFormatError(f"{path}, line {fields['count'][0]}: [Fields] Count {count} "
                              "is not 0-256")
    edx = cpr.get("edxwindows", {})
    ids, parts = [], [("phase", "u1")]
    for k in range(1, count + 1):
        if f"field{k}" not in fields:
            raise FileFormatError(f"{path}, line {fields['count'][0]}: [Fields] Count is "
                                  f"{count} but there is no Field{k}")
        fid = _number(path, fields[f"field{k}"], int)
        if fid in CRC_FIELDS:
            name, kind = CRC_FIELDS[fid]
        elif f"window{fid - 100}" in edx:
            window = re.sub(r"\W+", "_", edx[f"window{fid - 100}"][2]).strip("_").lower()
            name, kind = f"edx_{window or fid}", "<f4"
        else:
            name, kind = f"field{fid}", "<f4"
            logger.info("%s: field id %d is not a known .crc field; read as float32 %r",
                        path, fid, name)
        if name in (p[0] for p in parts):
            raise FileFormatError(f"{path}, line {fields[f'field{k}'][0]}: field id {fid} "
                                  "is listed twice")
        ids.append(fid)
        parts.append((name, kind))
    missing = [n for n in _EULER if n not in (p[0] for p in parts)]
    if missing:
        raise FileFormatError(f"{path}: [Fields] lists no Euler angles {missing} (ids 3, 4, "
                              "5); the .crc holds no orientations")
    return np.dtype(parts), ids


def _read_records(crc: Path, cpr_path: Path, record: np.dtype, spec: GridSpec) -> np.ndarray:
    n = spec.nrows * spec.ncols_odd
    size = crc.stat().st_size
    if size != n * record.itemsize:
        why = ("truncated" if size < n * record.itemsize else "longer than the grid")
        raise FileFormatError(f"{crc}: {size} bytes, expected {n * record.itemsize} = "
                              f"{spec.ncols_odd} x {spec.nrows} points x {record.itemsize} "
                              f"bytes per point ([Job] and [Fields] of {cpr_path.name}); "
                              f"the file is {why}")
    return np.fromfile(crc, dtype=record, count=n)


def _columns(data: np.ndarray, spec: GridSpec, crc: Path) -> Columns:
    names = data.dtype.names
    euler = np.column_stack([data[n].astype(np.float64) for n in _EULER])
    phase = data["phase"].astype(np.int64)
    phase[phase == 0] = -1

    def where(i: int) -> str:
        return f"point {i} (row {i // spec.ncols_odd}, column {i % spec.ncols_odd})"

    bad = (phase > 0) & ~np.all(np.isfinite(euler), axis=1)
    if np.any(bad):
        raise FileFormatError(f"{crc}, {where(int(np.argmax(bad)))}: Euler angles are not "
                              "finite numbers")
    x = y = None
    if "x" in names and "y" in names:
        x, y = data["x"].astype(np.float64), data["y"].astype(np.float64)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            logger.info("%s: x/y fields are not all finite; points placed in file order", crc)
            x = y = None
    quality = {n: data[n].astype(np.float32) for n in names
               if n not in ("phase", "x", "y", *_EULER)}
    return Columns(euler, phase, x, y, quality, where=where)


def read_cpr(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read an Oxford Channel 5 project: the ``.cpr`` and its ``.crc``, given either.

    Parameters
    ----------
    path : str or path-like
        The ``.cpr`` or the ``.crc``; the other is looked for beside it (same stem).
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases (by id, or in id order 1, 2, ...).

    Returns
    -------
    EBSDMap
        Square grid; quality as in ``.ctf`` (``mad``, ``bc``, ``bs``, ``bands``, ``error``,
        those the ``[Fields]`` list holds) and further fields. See the module docstring.

    Raises
    ------
    MissingFileError
        If the file, or its ``.cpr``/``.crc`` partner, does not exist.
    FileFormatError
        If the ``.cpr`` lacks ``[Job]`` keys, ``[Fields]``, Euler angle fields or a phase
        section, has an unknown Laue group or a malformed number (the message names the
        line), or the ``.crc`` size is not points times record size.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (2, 3, 1)), np.ones((2, 3), np.int32),
    ...             {1: Phase(1, "Nickel", "m-3m")}, 0.5)
    >>> path = write_cpr(pathlib.Path(tempfile.mkdtemp()) / "scan.cpr", m)
    >>> sorted(p.suffix for p in path.parent.iterdir())
    ['.cpr', '.crc']
    >>> read_cpr(path.with_suffix(".crc")).shape
    (2, 3)
    """
    cpr_path, crc = _project_paths(path)
    cpr = _parse_cpr(cpr_path)
    spec = _grid(cpr_path, cpr)
    spec.check(str(cpr_path))
    phases = rename_phases(_phases(cpr_path, cpr), phase_names, where=str(cpr_path))
    record, ids = _record(cpr_path, cpr)
    cols = _columns(_read_records(crc, cpr_path, record, spec), spec, crc)
    metadata = {"format": "cpr", "fields": ids}
    for section in ("general", "job"):
        for key, (_, name, value) in cpr.get(section, {}).items():
            if key and key not in _JOB_KEYS and value:
                metadata.setdefault(name, value)
    for k in (1, 2, 3):  # acquisition surface, named as in .ctf
        if f"euler{k}" in cpr.get("acquisitionsurface", {}):
            metadata[f"AcqE{k}"] = cpr["acquisitionsurface"][f"euler{k}"][2]
    ebsd = assemble_map(cols, spec, phases, file=str(crc), metadata=metadata)
    logger.debug("read %s: %r", crc, ebsd)
    return ebsd


def _cpr_text(ebsd_map: EBSDMap, fields: list[int]) -> str:
    ny, nx = ebsd_map.shape
    out = ["[General]", "Version=5.0", "Author=microseg", "JobMode=RegularGrid",
           "SampleSymmetry=0", "", "[Job]", f"xCells={nx}", f"yCells={ny}",
           f"GridDistX={ebsd_map.step:.6g}", f"GridDistY={ebsd_map.row_step:.6g}", "",
           "[Acquisition Surface]", "Euler1=0", "Euler2=0", "Euler3=0", "",
           "[Fields]", f"Count={len(fields)}"]
    out += [f"Field{k}={fid}" for k, fid in enumerate(fields, start=1)]
    out += ["", "[Phases]", f"Count={len(ebsd_map.phases)}"]
    for pid in range(1, len(ebsd_map.phases) + 1):
        phase = ebsd_map.phases[pid]
        code = laue_code(phase.point_group, OXFORD_LAUE, where=f"phase {pid} ({phase.name})")
        lattice = phase.lattice if len(phase.lattice) == 6 else (1, 1, 1, 90, 90, 90)
        out += ["", f"[Phase{pid}]", f"StructureName={phase.name}", "Enabled=True"]
        out += [f"{k}={v:.6g}" for k, v in zip(_LATTICE, lattice)]
        out.append(f"LaueGroup={code}")
    return "\r\n".join(out) + "\r\n"


def _byte_field(values: np.ndarray, name: str, path) -> np.ndarray:
    out = np.clip(np.rint(values), 0, 255)
    if np.any(out != values):
        logger.info("%s: quality field %r rounded into 0-255 (a .crc byte)", path, name)
    return out.astype(np.uint8)


def write_cpr(path: str | os.PathLike, ebsd_map: EBSDMap, *, force: bool = False) -> Path:
    """Write ``ebsd_map`` as an Oxford Channel 5 ``.cpr`` + ``.crc`` pair (square grids).

    Both files share the stem of ``path`` (either suffix). Fields 3-8, 10, 11 are written
    (Euler angles in radians, orix ``to_euler`` without frame change, the inverse of
    :func:`read_cpr`; ``mad``, ``bc``, ``bs``, ``bands``, ``error``, 0 where the map lacks
    them; the byte fields rounded into 0-255) and field 12 when the map has
    ``reliability_index``. Points that are not indexed get phase 0 and angles 0. Other
    quality fields have no ``.crc`` field and are dropped (logged at INFO).

    Parameters
    ----------
    path : str or path-like
        ``.cpr`` or ``.crc`` output; both files are written atomically.
    ebsd_map : EBSDMap
        A square-grid map whose phase ids are ``1..P`` (P <= 255).
    force : bool
        Overwrite existing files.

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
        If the ``.cpr`` or ``.crc`` exists and ``force`` is false.
    """
    if not isinstance(ebsd_map, EBSDMap):
        raise InputError(f"ebsd_map must be an EBSDMap, got {type(ebsd_map).__name__}")
    path = Path(path)
    if path.suffix.lower() not in (".cpr", ".crc"):
        raise InputError(f"{path}: write_cpr writes .cpr/.crc pairs; got {path.suffix!r}")
    if ebsd_map.grid != "square":
        raise InputError(f"{path}: Channel 5 .cpr/.crc hold square grids only; this map is "
                         f"{ebsd_map.grid}. Write it with write_ang (.ang supports HexGrid)")
    if sorted(ebsd_map.phases) != list(range(1, len(ebsd_map.phases) + 1)) \
            or len(ebsd_map.phases) > 255:
        raise InputError(f"{path}: .cpr numbers phases 1..N (N <= 255); this map has phase "
                         f"ids {sorted(ebsd_map.phases)}")
    fields = list(WRITTEN_FIELDS) + ([12] if "reliability_index" in ebsd_map.quality else [])
    kept = {CRC_FIELDS[f][0] for f in fields}
    dropped = sorted(set(ebsd_map.quality) - kept)
    if dropped:
        logger.info("%s: quality fields %s have no .crc field and are not written", path,
                    dropped)
    upper = path.suffix.isupper()
    cpr_path, crc_path = (path.with_suffix(s.upper() if upper else s) for s in (".cpr", ".crc"))
    for p in (cpr_path, crc_path):
        check_output_path(p, force=force)
    indexed = ebsd_map.indexed.ravel()
    record = np.zeros(indexed.size, dtype=[("phase", "u1")] + [CRC_FIELDS[f] for f in fields])
    record["phase"] = np.where(indexed, ebsd_map.phase_ids.ravel(), 0)
    euler = np.zeros((indexed.size, 3))
    euler[indexed] = quaternions_to_euler(ebsd_map.rotations.reshape(-1, 4)[indexed])
    for k, name in enumerate(_EULER):
        record[name] = euler[:, k]
    for fid in fields[3:]:
        name, kind = CRC_FIELDS[fid]
        if name in ebsd_map.quality:
            values = np.asarray(ebsd_map.quality[name], dtype=np.float64).ravel()
            record[name] = _byte_field(values, name, path) if kind == "u1" else values
    with atomic_path(crc_path, force=force) as tmp_crc, \
            atomic_path(cpr_path, force=force) as tmp_cpr:
        record.tofile(tmp_crc)
        tmp_cpr.write_text(_cpr_text(ebsd_map, fields), encoding="utf-8", newline="")
    logger.debug("wrote %s + %s: %r", cpr_path, crc_path.name, ebsd_map)
    return path
