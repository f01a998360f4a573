"""Inference: prediction with one model or an ensemble, whole or in tiles, with TTA.

- :func:`predict_image` -> probability ``(H, W)`` (mean over models)
- :func:`predict_ensemble` -> ``(mean_prob, spread)``; spread = per-pixel std across models
- :func:`predict_probs` -> ``(M, H, W)``, one map per model
- :func:`load_models` -> :class:`LoadedModel` (model + ``model.json`` metadata)
- :func:`predict_tiled`, :func:`tile_slices`, :func:`blend_window`: tiling as pure functions
- :class:`EnsembleRunner`, :func:`with_tta`: every model on the same tile batch, TTA

Inputs are pre-processed the way each model's ``model.json`` says and resampled to the
pixel size the model was trained at (:func:`rescale_factor`); ``tile_size=`` cuts them
into blended tiles (:mod:`microseg.infer.predict`).

Names are imported on first use: ``import microseg.infer.tiling`` and
``microseg.infer.config`` do not import torch; ``from microseg.infer import predict_image``
does.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "InferConfig": "config",
    "LoadedModel": "_model", "load_models": "predict", "predict_image": "predict",
    "predict_ensemble": "predict", "predict_probs": "predict", "as_image_array": "predict",
    "as_loaded_models": "predict", "match_channels": "prepare", "rescale_factor": "predict",
    "check_options": "predict",
    "predict_tiled": "tiling", "tile_slices": "tiling", "tile_starts": "tiling", "blend_window": "tiling",
    "resolve_tile_size": "tiling",
    "EnsembleRunner": "runner", "with_tta": "runner", "tta_transforms": "runner",
    "PreparedImage": "prepare",
}

__all__ = ["InferConfig", "LoadedModel", "load_models", "predict_image", "predict_ensemble", "predict_probs",
           "as_image_array", "rescale_factor", "as_loaded_models", "match_channels", "check_options",
           "predict_tiled", "tile_slices", "tile_starts", "blend_window", "resolve_tile_size",
           "EnsembleRunner", "with_tta", "tta_transforms", "PreparedImage"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
