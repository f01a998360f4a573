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

Images of more than :data:`STREAM_PIXELS` pixels given as files, with an ``output``
folder, never enter memory whole: they are read region by region and their outputs written
band by band into the run's temporary folder (:func:`microseg.infer.stream.predict_ensemble_to`,
the mask thinned band by band), moved into place with the other outputs when all are
done; their items in the result read those files lazily
(:class:`~microseg.io.lazy.LazyImage`: ``item.prob[r0:r1, c0:c1]``, ``np.asarray(item.prob)``).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._util import progress as _progress
from microseg._validate import check_fraction
from microseg.tasks._base import PerImage, Staging, TaskResult, Writer, check_outputs, copy_writer
from microseg.tasks._inputs import (
    Input, as_inputs, config_writer, expand_images, region_readable_pixels, section_config,
)

log = logging.getLogger(__name__)

__all__ = ["predict", "PredictResult", "PredictedImage", "STREAM_PIXELS"]

#: Image files of more than this many pixels are predicted region by region into their
#: output files when an output folder is given (memory then does not grow with the image).
STREAM_PIXELS = 4096 * 4096


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
    grains : dict or None
        With ``grains=True``: the summary of its grains (``summary.json`` of
        :func:`microseg.tasks.grains`).
    folder : Path or None
        Where its files were written, when the prediction was given an ``output``: then
        ``prob``, ``mask`` and ``spread`` are those files, memory-mapped
        (:func:`tifffile.memmap`) or, for images written band by band, read by regions
        (:class:`~microseg.io.lazy.LazyImage`: ``item.prob[r0:r1, c0:c1]``, ``np.asarray(item.prob)``).
    counted : dict
        ``positive`` (mask pixels), ``pixels`` and ``spread_mean``, for items with a ``folder``
        (counted while they were written).
    """

    name: str
    source: str
    prob: Any
    mask: Any
    spread: Any = None
    pixel_size: float | None = None
    grains: dict | None = None
    folder: Any = None
    counted: dict | None = None
    grains_result: Any = field(default=None, repr=False, compare=False)   #: in memory, to be written

    @property
    def positive_fraction(self) -> float:
        if self.counted is not None:
            return self.counted["positive"] / max(self.counted["pixels"], 1)
        return float(np.count_nonzero(self.mask)) / max(self.mask.size, 1)

    @property
    def spread_mean(self) -> float | None:
        """Mean of the spread map (None for one model)."""
        if self.counted is not None:
            return self.counted["spread_mean"]
        return None if self.spread is None else float(self.spread.mean())

    def output_names(self) -> list[str]:
        return _names(self.name, several=self.spread is not None or bool(self.counted and
                                                                         self.counted["spread_mean"] is not None),
                      grains=self.grains is not None)

    def files(self) -> list[tuple[str, Writer]]:
        """The ``(name, writer)`` pairs of this image's outputs."""
        from microseg import io

        if self.folder is not None:   # written already: copies of the files
            return [(name, copy_writer(self.folder / name)) for name in self.output_names()]
        px = self.pixel_size
        out: list[tuple[str, Writer]] = [
            (f"{self.name}_prob.tif", lambda p: io.write_prob(p, self.prob, pixel_size=px, force=True)),
            (f"{self.name}_mask.tif", lambda p: io.write_image(p, self.mask, pixel_size=px, force=True))]
        if self.spread is not None:
            spread = np.clip(self.spread, 0.0, 1.0)
            out.append((f"{self.name}_spread.tif", lambda p: io.write_prob(p, spread, pixel_size=px, force=True)))
        if self.grains_result is not None:
            out.append((f"{self.name}_grains", lambda p: self.grains_result.write(p)))
        return out


def _grains_text(item: PredictedImage) -> str:
    g = item.grains
    if g is None:
        return ""
    unit = "µm" if g.get("pixel_size_um") else "px"
    mean = g.get(f"mean_ecd_{'um' if unit == 'µm' else 'px'}")
    return f", {g['n_grains']} grains" + ("" if mean is None else f" (mean ECD {mean:.3g} {unit})")


def _names(stem: str, *, several: bool, grains: bool) -> list[str]:
    return ([f"{stem}_prob.tif", f"{stem}_mask.tif"] + ([f"{stem}_spread.tif"] if several else [])
            + ([f"{stem}_grains"] if grains else []))


