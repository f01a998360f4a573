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

__all__ = ["TaskResult", "PerImage", "check_outputs", "write_all"]

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
    are folders). They write into a temporary folder inside ``folder``; when every writer
    has returned, the results are moved to ``folder/name`` (replacing existing ones only
    with ``force``). Returns the written paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> paths = write_all(out, [("a.txt", lambda p: p.write_text("a")),
    ...                         ("b.txt", lambda p: p.write_text("b"))])
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt', 'b.txt']
    """
    folder = check_outputs(folder, [n for n, _ in files], force=force)
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_PARTIAL}{os.getpid()}-", dir=folder))
    try:
        for name, writer in files:
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            writer(target)
            if not target.exists():
                raise RuntimeError(f"the writer of {name} wrote nothing")  # a bug, not user input
        out = []
        for name, _ in files:
            dest = folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(tmp / name, dest)
            out.append(dest)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
