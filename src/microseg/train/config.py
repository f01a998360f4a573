"""Run configuration: one YAML file, six sections, frozen dataclasses.

A run is described by one YAML file with the sections ``data``, ``model``, ``loss``,
``train``, ``infer`` and ``grains`` (DESIGN.md). Every key may be overridden with
``section.key=value`` strings (the CLI's ``--set``); values are parsed with
``yaml.safe_load`` so that ``train.lr=1e-4`` is a float and ``data.folds=[A,D]`` a list.
The resolved configuration is written as ``config.yaml`` beside the outputs.

Examples
--------
>>> cfg = load_config(None, overrides=["train.lr=3e-4", "model.arch=unet"])
>>> cfg.train.lr, cfg.model.arch, cfg.train.schedule
(0.0003, 'unet', 'plateau')
>>> load_config(None, overrides=["train.lrr=1"])
Traceback (most recent call last):
...
microseg._util.InputError: unknown key 'lrr' in section 'train'; valid: ... did you mean 'lr'?
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from microseg._util import InputError, look_up_option, write_text_atomic

SCHEDULES = ("plateau", "step", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPLITS = ("columns", "random", "crops")
TARGETS = ("boundaries", "phase")
MONITORS = ("auto", "val_loss", "f1", "bf_f1", "iou")


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
    """

    pairs: Any = "synthetic:se"
    val_pairs: Any = None
    positive: Any = "blue"
    mask_threshold: float | None = None
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


@dataclass(frozen=True)
class ModelConfig:
    """Architecture from :func:`microseg.models.build`; ``options`` go to the constructor."""

    arch: str = "unet"
    encoder: str | None = "resnet34"
    in_channels: int = 1
    classes: int = 1
    weights: str | None = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LossConfig:
    """Loss from :func:`microseg.losses.build`; ``pos_weight``/``topo_lambda`` passed when set."""

    name: str = "bce_dice"
    pos_weight: float | None = 9.0
    topo_lambda: float | None = 0.04
    options: dict = field(default_factory=dict)


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


@dataclass(frozen=True)
class InferConfig:
    """Prediction: tiles (later), ensembles. ``ensemble_threshold`` applies to the *sum*."""

    tile: int = 512
    overlap: float = 0.25
    tta: bool = False
    backend: str = "torch"
    ensemble: str = "sum"
    threshold: float = 0.5
    ensemble_threshold: float = 0.5


@dataclass(frozen=True)
class GrainsConfig:
    """Grain analysis of predicted maps (:func:`microseg.grains.analyse_grains`)."""

    min_diameter_um: float = 0.4
    exclude_border: bool = True
    close_gaps: str = "merge"
    merge_threshold: float | None = None


SECTIONS = {"data": DataConfig, "model": ModelConfig, "loss": LossConfig, "train": TrainConfig,
            "infer": InferConfig, "grains": GrainsConfig}


