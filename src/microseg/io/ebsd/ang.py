"""EDAX/TSL ``.ang`` files: square and hexagonal grids, one or more phases.

Layout read
-----------
A header of ``#`` lines: ``# KEY value`` entries, one ``# Phase N`` block per phase
(``MaterialName``, ``Symmetry`` as a TSL code, see :data:`TSL_SYMMETRY`,
``LatticeConstants``), the grid (``GRID: SqrGrid|HexGrid``, ``XSTEP``, ``YSTEP``,
``NCOLS_ODD``, ``NCOLS_EVEN``, ``NROWS``) and optionally ``# Column names: ...``. Then one
row per point: ``phi1 Phi phi2`` (Bunge, radians) ``x y IQ CI phase`` and optional
``detector_signal fit`` and further columns (8 to 14 without a column-names line).

Headers as other programs write them are read too (ASTAR, EMsoft, converters):

- Lines may come in any order. A phase key before any ``# Phase`` line, or one its block
  has already, starts the next phase, which the following ``# Phase N`` line numbers (as in
  orix, the k-th ``MaterialName`` belongs to the k-th phase); phases without a
  ``# Phase N`` line take the next free ids from 1.
- Grid lines the header lacks are taken from the ``x, y`` columns
  (:func:`~microseg.io.ebsd._common.grid_from_positions`): the row step is the smallest
  spacing of the distinct ``y``, the column step the smallest spacing of ``x`` within a
  row, the grid hexagonal when odd rows sit half a step over, rows and columns counted
  from the coordinates. Grid lines the header has are used as they are.

Rules
-----
- A point is **not indexed** when its CI is -1, when all three Euler angles are 4π (what
  EDAX and orix write there), or when its phase id is -1 — or 0 in a multi-phase file. In
  a single-phase file phase id 0 means that phase.
- Points are placed by their ``x, y``; on a hexagonal grid rows alternate between
  ``NCOLS_ODD`` and ``NCOLS_EVEN`` points and odd rows (1, 3, ...) sit ``XSTEP / 2`` to the
  right; rows are padded to one width with points that are not indexed.
- Rotations are ``orix`` ``Rotation.from_euler`` of the angles, exactly as ``orix.io.load``
  gives them (no reference-frame change).
"""
from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, InputError, atomic_path
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io.ebsd._common import (
    PAD_QUALITY, TSL_NOT_INDEXED_EULER, TSL_SYMMETRY, Columns, GridSpec, assemble_map,
    check_ebsd_file, grid_from_positions, laue_code, parse_table, quaternions_to_euler,
    read_text_lines, rename_phases, symmetry_from_code, tsl_phase_ids, written_points,
)

logger = logging.getLogger(__name__)

__all__ = ["read_ang", "write_ang"]

#: Column order of a TSL file without a column-names line; columns 11-14 are ``unknown1..4``.
DEFAULT_COLUMNS = ("phi1", "phi", "phi2", "x", "y", "iq", "ci", "phase", "detector_signal", "fit")
_ALIASES = {"image_quality": "iq", "confidence_index": "ci", "phase_id": "phase",
            "pattern_fit": "fit"}
_REQUIRED = ("phi1", "phi", "phi2", "x", "y", "phase")
_PHASE_KEYS = ("MaterialName", "Symmetry", "LatticeConstants")
_GRID_KEYS = {"XSTEP": float, "YSTEP": float, "NCOLS_ODD": int, "NCOLS_EVEN": int, "NROWS": int}
_GRIDS = {"sqrgrid": "square", "hexgrid": "hexagonal"}
_ENTRY = re.compile(r"#\s*([A-Za-z_][\w\-]*)\s*:?\s*(.*)$")


def _value(path: Path, number: int, key: str, text: str, kind: type):
    try:
        return kind(text.split()[0]) if kind is int else float(text.split()[0])
    except (ValueError, IndexError, OverflowError):
        raise FileFormatError(f"{path}, line {number}: {key} is {text.strip()[:30]!r}, "
                              f"not {'an integer' if kind is int else 'a number'}") from None


