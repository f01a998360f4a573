"""Training: the loop, schedules, checkpoints, cross-validation, pretraining.

- a run is a :class:`microseg.config.Config` (:func:`microseg.config.load_config`: YAML +
  ``section.key=value`` overrides); this stage's section is :class:`TrainConfig`
- :func:`train` (from a config) / :func:`fit` (a given model, loss and data): Adam, the
  seeds' schedules, validation, early stopping, ``best/`` and resumable ``last/``
  checkpoints in safetensors + JSON, ``metrics.csv``/``metrics.json``
- :func:`cross_validate` -> :class:`CVResult`: one model per column fold, their ensemble,
  and the table of seed 000 (F1, HD95, MAE in ECD)
- :func:`synthetic_samples`: seeded synthetic training data (``data.pairs: synthetic:se``)

Importing this package imports torch.
"""
from __future__ import annotations

from microseg.train.checkpoint import load_checkpoint, save_checkpoint
from microseg.train.config import TrainConfig
from microseg.train.cv import CVResult, cross_validate
from microseg.train.loop import TrainResult, TrainState, fit, train, validate
from microseg.train.pretrain import synthetic_samples
from microseg.train.schedule import Schedule, step_lr

__all__ = [
    "TrainConfig", "train", "fit", "validate", "TrainResult",
    "TrainState", "cross_validate", "CVResult", "synthetic_samples", "Schedule", "step_lr",
    "save_checkpoint", "load_checkpoint",
]
