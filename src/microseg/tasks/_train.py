"""``train`` and ``cv``: a model (or one per fold) from a run configuration.

Training writes as it goes (checkpoints in ``last/``, so that an interrupted run resumes),
so these two tasks write into ``output`` themselves; before any work they refuse to
overwrite a finished or foreign run unless told to start afresh (``force=True,
resume=False``). Their results still write all or nothing: :meth:`TaskResult.write`
copies the run's outputs into another folder.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError, OutputExistsError
from microseg.tasks._base import TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "CVResult", "train", "cv"]

RUN_OUTPUTS = ("best", "last", "metrics.json", "metrics.csv")
CONFIG_FILE = "config.yaml"
CV_TABLES = ("cv_results.csv", "cv_results.md", "cv_results.json")


# ------------------------------------------------------------------------------ config
def resolve_config(config: Any, overrides: Sequence[str] = ()) -> Any:
    """A :class:`microseg.config.Config` from a Config, a YAML path (or None: the defaults) or a
    dict of sections, with ``"section.key=value"`` overrides applied in order.

    Examples
    --------
    >>> cfg = resolve_config({"train": {"epochs": 3}}, ["train.lr=1e-2"])
    >>> cfg.train.epochs, cfg.train.lr
    (3, 0.01)
    """
    from microseg.config import Config, apply_overrides, load_config

    if isinstance(overrides, str):
        overrides = [overrides]
    overrides = list(overrides or ())
    if not all(isinstance(t, str) for t in overrides):
        raise InputError(f"overrides must be a list of 'section.key=value' strings; got {overrides!r}")
    if config is None or isinstance(config, (str, os.PathLike)):
        return load_config(config, overrides=overrides)
    if isinstance(config, dict):
        config = load_config(None).replace(**config)
    elif not isinstance(config, Config):
        raise InputError(f"config must be a Config, a YAML path or a dict of sections; got "
                         f"{type(config).__name__}")
    return apply_overrides(config, overrides) if overrides else config


# ------------------------------------------------------------------------ the run folder
def prepare_run_folder(folder: str | os.PathLike, *, resume: bool, force: bool) -> Path:
    """Refuse to overwrite a finished or foreign run; ``force=True, resume=False`` starts afresh.

    A folder with a checkpoint in ``last/`` is resumed when ``resume``; otherwise its run
    outputs (``best/``, ``last/``, ``metrics.*``) are removed with ``force`` and refused
    without.
    """
    from microseg.train.checkpoint import find_checkpoint

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; name an output folder")
    present = [n for n in RUN_OUTPUTS if (out / n).exists()]
    if not present:
        return out
    if resume and find_checkpoint(out / "last") is not None:
        log.info("%s: resuming from %s", out, out / "last")
        return out
    if not force:
        raise OutputExistsError(f"{out}: holds a training run ({', '.join(present)}); pass force=True "
                                "(--force) to start afresh, or resume=True (leave out --no-resume) to "
                                "continue it")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return out


def _copier(source: Path) -> Writer:
    """A writer that copies ``source`` (a file or a folder) to the path it is given."""
    def write(path: Path) -> None:
        if source.is_dir():
            shutil.copytree(source, path)
        else:
            shutil.copy2(source, path)
    return write


def _column(values: list) -> np.ndarray:
    if all(v is None or v == "" or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
           for v in values):
        return np.array([np.nan if v is None or v == "" else float(v) for v in values], float)
    return np.array(values)


def _number(v: Any) -> float | None:
    return None if v is None else float(v)


# ------------------------------------------------------------------------------ train
@dataclass(frozen=True)
class TrainResult(TaskResult):
    """A training run: ``run`` (:class:`microseg.train.TrainResult`), the resolved ``config``
    and the ``folder`` that holds ``best/``, ``last/``, ``metrics.csv``, ``metrics.json`` and
    ``config.yaml``. :meth:`write` copies them into another folder (all or nothing)."""

    run: Any
    config: Any
    folder: Path

    @property
    def best_dir(self) -> Path | None:
        """The best model's folder (``model.safetensors`` + ``model.json``), None if none was kept."""
        return self.run.best_dir

    @property
    def summary(self) -> dict:
        """Steps, epochs, why it stopped, the monitored metric and its best value; ``best_epoch``
        counts from 1 like the table's ``epoch`` (None when no epoch was validated)."""
        r = self.run
        return {"folder": str(self.folder), "epochs": int(r.epochs), "steps": int(r.steps),
                "stop_reason": r.stop_reason, "monitor": r.monitor, "best_metric": _number(r.best_metric),
                "best_epoch": None if r.best_metric is None else int(r.best_epoch) + 1,
                "best_dir": None if r.best_dir is None else str(r.best_dir), "seconds": float(r.seconds)}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """One row per epoch (partial epochs of an interrupted run included): the columns of
        ``metrics.csv``, NaN where a row has no value (e.g. an epoch without validation)."""
        from microseg.train.loop import METRIC_COLUMNS

        history = list(self.run.history)
        return {c: _column([row.get(c) for row in history]) for c in METRIC_COLUMNS}

    @property
    def text(self) -> str:
        """What ``microseg train`` prints."""
        r = self.run
        best = "n/a" if r.best_metric is None else f"{r.best_metric:.4f}"
        return (f"{r.stop_reason}: {r.epochs} epochs, {r.steps} steps; best {r.monitor} {best} at epoch "
                f"{r.best_epoch + 1}")

    def files(self) -> list[tuple[str, Writer]]:
        names = [n for n in (*RUN_OUTPUTS, CONFIG_FILE) if (self.folder / n).exists()]
        return [(n, _copier(self.folder / n)) for n in names]