def _phase_entry(path: Path, number: int, key: str, value: str, phase: dict) -> None:
    if key == "MaterialName":
        phase["name"] = value.strip()
    elif key == "Symmetry":
        phase["point_group"] = symmetry_from_code(value.strip(), TSL_SYMMETRY,
                                                  where=f"{path}, line {number}",
                                                  kind="TSL Symmetry code")
    elif key == "LatticeConstants":
        try:
            lattice = tuple(float(v) for v in value.split())
        except ValueError:
            lattice = ()
        if len(lattice) != 6:
            raise FileFormatError(f"{path}, line {number}: LatticeConstants must be six numbers "
                                  "a b c alpha beta gamma")
        phase["lattice"] = lattice


def _phase_key(path: Path, number: int, key: str, value: str, blocks: list[dict]) -> None:
    """File a phase key under its phase: the last phase block, unless that block has the key
    already (or there is none); then the key opens a block that the next ``# Phase N`` line
    numbers. So keys may follow their ``# Phase`` line (EDAX) or precede it, as orix reads
    them: the k-th ``MaterialName`` belongs to the k-th phase."""
    if not blocks or key in blocks[-1]:
        blocks.append({"id": None, "line": number})
    _phase_entry(path, number, key, value, blocks[-1])
    blocks[-1].setdefault(key, True)


def _phase_line(path: Path, number: int, value: str, blocks: list[dict]) -> None:
    pid = _value(path, number, "Phase", value, int)
    if blocks and blocks[-1]["id"] is None:  # keys before their '# Phase' line
        blocks[-1].update(id=pid, line=number)
    else:
        blocks.append({"id": pid, "line": number})


def _parse_header(path: Path, lines: list[str]) -> tuple[dict, list[dict], list[str] | None, int]:
    """Header entries, phase blocks, column names and the index of the first data line."""
    entries: dict = {}
    blocks: list[dict] = []
    names = None
    end = 0
    while end < len(lines) and lines[end].lstrip().startswith("#"):
        number, content = end + 1, lines[end].strip()
        end += 1
        if content.lstrip("# \t").lower().startswith("column names"):
            names = [n.strip().lower().replace(" ", "_") for n in content.split(":", 1)[-1].split(",")]
            continue
        match = _ENTRY.match(content)
        if not match:
            continue
        key, value = match.groups()
        if key == "Phase":
            _phase_line(path, number, value, blocks)
        elif key in _PHASE_KEYS:
            _phase_key(path, number, key, value, blocks)
        elif key == "GRID":
            entries["GRID"] = (number, value.strip())
        elif key in _GRID_KEYS:
            entries[key] = _value(path, number, key, value, _GRID_KEYS[key])
        elif value.strip() and not blocks:
            entries.setdefault("metadata", {})[key] = value.strip()
    known = [b["id"] for b in blocks if b["id"] is not None]
    for block in blocks:  # phases without a '# Phase N' line: the next free ids, from 1
        if block["id"] is None:
            block["id"] = max(known, default=0) + 1
            known.append(block["id"])
    return entries, blocks, names, end


def _grid_spec(path: Path, entries: dict, cols: Columns) -> GridSpec:
    """The header's grid; lines it lacks are taken from the x/y columns."""
    grid = None
    if "GRID" in entries:
        number, name = entries["GRID"]
        if name.lower() not in _GRIDS:
            raise FileFormatError(f"{path}, line {number}: GRID is {name!r}; expected SqrGrid "
                                  "or HexGrid")
        grid = _GRIDS[name.lower()]
    if grid is not None and all(k in entries for k in _GRID_KEYS):
        spec = GridSpec(grid, entries["XSTEP"], entries["YSTEP"], entries["NROWS"],
                        entries["NCOLS_ODD"], entries["NCOLS_EVEN"])
    else:
        missing = [k for k in ("GRID", *_GRID_KEYS) if k not in entries]
        spec = grid_from_positions(cols.x, cols.y, where=str(path), grid=grid)
        for key, attr in (("XSTEP", "xstep"), ("YSTEP", "ystep"), ("NROWS", "nrows"),
                          ("NCOLS_ODD", "ncols_odd"), ("NCOLS_EVEN", "ncols_even")):
            if key in entries:  # the header's lines win; placement checks that they fit
                setattr(spec, attr, entries[key])
        logger.info("%s: header lacks %s; grid from the x/y columns: %s, step %g µm, %d rows "
                    "of %d/%d points", path, ", ".join(missing), spec.grid, spec.xstep,
                    spec.nrows, spec.ncols_odd, spec.ncols_even)
    spec.check(str(path))
    return spec


