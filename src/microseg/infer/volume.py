"""Volumes slice by slice: the 2D path over a ``(Z, Y, X)`` stack, with neighbours as channels (2.5D).

A volume is predicted one slice at a time by a *slice predictor*: any callable from the
slices ``z - k .. z + k`` as a ``(2k + 1, Y, X)`` array (``k`` = ``context``; 2D is
``k = 0``) to the slice's ``(Y, X)`` float32 result. The learned path
(:func:`learned_slice_predictor`: an ensemble through the tiled 2D prediction) and the
classical one (:func:`classic_slice_predictor`) are both such callables, so a volume goes
through exactly the code a 2D image goes through.

Neighbours beyond the first and last slice are the edge slice repeated (``boundary=
"nearest"`` in dask's terms), so slice 0 with ``k = 1`` sees ``(0, 0, 1)``.

- :func:`predict_volume` streams: it keeps the ``2k + 1`` slices in use, writes each result
  slice to ``out[z]`` (a zarr array, a memmap, a :func:`microseg.io.open_stack_writer`) and
  hands it to ``on_slice(z, result)`` (statistics), so memory is a few slices, not the volume.
- :func:`predict_volume_dask` builds the same computation as a ``dask.array`` graph: chunks of
  whole slices along Z, each read with ``k`` slices of overlap from its neighbours
  (:func:`dask.array.map_overlap`), so chunk edges give exactly what the streamed path gives.

Examples
--------
>>> import numpy as np
>>> volume = np.random.default_rng(0).random((5, 8, 6), dtype=np.float32)
>>> out = np.empty_like(volume)
>>> predict_volume(lambda x: x.mean(axis=0) + 1, volume, out=out, context=1)
>>> bool(np.allclose(out[0], (2 * volume[0] + volume[1]) / 3 + 1))
True
"""
from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg._util import progress as _progress
from microseg._validate import check_int
from microseg.data.stacks import neighbour_indices   # the rule training's 2.5D samples follow

logger = logging.getLogger(__name__)

__all__ = ["neighbour_indices", "slice_channels", "predict_volume", "predict_volume_dask",
           "learned_slice_predictor", "classic_slice_predictor", "model_context", "check_context",
           "as_float_slices"]

SlicePredictor = Callable[[np.ndarray], np.ndarray]


def slice_channels(stack: Any, z: int, context: int = 0) -> np.ndarray:
    """Slices ``z - context .. z + context`` of ``stack`` as one ``(2 context + 1, Y, X)`` array.

    >>> import numpy as np
    >>> slice_channels(np.arange(3)[:, None, None] * np.ones((3, 2, 2)), 0, 1)[:, 0, 0]
    array([0., 0., 1.])
    """
    return np.stack([np.asarray(stack[i]) for i in neighbour_indices(z, int(stack.shape[0]), context)])


def _check_stack(stack: Any) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in getattr(stack, "shape", ()))
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{getattr(stack, 'source', 'volume')}: a volume must be a non-empty (Z, Y, X) stack; "
                         f"got shape {shape}")
    return shape  # type: ignore[return-value]


def predict_volume(predict_slice: SlicePredictor, stack: Any, *, out: Any = None, context: int = 0,
                   on_slice: Callable[[int, np.ndarray], None] | None = None, progress: bool = False,
                   desc: str = "slices") -> None:
    """Run ``predict_slice`` on every slice of ``stack``, streaming; results to ``out[z]`` and ``on_slice``.

    Parameters
    ----------
    predict_slice : callable
        ``(2 context + 1, Y, X)`` slices (the stack's dtype) -> ``(Y, X)`` result.
    stack : array-like, (Z, Y, X)
        Anything with ``.shape`` whose ``stack[z]`` is a ``(Y, X)`` slice (a
        :class:`~microseg.io.LazyStack`, a zarr array, an ndarray). Each slice is read once.
    out : array-like, optional
        Takes ``out[z] = result`` (a zarr array, a memmap, a stack writer).
    context : int
        Neighbouring slices each side given as extra channels (2.5D); 0 = 2D.
    on_slice : callable, optional
        ``on_slice(z, result)`` after each slice, in order of ``z`` (statistics, a mesh, ...).
    progress : bool
        A progress bar over the slices.
    """
    depth, rows, cols = _check_stack(stack)
    context = check_int(context, "context", low=0)
    window: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
    for z in _progress(range(depth), enabled=progress, desc=desc):
        wanted = neighbour_indices(z, depth, context)
        for i in list(window):
            if i < wanted[0]:
                del window[i]
        for i in wanted:
            if i not in window:
                window[i] = np.asarray(stack[i])
        result = np.asarray(predict_slice(np.stack([window[i] for i in wanted])))
        if result.shape != (rows, cols):
            raise RuntimeError(f"the slice predictor returned shape {result.shape} for a "
                               f"{(rows, cols)} slice")  # a bug of the predictor, not user input
        if out is not None:
            out[z] = result
        if on_slice is not None:
            on_slice(z, result)


