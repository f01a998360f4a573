"""Phase micrographs with exact masks: precipitates in a matrix, porous two-phase sections
and layered coatings, rendered as SE/BSE-like images.

Each generator draws a phase map first and renders the image from it, so the mask is the
exact truth of every pixel (the image is blurred and noisy, the mask is not). The
rendering follows what SEM shows of these microstructures: a grey level per phase
(material contrast, bright or dark), the relief that polishing and etching leave (a bright
rim on the raised side of an interface, shading towards the detector), texture inside the
phases, a smooth illumination background, the probe blur and Poisson plus Gaussian noise.
The images are uint8 or uint16 with the pixel size in µm.

- :func:`make_precipitates`: cuboidal to spherical secondary γ′ precipitates (a log-normal
  size distribution, a common cube orientation, coalesced neighbours, γ channels) and
  optional small tertiary ones in the wide channels, as in a Ni superalloy;
- :func:`make_porous_section`: pores and an optional second phase from thresholded
  Gaussian random fields, in a solid with optional grain contrast;
- :func:`~microseg.synth.make_coating` (in ``_coating.py``): a cross-section of layers on
  a substrate with rough, wavy interfaces and columnar grains, under mounting resin; the
  positive class is one layer.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from microseg._util import InputError, look_up_option
from microseg.io._image import Image
from microseg.synth._sem import smooth_noise

logger = logging.getLogger(__name__)

__all__ = ["PhaseMicrograph", "make_precipitates", "make_porous_section"]

DTYPES = ("uint8", "uint16")
POLARITIES = ("dark", "bright")
PRECIPITATE_CLASSES = ("secondary", "tertiary", "all")
POROUS_CLASSES = ("pores", "second_phase", "solid")


@dataclass(frozen=True)
class PhaseMicrograph:
    """A rendered phase micrograph with its exact truth.

    Attributes
    ----------
    image : Image
        ``(Y, X)`` uint8 or uint16 with ``pixel_size`` in µm and
        ``pixel_size_source="synthetic"``.
    mask : ndarray of uint8, shape (Y, X)
        1 on the positive class (``metadata["positive"]``), 0 elsewhere.
    phases : ndarray of uint8, shape (Y, X)
        Every phase of the map; ``metadata["phases"]`` names the values.
    metadata : dict
        The generator, its parameters and measured fractions (JSON-serialisable).
    """

    image: Image
    mask: np.ndarray
    phases: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(Y, X)`` in px."""
        return tuple(self.mask.shape)  # type: ignore[return-value]

    @property
    def positive_fraction(self) -> float:
        """Area fraction of the positive class."""
        return float(self.mask.mean())


# ------------------------------------------------------------------------------ checks
def _shape(shape: Any) -> tuple[int, int]:
    try:
        out = tuple(int(s) for s in ((shape, shape) if np.isscalar(shape) else shape))
    except (TypeError, ValueError):
        raise InputError(f"shape must be (Y, X) ints, got {shape!r}") from None
    if len(out) != 2 or min(out) < 16:
        raise InputError(f"shape must be (Y, X) with sides >= 16 px, got {shape!r}")
    return out  # type: ignore[return-value]


def _num(name: str, value: Any, lo: float = 0.0, hi: float = np.inf, *, open_lo: bool = False,
         open_hi: bool = False) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) \
        and np.isfinite(value) and (value > lo if open_lo else value >= lo) \
        and (value < hi if open_hi else value <= hi)
    if not ok:
        bounds = f"{'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"
        raise InputError(f"{name} must be a number in {bounds}, got {value!r}")
    return float(value)


def _render_checks(contrast, noise, blur, background, pixel_size, dtype) -> str:
    _num("contrast", contrast, 0.0, 1.0)
    for name, value in (("noise", noise), ("blur", blur), ("background", background)):
        _num(name, value)
    _num("pixel_size", pixel_size, open_lo=True)
    return look_up_option(np.dtype(dtype).name if not isinstance(dtype, str) else dtype, DTYPES,
                          what="dtype")


