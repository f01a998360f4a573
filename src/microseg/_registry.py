"""One registry helper for every family that a config file or the CLI names by a key.

Architectures (:data:`microseg.models.MODELS`), losses (:data:`microseg.losses.LOSSES`),
classical methods (:data:`microseg.classic.METHODS`) and EBSD formats
(:data:`microseg.io.ebsd.EBSD_READERS`) are each one :class:`Registry`; adding a member is
one module plus one ``register`` line, and nothing else names it.

- Keys are explicit lowercase strings, looked up case-insensitively; an unknown key raises
  :class:`~microseg._util.InputError` that lists the valid keys and suggests the nearest.
- An entry is an object (a class or a function) or a lazy ``"module:attribute"`` string,
  imported on first use, so that a registry of torch classes costs no torch import until
  one of them is built.
- Options are the keyword parameters of the entry's signature (keyword-only ones, and
  positional-or-keyword ones with a default); an unknown option is an error that names the
  valid ones.
- Capabilities are facts about an entry (``side_outputs``, ``takes_encoder_weights``, ...),
  declared with their defaults when the registry is made; :meth:`Registry.available`
  filters on them.

Examples
--------
>>> reg = Registry("shape", capabilities={"round": False})
>>> @reg.register("disc", round=True)
... def disc(*, radius: float = 1.0) -> float:
...     "A disc of ``radius``."
...     return 3.14159 * radius ** 2
>>> _ = reg.register("square", lambda *, side=1.0: side ** 2, description="A square.")
>>> reg.available(), reg.available(round=True)
(['disc', 'square'], ['disc'])
>>> reg.build("Disc", radius=2.0)
12.56636
>>> reg.describe("disc")
{'name': 'disc', 'description': 'A disc of ``radius``.', 'capabilities': {'round': True}, \
'options': {'radius': 1.0}, 'required': []}
>>> reg.build("squre")
Traceback (most recent call last):
...
microseg._util.InputError: unknown shape 'squre'; valid: disc, square. did you mean 'square'?
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from microseg._util import InputError, look_up_option

__all__ = ["Registry"]

_PARAMETER = inspect.Parameter


@dataclass
class _Entry:
    name: str
    target: Any  # the object, or "module:attribute" until first use
    description: str
    capabilities: dict[str, Any]
    resolved: Any = field(default=None, repr=False)

    @property
    def lazy(self) -> bool:
        return isinstance(self.target, str)

    @property
    def attribute(self) -> str:
        """The name the entry's object is exported under (its class or function name)."""
        if self.lazy:
            return self.target.rpartition(":")[2]
        return getattr(self.target, "__name__", self.name)

    def load(self) -> Any:
        if self.resolved is None:
            if self.lazy:
                module, _, attribute = self.target.partition(":")
                self.resolved = getattr(importlib.import_module(module), attribute)
            else:
                self.resolved = self.target
        return self.resolved


