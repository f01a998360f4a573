"""The ``data`` section of a run configuration: where training pairs come from, how they are cut.

The section's schema lives beside the stage that reads it; :mod:`microseg.config` composes
the six sections (``data`` here, ``model`` in :mod:`microseg.models.config`, ``loss`` in
:mod:`microseg.losses.config`, ``train`` in :mod:`microseg.train.config`, ``infer`` in
:mod:`microseg.infer.config`, ``grains`` in :mod:`microseg.grains.config`) and reads them
from YAML.

Examples
--------
>>> DataConfig().split, DataConfig().folds
('columns', ('A', 'D', 'F'))
>>> DataConfig(split="colums").check()
Traceback (most recent call last):
...
microseg._util.InputError: unknown data.split 'colums'; valid: columns, random, crops. did you mean 'columns'?
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from microseg._util import InputError, look_up_option
from microseg._validate import check_fraction, check_positive
from microseg.data.masks import check_positive_class

SPLITS = ("columns", "random", "crops")
TARGETS = ("boundaries", "phase")


@dataclass(frozen=True)
class DataConfig:
    """Where the training pairs come from and how they are cut.

    ``pairs`` is a training-pair folder, a list of them, or seeded synthetic micrographs made
    on the fly: ``"synthetic:se"`` / ``"synthetic:bse"`` (boundaries), ``"synthetic:precipitates"``
    / ``"synthetic:porous"`` / ``"synthetic:coating"`` (phases, with ``target: phase``);
    ``synthetic`` holds their options (``n_images``, ``size``, ``mean_diameter_px``, ...).
    ``folds`` are the test columns of cross-validation (seed 000: A, D, F); ``fold`` (1-based)
    makes a single run hold out that fold's column. ``val_pairs`` (optional) is a separate
    validation set (then all of ``pairs`` trains). ``pairs`` and ``val_pairs`` may also be
    ``"IMAGES_DIR:MASKS_DIR"`` (or ``{images: DIR, masks: DIR}``) or a CSV with the columns
    ``image,mask`` (paths relative to the CSV), see :func:`microseg.data.load_samples`:

    * ``positive``: the positive class of the masks: a colour of colour masks (``blue``,
      ``red``, ``blue+red``, ``'#RRGGBB'``; 8-bit values, scaled to 16-bit or float masks),
      ``nonzero`` (binary masks), or class labels of label masks (``1`` or ``[1, 2]``);
    * ``mask_threshold``: grey masks are positive where ``value >= mask_threshold``
      (``128`` for near-binary 8-bit masks from lossy tools); ``None``: they must be binary;
    * ``allow_empty``: accept masks that hold labels but none of the positive class (else
      an error naming the file and the colours or values it holds);
    * ``mask_suffix`` / ``image_suffix``: how mask and image names differ (``x_sem.tif`` +
      ``x_th.tif``: ``image_suffix: _sem``, ``mask_suffix: _th``); ``mask_suffix: null``
      takes ``<stem>_mask`` or, in a separate masks folder, the same name.

    A split (``split``: ``columns``, ``random`` or ``crops``, without ``val_pairs``) logs how
    many patches/chips of how many images train and validate, and is refused when fewer
    than 2 would train or none validate while ``val_fraction > 0``. ``normalize``: ``per_image``,
    ``minmax`` or ``none`` (:func:`microseg.data.normalize`), stored in ``model.json``.
    ``min_valid``: chips and patches with less than this fraction of known label (a pair's
    ``valid.tif``: EBSD coverage) neither train nor validate; inside the others the
    unknown pixels are ignored by the loss and the validation metrics. ``label_width``
    (odd, px) widens the training label to a band that tolerates the registration residual
    of EBSD-derived labels; validation always scores against the 1-px label.
    ``intensity``, ``blur``, ``noise``: photometric jitter of training items
    (:func:`microseg.data.augment`) for models meant for other microscopes and settings.

    ``context`` (int >= 0, default 0): neighbouring slices each side given as extra channels
    (2.5D, for ``microseg volume``). Images in ``pairs`` may be ``(Z, Y, X)`` stacks
    (multi-page TIFF, best ImageJ hyperstacks) with mask stacks of the same shape; every
    slice is one sample (``<stem>_z012``) whose channels are the slices ``z - k .. z + k``,
    the edge slice repeated beyond the ends, as ``microseg volume`` gives them
    (:mod:`microseg.data.stacks`). With ``context: 0`` a stack's slices are 1-channel
    samples; ``context > 0`` refuses 2D images ("2.5D needs stacks") and needs
    ``model.in_channels: 2k + 1``; ``synthetic:porous`` then makes FIB-SEM stacks
    (``synthetic.depth`` slices each, also with ``context: 0`` when ``depth`` is given).
    ``model.json`` records ``input.context``. Splits keep a stack's neighbouring slices apart:
    every split (``columns``, ``random``, ``crops``) validates on one contiguous block of
    ``floor(val_fraction × Z)`` slices per stack (at least one) and trains only on slices
    ``2k + 1`` or more away from it (:func:`microseg.data.stacks.slice_block_split`), so no
    training input holds a validation slice; 2D images are split as before.
    """

    pairs: Any = "synthetic:se"
    val_pairs: Any = None
    positive: Any = "blue"
    mask_threshold: float | int | None = None   # kept as given; check() wants a number > 0
    allow_empty: bool = False
    mask_suffix: str | None = None
    image_suffix: str = ""
    split: str = "columns"
    chip: int = 256
    patch: int = 256
    folds: tuple = ("A", "D", "F")
    fold: int | None = None
    val_fraction: float = 0.1
    augment: tuple = ("flip", "rot90")
    crops_per_epoch: int | None = None
    normalize: str | None = "per_image"
    median: int = 0
    target: str = "boundaries"
    context: int = 0
    pixel_size: float | None = None
    min_valid: float = 0.5
    label_width: int = 1
    intensity: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    synthetic: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # one spelling for the YAML round trip: a list of classes is kept as a tuple
        if isinstance(self.positive, list):
            object.__setattr__(self, "positive", tuple(self.positive))

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``data.<key>`` for a bad value."""
        look_up_option(self.split, SPLITS, what="data.split")
        look_up_option(self.target, TARGETS, what="data.target")
        self._check_masks()
        for name in ("intensity", "blur", "noise"):
            check_positive(getattr(self, name), f"data.{name}", allow_zero=True)
        if self.label_width < 1 or self.label_width % 2 == 0:
            raise InputError(f"data.label_width must be an odd number of px >= 1; got {self.label_width}")
        check_fraction(self.min_valid, "data.min_valid")
        if isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 0:
            raise InputError(f"data.context must be an integer >= 0 (neighbouring slices each side as channels; "
                             f"0 = 2D); got {self.context!r}")
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"data.val_fraction must be in [0, 1); got {self.val_fraction}")
        if self.patch < 8 or self.chip < 8:
            raise InputError(f"data.patch and data.chip must be >= 8 px; got {self.patch}, {self.chip}")

    def _check_masks(self) -> None:
        check_positive_class(self.positive, name="data.positive")
        t = self.mask_threshold
        if t is not None:
            check_positive(t, "data.mask_threshold", what="number", hint="e.g. 128 for 8-bit masks, or null")
        if t is not None and not isinstance(self.positive, str):
            raise InputError(f"data.mask_threshold ({t}) and class labels in data.positive ({self.positive!r}) "
                             "exclude each other; give one")
        for name in ("mask_suffix", "image_suffix"):
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name == "mask_suffix")):
                raise InputError(f"data.{name} must be a string such as '_mask' (quote it in YAML); got {value!r}")
