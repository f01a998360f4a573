"""``segment``: images or stacks -> probability and mask maps with a classical method.

What ``microseg segment`` does, in one call: build the classical segmenter (Otsu, Sauvola,
ridge, gradient; :mod:`microseg.classic`), optionally tune its parameters on labelled
images first, segment every image (a ``(Z, Y, X)`` stack slice by slice, with its phase
fraction per slice), and keep it all in one :class:`SegmentResult`.

Files (``write``, all or none): ``<stem>_prob.tif`` and ``<stem>_mask.tif`` per image,
``<stem>_phase_fraction.csv`` per stack, ``tune.csv`` when tuned, ``segment.json``.

A 2D image file of more than :data:`STREAM_PIXELS` pixels, with an output folder given, is
segmented band by band straight into its two files (read region by region with
:func:`microseg.io.open_image`, run tile by tile by
:meth:`microseg.classic.ClassicSegmenter.predict`, written by tiled TIFF writers inside the
run's :class:`~microseg.tasks._base.Staging` folder), so memory does not grow with the image;
its :class:`SegmentedImage` then holds lazy images of the written files instead of arrays.
The files are all or none as for the others.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._util import progress as _progress
from microseg.io import LazyImage
from microseg.tasks._base import PerImage, Staging, TaskResult, Writer, check_outputs, copy_writer
from microseg.tasks._inputs import Input, as_inputs, region_readable_pixels

log = logging.getLogger(__name__)

__all__ = ["segment", "SegmentResult", "SegmentedImage", "STREAM_PIXELS", "STREAM_TILE"]

#: A 2D image file with more pixels than this is segmented band by band into its output files
#: (when an output folder is given); smaller ones, arrays and stacks are segmented in memory.
STREAM_PIXELS = 4096 * 4096
#: Tile edge (px) of a streamed image (:meth:`microseg.classic.ClassicSegmenter.predict`).
STREAM_TILE = 1024

#: Methods that find boundaries (filter scales ``sigma``/``sigmas``, optional thinning);
#: the others are intensity thresholds (``window_size``, ``k``, ``sigma``).
_BOUNDARY_METHODS = ("ridge", "gradient")
#: Methods without a polarity option.
_NO_POLARITY = ("gradient",)


@dataclass(frozen=True)
class SegmentedImage:
    """One segmented image or stack.

    Attributes
    ----------
    name : str
        The stem of its outputs (``<name>_prob.tif`` ...).
    source : str
        The path given, or the name of an in-memory array.
    prob : ndarray of float32, (Y, X) or (Z, Y, X), or LazyImage
        The method's probability; ``prob >= 0.5`` is its decision. For an image segmented
        band by band (:data:`STREAM_PIXELS`): a :class:`~microseg.io.LazyImage` of the
        written ``<name>_prob.tif`` (``prob[r0:r1, c0:c1]`` reads a region).
    mask : ndarray of uint8, same shape, or LazyImage
        ``prob >= 0.5`` as 0/1 (a LazyImage of ``<name>_mask.tif`` when streamed).
    pixel_size, slice_spacing : float or None
        In µm, as read (or given); stored with the outputs.
    phase_fraction : ndarray of float64, (Z,), or None
        For a stack: the positive fraction of each slice (inside the area mask when one
        is given); None for a 2D image.
    positive_fraction : float
        Positive fraction of the whole image or stack (inside the area mask).
    """

    name: str
    source: str
    prob: np.ndarray
    mask: np.ndarray
    pixel_size: float | None = None
    slice_spacing: float | None = None
    phase_fraction: np.ndarray | None = None
    positive_fraction: float = float("nan")

    @property
    def is_stack(self) -> bool:
        return self.phase_fraction is not None

    @property
    def streamed(self) -> bool:
        """Whether the maps were written band by band (prob and mask are lazy images of files)."""
        return isinstance(self.prob, (LazyImage, _Staged))

    @property
    def phase_fraction_summary(self) -> dict | None:
        """Mean, std, min, max of the per-slice phase fraction (stacks only)."""
        if self.phase_fraction is None:
            return None
        f = self.phase_fraction[np.isfinite(self.phase_fraction)]
        if not f.size:
            return {"mean": None, "std": None, "min": None, "max": None, "n_slices": 0}
        return {"mean": float(f.mean()), "std": float(f.std()), "min": float(f.min()),
                "max": float(f.max()), "n_slices": int(f.size)}

    @property
    def line(self) -> str:
        """One line for a person: the source, its positive (phase) fraction, its files."""
        files = " -> " + ", ".join(name for name, _ in self.files())
        if self.is_stack:
            s = self.phase_fraction_summary
            if not s["n_slices"]:
                return f"{self.source}: {len(self.phase_fraction)} slices, no slice inside the mask{files}"
            return (f"{self.source}: {len(self.phase_fraction)} slices, phase fraction "
                    f"{s['mean']:.4f} ± {s['std']:.4f}{files}")
        return f"{self.source}: positive fraction {self.positive_fraction:.4f}{files}"

    def files(self) -> list[tuple[str, Writer]]:
        """The ``(name, writer)`` pairs of this image's outputs."""
        from microseg import io

        name, px = self.name, self.pixel_size
        table = []
        if self.is_stack:
            rows = "slice,phase_fraction\n" + "".join(f"{z},{f:.6f}\n" for z, f in enumerate(self.phase_fraction))
            table = [(f"{name}_phase_fraction.csv", lambda p: p.write_text(rows, encoding="utf-8"))]
        if self.streamed:   # already on disk (too large for memory, or written by a dask worker): copied
            return [(f"{name}_prob.tif", lambda p: copy_writer(self.prob.path)(p)),
                    (f"{name}_mask.tif", lambda p: copy_writer(self.mask.path)(p)), *table]
        if self.is_stack:
            return [
                (f"{name}_prob.tif", lambda p: io.write_stack(p, self.prob, pixel_size=px,
                                                              slice_spacing=self.slice_spacing, force=True)),
                (f"{name}_mask.tif", lambda p: io.write_stack(p, self.mask, pixel_size=px,
                                                              slice_spacing=self.slice_spacing, force=True)),
                *table,
            ]
        return [(f"{name}_prob.tif", lambda p: io.write_prob(p, self.prob, pixel_size=px, force=True)),
                (f"{name}_mask.tif", lambda p: io.write_image(p, self.mask, pixel_size=px, force=True))]


