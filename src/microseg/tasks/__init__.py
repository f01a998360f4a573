"""One call per user task: what ``microseg <command>`` does, for notebooks and scripts.

Every task is a keyword-only function (its data inputs first) that returns a small frozen
result: arrays, a ``summary`` dict, a ``table`` where there is one, and
``write(folder, *, force=False)``, which writes all the result's files or none and never
overwrites without ``force``. Given ``output=``, a task checks before any work that it may
write there, and writes its result there at the end: the CLI is exactly that call.

>>> from microseg import tasks
>>> [name for name in ("segment", "grains", "train", "predict") if name in tasks.__all__]
['segment', 'grains', 'train', 'predict']

The stages below (io, ebsd, register, data, models, train, infer, classic, grains,
metrics) never import this package; ``report`` draws what tasks hand it.
"""
from __future__ import annotations

import importlib

from microseg.tasks._base import TaskResult, check_outputs, write_all

# task name -> private module (private so that a module never shadows its function)
_TASKS = {
    "demo": "_demo", "synth": "_synth",
    "ebsd": "_ebsd", "labels": "_labels",
    "train": "_train", "cv": "_train",
    "predict": "_predict", "segment": "_segment", "volume": "_volume",
    "grains": "_grains", "evaluate": "_evaluate",
    "models": "_models", "export": "_export",
}

__all__ = ["TaskResult", "check_outputs", "write_all", *_TASKS]


def __getattr__(name: str):
    """Import a task's module on first use (``import microseg.tasks`` stays light)."""
    if name in _TASKS:
        return getattr(importlib.import_module(f"microseg.tasks.{_TASKS[name]}"), name)
    raise AttributeError(f"module 'microseg.tasks' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
