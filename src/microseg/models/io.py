"""Models on disk, and pretrained encoder weights from local files.

A model on disk
---------------
:func:`save_model` writes a folder with two files:

``model.safetensors``
    The state dict (contiguous CPU tensors), written by ``safetensors.torch.save_file``.
``model.json``
    ``{"arch", "options", "in_channels", "classes", "microseg_version", "weights",
    "metadata"}``: ``options`` is ``model.config`` (the constructor keywords), ``metadata``
    anything JSON-serialisable the caller adds (input normalisation, training
    configuration, metrics, ...).

:func:`load_model` rebuilds the architecture through the registry
(:func:`microseg.models.build`) and loads the tensors. It never unpickles and never
runs code from the files; a damaged file, tensors that do not fit the architecture, or
an unknown ``arch`` raise :class:`~microseg._util.FileFormatError` /
:class:`~microseg._util.InputError` naming the file.

Pretrained encoder weights
--------------------------
:func:`load_encoder_weights` loads ImageNet or MicroNet weights into the encoder of a
:class:`~microseg.models.UNet` or :class:`~microseg.models.UNetPlusPlus` (smp encoders).
Nothing is downloaded: the user supplies the file.

Accepted file formats:

- ``.safetensors`` (read with ``safetensors.torch.load_file``);
- ``.pt``, ``.pth``, ``.bin``, ``.ckpt``: PyTorch files read with
  ``torch.load(path, map_location="cpu", weights_only=True)``: only tensors and plain
  containers are unpickled; a file whose unpickling would need to import or call code is
  refused with an error (nothing in it runs).

Accepted layouts (after unwrapping a dict that holds the weights under ``"state_dict"``
or ``"model"``, as training checkpoints do, and a DataParallel ``"module."`` prefix):

- a bare smp encoder state dict (keys ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``,
  ...): how MicroNet encoders are published for smp (nasa/pretrained-microscopy-models);
- a torchvision or timm ImageNet ResNet state dict: the same keys plus the classifier
  ``fc.*``, which is ignored;
- a full smp model state dict: keys under ``encoder.`` are used (prefix stripped), the
  decoder and head keys are ignored; likewise ``net.encoder.`` for a microseg
  ``model.safetensors``.

When the checkpoint's first convolution has another number of input channels than the
model (ImageNet RGB → grey SEM images), its filters are adapted as smp does: for one
input channel the RGB filters are summed (a grey image ``g`` then gives the response the
RGB network gave to ``(g, g, g)``); otherwise channels are repeated cyclically and scaled
by ``c_checkpoint / c_model``. Any other shape mismatch is an error.
"""
from __future__ import annotations

import json
import logging
import math
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import microseg
from microseg._util import FileFormatError, InputError, atomic_path, check_output_path
from microseg.io import json_text
from microseg.models._base import SegmentationModel
from microseg.models._registry import available, build