def _output_names(inputs: list[Input], *, several: bool, grains: bool = False) -> list[str]:
    return [name for i in inputs for name in _names(i.name, several=several, grains=grains)]


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
                            "spread_mean": i.spread_mean} for i in self.images]}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """One row per image: image, positive_fraction, spread_mean (NaN for one model)."""
        return {"image": np.array([i.name for i in self.images], dtype=str),
                "positive_fraction": np.array([i.positive_fraction for i in self.images], dtype=np.float64),
                "spread_mean": np.array([np.nan if i.spread_mean is None else i.spread_mean
                                         for i in self.images], dtype=np.float64)}

    @property
    def text(self) -> str:
        n = len(self.models)
        return "\n".join(f"{i.source}: {n} model(s), positive fraction {i.positive_fraction:.4f}{_grains_text(i)} -> "
                         f"{', '.join(i.output_names())}" for i in self.images)

    def files(self) -> list[tuple[str, Writer]]:
        out: list[tuple[str, Writer]] = []
        for item in self.images:
            out += item.files()
        if self.config is not None:
            out.append(("config.yaml", config_writer("infer", self.config)))
        return out


def predict(models: Any, images: Any, *, pixel_size: float | None = None, device: str = "auto",
            rescale: bool = True, threshold: float | None = None, thin: bool = True,
            tile_size: int | str | None = None, overlap: float | None = None, batch_size: int | None = None,
            tta: bool | str | None = None, precision: str | None = None, backend: str | None = None,
            grains: bool = False, config: Any = None, dask: str | None = None, workers: int | None = None,
            output: str | os.PathLike | None = None, force: bool = False, progress: bool = False) -> PredictResult:
    """Predict probability maps with one model or an ensemble (what ``microseg predict`` does).

    Parameters
    ----------
    models : model folder, ONNX file, torch module, (module, metadata), LoadedModel, or a list of them
        Folders hold ``model.safetensors`` + ``model.json`` (training writes ``best/`` and
        ``last/``); ``.onnx`` files come from ``microseg export``; see
        :func:`microseg.infer.load_models`.
    images : path, folder, glob pattern, ndarray, microseg.io.Image, or a list of them
        2D images: grey, RGB/RGBA or grey stored as RGB, as training reads them. A folder
        stands for the images in it, a pattern (``"scans/*.tif"``) for the files it matches
        (:func:`~microseg.tasks._inputs.expand_images`). Outputs are named by the file's
        stem; arrays without a name are ``image0``, ``image1``, ...
    pixel_size : float, optional
        µm per pixel of the images (default: read from the file); an image at another pixel
        size than a model was trained at is resampled to it and the result back (tile by
        tile when tiled).
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
    tile_size : int, "auto" or 0, optional
        ``"auto"`` (the default, else the config's ``infer.tile``): tiles of 512 px for
        images with a side over 1024 px (on the model's grid), the whole image otherwise;
        an int: tiles of that size; 0: every image whole (refused, saying so, when it would
        not fit in memory).
    overlap : float, optional
        Tile overlap: a fraction (< 1) of the tile or pixels (>= 1); default 0.25.
    batch_size : int, optional
        Tiles per batch (a GPU runs a batch in one forward pass, the CPU one 512² tile at a time); default 4.
    tta : bool or {"none", "flip", "dihedral"}, optional
        Test-time augmentation: the 4 flips, or (``True``) the 8 flips and quarter turns,
        each undone before the probabilities are averaged; default none.
    precision : {"auto", "fp32", "bf16", "fp16"}, optional
        ``auto`` (default): fp32, or bf16/fp16 autocast on a CUDA GPU or a CPU with bf16
        units (AMX, AVX512-BF16) where a probe tile's masks differ from fp32's by at most
        0.002 in IoU and F1 (:mod:`microseg.infer.precision`); ``fp32``; ``bf16``/``fp16``
        autocast as asked (fp16 on CUDA only; bf16 on a CPU without bf16 units is slow).
    backend : {"torch", "onnx"}, optional
        ``"onnx"``: model folders are exported to ONNX in memory (checked against PyTorch)
        and run by onnxruntime (about 2x faster on a CPU, ``benchmarks/bench_onnx.py``);
        ``.onnx`` files need it (they choose it when not given). Default ``"torch"``.
    grains : bool
        Also measure the grains of each prediction (:func:`microseg.tasks.grains` of the
        mean probability at ``threshold``, with the config's ``grains`` section): written
        as the folder ``<stem>_grains``; ``item.grains`` holds its summary.
    config : path, Config or InferConfig, optional
        A run configuration whose ``infer`` section gives the options not given here (a
        YAML file is read for that section, and for ``grains``); the resolved section is
        written with the outputs as ``config.yaml`` (only when a config is given, so that
        several runs may write their images into one folder).
    dask : str, optional
        ``"local"``: one task per image on a :class:`distributed.LocalCluster` of ``workers``
        single-threaded processes (default one per core); an address (``tcp://host:8786``):
        on that scheduler, whose workers must see the files. Each worker loads the models
        once; the masks equal this process's bit for bit, the probabilities within one float32
        step on a few pixels (a worker runs PyTorch on one thread; :mod:`microseg.tasks._dask`).
    workers : int, optional
        Workers of the local cluster.
    output : path, optional
        Folder to write the result to (checked first; each image's files are written into
        a temporary folder inside it as soon as they are made, and all are moved into place
        at the end, or none). The result's arrays are then the written files, memory-mapped
        (or read by regions, for images of more than :data:`STREAM_PIXELS` px).
    force : bool
        Overwrite existing outputs.
    progress : bool
        A progress bar: over the images, or over the tiles of one image.

    Returns
    -------
    PredictResult
        The mean probability, mask and (several models) spread of each image, from
        :func:`microseg.infer.predict_ensemble`.
    """
    from microseg.infer.config import InferConfig
    from microseg.infer.predict import check_options
    from microseg.infer.runner import resolve_tta

    given = {"threshold": None if threshold is None else check_fraction(threshold, "threshold", what="a probability"),
             "tile": 0 if tile_size is not None and not tile_size else tile_size, "overlap": overlap,
             "batch": batch_size, "tta": None if tta is None else resolve_tta(tta),
             "precision": None if precision is None else str(precision).lower(),
             "backend": None if backend is None else str(backend).lower()}
    d = InferConfig()   # the given options checked under their own names first
    check_options(device=device, tile_size=d.tile if tile_size is None else tile_size,
                  overlap=d.overlap if overlap is None else overlap, batch_size=d.batch if batch_size is None
                  else batch_size, tta=given["tta"] or d.tta, precision=given["precision"] or d.precision)
    cfg = section_config(config, "infer", **given)
    options = check_options(device=device, tile_size=cfg.tile or None, overlap=cfg.overlap, batch_size=cfg.batch,
                            tta=cfg.tta, precision=cfg.precision)   # a bad option or a missing GPU before anything is read
    run = {"tile_size": options["tile_size"], "overlap": cfg.overlap, "batch_size": options["batch_size"],
           "tta": options["tta"], "precision": options["precision"]}
    inputs = as_inputs(expand_images(images), stacks=False)
    names = _output_names(inputs, several=_count(models) > 1, grains=grains)
    names += ["config.yaml"] if config is not None else []
    if output is not None:   # before the models are loaded
        check_outputs(output, names, force=force)
    spec = _JobSpec(models, backend=backend, cfg=cfg, device=device, pixel_size=pixel_size, rescale=rescale,
                    thin=thin, run=run, progress=progress and len(inputs) == 1 and dask is None,
                    grains=section_config(config, "grains") if grains else None,
                    resolved_device=str(options["device"]))
    job = spec.build()
    cfg = job.cfg
    settings = {"threshold": cfg.threshold, "thin": job.thinned, "device": str(device), "rescale": bool(rescale),
                "backend": cfg.backend, **run}
    resolved = None if config is None else cfg
    model_names = tuple(m.name for m in job.loaded)
    if output is None:
        if dask is None:
            bar = _progress(inputs, enabled=progress and len(inputs) > 1, desc="predict", total=len(inputs))
            items = tuple(job.measured(job.in_memory(inp)) for inp in bar)
        else:
            items = _on_dask(spec, inputs, None, dask=dask, workers=workers, progress=progress)
        return PredictResult(items, models=model_names, settings=settings, config=resolved)
    with Staging(output, names, force=force) as staging:
        if dask is None:
            bar = _progress(inputs, enabled=progress and len(inputs) > 1, desc="predict", total=len(inputs))
            items = tuple(_one(job, inp, staging) for inp in bar)
        else:
            items = _on_dask(spec, inputs, staging, dask=dask, workers=workers, progress=progress)
        staging.write(PredictResult((), config=resolved).files())
    items = tuple(_opened(i, staging.folder) for i in items)
    return PredictResult(items, models=model_names, settings=settings, config=resolved)


