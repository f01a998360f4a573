"""A model as prediction takes it: the network, the metadata of its ``model.json``, a name.

:func:`as_loaded` turns every form a caller may give (a module or any callable returning
logits, a ``(module, metadata)`` pair, a :class:`LoadedModel`, a path, or a list of them)
into a list of :class:`LoadedModel`. How a path is read is given by the caller (``load=``;
default :func:`load_folder`, a model folder): :func:`microseg.infer.load_models` also reads
ONNX files, and this module stays below both the PyTorch and the ONNX paths.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microseg._util import InputError

__all__ = ["LoadedModel", "as_loaded", "load_folder"]


@dataclass(frozen=True)
class LoadedModel:
    """A model with the metadata of its ``model.json`` and where it came from."""

    model: Any   #: a torch.nn.Module, or any callable from a float32 tensor (N, C, H, W) to logits
    metadata: dict = field(default_factory=dict)
    name: str = "model"

    @property
    def preprocessing(self) -> dict | None:
        return self.metadata.get("preprocessing")


def load_folder(path: str | os.PathLike) -> LoadedModel:
    """A model folder (``model.safetensors`` + ``model.json``, :func:`microseg.models.load_model`)."""
    from microseg.models import load_model

    model, meta = load_model(path)
    return LoadedModel(model, dict(meta), Path(path).name)


def _is_pair(m: Any) -> bool:
    return isinstance(m, tuple) and len(m) == 2 and callable(m[0]) and isinstance(m[1], (dict, type(None)))


def as_loaded(models: Any, *, load: Callable[[Any], LoadedModel] = load_folder) -> list[LoadedModel]:
    """``models`` in any of its forms as a list of :class:`LoadedModel`; paths read by ``load``.

    Examples
    --------
    >>> [m.name for m in as_loaded([len, (abs, {"thin": True})])]
    ['builtin_function_or_method', 'builtin_function_or_method']
    """
    if isinstance(models, (LoadedModel, str, os.PathLike)) or callable(models) or _is_pair(models):
        models = [models]
    out = []
    for m in models:
        if isinstance(m, LoadedModel):
            out.append(m)
        elif _is_pair(m):
            out.append(LoadedModel(m[0], dict(m[1] or {}), type(m[0]).__name__))
        elif callable(m):
            out.append(LoadedModel(m, {}, type(m).__name__))
        elif isinstance(m, (str, os.PathLike)):
            out.append(load(m))
        else:
            raise InputError(f"models must be modules (or callables), (module, metadata) pairs, LoadedModel "
                             f"or model folders; got {type(m).__name__}")
    if not out:
        raise InputError("models is empty; give at least one model")
    return out
