"""The ``infer`` section of a run configuration (composed by :mod:`microseg.config`).

Only keys something reads are accepted: the mask threshold, cross-validation's ensemble
threshold, and how :func:`microseg.tasks.predict` runs (tiles, overlap, batch, test-time
augmentation, precision, backend), each the default of the option of the same meaning
(``microseg predict --tile/--overlap/--batch/--tta/--precision/--backend``), which wins
when given. ``ensemble`` (a key of earlier versions that nothing read) is refused with
what to do instead (:data:`InferConfig.REMOVED`).

Importing this module does not import torch.

Examples
--------
>>> InferConfig().threshold, InferConfig().tile, InferConfig().backend
(0.5, 'auto', 'torch')
>>> InferConfig(threshold=2.0).check()
Traceback (most recent call last):
...
microseg._util.InputError: infer.threshold must be in [0, 1]; got 2.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from microseg._util import InputError, look_up_option
from microseg._validate import check_fraction, check_int, check_positive

#: Test-time augmentation modes (:func:`microseg.infer.runner.resolve_tta`).
TTA_MODES = ("none", "flip", "dihedral")
#: Precisions (:func:`microseg.infer.runner.resolve_precision`).
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
#: Backends: PyTorch, or onnxruntime (model folders exported on the fly, or ``.onnx`` files).
BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class InferConfig:
    """Prediction thresholds and how prediction runs.

    ``threshold``: a pixel of a prediction is positive where the mean probability of the
    models is ``>= threshold`` (``microseg predict``'s ``--threshold``; the default of both).
    ``ensemble_threshold``: cross-validation sums the fold models' probabilities (seed 000)
    and thresholds the *sum* at this value (:func:`microseg.train.cross_validate`).
    ``tile``: tile side in px on the model's grid, ``"auto"`` (tiles of 512 for images with
    a side over 1024 px) or 0 (every image whole); ``overlap`` a fraction of the tile (< 1)
    or px; ``batch`` tiles per batch; ``tta`` one of :data:`TTA_MODES`;
    ``precision`` one of :data:`PRECISIONS` (``auto``: reduced precision only on hardware
    made for it and where a probe tile's masks stay as in fp32,
    :mod:`microseg.infer.precision`); ``backend`` one of :data:`BACKENDS`.
    """

    threshold: float = 0.5
    ensemble_threshold: float = 0.5
    tile: int | str = "auto"
    overlap: float = 0.25
    batch: int = 4
    tta: str = "none"
    precision: str = "auto"
    backend: str = "torch"

    #: Keys that were accepted once and never read: why and what to do instead.
    REMOVED: ClassVar[dict[str, str]] = {
        "ensemble": "cross-validation sums its fold models (infer.ensemble_threshold applies to the sum) "
                    "and predict averages its models (infer.threshold); delete the key",
    }

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``infer.<key>`` for a bad value."""
        check_fraction(self.threshold, "infer.threshold")
        check_positive(self.ensemble_threshold, "infer.ensemble_threshold",
                       hint="it applies to the sum of the models' probabilities")
        if not (self.tile == "auto" or (isinstance(self.tile, int) and not isinstance(self.tile, bool)
                                        and self.tile >= 0)):
            raise InputError(f"infer.tile must be 'auto', 0 (whole images) or a tile size in px; got {self.tile!r}")
        check_positive(self.overlap, "infer.overlap", allow_zero=True)
        check_int(self.batch, "infer.batch", low=1)
        look_up_option(self.tta, TTA_MODES, what="infer.tta")
        look_up_option(self.precision, PRECISIONS, what="infer.precision")
        look_up_option(self.backend, BACKENDS, what="infer.backend")