__all__ = ["EncoderLoadReport", "load_encoder_weights", "load_model", "save_model"]

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "model.json"
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def _brief(keys: list[str], n: int = 5) -> str:
    more = f" … (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def save_model(model: SegmentationModel, folder: str | os.PathLike, *,
               metadata: Mapping[str, Any] | None = None, force: bool = False) -> Path:
    """Write ``model`` to ``folder`` as ``model.safetensors`` + ``model.json``.

    Parameters
    ----------
    model : SegmentationModel
        A model built by :func:`microseg.models.build`.
    folder : path
        Output folder (created if needed).
    metadata : mapping, optional
        JSON-serialisable extras: input normalisation, training configuration, metrics.
    force : bool
        Overwrite existing files.

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(folder)
    weights_path, config_path = folder / WEIGHTS_NAME, folder / CONFIG_NAME
    text = model_description(model, metadata)
    for path in (weights_path, config_path):
        check_output_path(path, force=force)
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(weights_path, force=force) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "arch": model.arch})
    with atomic_path(config_path, force=force) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return folder


def model_description(model: SegmentationModel, metadata: Mapping[str, Any] | None = None) -> str:
    """The text of ``model.json``: architecture, constructor options, channels, metadata.

    Written by :func:`save_model`, and beside the weights of every training checkpoint
    (``last/``), so that any saved weights can be loaded for prediction.
    """
    if not isinstance(model, SegmentationModel):
        raise InputError(f"save_model: expected a microseg SegmentationModel, got {type(model).__name__}")
    doc = {
        "arch": model.arch,
        "options": model.config,
        "in_channels": model.in_channels,
        "classes": model.classes,
        "microseg_version": microseg.__version__,
        "weights": WEIGHTS_NAME,
        "metadata": dict(metadata or {}),
    }
    # model.json is written with microseg's JSON rules (io.json_text: numpy numbers, tuples,
    # paths) but stays strict where that rule would write null: the options and the input
    # normalisation must rebuild and feed the model exactly, so NaN/inf there is refused.
    bad = _non_finite(doc)
    if bad:
        raise InputError(f"save_model: model.json cannot hold NaN or infinity (the options and metadata "
                         f"must rebuild the model exactly); found at {', '.join(bad[:5])}")
    try:
        return json_text(doc).rstrip("\n")
    except TypeError as exc:
        raise InputError(f"save_model: metadata or options are not JSON-serialisable: {exc}") from exc


def _non_finite(obj: Any, where: str = "") -> list[str]:
    """Where (``metadata.metrics.f1``, ...) ``obj`` holds a NaN or infinite number."""
    if isinstance(obj, dict):
        return [w for k, v in obj.items() for w in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(obj, np.ndarray):
        return _non_finite(obj.tolist(), where)
    if isinstance(obj, (list, tuple)):
        return [w for i, v in enumerate(obj) for w in _non_finite(v, f"{where}[{i}]")]
    if isinstance(obj, (float, np.floating)) and not math.isfinite(obj):
        return [f"{where} = {obj}"]
    return []


def _read_config(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file (a saved model folder holds {CONFIG_NAME})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: not a readable JSON model description ({exc})") from exc
    if not isinstance(doc, dict):
        raise FileFormatError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    missing = [k for k in ("arch", "options", "in_channels", "classes") if k not in doc]
    if missing:
        raise FileFormatError(f"{path}: missing key(s) {', '.join(missing)}")
    if not isinstance(doc["options"], dict):
        raise FileFormatError(f"{path}: 'options' must be a JSON object")
    return doc


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileFormatError(f"{path}: no such weights file")
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise FileFormatError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_model(path: str | os.PathLike) -> tuple[SegmentationModel, dict[str, Any]]:
    """Load a model written by :func:`save_model`.

    Parameters
    ----------
    path : path
        The model folder, or its ``model.json``.

    Returns
    -------
    model : SegmentationModel
        The rebuilt model with its weights, in evaluation mode, on the CPU.
    metadata : dict
        The ``metadata`` stored with it.
    """
    path = Path(path)
    config_path = path / CONFIG_NAME if path.is_dir() else path
    doc = _read_config(config_path)
    weights_name = str(doc.get("weights", WEIGHTS_NAME))
    if Path(weights_name).name != weights_name or not weights_name.endswith(".safetensors"):
        raise FileFormatError(f"{config_path}: 'weights' must name a .safetensors file in the same "
                              f"folder, got {weights_name!r}")
    weights_path = config_path.parent / weights_name
    options = {**doc["options"], "in_channels": doc["in_channels"], "classes": doc["classes"]}
    try:
        model = build(str(doc["arch"]), **options)
    except InputError as exc:
        raise InputError(f"{config_path}: {exc}") from exc
    state = _read_safetensors(weights_path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_brief(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_brief(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es): {_brief(wrong, 3)}")
        raise FileFormatError(
            f"{weights_path}: the tensors do not fit a {doc['arch']!r} model as described in "
            f"{config_path.name}: " + "; ".join(parts)
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    metadata = doc.get("metadata") or {}
    return model, dict(metadata) if isinstance(metadata, dict) else {"value": metadata}


# -- pretrained encoder weights ---------------------------------------------------------

@dataclass(frozen=True)
class EncoderLoadReport:
    """What :func:`load_encoder_weights` did.

    Attributes
    ----------
    path : str
        The weights file.
    loaded : list of str
        Encoder keys whose tensors were copied from the file.
    missing : list of str
        Encoder keys the file does not have (left as they were).
    unexpected : list of str
        Keys of the file that match no encoder key.
    ignored : list of str
        Keys of the file deliberately skipped (classifier ``fc.*``, decoder, head).
    adapted : list of str
        Keys whose input channels were adapted (e.g. RGB filters summed to grey).
    """

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.path}: loaded {len(self.loaded)} tensors, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.ignored)} ignored, "
                f"{len(self.adapted)} adapted" + (f" ({_brief(self.adapted)})" if self.adapted else ""))


def _read_state(path: Path) -> Mapping[str, Any]:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileFormatError(f"{path}: no such weights file")
    if suffix == ".safetensors":
        return _read_safetensors(path)
    if suffix not in _TORCH_SUFFIXES:
        raise FileFormatError(
            f"{path}: unknown weights format {suffix!r}; accepted: .safetensors, "
            + ", ".join(_TORCH_SUFFIXES)
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise FileFormatError(
            f"{path}: refused: unpickling this file would import or run code, and only plain "
            f"tensor state dicts are loaded (torch.load weights_only=True). Re-save the "
            f"state dict alone, or convert it to .safetensors. Detail: {str(exc).splitlines()[0]}"
        ) from exc
    except Exception as exc:  # a damaged zip / pickle stream
        raise FileFormatError(f"{path}: not a readable PyTorch weights file ({exc})") from exc
    for _ in range(3):
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in ("state_dict", "model") if isinstance(obj.get(k), Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping):
        raise FileFormatError(f"{path}: expected a state dict (a mapping of names to tensors), "
                              f"got {type(obj).__name__}")
    return obj


def _strip_prefixes(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Return the encoder part of ``state`` with prefixes removed, and the ignored keys."""
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    ignored = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    for prefix in ("net.encoder.", "encoder."):
        if any(k.startswith(prefix) for k in tensors):
            ignored += [k for k in tensors if not k.startswith(prefix)]
            tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            break
    ignored += [k for k in tensors if k.startswith("fc.")]
    tensors = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    return tensors, ignored


