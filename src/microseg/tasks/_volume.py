"""``volume``: a ``(Z, Y, X)`` stack segmented slice by slice, streamed, and measured in 3D.

What ``microseg volume STACK`` does, in one call (seed 004's 3D reconstruction):

1. open the stack lazily (:func:`microseg.io.open_stack`: a multi-page TIFF or ImageJ
   hyperstack, a folder of slices, a zarr array or OME-Zarr image), never loading it whole;
2. run every slice through the 2D path: the tiled ensemble of trained models
   (:class:`~microseg.infer.volume.learned_slice_predictor`, 2.5D with ``context``
   neighbouring slices as channels) or a classical method (Otsu, Sauvola, ...;
   :class:`~microseg.infer.volume.classic_slice_predictor`), each result slice written
   straight to ``<stem>_prob`` and ``<stem>_mask`` (OME-Zarr, chunked and compressed, or
   ImageJ TIFF) — on this process (:func:`~microseg.infer.volume.predict_volume`) or as a
   ``dask.array`` graph on a cluster (``dask=``, :func:`~microseg.infer.volume.predict_volume_dask`);
3. measure the mask as it streams (:class:`microseg.grains.VolumeStats`): the phase
   fraction of every slice with its mean ± std (seed 004's Table 2 and Fig. 6), the volume
   fraction, 3D connected components and percolation along each axis of the phase and of
   its complement; optionally a marching-cubes surface mesh (PLY or STL) and always the
   orthogonal views (XY, XZ, YZ) as a figure.

Files (all or none, inside ``output``): ``<stem>_prob.zarr`` and ``<stem>_mask.zarr`` (or
``.tif``), ``<stem>_phase_fraction.csv``, ``<stem>_phase_fraction.png``,
``<stem>_views.png``, ``<stem>_volume.json`` and, with ``mesh``, ``<stem>_mesh.ply`` (or ``.stl``).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._validate import check_fraction, check_int
from microseg.tasks._base import Staging, TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["volume", "VolumeResult", "FORMATS", "MESH_FORMATS"]

#: Formats of the probability and mask volumes.
FORMATS = ("zarr", "tiff")
#: Formats of the surface mesh.
MESH_FORMATS = ("ply", "stl")
_SUFFIX = {"zarr": ".zarr", "tiff": ".tif"}


@dataclass(frozen=True)
class VolumeResult(TaskResult):
    """What :func:`volume` made of a stack.

    Attributes
    ----------
    name, source : str
        The stem of the outputs; the stack given.
    shape : (int, int, int)
        ``(Z, Y, X)``.
    prob, mask : LazyStack or ndarray, (Z, Y, X)
        Probability (float32) and mask (uint8, 0/1): the written volumes read lazily
        (``mask[z]`` one slice) when an ``output`` was given, arrays otherwise.
    stats : dict
        :meth:`microseg.grains.VolumeStats.result`: ``per_slice`` phase fraction, the
        ``summary`` (mean, std, min, max, n_slices), ``volume_fraction``, ``components``
        and ``percolates`` of the phase (``"phase"``) and its complement (``"complement"``).
    mesh : dict or None
        Vertices, faces, area and path of the surface mesh, when asked.
    settings : dict
        How it was made (method or models, context, threshold, voxel size, dask).
    image : LazyStack
        The stack segmented (read lazily), for the orthogonal views.
    """

    name: str
    source: str
    shape: tuple[int, int, int]
    prob: Any
    mask: Any
    stats: dict
    mesh: dict | None = None
    settings: dict = field(default_factory=dict)
    image: Any = None

    @property
    def per_slice(self) -> np.ndarray:
        """Phase fraction of each slice, shape (Z,)."""
        return np.asarray(self.stats["phase"]["per_slice"], dtype=np.float64)

    @property
    def summary(self) -> dict:
        """``<stem>_volume.json``: settings, the fractions, components, percolation, the mesh."""
        stats = {name: _brief(phase) for name, phase in self.stats.items()}
        return {"name": self.name, "source": self.source, "shape": list(self.shape), **self.settings,
                "stats": stats, "mesh": self.mesh}

    @property
    def table(self) -> dict[str, np.ndarray]:
        """One row per slice: slice, phase_fraction (seed 004's Fig. 6 as numbers)."""
        per = self.per_slice
        return {"slice": np.arange(per.size, dtype=np.int64), "phase_fraction": per}

    @property
    def text(self) -> str:
        s = self.stats["phase"]["summary"]
        phase = self.stats["phase"]
        perc = ", ".join(a for a, v in phase["percolates"].items() if v) or "no axis"
        lines = [f"{self.source}: {self.shape[0]} slices of {self.shape[1]} x {self.shape[2]} px, phase fraction "
                 f"{s['mean']:.4f} ± {s['std']:.4f} per slice (min {s['min']:.4f}, max {s['max']:.4f}); volume "
                 f"fraction {phase['volume_fraction']:.4f}",
                 f"  {phase['components']['count']} connected component(s) of the phase, the largest "
                 f"{phase['components']['largest_fraction']:.1%} of it; percolates along {perc}"]
        if self.mesh:
            lines.append(f"  surface mesh: {self.mesh['faces']} triangles -> {Path(self.mesh['path']).name}")
        return "\n".join(lines)

    def files(self) -> list[tuple[str, Writer]]:
        """Only the in-memory result's files (a streamed result was written while it was made)."""
        from microseg import io

        fmt = self.settings.get("format", "zarr")
        names = _names(self.name, fmt=fmt, mesh=None)
        px, dz = self.settings.get("pixel_size_um"), self.settings.get("slice_spacing_um")

        def stack_writer(data: Any, dtype: Any) -> Writer:
            def write(path: Path) -> None:
                with io.open_stack_writer(path, self.shape, dtype, pixel_size=px, slice_spacing=dz) as w:
                    for z in range(self.shape[0]):
                        w[z] = np.asarray(data[z])
            return write

        return [(names["prob"], stack_writer(self.prob, np.float32)),
                (names["mask"], stack_writer(self.mask, np.uint8)),
                *_report_files(self, names)]


#: Component sizes kept in ``<stem>_volume.json`` (the largest first); the count is always whole.
JSON_SIZES = 100


def _brief(phase: dict) -> dict:
    """A phase's statistics for the JSON: no per-slice list (that is the CSV), the largest component sizes."""
    out = {k: v for k, v in phase.items() if k != "per_slice"}
    comps = dict(out["components"])
    for key in ("sizes_vox", "sizes_um3"):
        if key in comps:
            comps[key] = comps[key][:JSON_SIZES]
    out["components"] = comps
    return out


def _names(stem: str, *, fmt: str, mesh: str | None) -> dict[str, str]:
    names = {"prob": f"{stem}_prob{_SUFFIX[fmt]}", "mask": f"{stem}_mask{_SUFFIX[fmt]}",
             "csv": f"{stem}_phase_fraction.csv", "plot": f"{stem}_phase_fraction.png",
             "views": f"{stem}_views.png", "json": f"{stem}_volume.json"}
    if mesh:
        names["mesh"] = f"{stem}_mesh.{mesh}"
    return names


def _report_files(result: VolumeResult, names: dict[str, str]) -> list[tuple[str, Writer]]:
    """The table, the figures and the JSON of a result (the volumes and the mesh apart)."""
    from microseg.report import volume_figures

    per = result.per_slice
    rows = "slice,phase_fraction\n" + "".join(f"{z},{f:.6f}\n" for z, f in enumerate(per))
    px, dz = result.settings.get("pixel_size_um"), result.settings.get("slice_spacing_um")
    spacing = None if px is None or dz is None else (dz, px, px)
    return [
        (names["csv"], lambda p: p.write_text(rows, encoding="utf-8")),
        (names["plot"], lambda p: volume_figures.save_phase_fraction({result.name: per}, p)),
        (names["views"], lambda p: volume_figures.save_orthogonal_views(result.image, p, mask=result.mask,
                                                                        spacing=spacing, title=result.name)),
        (names["json"], lambda p: p.write_text(json.dumps(result.summary, indent=2, default=_jsonable) + "\n",
                                               encoding="utf-8")),
    ]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _stem(stack: Any) -> str:
    """The outputs' stem: ``fib.tif``, ``fib.ome.zarr``, ``fib.zarr`` and a folder ``fib/`` give ``fib``.

    >>> _stem("scans/fib.ome.zarr"), _stem("scans/fib.tif"), _stem("scans/slices/")
    ('fib', 'fib', 'slices')
    """
    if isinstance(stack, (str, os.PathLike)):
        name = Path(stack).name
        for suffix in (".zarr", ".ome", ".tiff", ".tif"):
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[:-len(suffix)]
        return name
    source = getattr(stack, "source", None)
    return _stem(source) if source else "volume"


def _predictor(models: Any, method: str | None, *, context: int | None, options: dict, device: str,
               pixel_size: float | None, segment_options: dict) -> tuple[Any, int, dict]:
    """The slice predictor, the context it runs with, and what to record of it."""
    from microseg.infer import volume as vol

    if (models is None) == (method is None):
        raise InputError("give models (-m MODEL, a trained model folder) or a classical method (--method otsu), "
                         "one of the two")
    if method is not None:
        from microseg import classic
        from microseg.tasks._segment import segmenter_options

        if context:
            raise InputError(f"--context {context}: classical methods segment single slices; the context "
                             "(neighbouring slices as channels) is for 2.5D models")
        segmenter = classic.build(method.lower(), **segmenter_options(method, **segment_options))
        return vol.classic_slice_predictor(segmenter), 0, {"method": segmenter.describe()}
    from microseg.infer.predict import as_loaded_models

    paths = models if isinstance(models, (list, tuple)) else [models]
    loaded = as_loaded_models(models)
    context = vol.check_context(loaded, context)
    by_path = all(isinstance(m, (str, os.PathLike)) for m in paths)
    use = [str(m) for m in paths] if by_path else loaded   # paths: each dask worker loads them once
    predictor = vol.learned_slice_predictor(use, device=device, pixel_size=pixel_size, **options)
    return predictor, context, {"models": [m.name for m in loaded], "context": context}


def volume(stack: Any, *, models: Any = None, method: str | None = None, context: int | None = None,
           threshold: float = 0.5, pixel_size: float | None = None, slice_spacing: float | None = None,
           polarity: str | None = None, window_size: int | None = None, k: float | None = None,
           sigma: float | None = None, tile_size: int | str | None = "auto", overlap: float = 0.25,
           tta: bool | str | None = False, device: str = "auto", fmt: str = "zarr", mesh: str | None = None,
           mesh_step: int = 1, connectivity: int = 1, dask: str | None = None, workers: int | None = None,
           chunk_slices: int = 8, output: str | os.PathLike | None = None, force: bool = False,
           progress: bool = False) -> VolumeResult:
    """Segment a ``(Z, Y, X)`` stack slice by slice and measure it in 3D (what ``microseg volume`` does).

    Parameters
    ----------
    stack : path, ndarray or microseg.io.Image
        A multi-page TIFF (ImageJ hyperstack with its voxel size), a folder of slice images,
        a zarr array or OME-Zarr image (``.zarr``), or a (Z, Y, X) array.
    models : model folder(s) or loaded models, optional
        Trained models: their mean probability through the tiled 2D path (each model's
        pre-processing and pixel size). A 2.5D model (``input.context`` = k in its
        ``model.json``) sees slices ``z - k .. z + k`` as channels.
    method : {"otsu", "sauvola", "ridge", "gradient"}, optional
        A classical method instead of models (with ``polarity``, ``window_size``, ``k``, ``sigma``).
    context : int, optional
        Neighbouring slices each side as channels; default the models' own, and it must
        match it (a 2D model refuses ``context > 0``).
    threshold : float
        Learned: the mask is ``prob >= threshold`` (classical: the method's own 0.5).
    pixel_size, slice_spacing : float, optional
        Voxel size in µm; default the stack's metadata.
    tile_size, overlap, tta, device
        The 2D path's options (:func:`microseg.infer.predict_ensemble`).
    fmt : {"zarr", "tiff"}
        Format of ``<stem>_prob`` and ``<stem>_mask``: OME-Zarr (chunked, compressed; napari,
        Fiji's N5/zarr reader, ome-zarr-py read it) or ImageJ TIFF.
    mesh : {"ply", "stl"}, optional
        Also write the phase's surface (marching cubes, in µm when the voxel size is known),
        coarsened by ``mesh_step`` voxels.
    connectivity : {1, 2, 3}
        3D connectivity of components and percolation: faces (6), edges (18), corners (26).
    dask : str, optional
        ``"local"``: a LocalCluster of ``workers`` processes; an address: that scheduler.
        The volume is then a dask.array of ``chunk_slices``-slice chunks (overlapping by
        the context), written to zarr by the workers; the masks equal this process's.
    output : path, optional
        Folder of the outputs (checked first; written as they are made inside a temporary
        folder and moved into place together at the end, or none). Without it the result
        holds arrays (the volume must then fit in memory) and nothing is written.
    force : bool
        Overwrite existing outputs.
    progress : bool
        A progress bar over the slices (over the chunks with dask).

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((4, 16, 16), np.uint8); stack[:, 4:12, 4:12] = 200
    >>> result = volume(stack, method="otsu", polarity="bright")
    >>> result.stats["phase"]["volume_fraction"], result.stats["phase"]["percolates"]["z"]
    (0.25, True)
    """
    from microseg import io

    fmt = _choice(fmt, FORMATS, "format")
    mesh = None if mesh is None else _choice(mesh, MESH_FORMATS, "mesh")
    threshold = check_fraction(threshold, "threshold", what="a probability")
    mesh_step = check_int(mesh_step, "mesh_step", low=1)
    chunk_slices = check_int(chunk_slices, "chunk_slices", low=1)
    connectivity = check_int(connectivity, "connectivity", low=1, high=3)
    stem = _stem(stack)
    names = _names(stem, fmt=fmt, mesh=mesh)
    if output is not None:
        check_outputs(output, list(names.values()), force=force)
    source = io.open_stack(stack, pixel_size=pixel_size, slice_spacing=slice_spacing)
    options = {"tile_size": tile_size, "overlap": overlap, "tta": tta}
    predictor, context, how = _predictor(
        models, method, context=context, options=options, device=device, pixel_size=source.pixel_size,
        segment_options={"polarity": polarity, "window_size": window_size, "k": k, "sigma": sigma})
    threshold = 0.5 if method is not None else threshold
    settings = {**how, "threshold": threshold, "format": fmt, "pixel_size_um": source.pixel_size,
                "slice_spacing_um": source.slice_spacing, "connectivity": connectivity,
                "dask": None if dask is None else str(dask)}
    run = _Run(source, predictor, context=context, threshold=threshold, connectivity=connectivity,
               progress=progress)
    if output is None:
        return run.in_memory(stem, settings, dask=dask, workers=workers, chunk_slices=chunk_slices)
    with Staging(output, list(names.values()), force=force) as staging:
        stats = run.streamed(staging, names, fmt=fmt, dask=dask, workers=workers, chunk_slices=chunk_slices)
        mesh_info = None
        if mesh is not None:
            mesh_info = run.mesh(staging.path(names["mask"]), staging.path(names["mesh"]), step=mesh_step)
        made = VolumeResult(stem, source.source, source.shape, None, io.open_stack(staging.path(names["mask"])),
                            stats, mesh_info, settings, source)
        staging.write(_report_files(made, names))
    return VolumeResult(stem, source.source, source.shape, io.open_stack(staging.folder / names["prob"]),
                        io.open_stack(staging.folder / names["mask"]), stats,
                        None if mesh_info is None else {**mesh_info, "path": str(staging.folder / names["mesh"])},
                        settings, source)


def _named(stats: dict) -> dict:
    """:class:`~microseg.grains.VolumeStats`' result by name: ``phase`` (1) and ``complement`` (0)."""
    return {"phase": stats[1], "complement": stats[0]}


def _choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    text = str(value).lower()
    if text not in choices:
        raise InputError(f"{what}: expected one of {', '.join(choices)}; got {value!r}")
    return text


@dataclass
class _Run:
    """A volume, its slice predictor and what to measure: run in memory, streamed, or on dask."""

    source: Any
    predictor: Any
    context: int
    threshold: float
    connectivity: int
    progress: bool

    def stats(self) -> Any:
        from microseg.grains import VolumeStats

        return VolumeStats(phases=(1, 0), connectivity=self.connectivity, spacing=self._voxel_size())

    def _voxel_size(self) -> tuple[float, float, float] | None:
        px, dz = self.source.pixel_size, self.source.slice_spacing
        return None if px is None or dz is None else (dz, px, px)

    def in_memory(self, stem: str, settings: dict, *, dask: str | None, workers: int | None,
                  chunk_slices: int) -> VolumeResult:
        z, y, x = self.source.shape
        prob = np.empty((z, y, x), np.float32)
        if dask is None:
            self._predict(prob)
        else:
            from microseg.infer.volume import predict_volume_dask
            from microseg.tasks._dask import compute, dask_client

            lazy = predict_volume_dask(self.predictor, self.source, context=self.context, chunk_slices=chunk_slices)
            with dask_client(dask, workers=workers) as client:
                blocks = compute(client, [lazy], progress=self.progress)[0]
            prob[:] = np.concatenate(blocks, axis=0)
        mask = (prob >= self.threshold).astype(np.uint8)
        stats = self.stats()
        for i in range(z):
            stats.add(i, mask[i])
        return VolumeResult(stem, self.source.source, (z, y, x), prob, mask, _named(stats.result()), None, settings,
                            self.source)

    def _predict(self, out: Any, on_slice: Any = None) -> None:
        from microseg.infer.volume import predict_volume

        predict_volume(self.predictor, self.source, out=out, context=self.context, on_slice=on_slice,
                       progress=self.progress, desc="volume")

    def streamed(self, staging: Staging, names: dict[str, str], *, fmt: str, dask: str | None,
                 workers: int | None, chunk_slices: int) -> dict:
        """Predict into the staged volume files; the statistics as they stream."""
        from microseg import io

        shape, px, dz = self.source.shape, self.source.pixel_size, self.source.slice_spacing
        stats = self.stats()
        if dask is None:
            with io.open_stack_writer(staging.path(names["prob"]), shape, np.float32, pixel_size=px,
                                      slice_spacing=dz) as prob, \
                    io.open_stack_writer(staging.path(names["mask"]), shape, np.uint8, pixel_size=px,
                                         slice_spacing=dz) as mask:
                def on_slice(z: int, p: np.ndarray) -> None:
                    m = (p >= self.threshold).astype(np.uint8)
                    mask[z] = m
                    stats.add(z, m)

                self._predict(prob, on_slice)
        else:
            self._on_dask(staging, names, stats, fmt=fmt, dask=dask, workers=workers, chunk_slices=chunk_slices)
        return _named(stats.result())

    def _on_dask(self, staging: Staging, names: dict[str, str], stats: Any, *, fmt: str, dask: str,
                 workers: int | None, chunk_slices: int) -> None:
        """The volume as a dask.array graph computed on the cluster, stored chunk by chunk in zarr.

        The statistics take the stored mask slices in order while the cluster works on later
        chunks (``stats.add`` needs slice ``z`` after slice ``z - 1``).
        """
        from microseg import io
        from microseg.infer.volume import predict_volume_dask
        from microseg.tasks._dask import compute, dask_client

        shape, px, dz = self.source.shape, self.source.pixel_size, self.source.slice_spacing
        zarr_names = names if fmt == "zarr" else {k: f".{v}.scratch.zarr" for k, v in names.items()}
        where = {k: (staging.path(zarr_names[k]) if fmt == "zarr" else staging.tmp / zarr_names[k])
                 for k in ("prob", "mask")}
        for kind, dtype in (("prob", np.float32), ("mask", np.uint8)):   # the stores, made before the work
            io.open_stack_writer(where[kind], shape, dtype, pixel_size=px, slice_spacing=dz).close()
        lazy = predict_volume_dask(self.predictor, self.source, context=self.context, chunk_slices=chunk_slices)
        stored = lazy.map_blocks(_store_block, prob_path=str(where["prob"]), mask_path=str(where["mask"]),
                                 threshold=self.threshold, dtype=np.int64, chunks=(lazy.chunks[0], (1,), (1,)))
        bounds = np.cumsum((0,) + tuple(lazy.chunks[0]))
        masks = io.open_stack(where["mask"])
        done: set[int] = set()
        measured = [0]   # chunks measured so far, in order

        def on_done(i: int, _: Any) -> None:
            done.add(i)
            while measured[0] in done:
                for z in range(bounds[measured[0]], bounds[measured[0] + 1]):
                    stats.add(z, np.asarray(masks[z]))
                measured[0] += 1

        with dask_client(dask, workers=workers) as client:
            compute(client, [stored], progress=self.progress, desc="volume chunks", what=str(self.source.source),
                    on_done=on_done)
        if fmt != "zarr":   # TIFF: the zarr the workers wrote, copied slice by slice in order
            for kind, dtype in (("prob", np.float32), ("mask", np.uint8)):
                scratch = io.open_stack(where[kind])
                with io.open_stack_writer(staging.path(names[kind]), shape, dtype, pixel_size=px,
                                          slice_spacing=dz) as w:
                    for z in range(shape[0]):
                        w[z] = np.asarray(scratch[z])
                import shutil

                shutil.rmtree(where[kind], ignore_errors=True)

    def mesh(self, mask_path: Path, mesh_path: Path, *, step: int) -> dict:
        from microseg import io
        from microseg.grains import write_mesh

        masks = io.open_stack(mask_path)
        voxel = self._voxel_size()
        info = write_mesh(masks, mesh_path, step_size=step, spacing=voxel)
        return {k: v for k, v in info.items() if k != "path"} | {"path": str(mesh_path)}


def _store_block(prob: np.ndarray, *, prob_path: str, mask_path: str, threshold: float,
                 block_info: Any = None) -> np.ndarray:
    """Write one chunk of slices into the probability and mask zarr arrays; its positives per slice."""
    import zarr

    (z0, z1), _, _ = block_info[0]["array-location"]
    mask = (prob >= threshold).astype(np.uint8)
    zarr.open_array(_level0(prob_path), mode="r+")[z0:z1] = prob
    zarr.open_array(_level0(mask_path), mode="r+")[z0:z1] = mask
    return mask.reshape(mask.shape[0], -1).sum(axis=1, dtype=np.int64).reshape(-1, 1, 1)


def _level0(path: str) -> str:
    """The array of an OME-Zarr image written by :func:`microseg.io.open_stack_writer` (its level "0")."""
    return str(Path(path) / "0")