def _one(job: _Job, inp: Input, staging: Staging | None) -> PredictedImage:
    """One image: in memory (no staging), or into its files in ``staging`` (region by region when large)."""
    if staging is None:
        return job.measured(job.in_memory(inp))
    return job.into(staging, inp) if _streams(inp) else job.written(staging, job.in_memory(inp))


def _on_worker(inp: Input, *, spec: _JobSpec, staging: Staging | None) -> PredictedImage:
    """:func:`_one` on a dask worker; the worker builds the run's job (loads the models) once."""
    from microseg._util import process_cached

    return _one(process_cached(spec.key, spec.build), inp, staging)


def _on_dask(spec: _JobSpec, inputs: list[Input], staging: Staging | None, *, dask: str, workers: int | None,
             progress: bool) -> tuple[PredictedImage, ...]:
    """Every image as one task on a dask cluster (:mod:`microseg.tasks._dask`), in input order."""
    from microseg.tasks._dask import dask_client, map_inputs

    with dask_client(dask, workers=workers) as client:
        return tuple(map_inputs(client, _on_worker, inputs, names=[i.name for i in inputs], progress=progress,
                                desc="predict", spec=spec, staging=staging))


def _streams(inp: Input) -> bool:
    """Whether ``inp`` is a TIFF file (read by regions) of more than :data:`STREAM_PIXELS` pixels."""
    return region_readable_pixels(inp) > STREAM_PIXELS


