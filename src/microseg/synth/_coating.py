"""Layered coatings in cross-section: layers on a substrate under mounting resin, with
rough wavy interfaces and columnar grains (a :class:`~microseg.synth.PhaseMicrograph`)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from microseg._util import InputError
from microseg.synth._phases import (
    PhaseMicrograph, _edge_glow, _field, _num, _render_checks, _result, _shape, _voronoi,
)
from microseg.synth._sem import smooth_noise

__all__ = ["make_coating"]

RESIN_LEVEL = 0.08


def make_coating(shape: tuple[int, int] = (512, 512), *, thickness_px: tuple[float, ...] = (110.0, 170.0),
                 substrate_px: float = 140.0, roughness_px: float = 5.0, waviness_px: float = 90.0,
                 column_width_px: float = 14.0, column_aspect: float = 6.0,
                 column_tilt_deg: float = 5.0, column_contrast: float = 0.08,
                 porosity: float = 0.0, pore_size_px: float = 5.0, positive_layer: int = 0,
                 levels: tuple[float, ...] | None = None, edge_brightness: float = 0.2,
                 noise: float = 0.04, blur: float = 1.0, background: float = 0.1,
                 pixel_size: float = 0.1, dtype: str = "uint8", seed: int = 0) -> PhaseMicrograph:
    """A layered coating in cross-section: layers on a substrate under mounting resin.

    From the bottom: the substrate (equiaxed grains of weak contrast), then the layers of
    ``thickness_px`` (from the substrate up), each with a rough, wavy top interface
    (``roughness_px`` amplitude over ``waviness_px``, plus a finer roughness) and columnar
    grains (Voronoi cells ``column_aspect`` times longer along the growth direction,
    tilted by ``column_tilt_deg``, with dark intercolumnar gaps), then dark resin. Flat
    pores (``porosity``) lie in the layers; the free surface and pore rims glow (SE edge
    effect). The positive class is layer ``positive_layer`` without its pores.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` in px; growth is towards row 0.
    thickness_px : sequence of float
        Layer thicknesses in px, from the substrate up.
    substrate_px : float
        Mean height of the substrate at the bottom of the image.
    roughness_px, waviness_px : float
        Interface roughness amplitude and its lateral wavelength in px.
    column_width_px, column_aspect, column_tilt_deg, column_contrast : float
        Columnar grains (width 0: none), their length / width, tilt from the growth
        direction and grey scatter (gaps are 1.5 times darker).
    porosity, pore_size_px : float
        Pore area fraction within the layers and pore size (flattened 3:1 along X).
    positive_layer : int
        Index into ``thickness_px`` of the layer in ``mask``.
    levels : sequence of float, optional
        Grey of the substrate and of each layer in [0, 1]; drawn (adjacent ones apart by
        at least 0.12) when left out.
    edge_brightness, noise, blur, background, pixel_size, dtype, seed
        As in :func:`~microseg.synth.make_precipitates` /
        :func:`~microseg.synth.make_porous_section`.

    Returns
    -------
    PhaseMicrograph
        ``phases``: 0 resin or pore, 1 substrate, ``2 + k`` layer ``k``.

    Examples
    --------
    >>> m = make_coating((96, 128), thickness_px=(30, 30), substrate_px=20, seed=3)
    >>> sorted(set(m.phases.ravel().tolist())), m.metadata["phases"]["2"]
    ([0, 1, 2, 3], 'layer 0')
    """
    shape = _shape(shape)
    thickness = _check_coating(shape, thickness_px, substrate_px, positive_layer, roughness_px,
                               waviness_px, column_width_px, column_aspect, column_tilt_deg,
                               column_contrast, porosity, pore_size_px, edge_brightness)
    dtype = _render_checks(0.0, noise, blur, background, pixel_size, dtype)
    rng = np.random.default_rng(seed)
    grey = _levels(levels, len(thickness), rng)
    lines = _interfaces(shape, thickness, substrate_px, roughness_px, waviness_px, rng)
    n = len(thickness)
    count = (np.arange(shape[0], dtype=np.float32)[:, None, None] >= lines.T[None]).sum(axis=-1)
    phases = np.where(count == n + 1, 1, np.where(count == 0, 0, 2 + n - count)).astype(np.uint8)
    columns = (column_width_px, column_aspect, column_tilt_deg, column_contrast)
    signal = _render_layers(phases, grey, columns, rng)
    if porosity > 0:
        f = _field(shape, pore_size_px, 0.3, 3.0, rng)
        coat = phases >= 2
        pores = coat & (f < np.quantile(f[coat], porosity)) if coat.any() else coat
        phases[pores] = 0
        signal[pores] = RESIN_LEVEL
    signal += edge_brightness * _edge_glow(phases == 0, 1.5) * (phases != 0)
    mask = phases == 2 + positive_layer
    meta = {"generator": "coating", "seed": int(seed), "positive": f"layer {positive_layer}",
            "phases": {"0": "resin/pore", "1": "substrate", **{str(2 + k): f"layer {k}" for k in range(n)}},
            "thickness_px": [float(t) for t in thickness], "levels": [float(g) for g in grey],
            "layer_fractions": [float((phases == 2 + k).mean()) for k in range(n)]}
    render = {"noise": noise, "blur": blur, "background": background, "dtype": dtype,
              "pixel_size": pixel_size}
    return _result(signal, phases, mask, rng, render, meta)


def _check_coating(shape, thickness_px, substrate_px, positive_layer, roughness_px, waviness_px,
                   column_width_px, column_aspect, column_tilt_deg, column_contrast, porosity,
                   pore_size_px, edge_brightness) -> tuple[float, ...]:
    ny = shape[0]
    try:
        thickness = tuple(_num("thickness_px", float(t), 2.0) for t in np.atleast_1d(thickness_px))
    except (TypeError, ValueError):
        raise InputError(f"thickness_px must be one or more thicknesses in px, got {thickness_px!r}") from None
    if not thickness or isinstance(positive_layer, (bool, np.bool_)) \
            or not isinstance(positive_layer, (int, np.integer)) \
            or not 0 <= positive_layer < len(thickness):
        raise InputError(f"positive_layer must index thickness_px (0..{len(thickness) - 1}), "
                         f"got {positive_layer!r}")
    _num("substrate_px", substrate_px, 0.0, ny - 1.0)
    if substrate_px + sum(thickness[:positive_layer]) >= ny - 2:
        raise InputError(f"positive_layer {positive_layer} lies above the image top: substrate_px + "
                         f"the layers below it exceed shape[0] = {ny}")
    _num("roughness_px", roughness_px)
    _num("column_width_px", column_width_px)
    _num("waviness_px", waviness_px, 2.0)
    _num("column_aspect", column_aspect, 1.0)
    _num("column_tilt_deg", column_tilt_deg, -60.0, 60.0)
    _num("column_contrast", column_contrast, 0.0, 1.0)
    _num("porosity", porosity, 0.0, 0.5)
    _num("pore_size_px", pore_size_px, 2.0)
    _num("edge_brightness", edge_brightness, 0.0, 1.0)
    return thickness


def _levels(levels, n: int, rng) -> np.ndarray:
    """Grey of the substrate and the ``n`` layers: given, or drawn 0.12+ apart from neighbours."""
    if levels is not None:
        out = np.asarray([_num("levels", float(v), 0.0, 1.0) for v in np.atleast_1d(levels)])
        if len(out) != n + 1:
            raise InputError(f"levels must hold {n + 1} values (substrate + {n} layers), got {len(out)}")
        return out
    out = [rng.uniform(0.45, 0.7)]
    for _ in range(n):
        value = rng.uniform(0.25, 0.9)
        for _ in range(50):
            if abs(value - out[-1]) >= 0.12:
                break
            value = rng.uniform(0.25, 0.9)
        out.append(value)
    return np.asarray(out)


def _interfaces(shape, thickness: tuple[float, ...], substrate_px: float, roughness_px: float,
                waviness_px: float, rng) -> np.ndarray:
    """``(n + 1, X)`` rows of the substrate top and each layer's top, each 2+ px above."""
    ny, nx = shape
    rows: list[np.ndarray] = []
    base = ny - substrate_px
    for k in range(len(thickness) + 1):
        if k:
            base -= thickness[k - 1]
        wave = roughness_px * (smooth_noise((nx,), waviness_px, rng)
                               + 0.3 * smooth_noise((nx,), max(waviness_px / 8, 2.0), rng))
        line = base + wave
        if rows:
            line = np.minimum(line, rows[-1] - 2.0)
        rows.append(line)
    return np.asarray(rows, np.float32)


def _render_layers(phases: np.ndarray, grey: np.ndarray, columns: tuple, rng) -> np.ndarray:
    """Grey levels: resin, a grained substrate and columnar layers with dark gaps."""
    width, aspect, tilt, contrast = columns
    shape = phases.shape
    signal = np.where(phases == 0, RESIN_LEVEL, 0.0).astype(np.float32)
    grains = _voronoi(shape, 40.0, rng)
    signal += np.where(phases == 1, grey[0] + rng.normal(0, 0.03, grains.max() + 1)[grains], 0.0)
    for k in range(len(grey) - 1):
        value = np.full(shape, grey[k + 1], np.float32)
        if width > 0:
            cells = _columns(shape, width, aspect, tilt, rng)
            value += rng.normal(0, contrast, cells.max() + 1)[cells].astype(np.float32)
            value -= 1.5 * contrast * ndimage.gaussian_filter(_cell_edges(cells).astype(np.float32), 0.7)
        signal = np.where(phases == 2 + k, value, signal)
    return signal


def _columns(shape, width_px: float, aspect: float, tilt_deg: float, rng) -> np.ndarray:
    """Voronoi cells stretched ``aspect`` times along the growth direction, tilted."""
    from scipy.spatial import cKDTree

    ny, nx = shape
    t = np.deg2rad(tilt_deg)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    across, along = xx * np.cos(t) + yy * np.sin(t), (yy * np.cos(t) - xx * np.sin(t)) / aspect
    pts = np.stack([along.ravel(), across.ravel()], axis=-1)
    lo, hi = pts.min(axis=0) - width_px, pts.max(axis=0) + width_px
    seeds = rng.uniform(lo, hi, (max(int(np.prod(hi - lo) / width_px ** 2), 1), 2))
    return cKDTree(seeds).query(pts)[1].reshape(shape).astype(np.int32)


def _cell_edges(cells: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour is another cell."""
    edges = np.zeros(cells.shape, bool)
    edges[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    edges[:-1, :] |= cells[:-1, :] != cells[1:, :]
    return edges
