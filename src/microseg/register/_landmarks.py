"""Landmark (fiducial) point pairs: the :class:`Landmarks` container, the CSV reader and writer."""
from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, InputError

logger = logging.getLogger(__name__)

__all__ = ["Landmarks", "read_landmarks"]

_COLUMNS = ("x_um", "y_um", "col", "row")
_NAME_COLUMNS = ("name", "id", "label")


@dataclass(frozen=True)
class Landmarks:
    """Pairs of corresponding points: EBSD/sample frame (µm) and SEM image (px).

    Parameters
    ----------
    src_um : ndarray of float64, shape (N, 2)
        ``(x_um, y_um)`` in the EBSD frame: ``x = column * step``, ``y = row * step``,
        origin at the first EBSD point.
    dst_px : ndarray of float64, shape (N, 2)
        ``(col, row)`` of the same points in the SEM image, from the top-left pixel centre.
    names : tuple of str
        One name per pair (``"1"``, ``"2"``, ... when the file has no name/id column).

    Examples
    --------
    >>> lm = Landmarks([[0, 0], [10, 0], [0, 10]], [[5, 5], [25, 5], [5, 25]])
    >>> len(lm), lm.names
    (3, ('1', '2', '3'))
    """

    src_um: np.ndarray
    dst_px: np.ndarray
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        src = _as_points(self.src_um, "src_um")
        dst = _as_points(self.dst_px, "dst_px")
        if len(src) != len(dst):
            raise InputError(f"src_um and dst_px must have the same number of points, got "
                             f"{len(src)} and {len(dst)}")
        names = tuple(str(n) for n in self.names) or tuple(str(i + 1) for i in range(len(src)))
        if len(names) != len(src):
            raise InputError(f"names must have one entry per point ({len(src)}), got {len(names)}")
        object.__setattr__(self, "src_um", src)
        object.__setattr__(self, "dst_px", dst)
        object.__setattr__(self, "names", names)

    def __len__(self) -> int:
        return len(self.src_um)


def _as_points(points, name: str) -> np.ndarray:
    """``points`` as a finite float64 ``(N, 2)`` array, or an :class:`InputError`."""
    try:
        arr = np.array(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an (N, 2) array of numbers, got {points!r:.80}") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"{name} must have shape (N, 2), got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise InputError(f"{name} has non-finite (NaN or inf) coordinates at point(s) "
                         f"{np.flatnonzero(bad).tolist()}")
    return arr


def read_landmarks(path: str | os.PathLike, *, min_pairs: int = 2) -> Landmarks:
    """Read landmark pairs from a CSV file with a header.

    The header must name the columns ``x_um, y_um, col, row`` (any order, any case,
    spaces ignored): a point in the EBSD/sample frame in µm and the same point in the
    image in pixels (column, row from the top-left pixel centre). A ``name``, ``id`` or
    ``label`` column gives the point names; other columns are ignored. Blank lines and
    lines starting with ``#`` are skipped.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    min_pairs : int
        Fewest pairs accepted (2 for a similarity, 3 for an affine, 4 for a projective
        transform).

    Returns
    -------
    Landmarks

    Raises
    ------
    FileFormatError
        Missing columns, a value that is not a finite number, a short row, too few pairs
        or undecodable text; the message names the file, line and column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "points.csv"
    >>> _ = p.write_text("id,x_um,y_um,col,row\\nA,0,0,10,12\\nB,5,0,110,12\\nC,0,5,10,112\\n")
    >>> lm = read_landmarks(p)
    >>> lm.names, lm.dst_px[1].tolist()
    (('A', 'B', 'C'), [110.0, 12.0])
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(io.StringIO(text, newline="")))]
    except csv.Error as exc:
        raise FileFormatError(f"{path}: not a readable CSV file ({exc})") from None
    rows = [(n, r) for n, r in rows if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise FileFormatError(f"{path}: empty; expected a header with columns {', '.join(_COLUMNS)}")
    header_line, header = rows[0]
    index = _column_index(path, header_line, header)
    src, dst, names = [], [], []
    for line, row in rows[1:]:
        values = [_number(path, line, row, index[c], c) for c in _COLUMNS]
        src.append(values[:2])
        dst.append(values[2:])
        name_col = index.get("name")
        names.append(row[name_col].strip() if name_col is not None and name_col < len(row)
                     else str(len(names) + 1))
    if len(src) < min_pairs:
        raise FileFormatError(f"{path}: {len(src)} landmark pair(s), at least {min_pairs} needed")
    logger.debug("%s: %d landmark pairs", path, len(src))
    return Landmarks(np.array(src, float).reshape(-1, 2), np.array(dst, float).reshape(-1, 2),
                     tuple(names))


def _column_index(path: Path, line: int, header: list[str]) -> dict[str, int]:
    keys = [h.strip().lower().replace(" ", "") for h in header]
    missing = [c for c in _COLUMNS if c not in keys]
    if missing:
        raise FileFormatError(f"{path}: line {line}: header lacks column(s) {', '.join(missing)}; "
                              f"found {', '.join(map(repr, header))}; expected x_um, y_um, col, row")
    index = {c: keys.index(c) for c in _COLUMNS}
    for c in _NAME_COLUMNS:
        if c in keys:
            index["name"] = keys.index(c)
            break
    return index


def _number(path: Path, line: int, row: list[str], col: int, name: str) -> float:
    if col >= len(row):
        raise FileFormatError(f"{path}: line {line}: no value in column {name!r} "
                              f"(the row has {len(row)} field(s))")
    text = row[col].strip()
    try:
        value = float(text)
    except ValueError:
        raise FileFormatError(f"{path}: line {line}, column {name!r}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise FileFormatError(f"{path}: line {line}, column {name!r}: {text!r} is not a finite number")
    return value


def write_landmarks(path: str | os.PathLike, landmarks: Landmarks, *, force: bool = False) -> Path:
    """Write landmark pairs as the CSV :func:`read_landmarks` reads (``id,x_um,y_um,col,row``).

    Written atomically; an existing file is kept unless ``force``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "points.csv"
    >>> lm = Landmarks([[0, 0], [5, 0], [0, 5]], [[10, 12], [110, 12], [10, 112]], names=("A", "B", "C"))
    >>> _ = write_landmarks(p, lm)
    >>> back = read_landmarks(p)
    >>> back.names, bool(np.array_equal(back.dst_px, lm.dst_px))
    (('A', 'B', 'C'), True)
    """
    from microseg._util import write_text_atomic

    rows = ["id,x_um,y_um,col,row"] + [f"{n},{x!r},{y!r},{c!r},{r!r}" for n, (x, y), (c, r)
                                       in zip(landmarks.names, landmarks.src_um.tolist(), landmarks.dst_px.tolist())]
    return write_text_atomic(path, "\n".join(rows) + "\n", force=force)