@dataclass(frozen=True)
class _Staged:
    """A map written band by band into the run's staging folder, not yet moved into place."""

    path: Path


def _output_names(inputs: list[Input], *, tuned: bool) -> list[str]:
    names = []
    for i in inputs:
        names += [f"{i.name}_prob.tif", f"{i.name}_mask.tif"]
        names += [f"{i.name}_phase_fraction.csv"] if i.stack else []
    return names + (["tune.csv"] if tuned else []) + ["segment.json"]


@dataclass(frozen=True)
class SegmentResult(PerImage, TaskResult):
    """What :func:`segment` found: one :class:`SegmentedImage` per input, and how.

    ``result.images`` in input order; ``result["name"]`` by output stem; ``result.prob`` and
    ``result.mask`` when there is one image. ``tuned`` is the
    :class:`~microseg.classic.TuneResult` when the parameters were tuned.
    """

    _done = "segmented"

    images: tuple[SegmentedImage, ...]
    segmenter: dict = field(default_factory=dict)
    tuned: Any = None
    tuned_on: str | None = None
    area: str | None = None

    @property
    def summary(self) -> dict:
        """``segment.json``: the segmenter's settings, the images, the tuning, the fractions."""
        tuned = None if self.tuned is None else {"on": self.tuned_on, "metric": self.tuned.metric,
                                                 "score": self.tuned.score, "params": self.tuned.params}
        return {"segmenter": self.segmenter, "images": [i.source for i in self.images], "tuned": tuned,
                "mask": self.area,
                "results": [{"name": i.name, "positive_fraction": i.positive_fraction,
                             "phase_fraction": i.phase_fraction_summary} for i in self.images]}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """One row per 2D image and per slice of a stack: image, slice, positive_fraction."""
        names, slices, fractions = [], [], []
        for i in self.images:
            per = i.phase_fraction if i.is_stack else np.array([i.positive_fraction])
            names += [i.name] * len(per)
            slices += list(range(len(per)))
            fractions += list(per)
        return {"image": np.array(names, dtype=str), "slice": np.array(slices, dtype=np.int64),
                "positive_fraction": np.array(fractions, dtype=np.float64)}

    @property
    def text(self) -> str:
        lines = [i.line for i in self.images]
        if self.tuned is not None:
            lines.insert(0, f"tuned {self.tuned.method} on {self.tuned_on}: {self.tuned.params}, "
                            f"{self.tuned.metric} {self.tuned.score:.3f}")
        return "\n".join(lines)

    def files(self) -> list[tuple[str, Writer]]:
        from microseg.io import write_json

        out: list[tuple[str, Writer]] = []
        for item in self.images:
            out += item.files()
        if self.tuned is not None:
            out.append(("tune.csv", lambda p: p.write_text(_tune_csv(self.tuned.table), encoding="utf-8")))
        out.append(("segment.json", lambda p: write_json(p, self.summary, force=True)))
        return out


