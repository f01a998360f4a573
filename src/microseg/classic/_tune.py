"""Tune a classical method's parameters on labelled images: a grid search by a mask score.

Every classical method has parameters that suit one kind of image and fail on another
(Sauvola's ``k = 0.2`` leaves low-contrast precipitates out entirely). :func:`tune` scores
each point of a grid on the training images and returns the best parameters with the
whole score table. Scores are pooled over the images (counts summed, then the score), so
each pixel weighs the same; pixels labelled :data:`~microseg._util.IGNORE_LABEL` (255)
are left out.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microseg._util import IGNORE_LABEL, InputError, look_up_option
from microseg._util import progress as _progress
from microseg.classic._threshold import to_gray_float

logger = logging.getLogger(__name__)

__all__ = ["TuneResult", "tune", "default_grid", "METRICS"]

#: Scores :func:`tune` maximises: pixel IoU, pixel F1 (= Dice), boundary F1 within
#: ``tolerance`` px (for the boundary detectors ``ridge`` and ``gradient``).
METRICS = ("iou", "f1", "bf_f1")

@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes
    ----------
    method : str
        The classical method (:func:`microseg.classic.available`).
    params : dict
        The best options (fixed ``options`` included), for ``classic.build(method, **params)``.
    score : float
        The best pooled ``metric`` on the training images.
    metric : str
        ``"iou"``, ``"f1"`` or ``"bf_f1"``.
    table : list of dict
        One row per grid point in grid order: its options, ``score`` (pooled) and
        ``scores`` (per image); points the method refuses (e.g. ``low > high``) have
        ``score = None`` and the reason in ``error``.
    """

    method: str
    params: dict
    score: float
    metric: str
    table: list = field(default_factory=list)

    def build(self):
        """The tuned :class:`~microseg.classic.ClassicSegmenter`."""
        from microseg.classic import build

        return build(self.method, **self.params)


def default_grid(method: str) -> dict[str, list]:
    """The search space :func:`tune` uses for ``method`` when no ``grid`` is given.

    Examples
    --------
    >>> sorted(default_grid("sauvola"))
    ['k', 'polarity', 'window_size']
    """
    return {k: list(v) for k, v in _grid(method).items()}


def tune(method: str, images: Any, masks: Any, *, metric: str = "iou",
         grid: Mapping[str, Sequence] | None = None, options: Mapping[str, Any] | None = None,
         tolerance: float = 2.0, progress: bool = False) -> TuneResult:
    """Best parameters of a classical method on labelled images, by a grid search.

    Parameters
    ----------
    method : str
        A key of :func:`microseg.classic.available` (``"otsu"``, ``"sauvola"``, ``"ridge"``,
        ``"gradient"``).
    images : ndarray or sequence of ndarray
        One ``(Y, X)`` / ``(Y, X, 3)`` image, or several (a list, or an ``(N, Y, X)``
        array); any numeric dtype.
    masks : ndarray or sequence of ndarray
        The truth of each image, ``(Y, X)``: 1 (or True) positive, 0 negative,
        255 unknown (left out).
    metric : {"iou", "f1", "bf_f1"}
        The pooled score to maximise; ``bf_f1`` (boundary F1 within ``tolerance`` px)
        suits the boundary detectors.
    grid : mapping of str to sequence, optional
        Option name -> the values to try; the search space is their product, in order
        (ties keep the earliest point). Default: :func:`default_grid` — Otsu: polarity,
        pre-filter ``sigma`` and threshold ``offset``; Sauvola: polarity, ``window_size``
        and ``k``; ridge/gradient: ``sigmas`` and the hysteresis quantiles ``low``/``high``.
    options : mapping, optional
        Options held fixed at every point (e.g. ``{"polarity": "dark"}``); a key may not
        be in ``grid`` as well.
    tolerance : float
        Matching distance of ``bf_f1`` in px.
    progress : bool
        Show a progress bar over the grid (routed through logging).

    Returns
    -------
    TuneResult
        ``params``, ``score`` and the whole ``table``.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((32, 32), 0.6); image[8:20, 8:20] = 0.55   # faint dark square
    >>> mask = np.zeros((32, 32), np.uint8); mask[8:20, 8:20] = 1
    >>> result = tune("sauvola", image, mask, grid={"k": [0.2, 0.02], "window_size": [31]})
    >>> result.params["k"], round(result.score, 2), [round(r["score"], 2) for r in result.table]
    (0.02, 1.0, [0.0, 1.0])
    """
    from microseg.classic import METHODS

    method = METHODS.key(method)
    metric = look_up_option(metric, METRICS, what="metric")
    pairs = _pairs(images, masks)
    space, fixed = _search_space(method, grid, options)
    keys = list(space)
    points = [dict(zip(keys, values)) for values in itertools.product(*space.values())]
    predict = _mask_function(method, METHODS.get(method))
    table = []
    for point in _progress(points, enabled=progress, desc=f"tune {method}", log=logger):
        params = {**fixed, **point}
        row: dict[str, Any] = {**point}
        try:
            preds = [predict(i, image, params) for i, (image, _) in enumerate(pairs)]
        except InputError as exc:  # a point the method refuses (e.g. low > high)
            table.append({**row, "score": None, "scores": None, "error": str(exc)})
            continue
        total, each = _score(preds, [t for _, t in pairs], metric, tolerance)
        table.append({**row, "score": total, "scores": each})
    scored = [r for r in table if r["score"] is not None]
    if not scored:
        raise InputError(f"grid: {method} refused every point of the grid, e.g. {points[0]}: "
                         f"{table[0]['error']}")
    best = max(scored, key=lambda r: r["score"])  # max keeps the first of equal scores
    params = {**fixed, **{k: best[k] for k in keys}}
    logger.info("tune %s: best %s = %.4f at %s (%d points, %d images)", method, metric,
                best["score"], params, len(points), len(pairs))
    return TuneResult(method, params, float(best["score"]), metric, table)


