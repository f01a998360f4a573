"""Prediction with one model or an ensemble, whole or in tiles, with test-time augmentation.

A model is used the way its ``model.json`` says: the ``preprocessing`` record of its
metadata (:func:`microseg.data.preprocessing_spec`: median filter, then normalisation)
is applied to the image before the forward pass, and the boundary probability is the
sigmoid of the final logits. Padding to the network's multiple is done by the model.

Whole image or tiles (``tile_size``): ``None`` or 0 runs the whole image in one forward
pass (after estimating the memory it needs and refusing, with what to do, when it does
not fit); an integer cuts it into overlapping tiles of that size, batched and blended
with a Gaussian (or cosine) window (:func:`microseg.infer.tiling.predict_tiled`);
``"auto"`` tiles images with a side over 1024 px (:func:`~microseg.infer.tiling.resolve_tile_size`).
Every model of an ensemble sees the same batch of tiles in one pass
(:class:`~microseg.infer.runner.EnsembleRunner`). A tile is pre-processed as part of its
whole image: normalised with the whole image's statistics and median-filtered with a
margin of its neighbours (:class:`~microseg.infer.prepare.PreparedImage`), so tiled and
whole-image predictions differ only by what the network sees near a tile's rim.
Models that differ in pre-processing, input channels or pixel size get one pass each.

Test-time augmentation (``tta``): ``"flip"`` averages the 4 flips, ``True`` or
``"dihedral"`` the 8 flips and quarter turns; each prediction is transformed back before
the probabilities are averaged. ``precision``: ``"fp32"`` (default), ``"bf16"``/``"fp16"``
autocast (fp16 and "auto" reduced precision on CUDA GPUs only; bf16 on the CPU when asked).

Pixel size: a model records the pixel size it was trained at (``pixel_size_um``). An
image at another pixel size (seed 000 applies 15 nm/px SE models to 27 nm/px BSE images)
is resampled to the model's pixel size before the forward pass and the probability is
resampled back to the image's grid (``rescale=False`` turns this off), so a boundary is
as many pixels wide as the network learned it and grains are as many pixels across. In
tiles, each tile is resampled (:class:`Resampled`: bilinear, anti-aliased when shrinking)
and its output resampled back before blending, so memory stays a few tiles at any size;
the tile size is then counted on the model's grid. (The pre-processing is done on the
image's grid there; a whole-image pass resamples the image first.)

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
>>> tiled = predict_image(Half(), np.random.rand(70, 45), tile_size=32, tta="flip")
>>> tiled.shape, float(tiled.max())
((70, 45), 0.5)
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from microseg._util import InputError
from microseg.infer._model import LoadedModel, as_loaded
from microseg.infer.prepare import match_channels

logger = logging.getLogger(__name__)


def load_models(paths: Sequence[str | os.PathLike]) -> list[LoadedModel]:
    """Load model folders (``model.safetensors`` + ``model.json``, :func:`microseg.models.load_model`)
    and ONNX files (``*.onnx`` from ``microseg export``, :func:`microseg.infer.onnx.load_onnx`)."""
    from microseg.infer.onnx import load_path

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = [load_path(p) for p in paths]
    if not out:
        raise InputError("no model given; pass one or more model folders")
    return out


def _as_loaded(models: Any) -> list[LoadedModel]:
    from microseg.infer.onnx import load_path

    return as_loaded(models, load=load_path)


def as_loaded_models(models: Any) -> list[LoadedModel]:
    """Models in any form the ``predict_*`` functions take, as :class:`LoadedModel` (folders
    and ONNX files read once): a module (or any callable returning logits), a ``(module,
    metadata)`` pair, a LoadedModel, a model folder, an ``.onnx`` file, or a list of them.

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
    from microseg.data.samples import scaled_float32
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
    data = scaled_float32(data)
    return np.ascontiguousarray(data[None] if data.ndim == 2 else data)


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


def check_options(*, device: str | torch.device = "auto", tile_size: int | str | None = None,
                  overlap: float = 0.25, batch_size: int = 4, tta: bool | str | None = False,
                  window: str = "gaussian", precision: str = "fp32") -> dict:
    """The prediction options checked and resolved, before anything is read or run.

    Raises :class:`~microseg._util.InputError` naming the option (``device="cuda"`` without
    a GPU, fp16 on the CPU, a negative overlap, ...).

    Examples
    --------
    >>> o = check_options(device="cpu", tile_size="auto", tta=True)
    >>> o["device"], o["tile_size"], o["tta"], o["precision"]
    (device(type='cpu'), 'auto', 'dihedral', 'fp32')
    """
    from microseg._util import look_up_option
    from microseg._validate import check_int
    from microseg.infer.runner import resolve_device, resolve_precision, resolve_tta
    from microseg.infer.tiling import AUTO_TILE, WINDOWS, overlap_px, resolve_tile_size

    dev = resolve_device(device)
    resolve_precision(precision, dev)
    tile = resolve_tile_size(tile_size, (1, 1))   # checks the value; "auto" is decided per image
    auto = isinstance(tile_size, str)
    overlap_px(AUTO_TILE if auto else tile or 2**31, overlap)
    return {"device": dev, "tile_size": "auto" if auto else tile,
            "overlap": overlap, "batch_size": check_int(batch_size, "batch_size", low=1),
            "tta": resolve_tta(tta), "window": look_up_option(window, WINDOWS, what="blend window"),
            "precision": str(precision).lower()}