# ----------------------------------------------------------------------------- rendering
def _edge_glow(inside: np.ndarray, width: float) -> np.ndarray:
    """``exp(-d / width)`` of the distance ``d`` (px) outside ``inside`` to it; 0 inside."""
    if inside.all() or not inside.any():
        return np.zeros(inside.shape, np.float32)
    d = ndimage.distance_transform_edt(~inside)
    return np.where(inside, 0.0, np.exp(-(d - 1.0) / width)).astype(np.float32)


def _shading(height: np.ndarray, rng: np.random.Generator, sigma: float = 2.0) -> np.ndarray:
    """Slope of the smoothed ``height`` towards a random detector direction (SE shading)."""
    gy, gx = np.gradient(ndimage.gaussian_filter(height.astype(np.float32), sigma))
    angle = rng.uniform(0.0, 2 * np.pi)
    return (np.cos(angle) * gx + np.sin(angle) * gy) * (sigma * np.sqrt(2 * np.pi))


def _finish(signal: np.ndarray, rng: np.random.Generator, *, noise: float, blur: float,
            background: float, dtype: str, pixel_size: float, metadata: dict) -> Image:
    """Illumination background, probe blur, Poisson + Gaussian noise, quantisation."""
    ny, nx = signal.shape
    if background > 0:
        yy, xx = np.meshgrid(np.linspace(-0.5, 0.5, ny, dtype=np.float32),
                             np.linspace(-0.5, 0.5, nx, dtype=np.float32), indexing="ij")
        angle = rng.uniform(0.0, 2 * np.pi)
        ramp = np.cos(angle) * yy + np.sin(angle) * xx
        signal = signal + background * (ramp + 0.15 * smooth_noise((ny, nx), max(ny, nx) / 3, rng))
    if blur > 0:
        signal = ndimage.gaussian_filter(signal, blur)
    signal = np.clip(signal, 0.0, 1.0)
    if noise > 0:
        signal = rng.poisson(signal / noise ** 2).astype(np.float32) * noise ** 2
        signal += rng.normal(0.0, noise / 2.0, signal.shape).astype(np.float32)
    top = np.iinfo(dtype).max
    data = np.round(np.clip(signal, 0.0, 1.0) * top).astype(dtype)
    return Image(data, pixel_size=float(pixel_size), pixel_size_source="synthetic",
                 metadata={"axes": "YX", **metadata})


def _result(signal, phases, mask, rng, render: dict, metadata: dict) -> PhaseMicrograph:
    image = _finish(signal.astype(np.float32), rng, **render,
                    metadata={"generator": metadata["generator"], "seed": metadata["seed"]})
    metadata = {**metadata, "positive_fraction": float(mask.mean())}
    return PhaseMicrograph(image, mask.astype(np.uint8), phases.astype(np.uint8), metadata)


