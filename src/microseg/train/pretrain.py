"""Synthetic pretraining data: seeded SE/BSE micrographs with exact grain boundaries.

``data.pairs: "synthetic:se"`` (or ``"synthetic:bse"``) in a run's config makes
:func:`synthetic_samples` generate the training images in memory from
:func:`microseg.synth.make_sem_pair`, so ``microseg train configs/pretrain_synthetic.yaml``
needs no download. Fine-tune the result on real pairs with ``train.init_from`` (or
``microseg train real.yaml --set train.init_from=pretrain/best``).

Examples
--------
>>> samples = synthetic_samples("se", n_images=2, size=48, mean_diameter_px=14, seed=3)
>>> [s.image.shape for s in samples], samples[0].mask.dtype.name, samples[0].pixel_size
([(1, 48, 48), (1, 48, 48)], 'uint8', 0.05)
"""
from __future__ import annotations

import numpy as np

from microseg._util import InputError, look_up_option


def synthetic_samples(mode: str = "se", *, n_images: int = 8, size: int | tuple[int, int] = 512,
                      seed: int = 0, **options) -> list:
    """``n_images`` synthetic training samples (image + exact 1-px boundary mask).

    Parameters
    ----------
    mode : {"se", "bse"}
        SEM contrast (:func:`microseg.synth.render_sem`).
    n_images : int
        Number of micrographs; image ``k`` uses seed ``seed * 1000 + k``.
    size : int or (int, int)
        ``(H, W)`` of each image in px.
    seed : int
        Base seed.
    **options
        Passed to :func:`microseg.synth.make_sem_pair` (``mean_diameter_px``, ``noise``,
        ``twin_fraction``, ``pixel_size``, ...).

    Returns
    -------
    list of microseg.data.Sample
    """
    from microseg.data import Sample
    from microseg.synth import make_sem_pair

    mode = look_up_option(str(mode).lower(), ("se", "bse"), what="synthetic mode")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise InputError(f"data.synthetic.n_images must be a positive integer; got {n_images!r}")
    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    out = []
    for k in range(int(n_images)):
        image, poly = make_sem_pair(shape, mode=mode, seed=int(seed) * 1000 + k, **options)
        out.append(Sample(np.asarray(image.data, np.float32)[None], np.asarray(poly.boundaries, np.uint8),
                          f"synthetic_{mode}_{k}", image.pixel_size, f"synthetic:{mode}:{seed}:{k}"))
    return out
