"""``predict``: boundary (or phase) probability of whole images with one model or an ensemble.

What ``microseg predict`` does, in one call: load the models once, predict every image
with :func:`microseg.infer.predict_ensemble` (each model's pre-processing, resampled to
the pixel size it was trained at; large images in blended tiles that every model of the
ensemble sees in one pass, optionally with test-time augmentation), threshold the mean
probability and, for models trained on thinned labels, thin the mask to the 1-px form of
the label.

Files (``write``, all or none): ``<stem>_prob.tif`` (mean probability, with the pixel
size), ``<stem>_mask.tif`` and, with several models, ``<stem>_spread.tif`` (per-pixel
standard deviation across the models).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._util import progress as _progress
from microseg._validate import check_fraction
from microseg.tasks._base import PerImage, TaskResult, Writer, check_outputs
from microseg.tasks._inputs import Input, as_inputs, config_writer, section_config

log = logging.getLogger(__name__)

__all__ = ["predict", "PredictResult", "PredictedImage"]


@dataclass(frozen=True)
class PredictedImage:
    """The prediction of one image.

    Attributes
    ----------
    name, source : str
        The stem of its outputs; the path given (or the name of an in-memory array).
    prob : ndarray of float32, (H, W)
        Mean probability over the models.
    mask : ndarray of uint8, (H, W)
        ``prob >= threshold`` (thinned to 1 px for models trained on thinned labels).
    spread : ndarray of float32, (H, W), or None
        Per-pixel standard deviation across the models; None for one model.
    pixel_size : float or None
        µm per pixel of the image (stored with the outputs).
    """

    name: str
    source: str
    prob: np.ndarray
    mask: np.ndarray
    spread: np.ndarray | None = None
    pixel_size: float | None = None

    @property
    def positive_fraction(self) -> float:
        return float(np.count_nonzero(self.mask)) / max(self.mask.size, 1)

    def files(self) -> list[tuple[str, Writer]]:
        """The ``(name, writer)`` pairs of this image's outputs."""
        from microseg import io

        px = self.pixel_size
        out: list[tuple[str, Writer]] = [
            (f"{self.name}_prob.tif", lambda p: io.write_prob(p, self.prob, pixel_size=px, force=True)),
            (f"{self.name}_mask.tif", lambda p: io.write_image(p, self.mask, pixel_size=px, force=True))]
        if self.spread is not None:
            spread = np.clip(self.spread, 0.0, 1.0)
            out.append((f"{self.name}_spread.tif", lambda p: io.write_prob(p, spread, pixel_size=px, force=True)))
        return out


def _output_names(inputs: list[Input], *, several: bool) -> list[str]:
    names = []
    for i in inputs:
        names += [f"{i.name}_prob.tif", f"{i.name}_mask.tif"] + ([f"{i.name}_spread.tif"] if several else [])
    return names


@dataclass(frozen=True)
class PredictResult(PerImage, TaskResult):
    """What :func:`predict` found: one :class:`PredictedImage` per input, and with what.

    ``result.images`` in input order; ``result["name"]`` by output stem; ``result.prob``,
    ``result.mask`` and ``result.spread`` when there is one image.
    """

    _done = "predicted"

    images: tuple[PredictedImage, ...]
    models: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)
    config: Any = None   #: the resolved ``infer`` section, when a config was given (``config.yaml``)

    @property
    def spread(self) -> np.ndarray | None:
        return self._single().spread

    @property
    def summary(self) -> dict:
        """The models, the settings, and per image its positive fraction and mean spread."""
        return {"models": list(self.models), **self.settings,
                "images": [{"name": i.name, "source": i.source, "positive_fraction": i.positive_fraction,
                            "spread_mean": None if i.spread is None else float(i.spread.mean())}
                           for i in self.images]}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """One row per image: image, positive_fraction, spread_mean (NaN for one model)."""
        return {"image": np.array([i.name for i in self.images], dtype=str),
                "positive_fraction": np.array([i.positive_fraction for i in self.images], dtype=np.float64),
                "spread_mean": np.array([np.nan if i.spread is None else float(i.spread.mean())
                                         for i in self.images], dtype=np.float64)}

    @property
    def text(self) -> str:
        n = len(self.models)
        return "\n".join(f"{i.source}: {n} model(s), positive fraction {i.positive_fraction:.4f} -> "
                         f"{', '.join(name for name, _ in i.files())}" for i in self.images)

    def files(self) -> list[tuple[str, Writer]]:
        out: list[tuple[str, Writer]] = []
        for item in self.images:
            out += item.files()
        if self.config is not None:
            out.append(("config.yaml", config_writer("infer", self.config)))
        return out