def train(config: Any, *, output: str | os.PathLike, overrides: Sequence[str] = (), resume: bool = True,
          force: bool = False, progress: bool = False) -> TrainResult:
    """Train the model a run configuration describes, into ``output`` (resumable).

    Parameters
    ----------
    config : Config, path or dict
        The run (:func:`microseg.config.load_config`): a Config, a YAML file, or a dict of
        sections (``{"train": {"epochs": 5}}``) over the defaults.
    output : path
        The run folder: ``best/`` (the best model), ``last/`` (resumable checkpoint),
        ``metrics.csv``, ``metrics.json`` and the resolved ``config.yaml``, written as
        training goes.
    overrides : sequence of str
        ``"section.key=value"`` changes applied after ``config`` (the CLI's ``--set``).
    resume : bool
        Continue an interrupted run from ``output/last`` (a finished one has nothing left
        to do). ``resume=False`` on a folder holding a run needs ``force=True`` and starts
        afresh.
    force : bool
        Remove a run found in ``output`` (with ``resume=False``, or when it cannot be resumed).
    progress : bool
        Progress bars.

    Returns
    -------
    TrainResult
    """
    from microseg.train import train as run_training

    cfg = resolve_config(config, overrides)
    out = prepare_run_folder(output, resume=resume, force=force)
    run = run_training(cfg, out_dir=out, resume=resume, progress=progress)
    result = TrainResult(run, cfg, out)
    log.info("wrote %s/ (%s)", out, ", ".join(result.output_names()))
    return result


# --------------------------------------------------------------------------------- cv
@dataclass(frozen=True)
class CVResult(TaskResult):
    """A cross-validation: ``run`` (:class:`microseg.train.CVResult`: per-fold scores, their
    mean and std, the ensemble's), the resolved ``config`` and the ``folder`` holding
    ``fold1/`` ... (one training run each), ``cv_results.csv`` / ``.md`` / ``.json`` and
    ``config.yaml``. :meth:`write` copies them into another folder (all or nothing)."""

    run: Any
    config: Any
    folder: Path

    @property
    def summary(self) -> dict:
        """Per-fold scores, their mean and std, the ensemble's, and the unit of the ECD error."""
        r = self.run
        return {"folder": str(self.folder), "unit": r.unit, "folds": [dict(f) for f in r.folds],
                "mean": dict(r.mean), "std": dict(r.std), "ensemble": dict(r.ensemble)}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """The rows of ``cv_results.csv``: one per fold, then mean, std and the ensemble."""
        from microseg.train.cv import TABLE_COLUMNS

        r = self.run
        rows = [*r.folds, {"name": "mean", "test": "", **r.mean}, {"name": "std", "test": "", **r.std},
                {**r.ensemble, "name": "ensemble", "test": "all"}]
        return {"model": np.array([row["name"] for row in rows]),
                "test": np.array([row["test"] for row in rows]),
                **{c: _column([row.get(c) for row in rows]) for c in TABLE_COLUMNS}}

    @property
    def text(self) -> str:
        """What ``microseg cv`` prints: the Markdown table of ``cv_results.md``."""
        return self.run.table

    def files(self) -> list[tuple[str, Writer]]:
        names = [f["name"] for f in self.run.folds] + [*CV_TABLES, CONFIG_FILE]
        return [(n, _copier(self.folder / n)) for n in names if (self.folder / n).exists()]


def cv(config: Any, *, output: str | os.PathLike, overrides: Sequence[str] = (),
       folds: Sequence[int] | None = None, resume: bool = True, force: bool = False,
       progress: bool = False) -> CVResult:
    """Cross-validate: one model per fold, each scored on its held-out region, and their ensemble.

    Parameters
    ----------
    config : Config, path or dict
        The run; ``data.split`` and ``data.folds`` define the folds (see :func:`train`).
    output : path
        ``fold1/``, ``fold2/``, ... (each a :func:`train` run folder), ``config.yaml`` and
        ``cv_results.csv`` / ``.md`` / ``.json``.
    overrides : sequence of str
        ``"section.key=value"`` changes applied after ``config``.
    folds : sequence of int, optional
        1-based folds to train (default all); the table covers the folds trained.
    resume : bool
        Resume interrupted fold runs (a finished fold is not retrained); ``resume=False``
        retrains every fold and needs ``force=True`` where fold runs exist.
    force : bool
        Overwrite ``cv_results.*`` and, with ``resume=False``, fold runs.
    progress : bool
        Progress bars.

    Returns
    -------
    CVResult
    """
    from microseg.train import cross_validate

    cfg = resolve_config(config, overrides)
    out = check_outputs(output, list(CV_TABLES), force=force)
    if not resume:
        for fold_dir in sorted(out.glob("fold*")):
            if fold_dir.is_dir():
                prepare_run_folder(fold_dir, resume=False, force=force)
    run = cross_validate(cfg, out_dir=out, folds=folds, progress=progress, resume=resume)
    result = CVResult(run, cfg, out)
    log.info("wrote %s/ (%s)", out, ", ".join(result.output_names()))
    return result