@dataclass(frozen=True)
class Config:
    """A whole run: one frozen dataclass per section."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    grains: GrainsConfig = field(default_factory=GrainsConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (tuples as lists), ready for YAML or JSON."""
        return {name: {f.name: _plain(getattr(getattr(self, name), f.name))
                       for f in fields(getattr(self, name))} for name in SECTIONS}

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with keys of some sections changed: ``cfg.replace(train={"lr": 1e-5})``."""
        return from_dict(_merge(self.to_dict(), sections))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _merge(base: dict, extra: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        if section not in out:
            _unknown(section, list(SECTIONS), "section")
        if not isinstance(values, dict):
            raise InputError(f"config section {section!r} must be a mapping of keys to values; "
                             f"got {type(values).__name__}")
        out[section].update(values)
    return out


def _unknown(name: str, valid: list[str], what: str, where: str = "") -> None:
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" did you mean {close[0]!r}?" if close else ""
    raise InputError(f"unknown {what} {name!r}{where}; valid: {', '.join(valid)}.{hint}")


def _coerce(section: str, f: dataclasses.Field, value: Any) -> Any:
    """Light type check: numbers for numeric fields, tuples for list-like defaults."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    where = f"{section}.{f.name}"
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where} must be a list; got {value!r}")
        return tuple(value)
    if isinstance(default, dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InputError(f"{where} must be a mapping; got {value!r}")
        return dict(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false; got {value!r}")
        return value
    if isinstance(default, (int, float)) and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number; got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if float(value) != int(value):
                raise InputError(f"{where} must be an integer; got {value!r}")
            return int(value)
        return float(value)
    return value


def _check(cfg: Config) -> None:
    t = cfg.train
    look_up_option(t.schedule, SCHEDULES, what="train.schedule")
    look_up_option(t.device, DEVICES, what="train.device")
    look_up_option(t.precision, PRECISIONS, what="train.precision")
    look_up_option(t.monitor, MONITORS, what="train.monitor")
    look_up_option(cfg.data.split, SPLITS, what="data.split")
    look_up_option(cfg.data.target, TARGETS, what="data.target")
    _check_masks(cfg.data)
    for name in ("epochs", "batch"):
        if getattr(t, name) < 1:
            raise InputError(f"train.{name} must be >= 1; got {getattr(t, name)}")
    for name in ("lr", "min_lr"):
        if not getattr(t, name) > 0:
            raise InputError(f"train.{name} must be > 0; got {getattr(t, name)}")
    if not 0 < t.gamma <= 1 or not 0 < t.factor < 1:
        raise InputError(f"train.gamma must be in (0, 1] and train.factor in (0, 1); got "
                         f"{t.gamma}, {t.factor}")
    if t.step_size < 1 or t.val_every < 1 or t.patience < 0 or t.early_stop < 0:
        raise InputError("train.step_size and train.val_every must be >= 1, train.patience and "
                         "train.early_stop >= 0")
    for name in ("intensity", "blur", "noise"):
        if not getattr(cfg.data, name) >= 0:
            raise InputError(f"data.{name} must be >= 0; got {getattr(cfg.data, name)}")
    if cfg.data.label_width < 1 or cfg.data.label_width % 2 == 0:
        raise InputError(f"data.label_width must be an odd number of px >= 1; got {cfg.data.label_width}")
    if not 0 <= cfg.data.min_valid <= 1:
        raise InputError(f"data.min_valid must be in [0, 1]; got {cfg.data.min_valid}")
    if not 0 <= cfg.data.val_fraction < 1:
        raise InputError(f"data.val_fraction must be in [0, 1); got {cfg.data.val_fraction}")
    if cfg.data.patch < 8 or cfg.data.chip < 8:
        raise InputError(f"data.patch and data.chip must be >= 8 px; got {cfg.data.patch}, "
                         f"{cfg.data.chip}")


def _check_masks(d: DataConfig) -> None:
    from microseg.data.masks import check_positive

    check_positive(d.positive, name="data.positive")
    t = d.mask_threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0):
        raise InputError(f"data.mask_threshold must be a number > 0 (e.g. 128 for 8-bit masks) or null; got {t!r}")
    if t is not None and not isinstance(d.positive, str):
        raise InputError(f"data.mask_threshold ({t}) and class labels in data.positive ({d.positive!r}) "
                         "exclude each other; give one")
    for name in ("mask_suffix", "image_suffix"):
        value = getattr(d, name)
        if not (isinstance(value, str) or (value is None and name == "mask_suffix")):
            raise InputError(f"data.{name} must be a string such as '_mask' (quote it in YAML); got {value!r}")


def from_dict(data: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from nested dicts; unknown sections/keys raise InputError."""
    data = data or {}
    if not isinstance(data, dict):
        raise InputError(f"a config must be a mapping of sections; got {type(data).__name__}")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            _unknown(name, list(SECTIONS), "config section")
    for name, cls in SECTIONS.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise InputError(f"config section {name!r} must be a mapping; got {values!r}")
        by_name = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in by_name:
                _unknown(key, list(by_name), "key", f" in section {name!r}")
            kwargs[key] = _coerce(name, by_name[key], value)
        sections[name] = cls(**kwargs)
    cfg = Config(**sections)
    _check(cfg)
    return cfg


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``"section.key=value"`` into its parts; the value is parsed as YAML."""
    import yaml

    if not isinstance(text, str) or "=" not in text or "." not in text.split("=", 1)[0]:
        raise InputError(f"override {text!r} must look like section.key=value, e.g. train.lr=1e-4")
    lhs, rhs = text.split("=", 1)
    section, key = lhs.strip().split(".", 1)
    try:
        value = yaml.safe_load(rhs) if rhs.strip() else None
    except yaml.YAMLError as exc:
        raise InputError(f"override {text!r}: value is not valid YAML ({exc})") from None
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # yaml 1.1 reads "1e-4" as a string
    return section, key, value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity")


def _numbers(obj: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; turn such strings into floats."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    if isinstance(obj, str) and _looks_numeric(obj) and any(c in obj for c in "eE"):
        return float(obj)
    return obj


def load_config(path: str | os.PathLike | None, *, overrides: list[str] | tuple[str, ...] = ()
                ) -> Config:
    """Read a run configuration from YAML and apply ``section.key=value`` overrides.

    Parameters
    ----------
    path : str or path-like, optional
        YAML file with any of the sections; ``None`` starts from the defaults.
    overrides : sequence of str
        ``"train.lr=1e-4"`` style strings, applied in order after the file.

    Returns
    -------
    Config

    Raises
    ------
    InputError
        Unknown section or key (with a "did you mean"), a value of the wrong type, or
        an unreadable file.
    """
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: a config must be a mapping of sections")
        data = _numbers(data)
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for text in overrides:
        section, key, value = parse_override(text)
        if section not in SECTIONS:
            _unknown(section, list(SECTIONS), "config section")
        if "." in key:  # nested option: model.options.decoder_channels=...
            key, sub = key.split(".", 1)
            merged.setdefault(section, {}).setdefault(key, {})
            merged[section][key] = {**(merged[section][key] or {}), sub: value}
        else:
            merged.setdefault(section, {})[key] = value
    try:
        return from_dict(merged)
    except InputError as exc:
        where = f"{path}: " if path is not None else ""
        raise InputError(f"{where}{exc}") from None


def dump_config(config: Config) -> str:
    """The configuration as YAML text."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def write_config(config: Config, folder: str | os.PathLike, *, force: bool = True) -> Path:
    """Write the resolved configuration as ``folder/config.yaml`` (atomically)."""
    return write_text_atomic(Path(folder) / "config.yaml", dump_config(config), force=force)