def _check_finite(x: np.ndarray) -> None:
    bad = x.size - int(np.count_nonzero(np.isfinite(x)))
    if bad:
        what = "only NaN or infinite values" if bad == x.size else f"{bad} NaN or infinite values"
        raise InputError(f"the image contains {what} (of {x.size}); predict needs finite pixel values: fill "
                         "or crop the missing ones first")


def _groups(loaded: list[LoadedModel], preprocess: bool | dict, pixel_size: float | None, rescale: bool,
            channels: int) -> list[tuple[float, dict | None, int, list[int]]]:
    """Models that see the same input: (rescale factor, preprocessing, in_channels, model indices)."""
    groups: dict[str, tuple[float, dict | None, int, list[int]]] = {}
    for i, m in enumerate(loaded):
        f = rescale_factor(pixel_size, m.metadata.get("pixel_size_um")) if rescale else 1.0
        spec = preprocess if isinstance(preprocess, dict) else (m.preprocessing if preprocess else None)
        in_ch = int(getattr(m.model, "in_channels", channels))
        context = int((m.metadata.get("input") or {}).get("context", 0) or 0)
        if context and channels != in_ch:
            raise InputError(f"model {m.name!r} is a 2.5D model (context {context}: it takes slices z-{context}..z+"
                             f"{context} of a stack as its {in_ch} channels); predict stacks with microseg volume, "
                             f"or give it {in_ch}-channel images")
        key = json.dumps([f, spec, in_ch], sort_keys=True, default=str)
        groups.setdefault(key, (f, spec or None, in_ch, []))[3].append(i)
    return list(groups.values())


def _predict_group(members: list[LoadedModel], x: Any, *, factor: float, spec: dict | None,
                   in_channels: int, options: dict, pixel_size: float | None, channels_last: bool | None,
                   progress: bool, out: Any = None) -> np.ndarray:
    """``(len(members), H, W)`` probabilities of models that share their input.

    ``x``: ``(C, H, W)`` float32, an array or a :class:`~microseg.infer.prepare.ChannelsFirst`
    view read by regions (tiled prediction only); ``out``: where the result goes, band by
    band (see :func:`~microseg.infer.tiling.predict_tiled`), a new array by default.
    """
    from microseg.data import apply_preprocessing
    from microseg.infer.prepare import PreparedImage, check_whole_image_memory
    from microseg.infer.runner import EnsembleRunner, tta_transforms
    from microseg.infer.tiling import predict_tiled, resolve_tile_size

    shape = tuple(int(n) for n in x.shape[1:])
    if factor != 1.0:
        logger.info("%s: image at %.4g µm/px resampled by %.3g to the model's %.4g µm/px",
                    members[0].name, pixel_size, factor, members[0].metadata.get("pixel_size_um"))
    names = [m.name for m in members]

    def runner_at(precision: str) -> EnsembleRunner:
        return EnsembleRunner([m.model for m in members], names=names, device=options["device"],
                              precision=precision, tta=options["tta"], channels_last=channels_last)

    scaled = shape if factor == 1.0 else tuple(max(1, int(round(n * factor))) for n in shape)
    tile = resolve_tile_size(options["tile_size"], scaled)   # on the model's grid
    precision = options["precision"]
    if tile is None:
        with runner_at("fp32") as probe_runner:   # the models in eval mode on their device
            check_whole_image_memory(probe_runner.models, scaled, in_channels=in_channels,
                                     device=probe_runner.device, tta_transforms=len(tta_transforms(options["tta"])))
        x = np.asarray(x[:, :, :]) if not isinstance(x, np.ndarray) else x
        x = _resample(x, scaled) if factor != 1.0 else x
        x = match_channels(x, in_channels, name=names[0])
        if spec:
            x = apply_preprocessing(x, spec)
        if precision == "auto":
            precision = _auto_precision(runner_at, x[None], options, names[0])
        with runner_at(precision) as runner:
            result = _whole(runner, x)
        if factor != 1.0:
            result = np.clip(_resample(result, shape), 0.0, 1.0)
        if out is None:
            return result
        out[:, :, :] = result
        return out
    view = PreparedImage(x, in_channels=in_channels, spec=spec, name=names[0])
    if factor != 1.0:   # each tile resampled to the model's grid and its output back (never the whole image)
        tile = max(16, int(round(tile / factor)))
    if precision == "auto":
        th, tw = min(tile, shape[0]), min(tile, shape[1])
        probe = view[:, 0:th, 0:tw][None]
        precision = _auto_precision(lambda p: runner_at(p) if factor == 1.0 else _ResampledRunner(runner_at(p), factor),
                                    probe, options, names[0])
    with runner_at(precision) as runner:
        if factor == 1.0:
            align, pad_mode = _alignment(runner.models)
            predictor = runner
        else:
            align, pad_mode, predictor = 1, "reflect", Resampled(runner, factor)
        return predict_tiled(predictor, view, tile_size=tile, overlap=options["overlap"],
                             batch_size=options["batch_size"], window=options["window"],
                             out=out, out_channels=len(members), align=align, pad_mode=pad_mode,
                             progress=progress)


