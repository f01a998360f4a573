"""Whole-image prediction with one model or an ensemble (tiling comes later).

A model is used the way its ``model.json`` says: the ``preprocessing`` record of its
metadata (:func:`microseg.data.preprocessing_spec`: median filter, then normalisation)
is applied to the image before the forward pass, and the boundary probability is the
sigmoid of the final logits. Padding to the network's multiple is done by the model.

Pixel size: a model records the pixel size it was trained at (``pixel_size_um``). An
image at another pixel size (seed 000 applies 15 nm/px SE models to 27 nm/px BSE images)
is resampled to the model's pixel size before the forward pass and the probability is
resampled back to the image's grid (``rescale=False`` turns this off), so a boundary is
as many pixels wide as the network learned it and grains are as many pixels across.

Examples
--------
>>> import numpy as np, torch
>>> class Half(torch.nn.Module):
...     def forward(self, x):
...         return torch.zeros_like(x[:, :1])
>>> prob = predict_image(Half(), np.random.rand(20, 30))
>>> prob.shape, float(prob.max())
((20, 30), 0.5)
>>> mean, spread = predict_ensemble([Half(), Half()], np.random.rand(8, 8))
>>> float(spread.max())
0.0
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from microseg._util import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model with the metadata of its ``model.json`` and where it came from."""

    model: torch.nn.Module
    metadata: dict = field(default_factory=dict)
    name: str = "model"

    @property
    def preprocessing(self) -> dict | None:
        return self.metadata.get("preprocessing")


def load_models(paths: Sequence[str | os.PathLike]) -> list[LoadedModel]:
    """Load model folders (``model.safetensors`` + ``model.json``) with :func:`microseg.models.load_model`."""
    from microseg.models import load_model

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        model, meta = load_model(p)
        out.append(LoadedModel(model, dict(meta), Path(p).name))
    if not out:
        raise InputError("no model given; pass one or more model folders")
    return out


def _as_loaded(models: Any) -> list[LoadedModel]:
    if isinstance(models, (LoadedModel, torch.nn.Module, str, os.PathLike)) or (
            isinstance(models, tuple) and len(models) == 2 and isinstance(models[0], torch.nn.Module)
            and isinstance(models[1], dict)):
        models = [models]
    out = []
    for m in models:
        if isinstance(m, LoadedModel):
            out.append(m)
        elif isinstance(m, torch.nn.Module):
            out.append(LoadedModel(m, {}, type(m).__name__))
        elif isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], torch.nn.Module):
            out.append(LoadedModel(m[0], dict(m[1] or {}), type(m[0]).__name__))
        elif isinstance(m, (str, os.PathLike)):
            out += load_models([m])
        else:
            raise InputError(f"models must be modules, (module, metadata) pairs, LoadedModel or model "
                             f"folders; got {type(m).__name__}")
    if not out:
        raise InputError("models is empty; give at least one model")
    return out


def as_loaded_models(models: Any) -> list[LoadedModel]:
    """Models in any form the ``predict_*`` functions take, as :class:`LoadedModel` (folders
    read once): a module, a ``(module, metadata)`` pair, a LoadedModel, a model folder, or a
    list of them.

    Examples
    --------
    >>> [m.name for m in as_loaded_models([torch.nn.Identity(), (torch.nn.Identity(), {"thin": True})])]
    ['Identity', 'Identity']
    """
    return _as_loaded(models)


