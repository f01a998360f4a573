"""Run configuration: one YAML file, six sections, each section's schema beside its stage.

A run is described by one YAML file with the sections of the pipeline (DESIGN.md); each
section is a frozen dataclass defined, with its defaults and its ``check()``, in the
stage that reads it:

=========  ==============================================  ===============================
section    class                                           read by
=========  ==============================================  ===============================
``data``   :class:`microseg.data.config.DataConfig`        training data, splits, folds
``model``  :class:`microseg.models.config.ModelConfig`     :func:`microseg.models.build`
``loss``   :class:`microseg.losses.config.LossConfig`      :func:`microseg.losses.build`
``train``  :class:`microseg.train.config.TrainConfig`      the training loop, validation
``infer``  :class:`microseg.infer.config.InferConfig`      ``predict``, the cv ensemble
``grains`` :class:`microseg.grains.config.GrainsConfig`    grain analysis (``grains``, cv)
=========  ==============================================  ===============================

This module only composes them: :func:`load_config` reads a file, applies
``section.key=value`` overrides (the CLI's ``--set``; values are parsed with
``yaml.safe_load`` so that ``train.lr=1e-4`` is a float and ``data.folds=[A,D]`` a list)
and checks every section. An unknown section or key, and a key that nothing reads, is an
error that names the file or the override and suggests the nearest valid name. A task
that reads only some sections loads only those (``sections=("grains",)``): the file may
hold the other sections of the run (they are left to the stages that read them), but an
override of one of them is refused. :func:`write_config` saves the resolved
configuration as ``config.yaml`` beside the outputs.

Importing this module imports no stage; a section's stage is imported when the section
is read (so a ``grains``-only config does not import torch).

Examples
--------
>>> cfg = load_config(None, overrides=["train.lr=3e-4", "model.arch=unet"])
>>> cfg.train.lr, cfg.model.arch, cfg.train.schedule
(0.0003, 'unet', 'plateau')
>>> load_config(None, overrides=["train.lrr=1"])
Traceback (most recent call last):
...
microseg._util.InputError: --set train.lrr=1: unknown key 'lrr' in section 'train'; valid: ... did you mean 'lr'?
>>> only = load_config(None, overrides=["grains.close_gaps=watershed"], sections=("grains",))
>>> only.sections, only.grains.close_gaps, only.train is None
(('grains',), 'watershed', True)
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microseg._util import InputError, look_up_option, write_text_atomic

if TYPE_CHECKING:  # pragma: no cover
    from microseg.data.config import DataConfig
    from microseg.grains.config import GrainsConfig
    from microseg.infer.config import InferConfig
    from microseg.losses.config import LossConfig
    from microseg.models.config import ModelConfig
    from microseg.train.config import TrainConfig

#: The sections of a run, in pipeline order (names may grow, not change).
SECTIONS = ("data", "model", "loss", "train", "infer", "grains")

__all__ = ["SECTIONS", "Config", "section_schema", "from_dict", "load_config", "apply_overrides",
           "parse_override", "dump_config", "write_config"]


def section_schema(name: str) -> type:
    """The dataclass of section ``name`` (imported from its stage on first use).

    Examples
    --------
    >>> section_schema("grains").__module__
    'microseg.grains.config'
    """
    name = look_up_option(name, SECTIONS, what="config section")
    if name == "data":
        from microseg.data.config import DataConfig as schema
    elif name == "model":
        from microseg.models.config import ModelConfig as schema
    elif name == "loss":
        from microseg.losses.config import LossConfig as schema
    elif name == "train":
        from microseg.train.config import TrainConfig as schema
    elif name == "infer":
        from microseg.infer.config import InferConfig as schema
    else:
        from microseg.grains.config import GrainsConfig as schema
    return schema


def _default(name: str) -> Any:
    return section_schema(name)()


@dataclass(frozen=True)
class Config:
    """A whole run: one frozen dataclass per section.

    A config loaded for some sections only (``load_config(..., sections=("grains",))``)
    holds ``None`` for the others; :attr:`sections` names those it holds, and
    :meth:`to_dict` (and so ``config.yaml``) writes only those.
    """

    data: DataConfig | None = field(default_factory=partial(_default, "data"))
    model: ModelConfig | None = field(default_factory=partial(_default, "model"))
    loss: LossConfig | None = field(default_factory=partial(_default, "loss"))
    train: TrainConfig | None = field(default_factory=partial(_default, "train"))
    infer: InferConfig | None = field(default_factory=partial(_default, "infer"))
    grains: GrainsConfig | None = field(default_factory=partial(_default, "grains"))

    @property
    def sections(self) -> tuple[str, ...]:
        """Names of the sections this config holds, in pipeline order."""
        return tuple(name for name in SECTIONS if getattr(self, name) is not None)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (tuples as lists) of the sections it holds, ready for YAML or JSON."""
        return {name: {f.name: _plain(getattr(getattr(self, name), f.name))
                       for f in fields(getattr(self, name))} for name in self.sections}

    def write(self, folder: str | os.PathLike, *, force: bool = True) -> Path:
        """Write the resolved configuration as ``folder/config.yaml`` (:func:`write_config`)."""
        return write_config(self, folder, force=force)

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with keys of some sections changed: ``cfg.replace(train={"lr": 1e-5})``."""
        held = self.to_dict()
        merged = {}
        for name, values in sections.items():
            name = look_up_option(name, SECTIONS, what="config section")
            merged[name] = {**held.get(name, {}), **_mapping(values, name, "")}
        return from_dict({**held, **merged}, sections=tuple(dict.fromkeys([*held, *merged])))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _mapping(values: Any, section: str, where: str) -> dict:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(f"{where}config section {section!r} must be a mapping of keys to values; "
                         f"got {type(values).__name__}")
    return values


def _look_up(name: Any, options: Sequence[str], *, what: str, where: str = "", inside: str = "") -> str:
    """:func:`look_up_option` with the place of the error: ``where`` before, ``inside`` after the name."""
    try:
        return look_up_option(name, options, what=what)
    except InputError as exc:
        head = f"unknown {what} {name!r}"
        text = str(exc)
        raise InputError(f"{where}{head}{inside}{text[len(head):]}" if text.startswith(head)
                         else f"{where}{text}") from None


def _coerce(where: str, f: dataclasses.Field, value: Any) -> Any:
    """Light type check from the field's default (or its ``int | None`` / ``float | None`` type):
    numbers, booleans, lists as tuples, mappings."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
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
    optional = {"int | None": int, "float | None": float}.get(str(f.type))  # a number or null
    if default is None and optional is not None and value is not None:
        default = optional()
    if isinstance(default, (int, float)) and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number{' or null' if optional else ''}; got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if float(value) != int(value):
                raise InputError(f"{where} must be an integer; got {value!r}")
            return int(value)
        return float(value)
    return value