def _auto_precision(runner_at: Any, probe: np.ndarray, options: dict, name: str) -> str:
    """``precision="auto"``: fp32, or the fast reduced dtype where it leaves the probe's masks as they are."""
    from microseg.infer.precision import calibrate

    def predictor(precision: str):
        def run(batch: np.ndarray) -> np.ndarray:
            with runner_at(precision) as r:
                return r(batch)
        return run

    return calibrate(predictor, probe, device=options["device"], name=name)


class _ResampledRunner:
    """A runner's context with :class:`Resampled` around it (for the precision probe)."""

    def __init__(self, runner: Any, factor: float) -> None:
        self.runner, self.factor = runner, factor

    def __enter__(self) -> Resampled:
        return Resampled(self.runner.__enter__(), self.factor)

    def __exit__(self, *exc: Any) -> None:
        self.runner.__exit__(*exc)


class Resampled:
    """A tile predictor run on the model's pixel grid: each batch ``(B, C, h, w)`` is resampled
    by ``factor`` (bilinear, anti-aliased when shrinking), predicted, and its output resampled
    back to ``(h, w)``.

    Examples
    --------
    >>> double = Resampled(lambda b: b[:, :1] * 0 + b.shape[-1], 2.0)   # reports the width it sees
    >>> out = double(np.zeros((1, 1, 8, 10), np.float32))
    >>> out.shape, float(out.max())
    ((1, 1, 8, 10), 20.0)
    """

    def __init__(self, predict: Any, factor: float) -> None:
        self.predict, self.factor = predict, float(factor)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch.nn.functional as F

        h, w = batch.shape[-2:]
        size = (max(1, int(round(h * self.factor))), max(1, int(round(w * self.factor))))
        x = F.interpolate(torch.from_numpy(np.ascontiguousarray(batch, np.float32)), size=size,
                          mode="bilinear", align_corners=False, antialias=self.factor < 1)
        y = self.predict(x.numpy())
        y = torch.as_tensor(np.asarray(y, np.float32) if not isinstance(y, torch.Tensor) else y).float()
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False,
                             antialias=self.factor > 1).numpy()


def _alignment(models: Sequence[Any]) -> tuple[int, str]:
    """Tile alignment of an ensemble (the least common multiple of the models' ``pad_multiple``)
    and how to pad a tile past the image's end the way the networks pad a whole image."""
    import math

    align = 1
    for m in models:
        align = math.lcm(align, max(1, int(getattr(m, "pad_multiple", 1) or 1)))
    modes = {getattr(m, "pad_mode", "reflect") for m in models}
    return align, "constant" if modes == {"constant"} else "reflect"


def _whole(runner: Any, x: np.ndarray) -> np.ndarray:
    """One forward pass over the whole image; running out of memory says to predict in tiles."""
    try:
        return runner(x[None])[0]
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and not isinstance(e, torch.cuda.OutOfMemoryError) \
                and "allocate" not in str(e):
            raise
        raise InputError(f"out of memory predicting the whole {x.shape[1]} x {x.shape[2]} image at once; "
                         "predict it in tiles (tile_size=512, --tile 512)") from None