def _tune_csv(table: list[dict]) -> str:
    keys = list(dict.fromkeys(k for row in table for k in row if k not in ("scores", "error")))
    rows = [",".join(keys)] + [",".join(str(row.get(k, "")).replace(",", ";") for k in keys) for row in table]
    return "\n".join(rows) + "\n"


def segmenter_options(method: str, *, polarity: str | None = None, window_size: int | None = None,
                      k: float | None = None, sigma: float | None = None, sigmas: Any = None,
                      thin: bool = False, tuning: bool = False) -> dict[str, Any]:
    """The options of ``classic.build(method, ...)`` from the flags of ``microseg segment``.

    ``polarity`` defaults to ``"dark"`` unless the parameters are tuned (then the tuning
    chooses it unless given); options that do not apply to ``method`` are an error.
    """
    method = method.lower()
    options: dict[str, Any] = {}
    if method not in _NO_POLARITY and (polarity or not tuning):
        options["polarity"] = polarity or "dark"
    given = {"window_size": window_size, "k": k, "sigma": sigma,
             "sigmas": None if sigmas is None else tuple(np.atleast_1d(sigmas).tolist())}
    keys = ("sigma", "sigmas") if method in _BOUNDARY_METHODS else ("window_size", "k", "sigma")
    options.update({key: given[key] for key in keys if given[key] is not None})
    if method in _BOUNDARY_METHODS and thin:
        options["thin"] = True
    ignored = [key for key in ("window_size", "k", "sigmas") if given[key] is not None and key not in keys]
    if ignored:
        flags = ", ".join(f"{key} (--{key.replace('_', '-')})" for key in ignored)
        raise InputError(f"{flags}: do(es) not apply to method {method!r}; "
                         f"{method} takes {', '.join(keys)}")
    return options


def _area(mask: Any) -> tuple[np.ndarray | None, str | None]:
    """The area mask as bool, and what to call it in messages and in segment.json."""
    from microseg import io
    from microseg._validate import as_area_mask

    if mask is None:
        return None, None
    if isinstance(mask, (str, os.PathLike)):
        return io.read_mask(mask), str(mask)
    return as_area_mask(np.asarray(getattr(mask, "data", mask)), "mask"), "array"


