"""Figure primitives shared by every module that draws (``ebsd.plot``, ``report.figures``).

Figures are made without :mod:`matplotlib.pyplot` and without touching the backend:
a :class:`matplotlib.figure.Figure` on its own Agg canvas renders to files, and a notebook
displays one returned as a cell's value, while the user's backend and pyplot's list of
figures stay as they were (``matplotlib.use`` is never called). Matplotlib itself is
imported only when a figure is made, so importing a drawing module stays cheap.

- :func:`new_figure`, :func:`subplots`: a figure (and axes) on an Agg canvas;
- :func:`save_figure`: write a figure atomically, never over a file without ``force``;
- colour tables: :data:`CLASS_COLOURS` / :func:`class_colours` (boundary classes on
  black), :data:`BOUNDARY_COLORS` (boundary classes over a coloured map),
  :func:`label_colours` (a random colour per grain).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import atomic_path

__all__ = ["new_figure", "subplots", "save_figure", "CLASS_COLOURS", "class_colours",
           "BOUNDARY_COLORS", "OTHER_BOUNDARY_COLOR", "label_colours"]

#: RGB of the boundary classes of a class map (DESIGN.md: 0 none, 1 HAGB, 2 LAGB,
#: 3 Σ3 twin) drawn on black: HAGB white, LAGB yellow, Σ3 red.
CLASS_COLOURS = np.array([(0, 0, 0), (1.0, 1.0, 1.0), (1.0, 0.85, 0.1), (1.0, 0.25, 0.25)],
                         dtype=np.float32)

#: Matplotlib colours of the boundary classes drawn over a coloured (IPF) map: HAGB black,
#: LAGB grey, Σ3 red, phase boundary (4) blue; any other (CSL) class
#: :data:`OTHER_BOUNDARY_COLOR`.
BOUNDARY_COLORS = {1: "black", 2: "0.6", 3: "red", 4: "blue"}
OTHER_BOUNDARY_COLOR = "magenta"


def new_figure(*, figsize: tuple[float, float] = (6.4, 4.8), dpi: float = 100.0) -> Any:
    """A :class:`matplotlib.figure.Figure` with its own Agg canvas (no pyplot, no backend change).

    Examples
    --------
    >>> fig = new_figure(figsize=(2, 2))
    >>> ax = fig.add_subplot()
    >>> type(fig.canvas).__name__
    'FigureCanvasAgg'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.4, 4.8),
             squeeze: bool = True, **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like :func:`matplotlib.pyplot.subplots`, on a :func:`new_figure`.

    ``kwargs`` go to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``gridspec_kw``, ...).

    Examples
    --------
    >>> fig, axes = subplots(1, 2, figsize=(4, 2))
    >>> len(axes), len(fig.axes)
    (2, 2)
    """
    fig = new_figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def save_figure(fig: Any, path: str | os.PathLike, *, force: bool = False, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically; refuse to overwrite unless ``force``.

    The format follows the suffix (``.png``, ``.pdf``, ``.svg``, ...). A figure made by
    pyplot is closed afterwards (it would stay in pyplot's list); one from
    :func:`new_figure` needs no closing.

    Raises :class:`~microseg._util.OutputExistsError` when ``path`` exists and ``force``
    is false; nothing is written then, and nothing is left behind when saving fails.
    """
    import sys

    path = Path(path)
    try:
        with atomic_path(path, force=force) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")  # only if the user imported it
        if pyplot is not None and pyplot.fignum_exists(getattr(fig, "number", -1)):
            pyplot.close(fig)
    return path


def class_colours(classes: np.ndarray) -> np.ndarray:
    """RGB picture (float32, ``(..., 3)``) of a boundary-class map with :data:`CLASS_COLOURS`.

    Classes beyond 3 (e.g. an EBSD phase boundary) are drawn as Σ3 would be.

    Examples
    --------
    >>> class_colours(np.array([[0, 1]]))[0, 1].tolist()
    [1.0, 1.0, 1.0]
    """
    classes = np.asarray(classes)
    return CLASS_COLOURS[np.clip(classes, 0, len(CLASS_COLOURS) - 1)]


def label_colours(labels: np.ndarray, *, seed: int = 0, dtype: Any = np.float64) -> np.ndarray:
    """RGB picture (``(..., 3)``) of a label map: a random light colour per label, 0 black.

    ``dtype`` float64 (values in [0, 1]) or uint8 (the same colours times 255, truncated as
    matplotlib makes 8-bit pixels of floats; 3 bytes per pixel for large maps).

    Examples
    --------
    >>> rgb = label_colours(np.array([[0, 1], [2, 2]]))
    >>> rgb.shape, rgb[0, 0].tolist()
    ((2, 2, 3), [0.0, 0.0, 0.0])
    >>> bool((label_colours(np.array([[3]]), dtype=np.uint8) == (label_colours(np.array([[3]])) * 255).astype(np.uint8)).all())
    True
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    lut = rng.uniform(0.25, 1.0, size=(int(labels.max(initial=0)) + 1, 3))
    lut[0] = 0.0
    if np.dtype(dtype) == np.uint8:
        lut = (lut * 255).astype(np.uint8)
    return lut[labels]
