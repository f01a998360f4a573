"""Shared machinery of the EBSD readers and writers: symmetry tables, text tables with line
numbers, placement of points on the square or hexagonal grid, rotations and phases.

Every reader collects per-point columns (Euler angles, positions, raw phase ids, quality) and
hands them to :func:`assemble_map`, which checks them against the header's grid and builds
the :class:`~microseg.io.EBSDMap`.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, InputError
from microseg.io._ebsd import EBSDMap, Phase
from microseg.io._files import MissingFileError

logger = logging.getLogger(__name__)

#: EDAX/TSL ``Symmetry`` codes (.ang, OIM .h5) -> Laue group (Hermann–Mauguin).
TSL_SYMMETRY = {1: "-1", 2: "2/m", 3: "-3", 4: "4/m", 6: "6/m", 22: "mmm", 23: "m-3",
                32: "-3m", 42: "4/mmm", 43: "m-3m", 62: "6/mmm"}
#: Oxford Laue group numbers (.ctf, .h5oina) -> Laue group.
OXFORD_LAUE = {1: "-1", 2: "2/m", 3: "mmm", 4: "4/m", 5: "4/mmm", 6: "-3", 7: "-3m",
               8: "6/m", 9: "6/mmm", 10: "m-3", 11: "m-3m"}
#: Point groups -> their Laue group, for writing a map whose phases name a point group.
_LAUE_OF = {"1": "-1", "2": "2/m", "m": "2/m", "211": "2/m", "121": "2/m", "112": "2/m",
            "222": "mmm", "mm2": "mmm", "4": "4/m", "-4": "4/m", "422": "4/mmm",
            "4mm": "4/mmm", "-42m": "4/mmm", "3": "-3", "32": "-3m", "321": "-3m",
            "312": "-3m", "3m": "-3m", "6": "6/m", "-6": "6/m", "622": "6/mmm",
            "6mm": "6/mmm", "-6m2": "6/mmm", "23": "m-3", "432": "m-3m", "-43m": "m-3m"}
#: Euler angles that EDAX (and orix's writer) give points that are not indexed.
TSL_NOT_INDEXED_EULER = 4 * math.pi
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Quality value written in padding and read for points a file does not hold.
PAD_QUALITY = {"ci": -1.0}


def laue_code(point_group: str, table: Mapping[int, str], *, where: str) -> int:
    """The code of ``point_group``'s Laue group in ``table`` (one of the tables above)."""
    laue = _LAUE_OF.get(point_group, point_group)
    for code, name in table.items():
        if name == laue:
            return code
    raise InputError(f"{where}: point group {point_group!r} has no code in this format; "
                     f"known: {', '.join(sorted(set(table.values())))}")


def symmetry_from_code(code: str, table: Mapping[int, str], *, where: str, kind: str) -> str:
    """Laue group of a ``Symmetry``/``Laue group`` code, or an error listing the known ones."""
    try:
        value = int(float(code))
    except (TypeError, ValueError, OverflowError):
        value = None
    if value not in table:
        known = ", ".join(f"{k} ({v})" for k, v in table.items())
        raise FileFormatError(f"{where}: unknown {kind} {code!r}; known: {known}")
    return table[value]