def _predict_block(block: np.ndarray, *, predict_slice: SlicePredictor, context: int,
                   out_dtype: np.dtype) -> np.ndarray:
    """One dask block with ``context`` slices of halo each side -> its results (halo slices zero)."""
    out = np.zeros(block.shape, out_dtype)
    for i in range(context, block.shape[0] - context):
        out[i] = predict_slice(block[i - context:i + context + 1])
    return out


def predict_volume_dask(predict_slice: SlicePredictor, stack: Any, *, context: int = 0,
                        chunk_slices: int = 8, dtype: Any = np.float32) -> Any:
    """The results of :func:`predict_volume` as a lazy ``dask.array`` (chunks of whole slices along Z).

    ``stack`` is a dask array, or anything :func:`dask.array.from_array` reads (a zarr array,
    a :class:`~microseg.io.LazyStack`); it is rechunked to ``chunk_slices`` slices per chunk
    and whole slices in-plane (the tiled 2D path inside each slice keeps its memory
    bounded). Each chunk is read with ``context`` slices of overlap from its neighbours
    (edge slices repeated at the ends), so the result equals :func:`predict_volume`'s bit for bit.
    Compute or store it with any dask scheduler (``dask.array.store`` into a zarr array).

    Examples
    --------
    >>> import numpy as np
    >>> volume = np.arange(60, dtype=np.float32).reshape(5, 3, 4)
    >>> lazy = predict_volume_dask(lambda x: x[1] + 1, volume, context=1, chunk_slices=2)
    >>> bool(np.array_equal(lazy.compute(scheduler="sync"), volume + 1))
    True
    """
    da = _dask_array()
    depth, rows, cols = _check_stack(stack)
    context = check_int(context, "context", low=0)
    chunk_slices = check_int(chunk_slices, "chunk_slices", low=1)
    source = stack if isinstance(stack, da.Array) else da.from_array(stack, chunks=(chunk_slices, rows, cols),
                                                                    lock=False, asarray=True)
    source = source.rechunk((chunk_slices, rows, cols))   # map_overlap deepens chunks thinner than the halo
    return da.map_overlap(_predict_block, source, depth={0: context, 1: 0, 2: 0},
                          boundary={0: "nearest", 1: "none", 2: "none"}, trim=True, dtype=np.dtype(dtype),
                          meta=np.empty((0, 0, 0), np.dtype(dtype)), predict_slice=predict_slice,
                          context=context, out_dtype=np.dtype(dtype))


def _dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError('volumes on dask need dask: pip install "microseg[dask]"') from exc
    return da


# ------------------------------------------------------------------------------ slice predictors
def as_float_slices(x: np.ndarray) -> np.ndarray:
    """Slices ``(C, Y, X)`` as float32 scaled as 2D images are (:func:`microseg.data.samples.scaled_float32`).

    >>> as_float_slices(np.array([[[0, 255]]], np.uint8)).tolist()
    [[[0.0, 1.0]]]
    """
    from microseg.data.samples import scaled_float32

    return scaled_float32(np.asarray(x), name="volume")


def model_context(metadata: dict | None) -> int:
    """The neighbouring slices each side a model was trained with (``model.json`` ``input.context``; 0 = 2D)."""
    meta = metadata or {}
    value = (meta.get("input") or {}).get("context", meta.get("context", 0))
    return int(value or 0)


