"""Small h5py helpers for the HDF5 EBSD readers: opening, scalars, strings, columns."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from microseg._util import FileFormatError, MicrosegError


@contextlib.contextmanager
def open_h5(path: Path, *, what: str) -> Iterator:
    """Open ``path`` read-only; h5py's errors become :class:`FileFormatError` naming it."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: cannot open as HDF5 ({what}; damaged, truncated or "
                              f"not HDF5): {exc}") from None
    try:
        with f:
            yield f
    except MicrosegError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise FileFormatError(f"{path}: cannot read {what}: {type(exc).__name__}: {exc}") from None


def need(group, name: str, path: Path):
    """``group[name]``, or a :class:`FileFormatError` naming the missing HDF5 path."""
    if name not in group:
        raise FileFormatError(f"{path}: HDF5 object {group.name.rstrip('/')}/{name} is missing")
    return group[name]


def scalar(group, name: str, path: Path, kind: type = float):
    """A number stored as a scalar or a one-element dataset."""
    value = np.asarray(need(group, name, path)[()]).ravel()
    if value.size < 1:
        raise FileFormatError(f"{path}: HDF5 dataset {group.name}/{name} is empty")
    try:
        out = kind(value[0])
    except (TypeError, ValueError, OverflowError):
        raise FileFormatError(f"{path}: HDF5 dataset {group.name}/{name} holds {value[0]!r}, "
                              f"not {'an integer' if kind is int else 'a number'}") from None
    return out


def text(group, name: str, path: Path, default: str = "") -> str:
    """A string stored as bytes or str, scalar or one-element; ``default`` if absent."""
    if name not in group:
        return default
    value = group[name][()]
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else default
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip()


def column(group, name: str, path: Path, n: int | None = None, width: int = 1) -> np.ndarray:
    """A per-point dataset as float64 ``(N,)`` (or ``(N, width)``), checked against ``n``."""
    data = np.asarray(need(group, name, path)[()], dtype=np.float64)
    if data.size % width:
        raise FileFormatError(f"{path}: HDF5 dataset {group.name}/{name} has shape {data.shape}, "
                              f"expected (N, {width})")
    data = data.reshape(-1, width) if width > 1 else data.ravel()
    if n is not None and len(data) != n:
        raise FileFormatError(f"{path}: HDF5 dataset {group.name}/{name} has {len(data)} points, "
                              f"others have {n}")
    return data