class Registry:
    """A named family of classes or functions: ``register``, ``build``, ``available``, ``describe``.

    Parameters
    ----------
    kind : str
        What one entry is, for messages: ``"model architecture"``, ``"loss"``,
        ``"classical method"``, ``"EBSD format"``.
    capabilities : mapping of str to object, optional
        The capability names an entry may declare, with the value of an entry that does
        not declare it (e.g. ``{"side_outputs": False}``).
    sort : bool
        :meth:`available` (and iteration) in sorted order; by default in registration
        order (the order of the ``register`` lines).
    option_label : str
        How an option is called in messages; formatted with ``kind`` and ``name``
        (default ``"option of {kind} {name!r}"``).
    """

    def __init__(self, kind: str, *, capabilities: Mapping[str, Any] | None = None,
                 sort: bool = False, option_label: str = "option of {kind} {name!r}") -> None:
        self.kind = kind
        self.capability_defaults = dict(capabilities or {})
        self.sort = sort
        self.option_label = option_label
        self._entries: dict[str, _Entry] = {}

    # -- registering ------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, description: str = "",
                 **capabilities: Any) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator that does.

        Parameters
        ----------
        name : str
            The key: a non-empty lowercase string not registered yet.
        obj : class, function or str, optional
            What :meth:`build` calls, or ``"package.module:attribute"`` to import it on
            first use.
        description : str
            One line; default: the object's ``description`` attribute, else the first
            line of its docstring.
        **capabilities
            Values of the capabilities declared by the registry.

        Returns
        -------
        object
            ``obj`` (or the decorator, which returns the decorated object unchanged).
        """
        if obj is None:
            def decorator(target: Any) -> Any:
                self.register(name, target, description=description, **capabilities)
                return target
            return decorator
        if not isinstance(name, str) or not name or name != name.lower():
            raise ValueError(f"{self.kind} key must be an explicit lowercase string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if isinstance(obj, str):
            if obj.count(":") != 1 or not all(obj.partition(":")[::2]):
                raise ValueError(f"{self.kind} {name!r}: a lazy entry is 'package.module:attribute', "
                                 f"got {obj!r}")
        elif not callable(obj):
            raise ValueError(f"{self.kind} {name!r}: expected a class, a function or "
                             f"'module:attribute', got {obj!r}")
        for key in capabilities:
            look_up_option(key, list(self.capability_defaults), what=f"capability of {self.kind}")
        self._entries[name] = _Entry(name, obj, str(description),
                                     {**self.capability_defaults, **capabilities})
        return obj

    # -- looking up -------------------------------------------------------------------
    def available(self, **capabilities: Any) -> list[str]:
        """The keys, optionally only those whose capabilities equal the given values.

        Examples
        --------
        >>> from microseg.models import MODELS
        >>> MODELS.available(takes_encoder_weights=True)
        ['unet', 'unetpp']
        """
        names = sorted(self._entries) if self.sort else list(self._entries)
        for key in capabilities:
            look_up_option(key, list(self.capability_defaults), what=f"capability of {self.kind}")
        return [n for n in names
                if all(self._entries[n].capabilities[k] == v for k, v in capabilities.items())]

    def key(self, name: str) -> str:
        """The registered key of ``name`` (case-insensitive); unknown names raise ``InputError``."""
        return look_up_option(name, self.available(), what=self.kind)

    def get(self, name: str) -> Any:
        """The class or function registered as ``name`` (imported now if lazy)."""
        return self._entries[self.key(name)].load()

    def capabilities(self, name: str) -> dict[str, Any]:
        """The capabilities of ``name``, every declared one (without importing the entry)."""
        return dict(self._entries[self.key(name)].capabilities)

    def options(self, name: str) -> dict[str, Any]:
        """Option name -> default of ``name`` (``inspect.Parameter.empty`` for a required one)."""
        return dict(_options(self.get(name))[0])

    def check_options(self, name: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` with their names checked (and spelled as in the signature).

        Raises
        ------
        InputError
            For an option the entry does not take; the message lists the valid ones and
            suggests the nearest.
        """
        name = self.key(name)
        valid, open_ended = _options(self.get(name))
        if open_ended:
            return dict(options)
        label = self.option_label.format(kind=self.kind, name=name)
        if options and not valid:
            raise InputError(f"unknown {label} {next(iter(options))!r}; {name} takes no options")
        return {look_up_option(key, list(valid), what=label): value for key, value in options.items()}

    def build(self, name: str, *args: Any, **options: Any) -> Any:
        """Call (instantiate) the entry ``name`` with ``options`` checked by :meth:`check_options`.

        Positional ``args`` (data inputs such as a path) are passed through unchecked.
        """
        options = self.check_options(name, options)
        return self.get(name)(*args, **options)

    def describe(self, name: str) -> dict[str, Any]:
        """What ``name`` is: ``name``, ``description``, ``capabilities``, ``options``, ``required``.

        ``options`` maps each option with a default to the default (from the signature);
        ``required`` lists the keyword options without one.
        """
        entry = self._entries[self.key(name)]
        obj = entry.load()
        options, _ = _options(obj)
        return {"name": entry.name, "description": entry.description or _description(obj),
                "capabilities": dict(entry.capabilities),
                "options": {k: v for k, v in options.items() if v is not _PARAMETER.empty},
                "required": [k for k, v in options.items() if v is _PARAMETER.empty]}

    def exports(self) -> dict[str, str]:
        """Class or function name -> key, for a package that exports its entries by name.

        Lazy entries are not imported.
        """
        return {e.attribute: e.name for e in self._entries.values()}

    # -- mapping-like access ----------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self.available())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __getitem__(self, name: str) -> Any:
        if name not in self:
            raise KeyError(name)
        return self._entries[name.lower()].load()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.available())})"


def _options(obj: Callable) -> tuple[dict[str, Any], bool]:
    """``({option: default}, takes **kwargs)`` of a class or function."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):  # no signature (a builtin): options unchecked
        return {}, True
    options = {p.name: p.default for p in params
               if p.kind is _PARAMETER.KEYWORD_ONLY
               or (p.kind is _PARAMETER.POSITIONAL_OR_KEYWORD and p.default is not _PARAMETER.empty)}
    return options, any(p.kind is _PARAMETER.VAR_KEYWORD for p in params)


def _description(obj: Any) -> str:
    text = getattr(obj, "description", None)
    if isinstance(text, str) and text:
        return text
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
