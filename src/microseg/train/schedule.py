"""Learning-rate schedules with a JSON-able state (no pickle), and early stopping.

- ``step`` (seed 004, Eq. 1): ``lr = lr0 * gamma ** floor(epoch / step_size)``.
- ``plateau`` (seed 000: Adam 1e-4 -> 1e-5): multiply by ``factor`` when the monitored
  metric has not improved for more than ``patience`` epochs, never below ``min_lr``
  (the rule of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` with ``cooldown=0``).
- ``cosine``: ``min_lr + (lr0 - min_lr) (1 + cos(pi epoch / epochs)) / 2``, from ``lr0``
  down to ``min_lr`` over the run's ``epochs`` — for a fixed budget: the whole run learns
  at a useful rate and ends annealed, where a plateau schedule on a short, noisy run cuts
  the rate early (measured: 3e-4 -> 3e-5 by epoch 6 with patience 3).
- ``constant``.

Examples
--------
>>> [step_lr(e, lr0=1e-3, gamma=0.5, step_size=20) for e in (0, 19, 20, 40, 119)]
[0.001, 0.001, 0.0005, 0.00025, 3.125e-05]
>>> [round(cosine_lr(e, lr0=1e-3, min_lr=1e-5, epochs=4), 6) for e in range(5)]
[0.001, 0.000855, 0.000505, 0.000155, 1e-05]
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from microseg._util import look_up_option

IMPROVE_REL = 1e-4  # relative improvement needed to count as better (torch's default)
SCHEDULES = ("plateau", "step", "cosine", "constant")


def step_lr(epoch: int, *, lr0: float, gamma: float, step_size: int) -> float:
    """Step decay of seed 004: ``lr0 * gamma ** floor(epoch / step_size)``."""
    return float(lr0 * gamma ** (int(epoch) // int(step_size)))


def cosine_lr(epoch: int, *, lr0: float, min_lr: float, epochs: int) -> float:
    """Cosine annealing from ``lr0`` at epoch 0 to ``min_lr`` at ``epochs``."""
    t = min(max(int(epoch), 0), int(epochs)) / max(int(epochs), 1)
    return float(min_lr + (lr0 - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t)))


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` by more than a relative 1e-4."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    if mode == "max":
        return value > best + abs(best) * IMPROVE_REL
    return value < best - abs(best) * IMPROVE_REL


@dataclass
class Schedule:
    """Learning rate per epoch; call :meth:`epoch_end` after each validated epoch.

    Parameters
    ----------
    kind : {"plateau", "step", "cosine", "constant"}
    lr0 : float
        Initial learning rate.
    mode : {"max", "min"}
        Whether the monitored metric should grow (F1, IoU) or shrink (loss).
    """

    kind: str
    lr0: float
    min_lr: float = 1e-5
    factor: float = 0.1
    patience: int = 10
    step_size: int = 20
    gamma: float = 0.5
    epochs: int = 100
    mode: str = "max"
    lr: float | None = None
    best: float | None = None
    bad_epochs: int = 0

    def __post_init__(self) -> None:
        self.kind = look_up_option(self.kind, SCHEDULES, what="schedule")
        self.mode = look_up_option(self.mode, ("max", "min"), what="mode")
        if self.lr is None:
            self.lr = float(self.lr0)

    def lr_at(self, epoch: int) -> float:
        """The learning rate to use during ``epoch`` (0-based)."""
        if self.kind == "step":
            return step_lr(epoch, lr0=self.lr0, gamma=self.gamma, step_size=self.step_size)
        if self.kind == "cosine":
            return cosine_lr(epoch, lr0=self.lr0, min_lr=min(self.min_lr, self.lr0), epochs=self.epochs)
        return float(self.lr)

    def epoch_end(self, epoch: int, metric: float | None) -> float:
        """Record the metric after ``epoch``; returns the learning rate for the next epoch."""
        if self.kind == "plateau" and metric is not None:
            if is_better(metric, self.best, self.mode):
                self.best, self.bad_epochs = float(metric), 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs > self.patience:
                    self.lr = max(float(self.lr) * self.factor, self.min_lr)
                    self.bad_epochs = 0
        return self.lr_at(epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("lr", "best", "bad_epochs"):
            setattr(self, key, state[key])


def make_schedule(train_config: Any, *, mode: str) -> Schedule:
    """A :class:`Schedule` from a :class:`~microseg.train.config.TrainConfig`."""
    t = train_config
    return Schedule(t.schedule, t.lr, min_lr=t.min_lr, factor=t.factor, patience=t.patience,
                    step_size=t.step_size, gamma=t.gamma, epochs=t.epochs, mode=mode)


def lr_sequence(schedule: Schedule, metrics: list[float | None]) -> list[float]:
    """Learning rates of epochs ``0..len(metrics)`` when epoch ``i`` ends with ``metrics[i]``.

    Examples
    --------
    >>> s = Schedule("plateau", 1e-4, min_lr=1e-5, patience=1, mode="max")
    >>> [round(x, 8) for x in lr_sequence(s, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])]
    [0.0001, 0.0001, 0.0001, 1e-05, 1e-05, 1e-05, 1e-05, 1e-05]
    """
    out = [schedule.lr_at(0)]
    for epoch, m in enumerate(metrics):
        out.append(schedule.epoch_end(epoch, m))
    return out
