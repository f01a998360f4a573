"""Small helpers shared by every stage: errors, option look-up, atomic output, progress.

JSON is written by :func:`microseg.io.write_json` (one rule: NaN/inf -> null); checks of
input values and arrays are in :mod:`microseg._validate`. This module imports nothing of
microseg, so that every module may import it."""
from __future__ import annotations

import contextlib
import difflib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)


#: Target value of pixels whose label is unknown (no EBSD data, a fiducial, a non-indexed
#: point): training targets hold 0, 1 or IGNORE_LABEL; losses and metrics leave such pixels out.
IGNORE_LABEL = 255


class MicrosegError(Exception):
    """Base class of errors raised on bad user input; the CLI prints them as one line."""


class InputError(MicrosegError, ValueError):
    """A value or file given by the user is unusable (wrong shape, content, range, ...)."""


class FileFormatError(MicrosegError, ValueError):
    """A file exists but cannot be read as what it claims to be. The message names the file."""


class OutputExistsError(MicrosegError, FileExistsError):
    """An output would overwrite an existing result and ``force`` was not given."""


def look_up_option(name: str, options: Sequence[str], *, what: str = "option") -> str:
    """Return ``name`` if it is one of ``options``; otherwise raise a helpful error.

    The error lists the valid names and suggests the nearest one ("did you mean ...?").
    """
    if name in options:
        return name
    lowered = {o.lower(): o for o in options}
    if isinstance(name, str) and name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(str(name), list(options), n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    raise InputError(
        f"unknown {what} {name!r}; valid: {', '.join(map(str, options))}.{hint}"
    )


def check_output_path(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Check that ``path`` may be written: refuse to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: already exists; pass force=True (--force) to overwrite")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Nothing is left behind when the body raises, and an existing ``path`` is kept
    unless ``force`` is true. The temporary file keeps the suffix of ``path`` so that
    writers which dispatch on the extension still work.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    path = check_output_path(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


class _TqdmLogger:
    """A file-like object that sends tqdm's lines to a logger (cellpose style)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            self._log.info(text)

    def flush(self) -> None:  # pragma: no cover - nothing buffered
        pass


def progress(iterable: Iterable[T], *, enabled: bool = False, desc: str = "", total: int | None = None,
             log: logging.Logger | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar when ``enabled``; a no-op otherwise.

    The bar is drawn on standard error when it is a terminal, else routed through
    ``log`` (default: this module's logger) at INFO level.
    """
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    import sys

    if sys.stderr.isatty():
        return tqdm(iterable, desc=desc, total=total, leave=False)
    return tqdm(iterable, desc=desc, total=total, file=_TqdmLogger(log or logger),
                mininterval=5.0, ascii=True)



_PROCESS_CACHE: dict[str, Any] = {}


def process_cached(key: str, build: Callable[[], T]) -> T:
    """``build()`` once per process for ``key``: a dask worker loads a run's models on its first task.

    One entry at a time (a new key drops the old one), so a long-lived worker serving run
    after run holds one run's models, not all of them.

    >>> process_cached("a", lambda: [1]) is process_cached("a", lambda: [2])
    True
    """
    if key not in _PROCESS_CACHE:
        _PROCESS_CACHE.clear()
        _PROCESS_CACHE[key] = build()
    return _PROCESS_CACHE[key]