def _opened(item: PredictedImage, folder: Any) -> PredictedImage:
    """A written item with its committed files opened: memory-mapped, or read by regions."""
    from pathlib import Path

    folder = Path(folder)

    def opened(kind: str) -> Any:
        path = folder / f"{item.name}_{kind}.tif"
        return _open_output(path) if path.exists() else None

    return dataclasses.replace(item, prob=opened("prob"), mask=opened("mask"), spread=opened("spread"),
                               folder=folder, grains_result=None)


def _open_output(path: Any) -> Any:
    """An output file as a read-only memory map (uncompressed, contiguous) or a LazyImage (tiled)."""
    import warnings

    import tifffile

    from microseg import io

    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:   # tiled (written band by band): read by regions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # outputs of an image without a pixel size
            return io.open_image(path)


@dataclass(frozen=True)
class _JobSpec:
    """What a :class:`_Job` is made of, picklable: a dask worker builds the job from it once."""

    models: Any
    backend: str | None
    cfg: Any
    device: Any
    pixel_size: float | None
    rescale: bool
    thin: bool
    run: dict
    progress: bool
    grains: Any = None
    resolved_device: str = "cpu"   #: the device ``device`` resolved to (``"auto"`` -> cpu or cuda)
    key: str = field(default_factory=lambda: os.urandom(8).hex())

    def build(self) -> _Job:
        """Load the models (on the backend asked) and decide the thinning."""
        from microseg.infer.onnx import as_backend
        from microseg.infer.predict import as_loaded_models

        cfg = self.cfg
        loaded = as_loaded_models(self.models)
        if self.backend is None and any(type(m.model).__name__ == "OnnxModel" for m in loaded):
            cfg = dataclasses.replace(cfg, backend="onnx")   # an ONNX file names its backend
        loaded = as_backend(loaded, cfg.backend, device=self.resolved_device)
        thinned = bool(self.thin) and all(m.metadata.get("thin") for m in loaded)
        return _Job(loaded, pixel_size=self.pixel_size, device=self.device, rescale=self.rescale,
                    threshold=cfg.threshold, thinned=thinned, run=self.run, progress=self.progress,
                    grains=self.grains, cfg=cfg)


