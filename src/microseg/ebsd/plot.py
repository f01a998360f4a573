"""IPF colour maps and EBSD maps with boundaries drawn by class."""
from __future__ import annotations

import logging

import numpy as np

from microseg._figures import BOUNDARY_COLORS, OTHER_BOUNDARY_COLOR, subplots
from microseg._util import InputError, look_up_option
from microseg.ebsd._grid import DIRECTIONS, edge_lengths, edge_vectors
from microseg.ebsd.boundaries import BoundaryEdges
from microseg.ebsd.misorientation import _check_map
from microseg.ebsd.raster import BoundaryRaster, rasterize_cells
from microseg.io import EBSDMap, point_group

logger = logging.getLogger(__name__)

__all__ = ["ipf_map", "plot_ebsd", "BOUNDARY_COLORS"]

_DIRECTIONS = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}
# BOUNDARY_COLORS (from microseg._figures): colour per boundary class in plot_ebsd, HAGB
# black, LAGB grey, Σ3 red, phase boundary blue, other CSL OTHER_BOUNDARY_COLOR (magenta).


def ipf_map(m: EBSDMap, *, direction: str = "z") -> np.ndarray:
    """Inverse pole figure colours of every point (orix ``IPFColorKeyTSL``).

    Parameters
    ----------
    m : EBSDMap
    direction : {"x", "y", "z"}, optional
        Sample direction whose crystal direction is coloured.

    Returns
    -------
    rgb : ndarray of float64, shape (Y, X, 3)
        In [0, 1]; black where not indexed.

    Examples
    --------
    >>> import numpy as np
    >>> from microseg.io import EBSDMap, Phase
    >>> m = EBSDMap(np.tile([1.0, 0, 0, 0], (1, 2, 1)), np.array([[1, -1]], np.int32),
    ...             {1: Phase(1, "Ni", "m-3m")}, step=1.0)
    >>> np.round(ipf_map(m), 2)  # [001] is red; not indexed is black
    array([[[1., 0., 0.],
            [0., 0., 0.]]])
    """
    from orix.plot import IPFColorKeyTSL
    from orix.quaternion import Orientation
    from orix.vector import Vector3d

    m = _check_map(m)
    vec = Vector3d(_DIRECTIONS[look_up_option(str(direction).lower(), list(_DIRECTIONS),
                                              what="IPF direction")])
    rgb = np.zeros((*m.shape, 3))
    q = m.rotations.reshape(-1, 4)
    ph = m.phase_ids.ravel()
    flat = rgb.reshape(-1, 3)
    for pid, phase in m.phases.items():
        sel = np.flatnonzero(ph == pid)
        if sel.size == 0:
            continue
        laue = point_group(phase.point_group).laue
        key = IPFColorKeyTSL(laue, direction=vec)
        flat[sel] = key.orientation2color(Orientation(q[sel], symmetry=laue))
    return rgb


def _edge_segments(m: EBSDMap, edges: BoundaryEdges):
    """Line segments ``(S, 2, 2)`` in µm and their classes for every boundary edge."""
    x, y = m.coordinates()
    vec = edge_vectors(m.grid, m.step, m.row_step)
    length = edge_lengths(m.grid, m.step, m.row_step)
    segs, cls = [], []
    for k, direction in enumerate(DIRECTIONS[m.grid]):
        sel = edges.classes[k] > 0
        dx, dy = vec[direction]
        norm = np.hypot(dx, dy)
        # centred between the points, perpendicular to the link, one Voronoi side long
        px, py = -dy / norm * length[k] / 2, dx / norm * length[k] / 2
        cx, cy = x[sel] + dx / 2, y[sel] + dy / 2
        segs.append(np.stack([np.stack([cx - px, cy - py], -1), np.stack([cx + px, cy + py], -1)], 1))
        cls.append(edges.classes[k][sel])
    return np.concatenate(segs), np.concatenate(cls)


def plot_ebsd(m: EBSDMap, boundaries: BoundaryEdges | BoundaryRaster | None = None, *,
              direction: str = "z", ax=None, linewidth: float = 1.0, classes=None):
    """Draw the IPF map with boundaries coloured by class.

    Parameters
    ----------
    m : EBSDMap
    boundaries : BoundaryEdges or BoundaryRaster, optional
        Edges are drawn as the Voronoi sides between points; a raster as coloured pixels.
    direction : {"x", "y", "z"}, optional
        IPF direction.
    ax : matplotlib Axes, optional
        Draw into it; default a new figure (a :class:`matplotlib.figure.Figure` of its own,
        made without pyplot: the backend and pyplot's figures are left alone).
    linewidth : float, optional
        Width of edge lines in points.
    classes : iterable of int, optional
        Classes to draw; default all (colours in :data:`BOUNDARY_COLORS`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    m = _check_map(m)
    ps = m.step / 2 if m.grid == "hexagonal" else m.step
    index = np.arange(m.shape[0] * m.shape[1]).reshape(m.shape)
    pix = rasterize_cells(m, index, pixel_size=ps)
    rgb = ipf_map(m, direction=direction).reshape(-1, 3)[pix]
    if ax is None:
        fig, ax = subplots(figsize=(6, 6 * pix.shape[0] / max(pix.shape[1], 1)))
    else:
        fig = ax.figure
    extent = (-ps / 2, (pix.shape[1] - 0.5) * ps, (pix.shape[0] - 0.5) * ps, -ps / 2)
    ax.imshow(rgb, extent=extent, interpolation="nearest")
    wanted = None if classes is None else {int(c) for c in classes}
    if isinstance(boundaries, BoundaryEdges):
        segs, cls = _edge_segments(m, boundaries)
        keep = np.ones(len(cls), bool) if wanted is None else np.isin(cls, list(wanted))
        colors = [to_rgba(BOUNDARY_COLORS.get(int(c), OTHER_BOUNDARY_COLOR)) for c in cls[keep]]
        ax.add_collection(LineCollection(segs[keep], colors=colors, linewidths=linewidth))
    elif isinstance(boundaries, BoundaryRaster):
        over = np.zeros((*boundaries.classes.shape, 4))
        for c in np.unique(boundaries.classes[boundaries.classes > 0]):
            if wanted is None or int(c) in wanted:
                over[boundaries.classes == c] = to_rgba(BOUNDARY_COLORS.get(int(c), OTHER_BOUNDARY_COLOR))
        r = boundaries.pixel_size
        h, w = boundaries.classes.shape
        ax.imshow(over, extent=(-r / 2, (w - 0.5) * r, (h - 0.5) * r, -r / 2), interpolation="nearest")
    elif boundaries is not None:
        raise InputError(f"boundaries must be BoundaryEdges, BoundaryRaster or None, "
                         f"got {type(boundaries).__name__}")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    return fig