def _segment_one(segmenter: Any, inp: Input, *, area: np.ndarray | None, area_name: str | None,
                 pixel_size: float | None, progress: bool) -> SegmentedImage:
    from microseg.grains import phase_fraction_per_slice

    image = inp.read(pixel_size=pixel_size)
    data = np.asarray(image.data)
    colour = not inp.stack and data.ndim == 3
    shape = data.shape[:2] if colour else data.shape
    if area is not None and area.shape not in (tuple(shape), tuple(shape[-2:])):
        raise InputError(f"{area_name}: the mask has shape {area.shape} but {inp.source} has shape "
                         f"{tuple(shape)}; it must cover the same pixels (a (Y, X) mask serves every slice)")
    if inp.stack:
        if data.ndim != 3:
            raise InputError(f"{inp.source}: a stack must be (Z, Y, X); got shape {data.shape}")
        slices = _progress(range(data.shape[0]), enabled=progress, desc=f"segment {inp.name}")
        prob = np.stack([segmenter.predict(data[z]) for z in slices]).astype(np.float32, copy=False)
        mask = (prob >= 0.5).astype(np.uint8)
        fraction = phase_fraction_per_slice(mask, area=area)
        inside = np.ones(mask.shape, bool) if area is None else np.broadcast_to(area, mask.shape)
    else:
        prob = np.asarray(segmenter.predict(data), dtype=np.float32)
        mask = (prob >= 0.5).astype(np.uint8)
        fraction = None
        inside = np.ones(mask.shape, bool) if area is None else area
    n_inside = int(inside.sum())
    positive = float(np.count_nonzero(mask.astype(bool) & inside) / n_inside) if n_inside else float("nan")
    return SegmentedImage(inp.name, inp.source, prob, mask, pixel_size=image.pixel_size,
                          slice_spacing=image.slice_spacing if inp.stack else None,
                          phase_fraction=fraction, positive_fraction=positive)


def _streams(inp: Input) -> bool:
    """Whether ``inp`` is a 2D image file large enough to be segmented band by band."""
    return region_readable_pixels(inp) > STREAM_PIXELS


class _MapsWriter:
    """The ``out`` of a tiled prediction: each block of probability goes to the prob writer and,
    as ``prob >= 0.5`` in uint8, to the mask writer; positives inside the area are counted."""

    def __init__(self, shape: tuple[int, int], prob: Any, mask: Any, area: np.ndarray | None) -> None:
        self.shape = shape
        self._prob, self._mask, self._area = prob, mask, area
        self.positive = 0
        self.inside = int(np.prod(shape)) if area is None else int(np.count_nonzero(area))

    def __setitem__(self, key: tuple[slice, slice], block: np.ndarray) -> None:
        self._prob[key] = block
        mask = (np.asarray(block) >= 0.5)
        self._mask[key] = mask.astype(np.uint8)
        if self._area is not None:
            mask &= self._area[key]
        self.positive += int(np.count_nonzero(mask))

    @property
    def fraction(self) -> float:
        return self.positive / self.inside if self.inside else float("nan")


def _stream_one(segmenter: Any, inp: Input, staging: Staging, *, area: np.ndarray | None,
                area_name: str | None, pixel_size: float | None, progress: bool) -> SegmentedImage:
    """Segment the 2D image file ``inp`` tile by tile into ``<name>_prob.tif`` and ``<name>_mask.tif``
    inside ``staging`` (memory: a few tiles and bands, not the image)."""
    from microseg import io

    image = io.open_image(inp.item, pixel_size=pixel_size, as_gray=False)   # grey as classic makes it
    shape = tuple(image.shape[:2])
    if area is not None and area.shape != shape:
        raise InputError(f"{area_name}: the mask has shape {area.shape} but {inp.source} has shape "
                         f"{shape}; it must cover the same pixels (a (Y, X) mask serves every slice)")
    px = image.pixel_size
    log.info("%s: %d x %d px, segmented band by band into %s", inp.source, shape[0], shape[1], staging.folder)
    prob_path, mask_path = staging.path(f"{inp.name}_prob.tif"), staging.path(f"{inp.name}_mask.tif")
    with io.open_prob_writer(prob_path, shape, pixel_size=px) as prob, \
            io.open_image_writer(mask_path, shape, np.uint8, pixel_size=px) as mask:
        out = _MapsWriter(shape, prob, mask, area)
        segmenter.predict(image, tile_size=STREAM_TILE, out=out, progress=progress)
    return SegmentedImage(inp.name, inp.source, _Staged(prob_path), _Staged(mask_path), pixel_size=px,
                          positive_fraction=out.fraction)