def check_ebsd_file(path: str | os.PathLike, suffixes: Sequence[str] | None) -> Path:
    """``path`` as a Path if it is an existing file (with one of ``suffixes`` if given)."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file (EBSD map expected)")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, expected an EBSD map file")
    if suffixes and path.suffix.lower() not in suffixes:
        raise FileFormatError(f"{path}: unexpected extension {path.suffix!r} for this reader; "
                              f"expected {', '.join(suffixes)}")
    return path


def read_text_lines(path: Path, *, what: str) -> list[str]:
    """The lines of a text file (UTF-8, else Latin-1), refusing empty and binary files."""
    raw = path.read_bytes()
    if not raw.strip():
        raise FileFormatError(f"{path}: file is empty (a {what} file has a header and data rows)")
    if b"\x00" in raw[:1 << 16] or b"\x00" in raw[-(1 << 16):]:
        raise FileFormatError(f"{path}: holds binary data (NUL bytes); not a {what} text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def _parse_table_fast(lines: Sequence[str], first: int, allowed: tuple[int, ...],
                      sep: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """numpy's C parser for a well-formed table; ``None`` sends the caller to the slow path,
    which finds and names the offending line."""
    import io
    import warnings

    numbers = np.array([i + 1 for i in range(first, len(lines)) if lines[i].strip()])
    if numbers.size == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(io.StringIO("\n".join(lines[first:])), dtype=np.float64,
                               delimiter=sep, comments=None, ndmin=2)
    except (ValueError, UserWarning):
        return None
    if table.shape != (numbers.size, table.shape[1]) or table.shape[1] not in allowed:
        return None
    if not np.all(np.abs(table) <= _FLOAT32_MAX):  # NaN, inf or float32 overflow
        return None
    return table, numbers


def parse_table(path: Path, lines: Sequence[str], first: int, ncols: int | Sequence[int], *,
                sep: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``lines[first:]`` as a numeric table, skipping blank lines.

    Returns the ``(N, C)`` float64 table and the 1-based line number of each row. Raises
    :class:`FileFormatError` naming the first line with a wrong column count or a
    non-numeric field. ``ncols`` is the allowed column count(s); the count most rows have
    decides.
    """
    allowed = (ncols,) if isinstance(ncols, int) else tuple(ncols)
    fast = _parse_table_fast(lines, first, allowed, sep)
    if fast is not None:
        return fast
    numbers, rows = [], []
    for i in range(first, len(lines)):
        if lines[i].strip():
            rows.append(lines[i].split(sep) if sep else lines[i].split())
            numbers.append(i + 1)
    if not rows:
        raise FileFormatError(f"{path}, line {first + 1}: no data rows after the header")
    widths = np.array([len(row) for row in rows])
    width = int(np.bincount(widths).argmax())  # the most common width decides
    if width not in allowed:
        raise FileFormatError(f"{path}, line {numbers[0]}: data rows have {width} columns; "
                              f"expected {' or '.join(map(str, allowed))}")
    ragged = np.flatnonzero(widths != width)
    if len(ragged):
        k = int(ragged[0])
        raise FileFormatError(f"{path}, line {numbers[k]}: data row has {widths[k]} columns, "
                              f"expected {width} like the other rows (ragged row)")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError:
        table = None
    if table is None or not np.all(np.abs(table) <= _FLOAT32_MAX):
        for row, number in zip(rows, numbers):
            for k, token in enumerate(row):
                try:
                    value = float(token)
                except ValueError:
                    value = math.nan
                if not abs(value) <= _FLOAT32_MAX:
                    raise FileFormatError(f"{path}, line {number}: column {k + 1} is "
                                          f"{token.strip()[:20]!r}, not a finite number "
                                          "(within float32 range)")
    return table, np.asarray(numbers)


@dataclass
class Columns:
    """Per-point data of a scan in file order, as the readers collect it.

    ``euler`` (N, 3) Bunge angles in radians; ``x``, ``y`` (N,) positions in µm or None;
    ``phase`` (N,) int phase ids (<= 0 not indexed); ``quality`` name -> (N,) values;
    ``where(i)`` names the place of point ``i`` in an error message.
    """

    euler: np.ndarray
    phase: np.ndarray
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    where: Callable[[int], str] = str


