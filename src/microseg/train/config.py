"""The ``train`` section of a run configuration: optimiser, schedule, stopping, device.

The section's schema lives beside the stage that reads it; :mod:`microseg.config`
composes the six sections (``data`` in :mod:`microseg.data.config`, ``model`` in
:mod:`microseg.models.config`, ``loss`` in :mod:`microseg.losses.config`, ``train`` here,
``infer`` in :mod:`microseg.infer.config`, ``grains`` in :mod:`microseg.grains.config`)
and reads them from YAML with ``--set`` overrides.

The training stage reads a whole :class:`microseg.config.Config` but never imports the
assembly (which imports this module): it uses the sections and ``config.write(folder)``.

Examples
--------
>>> TrainConfig().schedule, TrainConfig().lr
('plateau', 0.0001)
>>> TrainConfig(schedule="plato").check()
Traceback (most recent call last):
...
microseg._util.InputError: unknown train.schedule 'plato'; valid: plateau, step, cosine, constant. did you mean 'plateau'?
"""
from __future__ import annotations

from dataclasses import dataclass

from microseg._util import InputError, look_up_option
from microseg._validate import check_int, check_positive
from microseg.train.schedule import SCHEDULES

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MONITORS = ("auto", "val_loss", "f1", "bf_f1", "iou")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule, stopping, checkpoints and the device (seeds 000, 001, 004).

    ``schedule``: ``plateau`` (ReduceLROnPlateau on the monitored metric, ``factor``,
    ``patience``, down to ``min_lr``; seed 000: 1e-4 -> 1e-5), ``step``
    (``lr * gamma ** (epoch // step_size)``; seed 004: 1e-3, 0.5, 20), ``cosine`` (from
    ``lr`` to ``min_lr`` over ``epochs``) or ``constant``.
    ``max_minutes``: a wall-clock budget; the run stops after the step that passes it
    (``last/`` holds it, ``best/`` the best validated epoch; resuming continues it).
    ``early_stop``: epochs without improvement of ``monitor`` before stopping (0: never).
    ``monitor``: ``auto`` is ``bf_f1`` for boundaries and ``iou`` for phase masks.
    ``precision``: ``auto`` is fp32 on the CPU and fp16 autocast on CUDA.
    ``thin``: boundary predictions are scored (validation, ``cv``) and written (``predict``)
    as the skeleton of ``prob >= threshold`` (:func:`microseg.data.thin_boundaries`), the
    1-px form of the label, instead of the band the network draws.
    """

    epochs: int = 100
    batch: int = 8
    lr: float = 1.0e-4
    weight_decay: float = 0.0
    schedule: str = "plateau"
    min_lr: float = 1.0e-5
    factor: float = 0.1
    patience: int = 10
    step_size: int = 20
    gamma: float = 0.5
    early_stop: int = 0
    monitor: str = "auto"
    threshold: float = 0.5
    tolerance: float = 2.0
    thin: bool = True
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = False
    deterministic: bool = True
    val_every: int = 1
    checkpoint_every_steps: int = 0
    max_minutes: float | None = None
    init_from: str | None = None
    threads: int | None = None

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``train.<key>`` for a bad value."""
        look_up_option(self.schedule, SCHEDULES, what="train.schedule")
        look_up_option(self.device, DEVICES, what="train.device")
        look_up_option(self.precision, PRECISIONS, what="train.precision")
        look_up_option(self.monitor, MONITORS, what="train.monitor")
        for name in ("epochs", "batch"):
            check_int(getattr(self, name), f"train.{name}", low=1)
        for name in ("lr", "min_lr"):
            check_positive(getattr(self, name), f"train.{name}")
        if not 0 < self.gamma <= 1 or not 0 < self.factor < 1:
            raise InputError(f"train.gamma must be in (0, 1] and train.factor in (0, 1); got "
                             f"{self.gamma}, {self.factor}")
        if self.step_size < 1 or self.val_every < 1 or self.patience < 0 or self.early_stop < 0:
            raise InputError("train.step_size and train.val_every must be >= 1, train.patience and "
                             "train.early_stop >= 0")


__all__ = ["TrainConfig", "DEVICES", "PRECISIONS", "MONITORS", "SCHEDULES"]