def _opened(item: SegmentedImage, folder: Path) -> SegmentedImage:
    """A streamed item with lazy images of its files where they were moved to."""
    if not item.streamed:
        return item
    from microseg import io

    open_ = io.open_stack if item.is_stack else io.open_image
    with warnings.catch_warnings():   # no pixel size: said when the input was read
        warnings.simplefilter("ignore", UserWarning)
        prob, mask = (open_(folder / f"{item.name}_{kind}.tif", pixel_size=item.pixel_size)
                      for kind in ("prob", "mask"))
    return dataclasses.replace(item, prob=prob, mask=mask)


def _check_exist(inputs: list[Input]) -> None:
    from microseg.io import MissingFileError

    for inp in inputs:
        if isinstance(inp.item, (str, os.PathLike)) and not os.path.exists(inp.item):
            raise MissingFileError(f"{inp.item}: no such file or folder")


def _tune(method: str, options: dict[str, Any], tune: Any, *, positive: Any, metric: str, progress: bool):
    """The method's parameters chosen on the labelled images of ``tune``."""
    from microseg import classic
    from microseg.data import load_samples

    samples = load_samples(tune, channels=1, positive=positive)
    result = classic.tune(method, [s.image[0] for s in samples], [s.target() for s in samples],
                          metric=metric, options=options, progress=progress)
    log.info("tuned %s on %d labelled image(s): %s, %s %.3f", method, len(samples), result.params,
             result.metric, result.score)
    return result


def segment(images: Any, *, method: str = "sauvola", polarity: str | None = None,
            window_size: int | None = None, k: float | None = None, sigma: float | None = None,
            sigmas: Any = None, thin: bool = False, pixel_size: float | None = None, mask: Any = None,
            tune: Any = None, positive: Any = "blue", tune_metric: str = "iou", dask: str | None = None,
            workers: int | None = None, output: str | os.PathLike | None = None, force: bool = False,
            progress: bool = False) -> SegmentResult:
    """Segment images or stacks with a classical method (what ``microseg segment`` does).

    Parameters
    ----------
    images : path, ndarray, microseg.io.Image, or a list of them
        2D images (grey or colour) or ``(Z, Y, X)`` stacks (a multi-page TIFF of grey pages,
        a folder of slices, an Image with ``axes == "ZYX"``, a 3D array whose last axis is
        not 3 or 4), segmented slice by slice. Outputs are named by the file's stem; arrays
        without a name are ``image0``, ``image1``, ... (their place in the list).
    method : {"sauvola", "otsu", "ridge", "gradient"}
        See :func:`microseg.classic.available`.
    polarity : {"dark", "bright", "both"}, optional
        Which side of the threshold is the target (default ``"dark"``; when tuning, chosen
        by the tuning unless given). Not taken by ``gradient``.
    window_size, k : optional
        Sauvola's window (px) and k.
    sigma : float, optional
        Gaussian pre-filter in px.
    sigmas : float or sequence of float, optional
        Ridge/gradient filter scales in px.
    thin : bool
        Ridge/gradient: thin the mask to 1-px lines.
    pixel_size : float, optional
        µm per pixel, stored with the outputs (default: read from the file).
    mask : path or ndarray, optional
        The area to measure (nonzero = specimen): fractions are taken inside it; a (Y, X)
        mask serves every slice of a stack.
    tune : str, path or mapping, optional
        Labelled images (what ``data.pairs`` takes: ``IMAGES_DIR:MASKS_DIR``, a pair
        folder, a CSV of image,mask): the method's parameters are chosen on them first by
        :func:`microseg.classic.tune`; options given here stay fixed.
    positive : str or int
        With ``tune``: the positive class of the masks (:func:`microseg.data.check_positive_class`).
    tune_metric : {"iou", "f1", "bf_f1"}
        With ``tune``: the score to maximise.
    dask : str, optional
        ``"local"``: one task per image (stacks included) on a :class:`distributed.LocalCluster`
        of ``workers`` processes; an address: on that scheduler, whose workers must see the
        files. Each worker writes its image's files into the run's temporary folder; the
        outputs equal this process's (:mod:`microseg.tasks._dask`).
    workers : int, optional
        Workers of the local cluster.
    output : path, optional
        Folder to write the result to (checked first, written last, all files or none). A 2D
        image file of more than :data:`STREAM_PIXELS` pixels is then segmented band by band
        into its files (memory independent of its size); its item in the result holds lazy
        images of them. Without ``output`` every image is segmented in memory.
    force : bool
        Overwrite existing outputs.
    progress : bool
        Progress bars (tuning, slices).

    Returns
    -------
    SegmentResult

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((32, 32)); image[8:16] = 1.0
    >>> result = segment(image, method="otsu", polarity="bright")
    >>> result.images[0].name, int(result.mask.sum()), result.images[0].positive_fraction
    ('image0', 256, 0.25)
    """
    from microseg import classic

    inputs = as_inputs(images)
    options = segmenter_options(method, polarity=polarity, window_size=window_size, k=k, sigma=sigma,
                                sigmas=sigmas, thin=thin, tuning=tune is not None)
    segmenter = classic.build(method.lower(), **options)   # bad options fail before anything is read
    if output is not None:
        check_outputs(output, _output_names(inputs, tuned=tune is not None), force=force)
    area, area_name = _area(mask)
    tuned = None
    if tune is not None:
        _check_exist(inputs)                    # before the tuning's work, not after it
        tuned = _tune(segmenter.method, options, tune, positive=positive, metric=tune_metric,
                      progress=progress)
        segmenter = tuned.build()
    each = {"area": area, "area_name": area_name, "pixel_size": pixel_size, "progress": progress}
    how = {"segmenter": segmenter.describe(), "tuned": tuned,
           "tuned_on": None if tune is None else str(tune), "area": area_name}
    streams = [output is not None and _streams(inp) for inp in inputs]
    if dask is None and not any(streams):
        result = SegmentResult(tuple(_segment_one(segmenter, inp, **each) for inp in inputs), **how)
        if output is not None:
            result.write(output, force=force)
        return result
    if output is None:   # dask, in memory: each image's arrays come back from its worker
        return SegmentResult(_on_dask(segmenter, inputs, None, each, dask=dask, workers=workers,
                                      progress=progress), **how)
    with Staging(output, _output_names(inputs, tuned=tune is not None), force=force) as staging:
        if dask is None:
            items = tuple(_one(segmenter, inp, staging, each) for inp in inputs)
        else:
            items = _on_dask(segmenter, inputs, staging, each, dask=dask, workers=workers, progress=progress)
        staging.write(SegmentResult(items, **how).files())   # the staged maps are already there
    return SegmentResult(tuple(_opened(item, staging.folder) for item in items), **how)