def as_image_array(image: Any) -> np.ndarray:
    """``(C, H, W)`` float32 from any image layout that training reads, or a ``(C, H, W)`` array.

    Parameters
    ----------
    image : ndarray or microseg.io.Image
        * ``(H, W)`` grey;
        * ``(H, W, C)`` with C = 2 (grey + alpha), 3 (RGB) or 4 (RGBA): an
          :class:`~microseg.io.Image` read from an RGB file (``metadata["axes"] == "YXS"``),
          or an array whose last axis has 2 to 4 entries and whose first has more than 4.
          Alpha is dropped and equal colour channels (a grey micrograph stored as RGB) become
          one grey channel, as :func:`microseg.data.load_samples` reads them;
        * ``(C, H, W)`` channels first, taken as they are.

    Returns
    -------
    ndarray of float32, shape (C, H, W)
        Integer images scaled to [0, 1] by their dtype's range, as in training; C is 1 for
        grey (and equal-channel RGB), 3 for colour. :func:`match_channels` fits it to a model.

    Raises
    ------
    InputError
        If the image is a (Z, Y, X) stack, not 2D/3D, or not numeric.

    Examples
    --------
    >>> as_image_array(np.zeros((512, 512, 3), np.uint8)).shape   # grey stored as RGB
    (1, 512, 512)
    >>> as_image_array(np.random.default_rng(0).random((40, 60, 4))).shape   # RGBA colour
    (3, 40, 60)
    >>> as_image_array(np.zeros((3, 40, 60))).shape   # channels first, as it is
    (3, 40, 60)
    """
    from microseg.io._files import collapse_equal_channels

    data = np.asarray(getattr(image, "data", image))
    axes = (getattr(image, "metadata", None) or {}).get("axes")
    if axes in ("ZYX", "ZYXS"):
        raise InputError(f"image is a (Z, Y, X) stack of {data.shape[0]} slices; predict its slices one by "
                         "one (or a volume) instead")
    if data.ndim not in (2, 3):
        raise InputError(f"image must be (H, W), (H, W, 3|4) or (C, H, W); got shape {data.shape}")
    if data.dtype.kind not in "uifb":
        raise InputError(f"image must be numeric; got dtype {data.dtype}")
    channels_last = data.ndim == 3 and (axes == "YXS" or (axes is None and 2 <= data.shape[-1] <= 4
                                                             and data.shape[0] > 4))
    if channels_last:
        grey = collapse_equal_channels(data)
        data = np.moveaxis(data[..., :3], -1, 0) if grey is None else grey
    if data.dtype.kind in "ui":
        data = data.astype(np.float32) / np.float32(np.iinfo(data.dtype).max)
    data = data.astype(np.float32, copy=False)
    return np.ascontiguousarray(data[None] if data.ndim == 2 else data)


def match_channels(x: np.ndarray, in_channels: int, *, name: str = "model") -> np.ndarray:
    """Fit a ``(C, H, W)`` image to a model taking ``in_channels``, the way training does.

    A grey image is repeated (1 → 3); a colour image for a grey model is made grey with the
    BT.709 weights of :func:`microseg.io.to_gray` (3 → 1), as ``load_samples(channels=1)``
    makes it for training.

    Examples
    --------
    >>> match_channels(np.ones((1, 2, 2), np.float32), 3).shape
    (3, 2, 2)
    >>> match_channels(np.ones((3, 2, 2), np.float32), 1).shape
    (1, 2, 2)
    """
    from microseg.io.images import GREY_WEIGHTS

    c = x.shape[0]
    if c == in_channels:
        return x
    if c == 1:
        return np.repeat(x, in_channels, axis=0)
    if c == 3 and in_channels == 1:
        grey = np.tensordot(np.asarray(GREY_WEIGHTS, np.float32), x, axes=1)
        return grey[None].astype(np.float32)
    raise InputError(f"model {name!r} takes {in_channels} channel(s); the image has {c} (as (C, H, W) "
                     f"{tuple(x.shape)}); give a grey or RGB image, or a model trained on {c} channels")


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    return torch.device(device)


#: Pixel sizes within this relative difference are taken as equal (no resampling).
RESCALE_TOLERANCE = 0.02


def rescale_factor(image_pixel_size: float | None, model_pixel_size: float | None) -> float:
    """How much to enlarge an image so that its pixels have the model's size (1.0: none).

    Examples
    --------
    >>> rescale_factor(0.027, 0.015)   # a 27 nm/px image for a 15 nm/px model: enlarge 1.8x
    1.8
    >>> rescale_factor(None, 0.015), rescale_factor(0.0151, 0.015)
    (1.0, 1.0)
    """
    if not image_pixel_size or not model_pixel_size:
        return 1.0
    f = float(image_pixel_size) / float(model_pixel_size)
    return 1.0 if abs(f - 1.0) <= RESCALE_TOLERANCE else f


