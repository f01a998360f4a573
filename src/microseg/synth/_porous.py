"""Porous two-phase volumes and FIB-SEM-like slice stacks of them."""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from microseg._util import InputError
from microseg._validate import check_ndim, check_positive
from microseg.io._image import Image
from microseg.synth._sem import smooth_noise

logger = logging.getLogger(__name__)

__all__ = ["make_porous_volume", "render_fib_sem"]

PORE, SOLID, INCLUSION = 0, 1, 2


def make_porous_volume(shape: tuple[int, int, int] = (32, 256, 256), *, porosity: float = 0.25,
                       pore_size_px: float = 12.0, inclusion_fraction: float = 0.0,
                       seed: int = 0) -> np.ndarray:
    """A random porous solid: a smooth Gaussian random field thresholded at the quantile
    that gives ``porosity``.

    Parameters
    ----------
    shape : (int, int, int)
        ``(Z, Y, X)`` in voxels (isotropic).
    porosity : float
        Pore volume fraction in (0, 1); met to within a few voxels.
    pore_size_px : float
        Typical pore diameter in voxels (the field's correlation length is a quarter of it).
    inclusion_fraction : float
        Volume fraction of small isolated impurity inclusions (phase 2) placed in the solid.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray of uint8, shape (Z, Y, X)
        0 pore, 1 solid, 2 inclusion.

    Examples
    --------
    >>> vol = make_porous_volume((8, 64, 64), porosity=0.3)
    >>> round(float((vol == 0).mean()), 2)
    0.3
    """
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise InputError(f"shape must be (Z, Y, X) ints, got {shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"shape must be (Z, Y, X) with sides >= 1, got {shape!r}")
    if not 0 < porosity < 1:
        raise InputError(f"porosity must be in (0, 1), got {porosity!r}")
    if not pore_size_px >= 2:
        raise InputError(f"pore_size_px must be >= 2 voxels, got {pore_size_px!r}")
    if not 0 <= inclusion_fraction < 1 - porosity:
        raise InputError(f"inclusion_fraction must be in [0, 1 - porosity), got {inclusion_fraction!r}")
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), pore_size_px / 4.0,
                                    mode="wrap")
    phases = np.ones(shape, dtype=np.uint8)
    phases[field < np.quantile(field, porosity)] = PORE
    if inclusion_fraction > 0:
        blobs = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 1.5, mode="wrap")
        solid = phases == SOLID
        cut = np.quantile(blobs[solid], 1.0 - inclusion_fraction / solid.mean())
        phases[solid & (blobs > cut)] = INCLUSION
    return phases


def render_fib_sem(phases: np.ndarray, *, edge_brightness: float = 0.4, shadow: float = 0.35,
                   curtaining: float = 0.15, salt_pepper: float = 0.02, noise: float = 0.05,
                   pixel_size: float = 0.02, seed: int = 0) -> Image:
    """Render a FIB-SEM slice stack of a phase volume.

    Solid is bright, pores dark, inclusions mid-grey; solid pixels next to a pore are
    brighter (edge effect, decaying over ~2 px); the bottom rows of every slice are
    darker (shadowing by the trench); vertical curtaining stripes are constant along Y
    and vary slowly from slice to slice; then Gaussian and salt-and-pepper noise.

    Parameters
    ----------
    phases : ndarray of int, shape (Z, Y, X)
        0 pore, 1 solid, 2 inclusion (:func:`make_porous_volume`).
    edge_brightness, shadow, curtaining : float
        Amplitudes of the rim brightening, the bottom darkening (fraction lost in the last
        row) and the stripes (twice their standard deviation).
    salt_pepper : float
        Fraction of pixels set to 0 or 1.
    noise : float
        Standard deviation of the Gaussian noise.
    pixel_size : float
        Voxel edge in µm (slices as thick as pixels are wide).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    Image
        float32 in [0, 1], ``(Z, Y, X)``, ``metadata["axes"] == "ZYX"``.
    """
    phases = check_ndim(phases, (3,), "phases")
    for name, value in (("edge_brightness", edge_brightness), ("shadow", shadow),
                        ("curtaining", curtaining), ("noise", noise)):
        check_positive(value, name, allow_zero=True)
    if not 0 <= salt_pepper <= 1:
        raise InputError(f"salt_pepper must be in [0, 1], got {salt_pepper!r}")
    rng = np.random.default_rng(seed)
    nz, ny, nx = phases.shape
    img = np.array([0.12, 0.62, 0.42], dtype=np.float32)[np.clip(phases, 0, 2)]
    for z in range(nz):
        solid = phases[z] != PORE
        if solid.all() or not solid.any():
            continue
        dist = ndimage.distance_transform_edt(solid)
        img[z] += np.where(solid, edge_brightness * np.exp(-(dist - 1.0) / 2.0), 0.0).astype(np.float32)
    img = ndimage.gaussian_filter(img, (0, 0.7, 0.7))
    rows = np.linspace(0.0, 1.0, ny, dtype=np.float32)
    img *= (1.0 - shadow * np.clip((rows - 0.55) / 0.45, 0.0, 1.0) ** 1.5)[None, :, None]
    stripes = smooth_noise((nz, nx), 1.0, rng) * 0.3 + smooth_noise((nz, nx), 6.0, rng)
    stripes = ndimage.gaussian_filter1d(stripes, max(nz / 6.0, 1.0), axis=0, mode="nearest")
    stripes /= max(float(stripes.std()), 1e-12)
    img += 0.5 * curtaining * stripes[:, None, :]
    img += rng.normal(0.0, noise, img.shape).astype(np.float32) if noise > 0 else 0.0
    img = np.clip(img, 0.0, 1.0)
    hit = rng.random(img.shape) < salt_pepper
    img[hit] = (rng.random(int(hit.sum())) < 0.5).astype(np.float32)
    return Image(img.astype(np.float32), pixel_size=float(pixel_size), pixel_size_source="synthetic",
                 slice_spacing=float(pixel_size), metadata={"axes": "ZYX", "seed": int(seed)})
