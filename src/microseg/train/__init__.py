"""Training: configuration, the loop, schedules, checkpoints, cross-validation, pretraining.

- :func:`load_config` -> :class:`Config` (YAML + ``section.key=value`` overrides)
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
from microseg.train.config import (
    Config, DataConfig, GrainsConfig, InferConfig, LossConfig, ModelConfig, TrainConfig, dump_config,
    load_config, write_config,
)
from microseg.train.cv import CVResult, cross_validate
from microseg.train.loop import TrainResult, TrainState, fit, train, validate
from microseg.train.pretrain import synthetic_samples
from microseg.train.schedule import Schedule, step_lr

__all__ = [
    "Config", "DataConfig", "ModelConfig", "LossConfig", "TrainConfig", "InferConfig", "GrainsConfig",
    "load_config", "dump_config", "write_config", "train", "fit", "validate", "TrainResult",
    "TrainState", "cross_validate", "CVResult", "synthetic_samples", "Schedule", "step_lr",
    "save_checkpoint", "load_checkpoint",
]