def _phases(path: Path, blocks: list[dict]) -> dict[int, Phase]:
    if not blocks:
        raise FileFormatError(f"{path}: header has no '# Phase N' block; cannot tell the "
                              "crystal symmetry")
    phases = {}
    for block in blocks:
        if "point_group" not in block:
            raise FileFormatError(f"{path}, line {block['line']}: phase {block['id']} has no "
                                  "'# Symmetry' line")
        if block["id"] < 1 or block["id"] in phases:
            raise FileFormatError(f"{path}, line {block['line']}: phase id {block['id']} is "
                                  "repeated or < 1")
        phases[block["id"]] = Phase(block["id"], block.get("name") or f"phase{block['id']}",
                                    block["point_group"], block.get("lattice", ()))
    return phases


def _column_names(path: Path, names: list[str] | None, width: int) -> list[str]:
    if names is not None:
        names = [_ALIASES.get(n, n) for n in names]
        if len(names) == width and all(r in names for r in _REQUIRED) \
                and len(set(names)) == len(names):
            return names
        logger.warning("%s: '# Column names' line (%d names) does not fit the %d data columns; "
                       "using the TSL column order", path, len(names), width)
    if not 8 <= width <= 14:
        raise FileFormatError(f"{path}: data rows have {width} columns; an .ang file without a "
                              "column-names line has 8 to 14")
    return list(DEFAULT_COLUMNS[:width]) + [f"unknown{k}" for k in range(1, width - 9)]


def _columns(path: Path, lines: list[str], first: int, names: list[str] | None,
             phases: dict[int, Phase]) -> tuple[Columns, list[str]]:
    allowed = sorted(set(range(8, 15)) | ({len(names)} if names else set()))
    table, numbers = parse_table(path, lines, first, allowed)
    names = _column_names(path, names, table.shape[1])
    col = {n: table[:, k] for k, n in enumerate(names)}
    raw = col["phase"]
    bad = raw != np.rint(raw)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise FileFormatError(f"{path}, line {numbers[i]}: phase id {raw[i]:g} is not an integer")
    euler = np.column_stack([col["phi1"], col["phi"], col["phi2"]])
    phase = tsl_phase_ids(raw, euler, col.get("ci"), phases)
    quality = {n: v.astype(np.float32) for n, v in col.items()
               if n not in ("phi1", "phi", "phi2", "x", "y", "phase")}
    return Columns(euler, phase, col["x"], col["y"], quality,
                   where=lambda i: f"line {numbers[i]}"), names


def read_ang(path: str | os.PathLike, *, phase_names=None) -> EBSDMap:
    """Read an EDAX/TSL ``.ang`` file (square or hexagonal grid).

    Header lines may come in any order, and grid lines the header lacks are taken from the
    ``x, y`` columns (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The ``.ang`` file.
    phase_names : mapping of int to str, or sequence of str, optional
        New names for the phases (by id, or in id order 1, 2, ...).

    Returns
    -------
    EBSDMap
        Quality fields ``iq``, ``ci`` and, when present, ``detector_signal``, ``fit`` and any
        further named columns. See the module docstring for the rules.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    FileFormatError
        If the file is empty, binary, has no phase keys, an unknown symmetry code, ragged
        or non-numeric rows, no grid lines and positions that do not make a grid, or more
        or fewer points than its grid; the message names the file and line.
    """
    path = check_ebsd_file(path, None)
    lines = read_text_lines(path, what=".ang")
    entries, blocks, names, first = _parse_header(path, lines)
    phases = rename_phases(_phases(path, blocks), phase_names, where=str(path))
    cols, names = _columns(path, lines, first, names, phases)
    spec = _grid_spec(path, entries, cols)
    metadata = {"format": "ang", "columns": names, **entries.get("metadata", {})}
    ebsd = assemble_map(cols, spec, phases, file=str(path), metadata=metadata)
    logger.debug("read %s: %r", path, ebsd)
    return ebsd


