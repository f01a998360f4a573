"""Inference: whole-image prediction with one model or an ensemble of models.

- :func:`predict_image` -> probability ``(H, W)`` (mean over models)
- :func:`predict_ensemble` -> ``(mean_prob, spread)``; spread = per-pixel std across models
- :func:`load_models` -> :class:`LoadedModel` (model + ``model.json`` metadata)

Inputs are pre-processed the way each model's ``model.json`` says and resampled to the
pixel size the model was trained at (:func:`rescale_factor`). Tiled, blended and
volume inference come later. Importing this package imports torch.
"""
from __future__ import annotations

from microseg.infer.config import InferConfig
from microseg.infer.predict import (
    LoadedModel, as_image_array, load_models, predict_ensemble, predict_image, predict_probs, rescale_factor,
)

__all__ = ["InferConfig", "LoadedModel", "load_models", "predict_image", "predict_ensemble", "predict_probs",
           "as_image_array", "rescale_factor"]