def predict(models: Any, images: Any, *, pixel_size: float | None = None, device: str = "auto",
            rescale: bool = True, threshold: float | None = None, thin: bool = True,
            tile_size: int | str | None = "auto", overlap: float = 0.25, batch_size: int = 4,
            tta: bool | str | None = False, precision: str = "fp32", config: Any = None,
            output: str | os.PathLike | None = None, force: bool = False,
            progress: bool = False) -> PredictResult:
    """Predict probability maps with one model or an ensemble (what ``microseg predict`` does).

    Parameters
    ----------
    models : model folder, torch module, (module, metadata), LoadedModel, or a list of them
        Folders hold ``model.safetensors`` + ``model.json`` (training writes ``best/`` and
        ``last/``); see :func:`microseg.infer.load_models`.
    images : path, ndarray, microseg.io.Image, or a list of them
        2D images: grey, RGB/RGBA or grey stored as RGB, as training reads them. Outputs are
        named by the file's stem; arrays without a name are ``image0``, ``image1``, ...
    pixel_size : float, optional
        µm per pixel of the images (default: read from the file); an image at another pixel
        size than a model was trained at is resampled to it and the result back.
    device : {"auto", "cpu", "cuda"}
    rescale : bool
        ``False``: feed the images as they are (no resampling to the models' pixel size).
    threshold : float, optional
        The mask is ``mean probability >= threshold``; default the config's
        ``infer.threshold``, else 0.5.
    thin : bool
        For boundary models trained with ``train.thin`` (every model's metadata says
        ``thin``): write the mask as its 1-px skeleton, the form of the label. ``False``:
        the band the network draws.
    tile_size : int, "auto", 0 or None
        ``"auto"`` (default): tiles of 512 px for images with a side over 1024 px (on the
        model's grid), the whole image otherwise; an int: tiles of that size; 0 or None:
        every image whole (refused, saying so, when it would not fit in memory).
    overlap : float
        Tile overlap: a fraction (< 1) of the tile or pixels (>= 1).
    batch_size : int
        Tiles per forward pass.
    tta : bool or {"none", "flip", "dihedral"}
        Test-time augmentation: the 4 flips, or (``True``) the 8 flips and quarter turns,
        each undone before the probabilities are averaged.
    precision : {"fp32", "bf16", "fp16", "auto"}
        ``fp32`` (default); reduced-precision autocast: fp16 (CUDA only), bf16 (CUDA, or
        the CPU when asked), ``auto`` (bf16/fp16 on a CUDA GPU, fp32 on the CPU).
    config : path, Config or InferConfig, optional
        A run configuration whose ``infer`` section gives the options not given here (a
        YAML file is read for that section only); the resolved section is written with the
        outputs as ``config.yaml`` (only when a config is given, so that several runs may
        write their images into one folder).
    output : path, optional
        Folder to write the result to (checked first, written last, all files or none).
    force : bool
        Overwrite existing outputs.
    progress : bool
        A progress bar over the images.

    Returns
    -------
    PredictResult
        The mean probability, mask and (several models) spread of each image, from
        :func:`microseg.infer.predict_ensemble`.
    """
    from microseg.infer import predict_ensemble
    from microseg.infer.predict import as_loaded_models, check_options

    cfg = section_config(config, "infer", threshold=None if threshold is None
                         else check_fraction(threshold, "threshold", what="a probability"))
    threshold = cfg.threshold
    options = check_options(device=device, tile_size=tile_size, overlap=overlap, batch_size=batch_size, tta=tta,
                            precision=precision)   # a bad option or a missing GPU before anything is read
    run = {"tile_size": options["tile_size"], "overlap": overlap, "batch_size": options["batch_size"],
           "tta": options["tta"], "precision": options["precision"]}
    inputs = as_inputs(images, stacks=False)
    if output is not None:   # before the models are loaded
        check_outputs(output, _output_names(inputs, several=_count(models) > 1)
                      + (["config.yaml"] if config is not None else []), force=force)
    loaded = as_loaded_models(models)
    several = len(loaded) > 1
    thinned = bool(thin) and all(m.metadata.get("thin") for m in loaded)
    items = []
    for inp in _progress(inputs, enabled=progress, desc="predict", total=len(inputs)):
        image = inp.read(pixel_size=pixel_size)
        try:
            prob, spread = predict_ensemble(loaded, image, device=device, pixel_size=image.pixel_size,
                                            rescale=rescale, **run)
        except InputError as e:   # the image's fault (NaN, too large to predict whole): name it
            raise InputError(f"{inp.source}: {e}") from None
        mask = prob >= threshold
        if thinned:
            from microseg.data import thin_boundaries

            mask = thin_boundaries(mask)
        items.append(PredictedImage(inp.name, inp.source, prob, mask.astype(np.uint8),
                                    spread if several else None, pixel_size=image.pixel_size))
        log.debug("%s: %d model(s), positive fraction %.4f", inp.source, len(loaded), items[-1].positive_fraction)
    result = PredictResult(tuple(items), models=tuple(m.name for m in loaded),
                           settings={"threshold": threshold, "thin": thinned, "device": str(device),
                                     "rescale": bool(rescale), **run},
                           config=None if config is None else cfg)
    if output is not None:
        result.write(output, force=force)
    return result


def _count(models: Any) -> int:
    """How many models ``models`` names, without loading them (a list, or one model)."""
    if isinstance(models, (list, tuple)) and not (len(models) == 2 and isinstance(models[1], dict)):
        return len(models)
    return 1