def _build_section(name: str, values: dict, origin: dict[str, str]) -> Any:
    """One section's dataclass from its keys; ``origin[key]`` says where a key came from."""
    schema = section_schema(name)
    by_name = {f.name: f for f in fields(schema)}
    removed = getattr(schema, "REMOVED", {})
    kwargs = {}
    for key, value in values.items():
        where = origin.get(key, "")
        if key in removed:
            raise InputError(f"{where}{name}.{key} is no longer a key (nothing read it): {removed[key]}")
        canonical = _look_up(key, list(by_name), what="key", where=where, inside=f" in section {name!r}")
        kwargs[canonical] = _coerce(f"{where}{name}.{canonical}", by_name[canonical], value)
    section = schema(**kwargs)
    try:
        section.check()
    except InputError as exc:
        places = ", ".join(dict.fromkeys(p.removesuffix(": ") for p in origin.values() if p))
        raise InputError(f"{places}: {exc}" if places else str(exc)) from None
    return section


def _wanted(sections: Iterable[str] | None) -> tuple[str, ...]:
    if sections is None:
        return SECTIONS
    if isinstance(sections, str):
        sections = (sections,)
    chosen = {look_up_option(s, SECTIONS, what="config section") for s in sections}
    return tuple(s for s in SECTIONS if s in chosen)


def _compose(data: dict, wanted: tuple[str, ...], origins: dict[str, dict[str, str]]) -> Config:
    built = {name: (_build_section(name, data.get(name) or {}, origins.get(name, {})) if name in wanted else None)
             for name in SECTIONS}
    return Config(**built)