@dataclass
class _Job:
    """The models and settings of one ``predict`` call, applied to one input at a time."""

    loaded: list
    pixel_size: float | None
    device: Any
    rescale: bool
    threshold: float
    thinned: bool
    run: dict
    progress: bool
    grains: Any = None   #: the grains section, when the grains are measured
    cfg: Any = None      #: the resolved infer section

    def in_memory(self, inp: Input) -> PredictedImage:
        """Predict an input whole in memory (tiles blended into arrays)."""
        from microseg.infer import predict_ensemble

        image = inp.read(pixel_size=self.pixel_size)
        try:
            prob, spread = predict_ensemble(self.loaded, image, device=self.device, pixel_size=image.pixel_size,
                                            rescale=self.rescale, progress=self.progress, **self.run)
        except InputError as e:   # the image's fault (NaN, too large to predict whole): name it
            raise InputError(f"{inp.source}: {e}") from None
        mask = prob >= self.threshold
        if self.thinned:
            from microseg.data import thin_boundaries

            mask = thin_boundaries(mask)
        item = PredictedImage(inp.name, inp.source, prob, mask.astype(np.uint8),
                              spread if len(self.loaded) > 1 else None, pixel_size=image.pixel_size)
        log.debug("%s: %d model(s), positive fraction %.4f", inp.source, len(self.loaded), item.positive_fraction)
        return item

    def measured(self, item: PredictedImage) -> PredictedImage:
        """``item`` with its grains measured (when asked), held to be written."""
        if self.grains is None:
            return item
        from microseg.io import Image

        result = self.grains_of(Image(item.prob, pixel_size=item.pixel_size, source=item.source))
        return dataclasses.replace(item, grains=result.summary, grains_result=result)

    def grains_of(self, prob: Any) -> Any:
        """:func:`microseg.tasks.grains` of a prediction (an Image or its file)."""
        from microseg.tasks._grains import grains

        try:
            return grains(prob, threshold=self.threshold, config=self.grains)
        except InputError as e:
            raise InputError(f"grains of the prediction: {e}") from None

    def written(self, staging: Staging, item: PredictedImage) -> PredictedImage:
        """Write an in-memory item's files into ``staging`` now; keep only what was counted."""
        item = self.measured(item)
        for name, writer in item.files():
            writer(staging.path(name))
        counted = {"positive": int(np.count_nonzero(item.mask)), "pixels": int(item.mask.size),
                   "spread_mean": item.spread_mean}
        return PredictedImage(item.name, item.source, None, None, pixel_size=item.pixel_size, grains=item.grains,
                              counted=counted)

    def into(self, staging: Staging, inp: Input) -> PredictedImage:
        """Predict an image file region by region into its output files in ``staging``."""
        from microseg import io
        from microseg.infer.stream import predict_ensemble_to, thin_in_bands

        image = io.open_image(inp.item, pixel_size=self.pixel_size, as_gray=False)
        shape, px = image.shape[:2], image.pixel_size
        run = {**self.run, "tile_size": self.run["tile_size"] or "auto"}
        mask_path = staging.tmp / f".{inp.name}_unthinned.tif" if self.thinned else staging.path(f"{inp.name}_mask.tif")
        writers = [io.open_prob_writer(staging.path(f"{inp.name}_prob.tif"), shape, pixel_size=px),
                   io.open_image_writer(mask_path, shape, np.uint8, pixel_size=px)]
        if len(self.loaded) > 1:
            writers.append(io.open_prob_writer(staging.path(f"{inp.name}_spread.tif"), shape, pixel_size=px))
        try:
            counted = predict_ensemble_to(self.loaded, image, prob=writers[0], mask=writers[1],
                                          spread=writers[2] if len(writers) > 2 else None,
                                          threshold=self.threshold, device=self.device, pixel_size=px,
                                          rescale=self.rescale, scratch=staging.tmp, progress=self.progress, **run)
        except BaseException as e:
            for w in writers:
                w.abort()
            if isinstance(e, InputError) and not str(e).startswith(str(inp.item)):
                raise InputError(f"{inp.source}: {e}") from None
            raise
        for w in writers:
            w.close()
        if self.thinned:
            unthinned = io.open_image(mask_path, pixel_size=px or 1.0)
            with io.open_image_writer(staging.path(f"{inp.name}_mask.tif"), shape, np.uint8, pixel_size=px) as w:
                counted["positive"] = thin_in_bands(unthinned, w)
            mask_path.unlink()
        summary = None
        if self.grains is not None:
            result = self.grains_of(staging.path(f"{inp.name}_prob.tif"))
            result.write(staging.path(f"{inp.name}_grains"))
            summary = result.summary
        log.info("%s: predicted region by region into its files (%d x %d px)", inp.source, *shape)
        return PredictedImage(inp.name, inp.source, None, None, pixel_size=px, grains=summary, counted=counted)


def _count(models: Any) -> int:
    """How many models ``models`` names, without loading them (a list, or one model)."""
    if isinstance(models, (list, tuple)) and not (len(models) == 2 and isinstance(models[1], dict)):
        return len(models)
    return 1
