"""The ``infer`` section of a run configuration (composed by :mod:`microseg.config`).

Only keys something reads are accepted. Keys of earlier versions that nothing read
(``tile``, ``overlap``, ``tta``, ``backend``, ``ensemble``) are refused with what to do
instead (:data:`InferConfig.REMOVED`): tiling and test-time augmentation are options of
:func:`microseg.tasks.predict` (``microseg predict --tile/--overlap/--tta``) until a config
key reads them.

Importing this module does not import torch.

Examples
--------
>>> InferConfig().threshold, InferConfig().ensemble_threshold
(0.5, 0.5)
>>> InferConfig(threshold=2.0).check()
Traceback (most recent call last):
...
microseg._util.InputError: infer.threshold must be in [0, 1]; got 2.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from microseg._util import InputError
from microseg._validate import check_fraction, check_positive

_OPTION = ("tiling and test-time augmentation are options of prediction, not config keys (yet): "
           "microseg predict --tile/--overlap/--tta, tasks.predict(tile_size=, overlap=, tta=); delete the key")


@dataclass(frozen=True)
class InferConfig:
    """Prediction thresholds.

    ``threshold``: a pixel of a prediction is positive where the mean probability of the
    models is ``>= threshold`` (``microseg predict``'s ``--threshold``; the default of both).
    ``ensemble_threshold``: cross-validation sums the fold models' probabilities (seed 000)
    and thresholds the *sum* at this value (:func:`microseg.train.cross_validate`).
    """

    threshold: float = 0.5
    ensemble_threshold: float = 0.5

    #: Keys that were accepted once and never read: why and what to do instead.
    REMOVED: ClassVar[dict[str, str]] = {
        "tile": _OPTION,
        "overlap": _OPTION,
        "tta": _OPTION,
        "backend": "an ONNX model (microseg export) is named like a model folder, not chosen here; delete the key",
        "ensemble": "cross-validation sums its fold models (infer.ensemble_threshold applies to the sum) "
                    "and predict averages its models (infer.threshold); delete the key",
    }

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``infer.<key>`` for a bad value."""
        check_fraction(self.threshold, "infer.threshold")
        check_positive(self.ensemble_threshold, "infer.ensemble_threshold",
                       hint="it applies to the sum of the models' probabilities")