def _resample(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(C, H, W)`` resampled to ``(C, *shape)``: linear, anti-aliased when shrinking."""
    from skimage.transform import resize

    shrink = shape[0] < x.shape[1] or shape[1] < x.shape[2]
    return np.stack([resize(c, shape, order=1, mode="reflect", anti_aliasing=shrink, preserve_range=True)
                     for c in x]).astype(np.float32)


@torch.no_grad()
def _forward_prob(m: LoadedModel, x: np.ndarray, *, preprocess: bool | dict, device: torch.device,
                  pixel_size: float | None = None, rescale: bool = True) -> np.ndarray:
    from microseg.data import apply_preprocessing

    f = rescale_factor(pixel_size, m.metadata.get("pixel_size_um")) if rescale else 1.0
    if f != 1.0:
        shape = x.shape[1:]
        scaled = (max(1, int(round(shape[0] * f))), max(1, int(round(shape[1] * f))))
        logger.info("%s: image at %.4g µm/px resampled by %.3g to the model's %.4g µm/px",
                    m.name, pixel_size, f, m.metadata.get("pixel_size_um"))
        prob = _forward_prob(m, _resample(x, scaled), preprocess=preprocess, device=device, rescale=False)
        return np.clip(_resample(prob[None], shape)[0], 0.0, 1.0)

    # channels first (colour to grey as training does), then the model's pre-processing
    x = match_channels(x, int(getattr(m.model, "in_channels", x.shape[0])), name=m.name)
    spec = preprocess if isinstance(preprocess, dict) else (m.preprocessing if preprocess else None)
    if spec:
        x = apply_preprocessing(x, spec)
    model = m.model
    was_training = model.training
    param = next(iter(model.parameters()), None)
    old_device = param.device if param is not None else None
    model.eval().to(device)
    try:
        out = model(torch.from_numpy(np.ascontiguousarray(x))[None].to(device))
    finally:
        model.train(was_training)
        if old_device is not None:
            model.to(old_device)
    logits = (out[-1] if isinstance(out, (list, tuple)) else out).float()
    if logits.shape[1] != 1:
        raise InputError(f"model {m.name!r} gives {logits.shape[1]} classes; whole-image prediction "
                         "supports binary (1-class) models")
    return torch.sigmoid(logits[0, 0]).cpu().numpy().astype(np.float32)


def predict_probs(models: Any, image: Any, *, preprocess: bool | dict = True,
                  device: str | torch.device = "auto", pixel_size: float | None = None,
                  rescale: bool = True) -> np.ndarray:
    """Probability maps of each model, ``(M, H, W)`` float32, on the image's grid.

    ``pixel_size`` (µm; default the :class:`~microseg.io.Image`'s) and each model's
    ``pixel_size_um`` decide the resampling (see the module docstring); ``rescale=False``
    feeds the image as it is.
    """
    loaded = _as_loaded(models)
    x = as_image_array(image)
    if pixel_size is None:
        pixel_size = getattr(image, "pixel_size", None)
    dev = _device(device)
    return np.stack([_forward_prob(m, x, preprocess=preprocess, device=dev, pixel_size=pixel_size,
                                   rescale=rescale) for m in loaded])


def predict_image(models: Any, image: Any, *, preprocess: bool | dict = True,
                  device: str | torch.device = "auto", pixel_size: float | None = None,
                  rescale: bool = True) -> np.ndarray:
    """Boundary (or phase) probability of a whole image; the mean over several models.

    Parameters
    ----------
    models : module, (module, metadata), LoadedModel, model folder, or a list of them
        Models returning logits ``(N, 1, H, W)``.
    image : ndarray or microseg.io.Image
        ``(H, W)`` grey, ``(H, W, 3|4)`` RGB(A) (a grey micrograph stored as RGB counts as
        grey) or ``(C, H, W)``; see :func:`as_image_array`. Integer images are scaled by
        their dtype's range.
    preprocess : bool or dict
        ``True``: apply each model's ``metadata["preprocessing"]``; ``False``: the image is
        already pre-processed; a dict: this :func:`~microseg.data.preprocessing_spec`.
    device : {"auto", "cpu", "cuda"} or torch.device
    pixel_size, rescale
        See :func:`predict_probs`: resampling to each model's training pixel size.

    Returns
    -------
    ndarray of float32, shape (H, W), values in [0, 1]
    """
    return predict_probs(models, image, preprocess=preprocess, device=device, pixel_size=pixel_size,
                         rescale=rescale).mean(axis=0)


def predict_ensemble(models: Any, image: Any, *, preprocess: bool | dict = True,
                     device: str | torch.device = "auto", pixel_size: float | None = None,
                     rescale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean probability of an ensemble and its per-pixel spread (standard deviation).

    Seed 000 *sums* the fold models' maps; the sum is ``len(models) * mean``, so a
    threshold ``t`` on the sum is ``t / len(models)`` on the mean returned here.

    Returns
    -------
    (mean_prob, spread) : ndarrays of float32, shape (H, W)
        ``spread`` is the population standard deviation across models (0 for identical
        models): the uncertainty map.
    """
    probs = predict_probs(models, image, preprocess=preprocess, device=device, pixel_size=pixel_size,
                          rescale=rescale)
    p64 = probs.astype(np.float64)  # float64: identical models give exactly zero spread
    return p64.mean(axis=0).astype(np.float32), p64.std(axis=0).astype(np.float32)