def check_context(models: Sequence[Any], context: int | None) -> int:
    """The context to run ``models`` (:class:`~microseg.infer.LoadedModel`) with; refuses a mismatch.

    ``context=None`` takes the models' own (they must agree). A model takes ``2 k + 1``
    channels for context ``k`` (a grey model: one per slice); one trained on single slices
    (``k = 0``) is refused with ``context > 0``, and a 2.5D one without its context.

    >>> from microseg.infer import LoadedModel
    >>> check_context([LoadedModel(abs, {"input": {"context": 1}}, "m")], None)
    1
    >>> check_context([LoadedModel(abs, {}, "m")], 2)
    Traceback (most recent call last):
    ...
    microseg._util.InputError: model 'm' was trained on single slices (2D, context 0) but context 2 gives it 5 slices as channels; run it with --context 0, or train a 2.5D model whose input.context is 2
    """
    own = {m.name: model_context(m.metadata) for m in models}
    if context is None:
        values = set(own.values())
        if len(values) > 1:
            raise InputError("the models were trained with different contexts "
                             f"({', '.join(f'{n}: {k}' for n, k in own.items())}); ensemble models of one context")
        context = values.pop()
    context = check_int(context, "context", low=0)
    for m in models:
        k = own[m.name]
        if k != context:
            what = "single slices (2D, context 0)" if k == 0 else f"{2 * k + 1} slices (2.5D, context {k})"
            raise InputError(f"model {m.name!r} was trained on {what} but context {context} gives it "
                             f"{2 * context + 1} slice{'s' if context else ''} as channels; run it with "
                             f"--context {k}, or train a 2.5D model whose input.context is {context}")
        in_ch = getattr(m.model, "in_channels", None)
        if context and in_ch is not None and int(in_ch) != 2 * context + 1:
            raise InputError(f"model {m.name!r} takes {in_ch} input channel(s) but context {context} gives "
                             f"{2 * context + 1} slices; a 2.5D model of context k takes 2k + 1 channels")
    return context


class learned_slice_predictor:  # noqa: N801 - used like a function, pickled to dask workers
    """A slice predictor of an ensemble: the mean probability through the tiled 2D path.

    ``models``: model folders (paths, loaded once per process, e.g. once per dask worker) or
    :class:`~microseg.infer.LoadedModel`; ``options``: those of
    :func:`~microseg.infer.predict_ensemble` (``tile_size``, ``overlap``, ``tta``, ``device``,
    ``pixel_size``, ...). Picklable when ``models`` are paths.
    """

    def __init__(self, models: Any, **options: Any) -> None:
        self.models = models
        self.options = options

    def loaded(self) -> list[Any]:
        from microseg.infer.predict import as_loaded_models

        if all(isinstance(m, str) for m in _as_list(self.models)):
            return _cached_models(tuple(_as_list(self.models)))
        return as_loaded_models(self.models)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from microseg.infer.predict import predict_ensemble

        prob, _ = predict_ensemble(self.loaded(), as_float_slices(x), **self.options)
        return prob


def _as_list(models: Any) -> list[Any]:
    return list(models) if isinstance(models, (list, tuple)) else [models]


def _cached_models(paths: tuple[str, ...]) -> list[Any]:
    """Model folders loaded once per process (each dask worker loads them on its first slice)."""
    from microseg._util import process_cached
    from microseg.infer.predict import load_models

    return process_cached("models:" + "\0".join(paths), lambda: load_models(list(paths)))


class classic_slice_predictor:  # noqa: N801 - used like a function, pickled to dask workers
    """A slice predictor of a classical method (:class:`microseg.classic.ClassicSegmenter`): the middle slice's probability.

    Slices of more than ``tile_above`` pixels go tile by tile (``tile_size``), as large 2D images do.
    """

    def __init__(self, segmenter: Any, *, tile_size: int = 1024, tile_above: int = 4096 * 4096) -> None:
        self.segmenter, self.tile_size, self.tile_above = segmenter, tile_size, tile_above

    def __call__(self, x: np.ndarray) -> np.ndarray:
        middle = np.asarray(x[x.shape[0] // 2])
        tiled = middle.size > self.tile_above
        prob = self.segmenter.predict(middle, tile_size=self.tile_size if tiled else None)
        return np.asarray(prob, dtype=np.float32)
