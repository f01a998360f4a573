"""The ``loss`` section of a run configuration (composed by :mod:`microseg.config`).

Importing this module does not import torch.

Examples
--------
>>> LossConfig().name, LossConfig().pos_weight, LossConfig().topo_lambda
('bce_dice', 9.0, 0.04)
>>> LossConfig(pos_weight=0).check()
Traceback (most recent call last):
...
microseg._util.InputError: loss.pos_weight must be > 0 or null; got 0
"""
from __future__ import annotations

from dataclasses import dataclass, field

from microseg._util import InputError


@dataclass(frozen=True)
class LossConfig:
    """Loss from :func:`microseg.losses.build`; ``pos_weight``/``topo_lambda`` passed when set.

    ``pos_weight``: weight of the positive (boundary) pixels in BCE (seed 001: 9.0);
    ``topo_lambda``: weight of the topological term (seeds 000, 001: 0.04); ``None`` leaves
    the loss's own default. Each is passed only to the losses that take it. The loss name
    is checked when the loss is built (the registry's "did you mean" error).
    """

    name: str = "bce_dice"
    pos_weight: float | None = 9.0
    topo_lambda: float | None = 0.04
    options: dict = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``loss.<key>`` for a bad value."""
        if self.pos_weight is not None and not self.pos_weight > 0:
            raise InputError(f"loss.pos_weight must be > 0 or null; got {self.pos_weight!r}")
        if self.topo_lambda is not None and not self.topo_lambda >= 0:
            raise InputError(f"loss.topo_lambda must be >= 0 or null; got {self.topo_lambda!r}")