def _pairs(images: Any, masks: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(image, truth)]`` with truth int8: 1 positive, 0 negative, -1 unknown."""
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        images, masks = [images], [masks]
    images, masks = list(images), list(masks)
    if not images:
        raise InputError("images: empty; give one or more labelled images")
    if len(images) != len(masks):
        raise InputError(f"images and masks: {len(images)} images but {len(masks)} masks; "
                         "give one mask per image")
    out = []
    for i, (image, mask) in enumerate(zip(images, masks)):
        image, mask = np.asarray(image), np.asarray(mask)
        to_gray_float(image, name=f"images[{i}]")  # shape and finite values, named
        if mask.ndim != 2 or image.shape[:2] != mask.shape:
            raise InputError(f"masks[{i}]: shape {mask.shape} does not match images[{i}] "
                             f"{image.shape}; give a (Y, X) mask of the image's size")
        values = np.unique(mask)
        if not np.isin(values, (0, 1, IGNORE_LABEL)).all():
            raise InputError(f"masks[{i}]: holds {values[:6].tolist()}; expected 0, 1 (positive) and "
                             f"{IGNORE_LABEL} (unknown)")
        truth = np.where(mask == IGNORE_LABEL, -1, mask != 0).astype(np.int8)
        out.append((image, truth))
    if not any((t == 1).any() for _, t in out):
        raise InputError("masks: no positive pixel (1) in any mask; mark the positive class with 1 "
                         f"({IGNORE_LABEL} means unknown)")
    return out


def _grid(method: str) -> dict[str, list]:
    """The default search space of ``method`` (its registry capability ``grid``)."""
    from microseg.classic import METHODS

    grid = METHODS.capabilities(method)["grid"]
    if not grid:
        raise InputError(f"method {METHODS.key(method)!r} has no default grid; give grid=")
    return grid


def _search_space(method: str, grid: Mapping | None, options: Mapping | None) -> tuple[dict, dict]:
    from microseg.classic import METHODS

    space = {k: list(v) for k, v in _grid(method).items()} if grid is None else {}
    if grid is not None:
        if not isinstance(grid, Mapping) or not grid:
            raise InputError(f"grid: expected a mapping of option name to values, got {grid!r}")
        for key, values in METHODS.check_options(method, grid).items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not len(values):
                raise InputError(f"grid[{key!r}]: expected a non-empty list of values, got {values!r}")
            space[key] = list(values)
    fixed = METHODS.check_options(method, options or {})
    if grid is None:  # fixed options take their key out of the default grid
        space = {k: v for k, v in space.items() if k not in fixed}
    both = sorted(set(fixed) & set(space))
    if both:
        raise InputError(f"options and grid both set {', '.join(both)}; fix it in options or "
                         "search it in grid")
    return space, fixed


def _mask_function(method: str, function: Callable) -> Callable[[int, np.ndarray, dict], np.ndarray]:
    """``f(index, image, params) -> bool mask``, equal to ``function(image, **params) >= 0.5``.

    The boundary detectors cache their filter response per image and scale (their mask
    is the hysteresis mask of the response), so a grid of thresholds costs one filter
    run per image and scale.
    """
    from microseg.classic import METHODS

    choices = METHODS.capabilities(method)["filters"]
    if not choices:
        return lambda index, image, params: function(image, **params) >= 0.5
    import inspect

    from microseg.classic import _ridge

    defaults = {k: p.default for k, p in inspect.signature(function).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    cache: dict[tuple, np.ndarray] = {}

    def boundary_mask(index: int, image: np.ndarray, params: dict) -> np.ndarray:
        p = {"polarity": "dark", **defaults, **params}
        name = look_up_option(p["filter"], choices, what="filter")
        polarity = look_up_option(p["polarity"], _ridge.RIDGE_POLARITIES, what="polarity")
        scales, low, high, _ = _ridge._check_boundary_options(p["sigmas"], p["low"], p["high"],
                                                              p["thin"], p["softness"], p["sigma"])
        key = (index, name, scales, polarity, p["sigma"])
        if key not in cache:
            cache[key] = _ridge._response(_ridge._prefiltered(image, p["sigma"]), name, scales, polarity)
        return _ridge._hysteresis(cache[key], low, high, p["thin"])[0]

    return boundary_mask


def _score(preds: list, truths: list, metric: str, tolerance: float) -> tuple[float, list[float]]:
    """Pooled and per-image ``metric`` of bool predictions against int8 truths (-1 unknown)."""
    from microseg.metrics import boundary_match_counts, scores_from_match_counts
    from microseg.metrics.pixel import counts_from_masks, scores_from_counts

    counts = []
    for pred, truth in zip(preds, truths):
        known = truth >= 0
        if metric == "bf_f1":
            counts.append(boundary_match_counts(pred & known, truth == 1, tolerance=tolerance,
                                                mask=known))
        else:
            counts.append(counts_from_masks(pred[known], truth[known] == 1))
    if metric == "bf_f1":
        each = [scores_from_match_counts(c)["f1"] for c in counts]
        total = scores_from_match_counts({k: sum(c[k] for c in counts) for k in counts[0]})["f1"]
    else:
        each = [scores_from_counts(c)[metric] for c in counts]
        total = scores_from_counts({k: sum(c[k] for c in counts) for k in counts[0]})[metric]
    return float(total), [float(s) for s in each]