def _adapt_first_conv(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """Adapt conv filters ``(O, C_file, kh, kw)`` to ``channels`` inputs (smp's rule)."""
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    c_file = weight.shape[1]
    index = torch.arange(channels) % c_file
    return weight[:, index] * (c_file / channels)


def load_encoder_weights(model: SegmentationModel, path: str | os.PathLike, *,
                         strict: bool = False) -> EncoderLoadReport:
    """Load pretrained encoder weights (ImageNet, MicroNet) from a local file into ``model``.

    See the module docstring for the accepted formats, layouts and the adaptation of the
    first convolution to ``model.in_channels``.

    Parameters
    ----------
    model : SegmentationModel
        A model of an architecture in ``available(takes_encoder_weights=True)``.
    path : path
        ``.safetensors``, ``.pt``, ``.pth``, ``.bin`` or ``.ckpt`` file.
    strict : bool
        Raise when an encoder key is missing from the file or a file key matches none.

    Returns
    -------
    EncoderLoadReport
        Loaded, missing, unexpected, ignored and adapted keys (also logged at INFO).

    Raises
    ------
    FileFormatError
        Unreadable or unsafe file, no key matching the encoder, a shape that does not
        fit, or (``strict``) missing/unexpected keys.
    """
    encoder = getattr(model, "encoder", None)
    if not isinstance(model, SegmentationModel) or not isinstance(encoder, torch.nn.Module):
        raise InputError(
            f"load_encoder_weights: {type(model).__name__} has no pretrained-encoder support; "
            f"encoder weights apply to {', '.join(map(repr, available(takes_encoder_weights=True)))}"
        )
    path = Path(path)
    state, ignored = _strip_prefixes(_read_state(path))
    target = encoder.state_dict()
    matched = [k for k in state if k in target]
    if not matched:
        raise FileFormatError(
            f"{path}: no tensor matches the {model.config.get('encoder', '')} encoder: the file has "
            f"{_brief(list(state), 4) or 'no tensors'}; the encoder expects {_brief(list(target), 4)}"
        )
    first_conv = next((k for k, v in target.items() if k.endswith("weight") and v.ndim == 4), None)
    new_state: dict[str, torch.Tensor] = {}
    adapted, wrong = [], []
    for key in matched:
        value, want = state[key], target[key]
        if (key == first_conv and value.ndim == 4 and value.shape[0] == want.shape[0]
                and value.shape[2:] == want.shape[2:] and value.shape[1] != want.shape[1]):
            value = _adapt_first_conv(value, want.shape[1])
            adapted.append(f"{key} ({state[key].shape[1]}->{want.shape[1]} channels)")
        if value.shape != want.shape:
            wrong.append(f"{key} {tuple(value.shape)} != {tuple(want.shape)}")
            continue
        new_state[key] = value.to(want.dtype)
    if wrong:
        raise FileFormatError(f"{path}: {len(wrong)} tensor(s) do not fit the encoder: {_brief(wrong, 3)}")
    report = EncoderLoadReport(
        path=str(path), loaded=sorted(new_state), missing=[k for k in target if k not in state],
        unexpected=[k for k in state if k not in target], ignored=ignored, adapted=adapted,
    )
    if strict and (report.missing or report.unexpected):
        raise FileFormatError(
            f"{path}: strict loading failed: {len(report.missing)} missing "
            f"({_brief(report.missing)}), {len(report.unexpected)} unexpected ({_brief(report.unexpected)})"
        )
    encoder.load_state_dict(new_state, strict=False)
    if report.missing or report.unexpected:
        logger.warning("%s; missing: %s; unexpected: %s", report, _brief(report.missing),
                       _brief(report.unexpected))
    else:
        logger.info("%s", report)
    return report