def _header(ebsd_map: EBSDMap, ncols_odd: int, ncols_even: int, names: list[str]) -> str:
    out = ["# TEM_PIXperUM          1.000000", "# x-star                0.000000",
           "# y-star                0.000000", "# z-star                0.000000",
           "# WorkingDistance       0.000000", "#"]
    for pid, phase in sorted(ebsd_map.phases.items()):
        code = laue_code(phase.point_group, TSL_SYMMETRY, where=f"phase {pid} ({phase.name})")
        lattice = phase.lattice if len(phase.lattice) == 6 else (1, 1, 1, 90, 90, 90)
        out += [f"# Phase {pid}", f"# MaterialName  \t{phase.name}", f"# Formula     \t{phase.name}",
                "# Info          \t", f"# Symmetry              {code}",
                "# LatticeConstants       " + " ".join(f"{v:.3f}" for v in lattice),
                "# NumberFamilies        0", "#"]
    grid = "HexGrid" if ebsd_map.grid == "hexagonal" else "SqrGrid"
    out += [f"# GRID: {grid}", f"# XSTEP: {ebsd_map.step:.6f}", f"# YSTEP: {ebsd_map.row_step:.6f}",
            f"# NCOLS_ODD: {ncols_odd}", f"# NCOLS_EVEN: {ncols_even}",
            f"# NROWS: {ebsd_map.shape[0]}", "#", "# OPERATOR: microseg", "#", "# SAMPLEID:", "#",
            "# SCANID:", "#", "# Column names: " + ", ".join(names), "#"]
    return "\n".join(out) + "\n"


def write_ang(path: str | os.PathLike, ebsd_map: EBSDMap, *, force: bool = False) -> Path:
    """Write ``ebsd_map`` as an EDAX/TSL ``.ang`` file (square or hexagonal grid).

    Columns: ``phi1 Phi phi2 x y image_quality confidence_index phase_id detector_signal
    pattern_fit``, then any other quality fields by name. Points that are not indexed get
    Euler angles 4π, CI -1 and phase id 0 (single phase) or -1. Quality fields the map
    lacks are written as 0 (CI as 1 where indexed). On a hexagonal grid, a last column of
    odd rows that is all not indexed is left out (``NCOLS_EVEN = NCOLS_ODD - 1``).

    Parameters
    ----------
    path : str or path-like
        Output file; written atomically.
    ebsd_map : EBSDMap
        The map.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    InputError
        If a phase has a point group without a TSL symmetry code.
    """
    if not isinstance(ebsd_map, EBSDMap):
        raise InputError(f"ebsd_map must be an EBSDMap, got {type(ebsd_map).__name__}")
    keep = written_points(ebsd_map)
    indexed = ebsd_map.indexed[keep]
    euler = np.full((int(keep.sum()), 3), TSL_NOT_INDEXED_EULER)
    euler[indexed] = quaternions_to_euler(ebsd_map.rotations[keep][indexed])
    x, y = (c[keep] for c in ebsd_map.coordinates())
    q = ebsd_map.quality
    ci = np.where(indexed, q["ci"][keep] if "ci" in q else 1.0, PAD_QUALITY["ci"])
    phase = np.where(indexed, ebsd_map.phase_ids[keep], 0 if len(ebsd_map.phases) == 1 else -1)
    std = {n: (q[n][keep] if n in q else np.zeros(len(x))) for n in ("iq", "detector_signal", "fit")}
    extra = sorted(set(q) - {"iq", "ci", "detector_signal", "fit"})
    table = np.column_stack([euler, x, y, std["iq"], ci, phase, std["detector_signal"], std["fit"]]
                            + [q[n][keep] for n in extra])
    names = ["phi1", "Phi", "phi2", "x", "y", "image_quality", "confidence_index", "phase_id",
             "detector_signal", "pattern_fit"] + extra
    fmt = ["%.6f"] * 3 + ["%.5f"] * 2 + ["%.8g", "%.8g", "%d"] + ["%.8g"] * (2 + len(extra))
    body = io.StringIO()
    np.savetxt(body, table, fmt=fmt, delimiter=" ")
    rows_kept = keep.sum(axis=1)
    header = _header(ebsd_map, int(rows_kept[0]), int(rows_kept[1] if len(rows_kept) > 1
                                                      else rows_kept[0]), names)
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(header + body.getvalue(), encoding="utf-8")
    logger.debug("wrote %s: %r", path, ebsd_map)
    return Path(path)