def predict_probs(models: Any, image: Any, *, preprocess: bool | dict = True,
                  device: str | torch.device = "auto", pixel_size: float | None = None,
                  rescale: bool = True, tile_size: int | str | None = None, overlap: float = 0.25,
                  batch_size: int = 4, tta: bool | str | None = False, window: str = "gaussian",
                  precision: str = "fp32", channels_last: bool | None = None,
                  progress: bool = False) -> np.ndarray:
    """Probability maps of each model, ``(M, H, W)`` float32, on the image's grid.

    Parameters
    ----------
    models : module (or callable), (module, metadata), LoadedModel, model folder, or a list of them
        Models returning logits ``(N, 1, H, W)``.
    image : ndarray or microseg.io.Image
        ``(H, W)`` grey, ``(H, W, 3|4)`` RGB(A) (a grey micrograph stored as RGB counts as
        grey) or ``(C, H, W)``; see :func:`as_image_array`. Integer images are scaled by
        their dtype's range. NaN or infinite pixels are refused.
    preprocess : bool or dict
        ``True``: apply each model's ``metadata["preprocessing"]``; ``False``: the image is
        already pre-processed; a dict: this :func:`~microseg.data.preprocessing_spec`.
    device : {"auto", "cpu", "cuda"} or torch.device
        ``"cuda"`` without a GPU is an error.
    pixel_size : float, optional
        µm per pixel (default the :class:`~microseg.io.Image`'s); with each model's
        ``pixel_size_um`` it decides the resampling (see the module docstring).
    rescale : bool
        ``False`` feeds the image as it is.
    tile_size : int, "auto" or None
        None or 0: the whole image in one pass (refused when it would not fit in memory);
        an int: tiles of that size in px (on the model's grid); ``"auto"``: tiles of 512 px
        for images with a side over 1024 px.
    overlap : float
        Tile overlap, a fraction (< 1) of the tile or pixels (>= 1).
    batch_size : int
        Tiles per batch (:class:`~microseg.infer.runner.EnsembleRunner` runs a batch in one forward pass on a GPU, one 512² tile at a time on the CPU).
    tta : bool or {"none", "flip", "dihedral"}
        Test-time augmentation: 4 flips, or (``True``) the 8 flips and quarter turns.
    window : {"gaussian", "cosine", "constant"}
        Blending weights of the tiles.
    precision : {"fp32", "bf16", "fp16", "auto"}
        Autocast dtype; see :func:`microseg.infer.runner.resolve_precision`.
    channels_last : bool, optional
        Run torch modules in channels-last memory format (default: yes).
    progress : bool
        A progress bar over the tiles.
    """
    options = check_options(device=device, tile_size=tile_size, overlap=overlap, batch_size=batch_size, tta=tta,
                            window=window, precision=precision)
    loaded = _as_loaded(models)
    x = as_image_array(image)
    _check_finite(x)
    if pixel_size is None:
        pixel_size = getattr(image, "pixel_size", None)
    probs = np.empty((len(loaded), *x.shape[1:]), np.float32)
    for factor, spec, in_ch, idx in _groups(loaded, preprocess, pixel_size, rescale, x.shape[0]):
        probs[idx] = _predict_group([loaded[i] for i in idx], x, factor=factor, spec=spec, in_channels=in_ch,
                                    options=options, pixel_size=pixel_size, channels_last=channels_last,
                                    progress=progress)
    return probs


def predict_image(models: Any, image: Any, *, preprocess: bool | dict = True,
                  device: str | torch.device = "auto", pixel_size: float | None = None,
                  rescale: bool = True, **options: Any) -> np.ndarray:
    """Boundary (or phase) probability of an image; the mean over several models.

    Parameters
    ----------
    models, image, preprocess, device, pixel_size, rescale
        See :func:`predict_probs`.
    **options
        ``tile_size``, ``overlap``, ``batch_size``, ``tta``, ``window``, ``precision``,
        ``channels_last``, ``progress``: see :func:`predict_probs`.

    Returns
    -------
    ndarray of float32, shape (H, W), values in [0, 1]
    """
    return predict_probs(models, image, preprocess=preprocess, device=device, pixel_size=pixel_size,
                         rescale=rescale, **options).mean(axis=0)


def predict_ensemble(models: Any, image: Any, *, preprocess: bool | dict = True,
                     device: str | torch.device = "auto", pixel_size: float | None = None,
                     rescale: bool = True, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean probability of an ensemble and its per-pixel spread (standard deviation).

    Every model sees the same tiles in one pass (``**options`` as in :func:`predict_probs`:
    ``tile_size``, ``overlap``, ``batch_size``, ``tta``, ...). Seed 000 *sums* the fold
    models' maps; the sum is ``len(models) * mean``, so a threshold ``t`` on the sum is
    ``t / len(models)`` on the mean returned here.

    Returns
    -------
    (mean_prob, spread) : ndarrays of float32, shape (H, W)
        ``spread`` is the population standard deviation across models (0 for identical
        models): the uncertainty map.
    """
    probs = predict_probs(models, image, preprocess=preprocess, device=device, pixel_size=pixel_size,
                          rescale=rescale, **options)
    p64 = probs.astype(np.float64)  # float64: identical models give exactly zero spread
    return p64.mean(axis=0).astype(np.float32), p64.std(axis=0).astype(np.float32)