@dataclass
class GridSpec:
    """The grid a header announces: ``nrows`` rows of ``ncols_odd`` (rows 1, 3, ... counted
    from 1, i.e. index 0, 2, ...) and ``ncols_even`` points, steps in µm."""

    grid: str
    xstep: float
    ystep: float
    nrows: int
    ncols_odd: int
    ncols_even: int

    @property
    def size(self) -> int:
        """Number of points the grid holds."""
        return (self.nrows + 1) // 2 * self.ncols_odd + self.nrows // 2 * self.ncols_even

    def check(self, where: str) -> None:
        """Raise if the numbers cannot describe a scan."""
        for name in ("xstep", "ystep"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise FileFormatError(f"{where}: {name} must be a positive number, got {value}")
        for name in ("nrows", "ncols_odd", "ncols_even"):
            if getattr(self, name) < 0 or (name != "ncols_even" and getattr(self, name) < 1):
                raise FileFormatError(f"{where}: {name} must be a positive count, "
                                      f"got {getattr(self, name)}")
        if self.grid == "square" and self.ncols_odd != self.ncols_even:
            raise FileFormatError(f"{where}: square grid with {self.ncols_odd} and "
                                  f"{self.ncols_even} columns in alternate rows")
        if self.size > 1 << 28:
            raise FileFormatError(f"{where}: header announces {self.size} points; too many")


def _round_step(value: float) -> float:
    """A step measured from coordinates, to the 6 significant digits a grid line holds."""
    return float(f"{value:.6g}")


def _smallest_gap(gaps: np.ndarray) -> float | None:
    """Smallest positive gap, skipping gaps under a quarter of the median one (float noise
    between copies of one value); ``None`` if there is no positive gap."""
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        return None
    return float(gaps[gaps > 0.25 * np.median(gaps)].min())


def _count(extent: float, step: float, what: str, where: str) -> int:
    """``extent / step + 1`` as an int, refusing absurd grids before converting."""
    value = extent / step
    if not value <= 1 << 28:
        raise FileFormatError(f"{where}: the x/y columns span {extent:g} µm with a {what} of "
                              f"{step:g} µm; too many points for a grid")
    return int(round(value)) + 1


def grid_from_positions(x: np.ndarray, y: np.ndarray, *, where: str,
                        grid: str | None = None) -> GridSpec:
    """The grid of a scan from its point positions, for headers without grid lines.

    The row step is the smallest spacing of the distinct ``y`` values, the column step the
    smallest spacing of ``x`` within a row (on a hexagonal grid distinct ``x`` values are
    half a step apart), both refined over the scan's extent and rounded to 6 significant
    digits. The grid is hexagonal when every point of the odd rows lies half a column step
    from the columns of the even rows (unless ``grid`` says which). Rows and columns are
    counted from the extents. With one row the row step is the column step, and vice versa.
    """
    n = len(x)
    if n < 2:
        raise FileFormatError(f"{where}: header has no grid lines and {n} data point(s) "
                              "cannot give a step")
    y0 = float(y.min())
    ystep = _smallest_gap(np.diff(np.unique(y)))
    if ystep is not None:
        nrows = _count(float(y.max()) - y0, ystep, "row step", where)
        ystep = (float(y.max()) - y0) / (nrows - 1)
        rows = np.rint((y - y0) / ystep).astype(np.int64)
    else:
        nrows, rows = 1, np.zeros(n, dtype=np.int64)
    order = np.lexsort((x, rows))
    gaps = np.diff(x[order])[np.diff(rows[order]) == 0]
    xstep = _smallest_gap(gaps)
    if xstep is None and ystep is None:
        raise FileFormatError(f"{where}: header has no grid lines and all {n} points share "
                              "one position; cannot tell the step")
    xstep = ystep if xstep is None else xstep
    even, odd = rows % 2 == 0, rows % 2 == 1
    x0 = float(x[even].min())
    phase = (x[odd] - x0) / xstep % 1.0
    if not odd.any():  # one row: nothing to tell the grids apart
        detected = grid or "square"
    else:
        detected = "hexagonal" if np.all(np.abs(phase - 0.5) < 0.25) else "square"
    if grid is not None and grid != detected:
        raise FileFormatError(f"{where}: header says a {grid} grid, but the x/y columns lie "
                              f"on a {detected} one")
    if detected == "hexagonal":
        ncols_odd = _count(float(x[even].max()) - x0, xstep, "column step", where)
        ncols_even = _count(float(np.ptp(x[odd])), xstep, "column step", where)
        xstep = (float(x[even].max()) - x0) / (ncols_odd - 1) if ncols_odd > 1 else xstep
    else:
        ncols_odd = ncols_even = _count(float(np.ptp(x)), xstep, "column step", where)
        xstep = float(np.ptp(x)) / (ncols_odd - 1) if ncols_odd > 1 else xstep
    xstep = _round_step(xstep)
    ystep = xstep if ystep is None or nrows == 1 else _round_step(ystep)
    if detected == "hexagonal" and nrows == 1:
        ystep = _round_step(xstep * math.sqrt(3) / 2)
    return GridSpec(detected, xstep, ystep, nrows, ncols_odd, ncols_even)


def _order_indices(spec: GridSpec, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Row and column of each point for points stored row by row (file order)."""
    counts = np.where(np.arange(spec.nrows) % 2 == 0, spec.ncols_odd, spec.ncols_even)
    rows = np.repeat(np.arange(spec.nrows), counts)[:n]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return rows, np.arange(n) - starts[rows], int(counts.max())


def _position_indices(cols: Columns, spec: GridSpec, file: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Row and column of each point from its position; errors name the offending point."""
    fy = (cols.y - cols.y.min()) / spec.ystep
    rows = np.rint(fy).astype(np.int64)
    x0 = cols.x[rows % 2 == 0].min() if spec.grid == "hexagonal" else cols.x.min()
    fx = (cols.x - x0) / spec.xstep
    if spec.grid == "hexagonal":
        fx -= 0.5 * (rows % 2)
        if fx.min() < -0.25:  # odd rows start left of even rows: pad a column on the left
            fx += 1.0
    col = np.rint(fx).astype(np.int64)
    width = max(spec.ncols_odd, spec.ncols_even) + int(spec.grid == "hexagonal")
    off = (np.abs(fy - rows) > 0.3) | (np.abs(fx - col) > 0.3)
    outside = (rows >= spec.nrows) | (col >= width) | (col < 0)
    for bad, why in ((off, "does not lie on the grid of the header's steps"),
                     (outside, f"lies outside the header's grid of {spec.nrows} rows")):
        if np.any(bad):
            i = int(np.argmax(bad))
            raise FileFormatError(f"{file}, {cols.where(i)}: position ({cols.x[i]:g}, "
                                  f"{cols.y[i]:g}) µm {why}")
    return rows, col, int(col.max()) + 1


def place(cols: Columns, spec: GridSpec, file: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Flat index of each point in the (Y, X) map, checking count, bounds and repeats."""
    n = len(cols.phase)
    if n != spec.size:
        kind = "fewer" if n < spec.size else "more"
        raise FileFormatError(f"{file}: {n} data points, {kind} than the {spec.size} of the "
                              f"header's grid ({spec.nrows} rows of {spec.ncols_odd}/"
                              f"{spec.ncols_even} points)")
    if cols.x is not None and cols.y is not None and n > 1:
        rows, col, width = _position_indices(cols, spec, file)
    else:
        rows, col, width = _order_indices(spec, n)
    width = max(width, spec.ncols_odd, spec.ncols_even)
    flat = rows * width + col
    order = np.argsort(flat, kind="stable")
    repeat = np.flatnonzero(np.diff(flat[order]) == 0)
    if len(repeat):
        a, b = sorted(order[repeat[0]:repeat[0] + 2])
        raise FileFormatError(f"{file}, {cols.where(int(b))}: same grid position as "
                              f"{cols.where(int(a))}")
    return flat, (spec.nrows, width)


def euler_to_quaternions(euler: np.ndarray, *, where: str = "EBSD map") -> np.ndarray:
    """``(N, 3)`` Bunge angles (rad) -> ``(N, 4)``, exactly ``orix`` ``Rotation.from_euler``."""
    import warnings

    from orix.quaternion import Rotation

    if len(euler) == 0:
        return np.zeros((0, 4))
    if np.any(np.abs(euler) > 4 * math.pi + 1e-3):
        logger.warning("%s: Euler angles up to %.4g rad; are they in degrees?", where,
                       np.abs(euler).max())
    with warnings.catch_warnings():  # orix warns above 4π; logged above instead
        warnings.filterwarnings("ignore", message="Angles are quite high")
        return np.asarray(Rotation.from_euler(euler).data, dtype=np.float64)


def quaternions_to_euler(q: np.ndarray) -> np.ndarray:
    """``(..., 4)`` unit quaternions -> ``(..., 3)`` Bunge angles in radians (orix)."""
    from orix.quaternion import Rotation

    flat = q.reshape(-1, 4)
    if len(flat) == 0:
        return np.zeros(q.shape[:-1] + (3,))
    return np.asarray(Rotation(flat).to_euler()).reshape(q.shape[:-1] + (3,))


def assemble_map(cols: Columns, spec: GridSpec, phases: dict[int, Phase], *, file: str,
                 metadata: dict | None = None) -> EBSDMap:
    """Place the points of ``cols`` on the grid and build the :class:`EBSDMap`.

    Points with a phase id <= 0 are not indexed (identity rotation, id -1); positions the
    file does not fill (hexagonal padding) are not indexed and take :data:`PAD_QUALITY`
    (0 for fields not named there).
    """
    spec.check(file)
    phase = cols.phase.astype(np.int64)
    unknown = (phase > 0) & ~np.isin(phase, list(phases))
    if np.any(unknown):
        i = int(np.argmax(unknown))
        raise FileFormatError(f"{file}, {cols.where(i)}: phase id {phase[i]} is not among the "
                              f"header's phases {sorted(phases)}")
    flat, shape = place(cols, spec, file)
    size = shape[0] * shape[1]
    rot = np.zeros((size, 4))
    rot[:, 0] = 1.0
    ids = np.full(size, -1, dtype=np.int32)
    indexed = phase > 0
    rot[flat[indexed]] = euler_to_quaternions(cols.euler[indexed], where=file)
    ids[flat[indexed]] = phase[indexed]
    quality = {}
    for name, values in cols.quality.items():
        q = np.full(size, PAD_QUALITY.get(name, 0.0), dtype=np.float32)
        q[flat] = values
        quality[name] = q.reshape(shape)
    hexagonal = spec.grid == "hexagonal"
    if hexagonal and not math.isclose(spec.ystep, spec.xstep * math.sqrt(3) / 2, rel_tol=0.01):
        logger.warning("%s: hexagonal grid with YSTEP %g, expected XSTEP*sqrt(3)/2 = %g; "
                       "rows are taken that far apart", file, spec.ystep,
                       spec.xstep * math.sqrt(3) / 2)
    y_step = None if hexagonal or math.isclose(spec.ystep, spec.xstep, rel_tol=1e-6) else spec.ystep
    return EBSDMap(rot.reshape(shape + (4,)), ids.reshape(shape), phases, float(spec.xstep),
                   grid=spec.grid, quality=quality, source=file, metadata=metadata or {},
                   y_step=y_step)


def rename_phases(phases: dict[int, Phase], phase_names, *, where: str) -> dict[int, Phase]:
    """Apply ``phase_names`` (mapping id -> name, or a sequence for ids 1, 2, ...)."""
    if phase_names is None:
        return phases
    if isinstance(phase_names, str):
        phase_names = [phase_names]
    if not isinstance(phase_names, Mapping):
        phase_names = {i + 1: n for i, n in enumerate(phase_names)}
    unknown = set(phase_names) - set(phases)
    if unknown:
        raise InputError(f"{where}: phase_names names phases {sorted(unknown)}, but the file has "
                         f"phases {sorted(phases)}")
    return {k: Phase(p.id, str(phase_names.get(k, p.name)), p.point_group, p.lattice)
            for k, p in phases.items()}


def written_points(ebsd_map: EBSDMap) -> np.ndarray:
    """Boolean (Y, X) of points a writer puts in the file: everything on a square grid; on a
    hexagonal grid the last column of odd rows is left out when it is all padding (not
    indexed), which gives the TSL layout ``NCOLS_EVEN = NCOLS_ODD - 1``."""
    keep = np.ones(ebsd_map.shape, dtype=bool)
    if ebsd_map.grid == "hexagonal" and ebsd_map.shape[0] > 1 and ebsd_map.shape[1] > 1:
        last = ebsd_map.phase_ids[1::2, -1]
        if np.all(last < 0):
            keep[1::2, -1] = False
    return keep


def tsl_phase_ids(raw: np.ndarray, euler: np.ndarray, ci: np.ndarray | None,
                  phases: Mapping[int, Phase]) -> np.ndarray:
    """EDAX/TSL phase ids with the not-indexed rule applied (-1 where not indexed).

    Not indexed: CI == -1, all three Euler angles 4π, phase id < 0, or phase id 0 in a
    multi-phase file. In a single-phase file phase id 0 means that phase.
    """
    phase = np.clip(raw, -1, 1 << 30).astype(np.int64)
    if len(phases) == 1:
        phase[phase == 0] = next(iter(phases))
    not_indexed = np.all(np.abs(euler - TSL_NOT_INDEXED_EULER) < 1e-3, axis=1)
    if ci is not None:
        not_indexed |= ci == -1
    phase[not_indexed | (phase <= 0)] = -1
    return phase