# --------------------------------------------------------------------------- precipitates
def _wobble(n: int, irregularity: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, 4, 2)`` amplitude and phase of the 2nd..5th angular harmonics of each outline."""
    amp = irregularity * rng.normal(size=(n, 4)) / np.arange(2, 6)
    return np.stack([amp, rng.uniform(0, 2 * np.pi, (n, 4))], axis=-1)


def _stamp(canvas: np.ndarray, cy: float, cx: float, a: float, b: float, theta: float,
           p: float, harmonics: np.ndarray) -> None:
    """Rasterise one rounded cuboid (superellipse ``|u/a|^p + |v/b|^p <= 1``) into ``canvas``."""
    reach = max(a, b) * 2 ** 0.5 * (1 + np.abs(harmonics[:, 0]).sum()) + 2
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, canvas.shape[0])
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, canvas.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    rho = (np.abs(u / a) ** p + np.abs(v / b) ** p) ** (1.0 / p)
    phi = np.arctan2(v, u)
    wobble = 1.0 + sum(h[0] * np.cos(k * phi + h[1]) for k, h in enumerate(harmonics, start=2))
    canvas[y0:y1, x0:x1] |= rho <= np.maximum(wobble, 0.3)


def _secondary(shape, fraction, size_px, size_spread, cuboidality, misalignment_deg,
               irregularity, coalescence, rng) -> np.ndarray:
    """Random sequential addition of rounded cuboids until ``fraction`` is covered."""
    ny, nx = shape
    canvas = np.zeros(shape, bool)
    target = fraction * ny * nx
    base = rng.uniform(0.0, np.pi / 2)
    expected = target / (0.8 * size_px ** 2) + 1
    centres, radii = np.empty((0, 2)), np.empty(0)
    attempts, limit = 0, int(400 + 80 * expected)
    while np.count_nonzero(canvas) < target and attempts < limit:
        attempts += 1
        r = 0.5 * size_px * np.exp(size_spread * rng.normal() - size_spread ** 2 / 2)
        c = rng.uniform((-r, -r), (ny + r, nx + r))
        gaps = np.hypot(*(centres - c).T) - (1 - coalescence) * (r + radii)
        if (gaps < 0).any():
            continue
        centres, radii = np.vstack([centres, c]), np.append(radii, r)
        e = 1 + 0.12 * abs(rng.normal())
        theta = base + np.deg2rad(misalignment_deg) * rng.normal()
        p = (2.0 + 6.0 * cuboidality) * np.exp(0.1 * rng.normal())
        _stamp(canvas, c[0], c[1], r * e, r / e, theta, p, _wobble(1, irregularity, rng)[0])
    if np.count_nonzero(canvas) < 0.95 * target:
        logger.info("precipitates: reached a fraction of %.3f of the %.3f asked (raise "
                    "coalescence or lower size_spread for denser packings)", canvas.mean(), fraction)
    return canvas


def _tertiary(secondary: np.ndarray, fraction: float, size_px: float,
              rng: np.random.Generator) -> np.ndarray:
    """Small round precipitates in the matrix, at least their radius + 2 px from the rest."""
    ny, nx = secondary.shape
    clearance = ndimage.distance_transform_edt(~secondary) if secondary.any() else np.full(
        secondary.shape, np.inf)
    canvas = np.zeros(secondary.shape, bool)
    placed: list[tuple[float, float, float]] = []
    target = fraction * ny * nx
    for _ in range(int(300 + 40 * target / max(size_px ** 2, 1.0))):
        if np.count_nonzero(canvas) >= target:
            break
        r = max(0.5 * size_px * np.exp(0.25 * rng.normal()), 1.0)
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        if clearance[int(cy), int(cx)] < 1.5 * r + 2:
            continue
        if any(np.hypot(cy - y, cx - x) < r + q + 2 for y, x, q in placed):
            continue
        placed.append((cy, cx, r))
        e = 1 + 0.08 * abs(rng.normal())
        _stamp(canvas, cy, cx, r * e, r / e, rng.uniform(0, np.pi), 2.0, _wobble(1, 0.04, rng)[0])
    return canvas & ~secondary


def make_precipitates(shape: tuple[int, int] = (512, 512), *, fraction: float = 0.45,
                      size_px: float = 60.0, size_spread: float = 0.3, cuboidality: float = 0.5,
                      misalignment_deg: float = 8.0, irregularity: float = 0.12,
                      coalescence: float = 0.25, tertiary_fraction: float = 0.0,
                      tertiary_size_px: float = 8.0, positive: str = "secondary",
                      polarity: str = "dark", contrast: float = 0.15, relief: float = 0.08,
                      rim_px: float = 4.0, texture: float = 0.04, noise: float = 0.04, blur: float = 1.0,
                      background: float = 0.1, pixel_size: float = 0.01, dtype: str = "uint8",
                      seed: int = 0) -> PhaseMicrograph:
    """Precipitates in a matrix: γ′ in a Ni superalloy as an etched SE/BSE image.

    Secondary precipitates are rounded cuboids (superellipses from spheres at
    ``cuboidality=0`` to near-cubes at 1) sharing one cube orientation, with log-normal
    sizes and irregular outlines, placed until they cover ``fraction``; neighbours closer
    than ``1 - coalescence`` times their radii sum are refused, so ``coalescence`` sets how
    many merge and the rest stay apart by γ channels. Tertiary precipitates are small
    spheres in the wider channels. Both are darker (``polarity="dark"``, etched γ′ in SE
    or BSE of light-element-rich γ′) or brighter than the matrix by ``contrast``, tertiary
    ones a quarter more; ``relief`` adds the bright γ rim along the interfaces and the
    shading of the etch step.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` in px.
    fraction : float
        Area fraction of the secondary precipitates in (0, 0.9]; met to within one
        precipitate unless the packing jams (then logged).
    size_px, size_spread : float
        Mean edge (diameter) in px and log-normal sigma of the secondary sizes.
    cuboidality, misalignment_deg, irregularity : float
        Shape (0 sphere .. 1 cube), orientation scatter about the common cube axes, and
        outline waviness (relative amplitude of the 2nd..5th angular harmonics).
    coalescence : float
        In [0, 1): allowed overlap of neighbours; 0 keeps every precipitate separate.
    tertiary_fraction, tertiary_size_px : float
        Area fraction and mean diameter of the tertiary precipitates (none by default).
    positive : {"secondary", "tertiary", "all"}
        The class of ``mask``.
    polarity : {"dark", "bright"}
        Precipitates darker or brighter than the matrix.
    contrast, relief, rim_px, texture : float
        Precipitate-matrix grey difference, brightness of the etch relief (the rim on the
        matrix side, decaying over ``rim_px``, and the shading), and amplitude of the
        smooth texture (half of it in the matrix), all in units of the [0, 1] signal.
        Etched SE images may show almost no grey difference (``contrast`` near 0), the
        precipitates then stand out by their rims only.
    noise, blur, background : float
        Relative shot noise, Gaussian probe blur (px) and illumination ramp amplitude.
    pixel_size : float
        µm per px.
    dtype : {"uint8", "uint16"}
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    PhaseMicrograph
        ``phases``: 0 matrix, 1 secondary, 2 tertiary.

    Examples
    --------
    >>> m = make_precipitates((96, 96), size_px=24, fraction=0.4, seed=1)
    >>> m.image.data.dtype.name, m.mask.dtype.name, m.image.pixel_size
    ('uint8', 'uint8', 0.01)
    >>> abs(m.positive_fraction - 0.4) < 0.1
    True
    """
    shape = _shape(shape)
    _num("fraction", fraction, 0.0, 0.9, open_lo=True)
    _num("size_px", size_px, 4.0)
    _num("size_spread", size_spread, 0.0, 1.5)
    _num("cuboidality", cuboidality, 0.0, 1.0)
    _num("misalignment_deg", misalignment_deg, 0.0, 90.0)
    _num("irregularity", irregularity, 0.0, 0.5)
    _num("coalescence", coalescence, 0.0, 1.0, open_hi=True)
    _num("tertiary_fraction", tertiary_fraction, 0.0, 0.3)
    _num("tertiary_size_px", tertiary_size_px, 2.0)
    _num("relief", relief, 0.0, 1.0)
    _num("rim_px", rim_px, 0.5, 50.0)
    _num("texture", texture, 0.0, 1.0)
    positive = look_up_option(positive, PRECIPITATE_CLASSES, what="positive class")
    polarity = look_up_option(polarity, POLARITIES, what="polarity")
    dtype = _render_checks(contrast, noise, blur, background, pixel_size, dtype)
    rng = np.random.default_rng(seed)
    sec = _secondary(shape, fraction, size_px, size_spread, cuboidality, misalignment_deg,
                     irregularity, coalescence, rng)
    ter = _tertiary(sec, tertiary_fraction, tertiary_size_px, rng) if tertiary_fraction > 0 \
        else np.zeros(shape, bool)
    phases = sec.astype(np.uint8) + 2 * ter.astype(np.uint8)
    prec = sec | ter
    sign = -1.0 if polarity == "dark" else 1.0
    signal = rng.uniform(0.4, 0.6) + sign * contrast * (prec + 0.25 * ter)
    signal += texture * smooth_noise(shape, size_px / 3, rng) * np.where(prec, 1.0, 0.5)
    signal += relief * (_edge_glow(prec, rim_px) + 0.6 * _shading(~prec, rng))
    mask = {"secondary": sec, "tertiary": ter, "all": prec}[positive]
    meta = {"generator": "precipitates", "seed": int(seed), "positive": positive,
            "phases": {"0": "matrix", "1": "secondary", "2": "tertiary"},
            "secondary_fraction": float(sec.mean()), "tertiary_fraction": float(ter.mean()),
            "size_px": float(size_px), "polarity": polarity, "contrast": float(contrast)}
    render = {"noise": noise, "blur": blur, "background": background, "dtype": dtype,
              "pixel_size": pixel_size}
    return _result(signal, phases, mask, rng, render, meta)


# ------------------------------------------------------------------------------- porous
def _field(shape, size_px: float, spread: float, elongation: float, rng) -> np.ndarray:
    """Smooth Gaussian field, correlation ~``size_px / 4`` (x ``elongation`` along X),
    mixed with a finer one (``spread`` of the variance) for a spread of blob sizes."""
    def one(s):
        sigma = (s / 4 / np.sqrt(elongation), s / 4 * np.sqrt(elongation))
        f = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma, mode="wrap")
        return (f - f.mean()) / max(float(f.std()), 1e-12)
    coarse = one(size_px)
    return coarse if spread == 0 else np.sqrt(1 - spread) * coarse + np.sqrt(spread) * one(0.4 * size_px)


def _voronoi(shape, cell_px: float, rng) -> np.ndarray:
    """Voronoi cell ids of every pixel for ~one seed per ``cell_px ** 2`` px."""
    from scipy.spatial import cKDTree

    ny, nx = shape
    pts = np.stack(np.mgrid[0:ny, 0:nx], axis=-1).reshape(-1, 2).astype(np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    n = max(int(np.prod(hi - lo + 1) / cell_px ** 2), 1)
    seeds = rng.uniform(lo - cell_px, hi + cell_px, (n, 2))
    return cKDTree(seeds).query(pts)[1].reshape(shape).astype(np.int32)


def make_porous_section(shape: tuple[int, int] = (512, 512), *, porosity: float = 0.2,
                        pore_size_px: float = 24.0, size_spread: float = 0.3,
                        elongation: float = 1.0, second_phase_fraction: float = 0.0,
                        second_phase_size_px: float = 12.0, grain_size_px: float = 0.0,
                        positive: str = "pores", contrast: float = 0.4,
                        edge_brightness: float = 0.3, texture: float = 0.2, noise: float = 0.04,
                        blur: float = 1.0, background: float = 0.1, pixel_size: float = 0.05,
                        dtype: str = "uint8", seed: int = 0) -> PhaseMicrograph:
    """A porous two-phase section: pores and second-phase blobs in a solid (SE/BSE).

    Pores are where a smooth Gaussian random field lies below its ``porosity`` quantile
    (as :func:`make_porous_volume` does in 3D), so the fraction is exact; a second field
    thresholded inside the solid gives the second phase. Pores are dark and darker
    towards their middle (depth), with a bright SE edge rim on the solid around them; the
    second phase is half a ``contrast`` brighter than the solid; grains of the solid
    (``grain_size_px > 0``) differ slightly in grey.

    Parameters
    ----------
    shape : (int, int)
        ``(Y, X)`` in px.
    porosity : float
        Pore area fraction in (0, 0.9).
    pore_size_px, size_spread, elongation : float
        Typical pore diameter (px), share of a finer field (0: one size, up to 0.9) and
        stretch of the pores along X (1: isotropic).
    second_phase_fraction, second_phase_size_px : float
        Area fraction and typical size of the second phase (none by default).
    grain_size_px : float
        Grain size of the solid's weak orientation contrast (0: none).
    positive : {"pores", "second_phase", "solid"}
        The class of ``mask``.
    contrast, edge_brightness, texture : float
        Solid-pore grey difference, pore-rim brightening and texture of the solid (in
        units of ``contrast``).
    noise, blur, background, pixel_size, dtype, seed
        As in :func:`make_precipitates`.

    Returns
    -------
    PhaseMicrograph
        ``phases``: 0 solid, 1 pore, 2 second phase.

    Examples
    --------
    >>> m = make_porous_section((64, 64), porosity=0.3, pore_size_px=12, seed=2)
    >>> round(m.positive_fraction, 2), m.metadata["phases"]["1"]
    (0.3, 'pore')
    """
    shape = _shape(shape)
    _num("porosity", porosity, 0.0, 0.9, open_lo=True, open_hi=True)
    _num("pore_size_px", pore_size_px, 2.0)
    _num("size_spread", size_spread, 0.0, 0.9)
    _num("elongation", elongation, 0.1, 10.0)
    _num("second_phase_fraction", second_phase_fraction, 0.0, 1.0 - porosity, open_hi=True)
    _num("second_phase_size_px", second_phase_size_px, 2.0)
    _num("grain_size_px", grain_size_px)
    _num("edge_brightness", edge_brightness, 0.0, 1.0)
    _num("texture", texture, 0.0, 5.0)
    positive = look_up_option(positive, POROUS_CLASSES, what="positive class")
    dtype = _render_checks(contrast, noise, blur, background, pixel_size, dtype)
    rng = np.random.default_rng(seed)
    f = _field(shape, pore_size_px, size_spread, elongation, rng)
    pores = f < np.quantile(f, porosity)
    second = np.zeros(shape, bool)
    if second_phase_fraction > 0:
        g = _field(shape, second_phase_size_px, 0.0, 1.0, rng)
        cut = np.quantile(g[~pores], 1.0 - second_phase_fraction / (1.0 - pores.mean()))
        second = ~pores & (g > cut)
    phases = pores.astype(np.uint8) + 2 * second.astype(np.uint8)
    solid_level = rng.uniform(0.5, 0.65)
    signal = np.full(shape, solid_level, np.float32)
    if grain_size_px > 0:
        grains = _voronoi(shape, grain_size_px, rng)
        signal += rng.normal(0.0, 0.08 * contrast, int(grains.max()) + 1)[grains].astype(np.float32)
    signal += texture * contrast * 0.3 * smooth_noise(shape, pore_size_px / 2, rng)
    signal += 0.5 * contrast * second
    depth = 1.0 - np.exp(-ndimage.distance_transform_edt(pores) / 3.0)
    signal = np.where(pores, solid_level - contrast * (0.6 + 0.4 * depth), signal)
    signal += edge_brightness * _edge_glow(pores, 2.0) * (~pores)
    mask = {"pores": pores, "second_phase": second, "solid": ~pores & ~second}[positive]
    meta = {"generator": "porous", "seed": int(seed), "positive": positive,
            "phases": {"0": "solid", "1": "pore", "2": "second_phase"},
            "porosity": float(pores.mean()), "second_phase_fraction": float(second.mean()),
            "pore_size_px": float(pore_size_px)}
    render = {"noise": noise, "blur": blur, "background": background, "dtype": dtype,
              "pixel_size": pixel_size}
    return _result(signal, phases, mask, rng, render, meta)
