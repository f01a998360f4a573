"""What every task shares: results that write all their files or none.

A task computes first and writes last. :func:`check_outputs` refuses an overwrite before any
work starts (a refused overwrite costs nothing); :func:`write_all` writes every file of a
result into a hidden temporary folder inside the destination and moves them into place only
when all are written, so an error or an interrupt leaves the destination as it was. A
temporary folder left by a killed run is removed by the next write into the same folder.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microseg._util import InputError, OutputExistsError

log = logging.getLogger(__name__)

__all__ = ["TaskResult", "PerImage", "Staging", "check_outputs", "copy_writer", "write_all"]

_PARTIAL = ".microseg-partial-"
Writer = Callable[[Path], Any]


def check_outputs(folder: str | os.PathLike, names: Sequence[str], *, force: bool = False) -> Path:
    """Refuse, before any work, to overwrite one of ``folder/name`` unless ``force``.

    Two outputs of one run with the same name (e.g. two inputs with the same stem) are
    refused too.
    """
    folder = Path(folder)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{folder / name}: two outputs of this run have this name "
                             "(two inputs with the same file stem?); rename one")
        seen.add(name)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; name an output folder")
    existing = [n for n in names if (folder / n).exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more of this run's outputs)" if len(existing) > 1 else ""
        raise OutputExistsError(f"{folder / existing[0]}: already exists{more}; pass force=True "
                                "(--force) to overwrite, or choose another output folder")
    return folder


def _clean_stale(folder: Path) -> None:
    """Remove the temporary folders of runs that are no longer alive."""
    for tmp in folder.glob(f"{_PARTIAL}*"):
        try:
            pid = int(tmp.name[len(_PARTIAL):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            log.info("%s: removing what an interrupted run left", tmp)
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def write_all(folder: str | os.PathLike, files: Sequence[tuple[str, Writer]], *,
              force: bool = False) -> list[Path]:
    """Write the ``(name, writer)`` pairs into ``folder``, all of them or none.

    Each ``writer(path)`` must create exactly ``path`` (a file, or a folder for names that
    are folders). They write into a temporary folder inside ``folder`` (:class:`Staging`);
    when every writer has returned, the results are moved to ``folder/name`` (replacing
    existing ones only with ``force``). Returns the written paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> paths = write_all(out, [("a.txt", lambda p: p.write_text("a")),
    ...                         ("b.txt", lambda p: p.write_text("b"))])
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt', 'b.txt']
    """
    with Staging(folder, [n for n, _ in files], force=force) as staging:
        return staging.write(files)


def copy_writer(source: str | os.PathLike) -> Writer:
    """A writer that copies the file (or folder) ``source`` — an output already written, not
    held in memory — to where :func:`write_all` asks."""
    def copy(path: Path) -> None:
        if Path(source).is_dir():
            shutil.copytree(source, path)
        else:
            shutil.copyfile(source, path)

    return copy


class Staging:
    """A run's outputs, written into a hidden folder inside the destination, moved there together.

    The files of a result that fits in memory are written at the end (:meth:`write`); those
    of an image too large for memory are written while the work runs, band by band, at
    :meth:`path` (``staging.path("a_prob.tif")``). :meth:`commit` moves every one into
    place; leaving a ``with`` block by an exception (or :meth:`abort`) removes them all, so
    the destination is as it was. The overwrite check of :func:`check_outputs` comes first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with Staging(out, ["a.txt", "b.txt"]) as staging:
    ...     _ = staging.path("a.txt").write_text("written while working")
    ...     paths = staging.write([("b.txt", lambda p: p.write_text("written at the end"))])
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt', 'b.txt']
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str], *, force: bool = False) -> None:
        self.folder = check_outputs(folder, list(names), force=force)
        self.names = list(names)
        self.force = force
        self._created = not self.folder.exists()   # removed again by abort when nothing came of it
        self.folder.mkdir(parents=True, exist_ok=True)
        _clean_stale(self.folder)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_PARTIAL}{os.getpid()}-", dir=self.folder))

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.abort()   # after commit there is nothing left to remove

    def path(self, name: str) -> Path:
        """Where the output ``name`` is written before it is moved into place."""
        if name not in self.names:
            raise RuntimeError(f"{name}: not one of this run's outputs {self.names}")  # a bug, not user input
        target = self.tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, files: Sequence[tuple[str, Writer]]) -> list[Path]:
        """Write the ``(name, writer)`` pairs not written yet, then :meth:`commit` all outputs."""
        for name, writer in files:
            target = self.path(name)
            if target.exists():   # written while working
                continue
            writer(target)
            if not target.exists():
                raise RuntimeError(f"the writer of {name} wrote nothing")  # a bug, not user input
        return self.commit()

    def commit(self) -> list[Path]:
        """Move every output into place (each must have been written); returns their paths."""
        missing = [n for n in self.names if not (self.tmp / n).exists()]
        if missing:
            raise RuntimeError(f"outputs never written: {missing}")  # a bug, not user input
        check_outputs(self.folder, self.names, force=self.force)   # nothing appeared meanwhile
        out = []
        for name in self.names:
            dest = self.folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(self.tmp / name, dest)
            out.append(dest)
        self._created = False
        self.abort()
        return out

    def abort(self) -> None:
        """Remove what was written (nothing happens to the destination; a destination folder
        this run created is removed again when it is empty)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._created:
            try:
                self.folder.rmdir()
            except OSError:   # something else is in it now
                pass


@dataclass(frozen=True)
class TaskResult:
    """Base of every task's result: plain data access plus ``write(folder, force=False)``.

    Subclasses are frozen dataclasses holding arrays and dicts; they define
    :meth:`files` (the ``(name, writer)`` pairs that make up the result on disk) and
    :attr:`summary` (a JSON-ready dict of the headline numbers).
    """

    def files(self) -> list[tuple[str, Writer]]:
        raise NotImplementedError

    @property
    def summary(self) -> dict:
        return {}

    def output_names(self) -> list[str]:
        """The names :meth:`write` creates inside its folder."""
        return [name for name, _ in self.files()]

    def write(self, folder: str | os.PathLike, *, force: bool = False) -> list[Path]:
        """Write every output into ``folder`` (all or nothing; no overwrite without ``force``)."""
        return write_all(folder, self.files(), force=force)


class PerImage:
    """Access to the per-image items of a result over several images (a mixin).

    ``result["name"]`` is the item of the input whose outputs are called ``name``;
    ``result.prob`` and ``result.mask`` are the one image's when there is one. The class
    using it holds ``images`` (items with ``name``, ``prob``, ``mask``) and says in
    ``_done`` what was done to them ("predicted", "segmented").
    """

    _done = "processed"

    def __getitem__(self, name: str):
        for item in self.images:
            if item.name == name:
                return item
        raise KeyError(f"{name!r}: no such image; the images are {[i.name for i in self.images]}")

    def _single(self):
        if len(self.images) != 1:
            raise AttributeError(f"{len(self.images)} images were {self._done}; use result.images or "
                                 "result[name]")
        return self.images[0]

    @property
    def prob(self):
        """The probability map of the one image."""
        return self._single().prob

    @property
    def mask(self):
        """The mask of the one image."""
        return self._single().mask
