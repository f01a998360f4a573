"""Resumable training checkpoints as safetensors + JSON: never pickle.

A checkpoint folder holds

- ``model.safetensors``: the model's ``state_dict``;
- ``optimizer.safetensors``: every tensor of the optimizer state, flattened to
  ``state.<param index>.<name>``, plus the RNG states as uint8/int64 tensors
  (``rng.torch``, ``rng.cuda.<i>``, ``rng.numpy``, ``rng.python``);
- ``state.json``: everything else (epoch, step, optimizer ``param_groups`` and scalar state,
  schedule, early stopping, best metric, RNG scalars, GradScaler state), written with
  microseg's one JSON rule (:func:`microseg.io.write_json`): a metric that is NaN (not
  computed, e.g. ``bf_f1`` of a class target) is stored as ``null`` and comes back as None.

The folder is written beside its final place and swapped in with renames, so an
interruption leaves either the old or the new checkpoint, never half of one.
"""
from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from microseg._util import InputError
from microseg.io import read_json, write_json

logger = logging.getLogger(__name__)

MODEL_FILE, OPTIM_FILE, STATE_FILE = "model.safetensors", "optimizer.safetensors", "state.json"
FORMAT = "microseg-checkpoint-1"


# ------------------------------------------------------------------------------ RNG states
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch, CUDA, numpy and Python RNG states as (tensors, JSON scalars)."""
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, internal, gauss = random.getstate()
    tensors["rng.python"] = torch.tensor(np.asarray(internal, dtype=np.uint32).view(np.int32))
    scalars = {"numpy": [kind, int(pos), int(has_gauss), float(cached)],
               "python": [int(version), gauss]}
    return tensors, scalars


def set_rng_state(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    kind, pos, has_gauss, cached = scalars["numpy"]
    keys = tensors["rng.numpy"].numpy().view(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))
    version, gauss = scalars["python"]
    internal = tuple(int(x) for x in tensors["rng.python"].numpy().view(np.uint32))
    random.setstate((version, internal, gauss))


# ------------------------------------------------------------------------- optimizer state
def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for idx, per_param in state["state"].items():
        plain = {}
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain[name] = value
        scalars["state"][str(idx)] = plain
    return tensors, scalars


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in scalars["state"].items()}
    for key, value in tensors.items():
        if not key.startswith("state."):
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": scalars["param_groups"]}


# ---------------------------------------------------------------------------- save / load
def save_checkpoint(folder: str | os.PathLike, *, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, state: dict[str, Any],
                    scaler: Any = None, description: str | None = None) -> Path:
    """Write a resumable checkpoint to ``folder`` atomically (replacing an old one).

    ``state`` is a JSON-able dict (epoch, step, schedule, ...). ``description`` is the text
    of a ``model.json`` (:func:`microseg.models.io.model_description`): with it the
    checkpoint is also a model folder that :func:`microseg.models.load_model` and
    ``microseg predict`` read. Returns ``folder``.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": FORMAT})
        opt_tensors, opt_scalars = _flatten_optimizer(optimizer.state_dict())
        rng_tensors, rng_scalars = rng_state()
        save_file({**opt_tensors, **rng_tensors}, str(tmp / OPTIM_FILE), metadata={"format": FORMAT})
        doc = {"format": FORMAT, **state, "optimizer": opt_scalars, "rng": rng_scalars,
               "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None}
        write_json(tmp / STATE_FILE, doc, force=True)
        if description is not None:
            (tmp / "model.json").write_text(description + "\n", encoding="utf-8")
        swap_folder(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def swap_folder(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by the finished ``tmp`` folder (the old one is removed only after)."""
    old = folder.with_name(folder.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)


def find_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The complete checkpoint at ``folder`` (or its ``.old`` left by a crash), if any."""
    folder = Path(folder)
    for cand in (folder, folder.with_name(folder.name + ".old")):
        if all((cand / n).is_file() for n in (MODEL_FILE, OPTIM_FILE, STATE_FILE)):
            return cand
    return None


def load_checkpoint(folder: str | os.PathLike, *, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, scaler: Any = None,
                    restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint into ``model`` and ``optimizer``; returns the JSON state."""
    from safetensors.torch import load_file

    found = find_checkpoint(folder)
    if found is None:
        raise InputError(f"{folder}: no complete checkpoint ({MODEL_FILE}, {OPTIM_FILE}, {STATE_FILE})")
    doc = read_json(found / STATE_FILE)  # a damaged file is an error that names it
    if doc.get("format") != FORMAT:
        raise InputError(f"{found / STATE_FILE}: not a {FORMAT} checkpoint")
    device = next(iter(model.parameters())).device
    model.load_state_dict(load_file(str(found / MODEL_FILE), device=str(device)))
    tensors = load_file(str(found / OPTIM_FILE))
    opt_state = _unflatten_optimizer({k: v for k, v in tensors.items() if k.startswith("state.")},
                                     doc["optimizer"])
    optimizer.load_state_dict(opt_state)
    if scaler is not None and doc.get("scaler"):
        scaler.load_state_dict(doc["scaler"])
    if restore_rng:
        set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, doc["rng"])
    logger.info("resumed from %s (epoch %d, step %d)", found, doc["epoch"], doc["step"])
    return doc