def _one(segmenter: Any, inp: Input, staging: Staging | None, each: dict) -> SegmentedImage:
    """One input: streamed into its files when large, else in memory (into ``staging`` on a dask worker)."""
    if staging is not None and _streams(inp):
        return _stream_one(segmenter, inp, staging, **each)
    return _segment_one(segmenter, inp, **each)


def _on_worker(inp: Input, *, segmenter: Any, staging: Staging | None, each: dict) -> SegmentedImage:
    """:func:`_one` on a dask worker; an in-memory item's files are written into ``staging`` there."""
    item = _one(segmenter, inp, staging, {**each, "progress": False})
    if staging is None or item.streamed:
        return item
    for name, writer in item.files():
        writer(staging.path(name))
    return dataclasses.replace(item, prob=_Staged(staging.path(f"{item.name}_prob.tif")),
                               mask=_Staged(staging.path(f"{item.name}_mask.tif")))


def _on_dask(segmenter: Any, inputs: list[Input], staging: Staging | None, each: dict, *, dask: str,
             workers: int | None, progress: bool) -> tuple[SegmentedImage, ...]:
    """Every input as one task on a dask cluster (:mod:`microseg.tasks._dask`), in input order."""
    from microseg.tasks._dask import dask_client, map_inputs

    with dask_client(dask, workers=workers) as client:
        return tuple(map_inputs(client, _on_worker, inputs, names=[i.name for i in inputs], progress=progress,
                                desc="segment", segmenter=segmenter, staging=staging, each=each))
