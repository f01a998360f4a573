"""JSON the way every microseg output writes it: one rule for what JSON cannot hold.

NaN and ±infinity become ``null`` (a bare ``NaN`` is invalid JSON for most readers); numpy
scalars and arrays become numbers and lists, paths strings, tuples and sets lists. Files
are written atomically and never overwritten without ``force``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["to_jsonable", "json_text", "write_json", "read_json"]


def to_jsonable(obj: Any) -> Any:
    """``obj`` with every value JSON can hold as itself and NaN/±inf as ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": [float("nan"), np.inf], "c": np.arange(2)})
    {'a': 0.5, 'b': [None, None], 'c': [0, 1]}
    """
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"not JSON serialisable: {type(obj).__name__} ({obj!r:.60})")


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON text with microseg's rule (NaN/inf -> ``null``), ending in a newline."""
    return json.dumps(to_jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, data: Any, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` as indented JSON (see :func:`json_text`), atomically.

    Raises :class:`~microseg._util.OutputExistsError` when ``path`` exists and ``force`` is false.
    """
    from microseg._util import write_text_atomic

    return write_text_atomic(path, json_text(data), force=force)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file is an error that names it."""
    from microseg._util import FileFormatError
    from microseg.io._files import MissingFileError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: not valid JSON ({exc})") from None