def from_dict(data: dict[str, Any] | None, *, sections: Iterable[str] | None = None) -> Config:
    """Build a :class:`Config` from nested dicts; unknown sections/keys raise InputError.

    Parameters
    ----------
    data : dict, optional
        ``{section: {key: value}}``; missing sections and keys take their defaults.
    sections : iterable of str, optional
        Build only these sections (the others are ``None``); sections of ``data`` that are
        known but not wanted are not read. Default: all.
    """
    data = data or {}
    if not isinstance(data, dict):
        raise InputError(f"a config must be a mapping of sections; got {type(data).__name__}")
    wanted = _wanted(sections)
    clean = {}
    for name, values in data.items():
        name = _look_up(name, SECTIONS, what="config section")
        clean[name] = _mapping(values, name, "")
    return _compose(clean, wanted, {})


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``"section.key=value"`` into its parts; the value is parsed as YAML.

    Examples
    --------
    >>> parse_override("train.lr=1e-4")
    ('train', 'lr', 0.0001)
    >>> parse_override("model.options.decoder_channels=[8, 8]")
    ('model', 'options.decoder_channels', [8, 8])
    """
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


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config must be a mapping of sections; got {type(data).__name__}")
    return _numbers(data)


def load_config(path: str | os.PathLike | None = None, *, overrides: Sequence[str] | None = (),
                sections: Iterable[str] | None = None) -> Config:
    """Read a run configuration from YAML and apply ``section.key=value`` overrides.

    Parameters
    ----------
    path : str or path-like, optional
        YAML file with any of the sections; ``None`` starts from the defaults.
    overrides : sequence of str
        ``"train.lr=1e-4"`` style strings, applied in order after the file; a nested
        option is ``"model.options.decoder_channels=[8, 8]"``.
    sections : iterable of str, optional
        Read only these sections (e.g. ``("grains",)`` for ``microseg grains --config``);
        the returned config holds ``None`` for the others. The file's other known sections
        are not read (a run file serves every task); an unknown section is still an
        error, and so is an override of a section that is not read. Default: all six.

    Returns
    -------
    Config

    Raises
    ------
    InputError
        An unknown section or key (with a "did you mean"), a key nothing reads, a value of
        the wrong type or out of range, or an unreadable file; the message names the file
        or the ``--set`` override the value came from.
    """
    wanted = _wanted(sections)
    data: dict[str, dict] = {}
    origins: dict[str, dict[str, str]] = {}
    if path is not None:
        path = Path(path)
        for name, values in _read_yaml(path).items():
            name = _look_up(name, SECTIONS, what="config section", where=f"{path}: ")
            values = _mapping(values, name, f"{path}: ")
            if name in wanted:
                data[name] = dict(values)
                origins[name] = {key: f"{path}: " for key in values}
    _apply(data, origins, overrides, wanted)
    return _compose(data, wanted, origins)


def _apply(data: dict[str, dict], origins: dict[str, dict[str, str]], overrides: Sequence[str] | None,
           wanted: tuple[str, ...]) -> None:
    """Apply ``section.key=value`` overrides to ``data`` in place, recording where each key came from."""
    if isinstance(overrides, str):
        overrides = [overrides]
    for text in overrides or ():
        section, key, value = parse_override(text)
        where = f"--set {text}: "
        section = _look_up(section, SECTIONS, what="config section", where=where)
        if section not in wanted:
            raise InputError(f"{where}this task reads only the config section(s) {', '.join(wanted)}; "
                             f"{section}.* is not read here")
        values = data.setdefault(section, {})
        if "." in key:  # nested option: model.options.decoder_channels=...
            key, sub = key.split(".", 1)
            inner = values.get(key)
            values[key] = {**(inner if isinstance(inner, dict) else {}), sub: value}
        else:
            values[key] = value
        origins.setdefault(section, {})[key] = where


def apply_overrides(config: Config, overrides: Sequence[str] | None) -> Config:
    """``config`` with ``section.key=value`` overrides applied in order (as :func:`load_config` does).

    Examples
    --------
    >>> apply_overrides(Config(), ["train.epochs=3", "model.options.depth=2"]).train.epochs
    3
    """
    if not isinstance(config, Config):
        raise InputError(f"config must be a Config (see load_config); got {type(config).__name__}")
    data = config.to_dict()
    origins: dict[str, dict[str, str]] = {}
    _apply(data, origins, overrides, config.sections)
    return _compose(data, config.sections, origins)


def dump_config(config: Config) -> str:
    """The configuration (the sections it holds) as YAML text."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def write_config(config: Config, folder: str | os.PathLike, *, force: bool = True) -> Path:
    """Write the resolved configuration as ``folder/config.yaml`` (atomically)."""
    return write_text_atomic(Path(folder) / "config.yaml", dump_config(config), force=force)
