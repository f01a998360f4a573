"""The ``model`` section of a run configuration (composed by :mod:`microseg.config`).

Importing this module does not import torch.

Examples
--------
>>> ModelConfig().arch, ModelConfig().encoder
('unet', 'resnet34')
>>> ModelConfig(in_channels=0).check()
Traceback (most recent call last):
...
microseg._util.InputError: model.in_channels must be an integer >= 1; got 0
"""
from __future__ import annotations

from dataclasses import dataclass, field

from microseg._util import InputError


@dataclass(frozen=True)
class ModelConfig:
    """Architecture from :func:`microseg.models.build`; ``options`` go to the constructor.

    ``weights``: a local ``.safetensors`` file of encoder weights (ImageNet, MicroNet), or
    ``None``. The architecture and encoder names are checked when the model is built
    (the registry's "did you mean" error), so that reading a config needs no torch.
    """

    arch: str = "unet"
    encoder: str | None = "resnet34"
    in_channels: int = 1
    classes: int = 1
    weights: str | None = None
    options: dict = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``model.<key>`` for a bad value."""
        for name in ("in_channels", "classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"model.{name} must be an integer >= 1; got {value!r}")
        if not isinstance(self.arch, str) or not self.arch:
            raise InputError(f"model.arch must be an architecture name (microseg models lists them); "
                             f"got {self.arch!r}")
