"""Synthetic pretraining data: seeded micrographs with exact truth, made in memory.

``data.pairs: "synthetic:MODE"`` in a run's config makes :func:`synthetic_samples`
generate the training images, so ``microseg train configs/pretrain_synthetic.yaml`` needs no
download. Fine-tune the result on real pairs with ``train.init_from`` (or
``microseg train real.yaml --set train.init_from=pretrain/best``).

Modes:

- ``se``, ``bse``: polycrystals with exact 1-px grain boundaries
  (:func:`microseg.synth.make_sem_pair`), for ``data.target: boundaries``;
- ``precipitates``, ``porous``, ``coating``: phase masks
  (:func:`microseg.synth.make_precipitates`, :func:`~microseg.synth.make_porous_section`,
  :func:`~microseg.synth.make_coating`), for ``data.target: phase``. A numeric option
  given as ``[low, high]`` is drawn uniformly per image, and a text option given as a
  list is picked per image (``polarity: [dark, bright]``), so one run sees a family of
  microstructures rather than one.

Examples
--------
>>> samples = synthetic_samples("se", n_images=2, size=48, mean_diameter_px=14, seed=3)
>>> [s.image.shape for s in samples], samples[0].mask.dtype.name, samples[0].pixel_size
([(1, 48, 48), (1, 48, 48)], 'uint8', 0.05)
>>> samples = synthetic_samples("precipitates", n_images=2, size=64, size_px=[12, 20], seed=1)
>>> [s.name for s in samples], sorted(set(samples[0].mask.ravel().tolist()))
(['synthetic_precipitates_0', 'synthetic_precipitates_1'], [0, 1])
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from microseg._util import InputError, look_up_option

#: Modes whose mask is the grain boundaries.
BOUNDARY_MODES = ("se", "bse")
#: Modes whose mask is a phase, and their generators in :mod:`microseg.synth`.
PHASE_MODES = {"precipitates": "make_precipitates", "porous": "make_porous_section",
               "coating": "make_coating"}
MODES = BOUNDARY_MODES + tuple(PHASE_MODES)


def synthetic_samples(mode: str = "se", *, n_images: int = 8, size: int | tuple[int, int] = 512,
                      seed: int = 0, **options: Any) -> list:
    """``n_images`` synthetic training samples (image + exact mask).

    Parameters
    ----------
    mode : {"se", "bse", "precipitates", "porous", "coating"}
        ``se``/``bse``: SEM contrast of a polycrystal, mask = 1-px boundaries
        (:func:`microseg.synth.render_sem`); the others: phase micrographs, mask = the
        generator's positive class (:func:`microseg.synth.make_precipitates`,
        :func:`~microseg.synth.make_porous_section`, :func:`~microseg.synth.make_coating`).
    n_images : int
        Number of micrographs; image ``k`` uses seed ``seed * 1000 + k``.
    size : int or (int, int)
        ``(H, W)`` of each image in px.
    seed : int
        Base seed.
    **options
        Passed to the generator: :func:`microseg.synth.make_sem_pair`
        (``mean_diameter_px``, ``noise``, ``twin_fraction``, ``pixel_size``, ...) or the
        phase generator (``size_px``, ``fraction``, ``contrast``, ``polarity``, ...). For
        the phase modes a ``[low, high]`` pair of a numeric option is drawn uniformly per
        image (rounded for integer options) and a list of a text option is sampled.

    Returns
    -------
    list of microseg.data.Sample
        Images float32 ``(1, H, W)`` in [0, 1]; masks uint8 ``(H, W)``.
    """
    mode = look_up_option(str(mode).lower(), MODES, what="synthetic mode")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise InputError(f"data.synthetic.n_images must be a positive integer; got {n_images!r}")
    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if mode in BOUNDARY_MODES:
        return _boundary_samples(mode, int(n_images), shape, int(seed), options)
    return _phase_samples(mode, int(n_images), shape, int(seed), options)


def _boundary_samples(mode: str, n_images: int, shape: tuple, seed: int, options: dict) -> list:
    from microseg.data import Sample
    from microseg.synth import make_sem_pair

    out = []
    for k in range(n_images):
        image, poly = make_sem_pair(shape, mode=mode, seed=seed * 1000 + k, **options)
        out.append(Sample(np.asarray(image.data, np.float32)[None], np.asarray(poly.boundaries, np.uint8),
                          f"synthetic_{mode}_{k}", image.pixel_size, f"synthetic:{mode}:{seed}:{k}"))
    return out


def _phase_samples(mode: str, n_images: int, shape: tuple, seed: int, options: dict) -> list:
    from microseg import synth
    from microseg.data import Sample

    generator = getattr(synth, PHASE_MODES[mode])
    params = inspect.signature(generator).parameters
    defaults = {k: p.default for k, p in params.items() if k not in ("shape", "seed")}
    for key in options:
        look_up_option(key, sorted(defaults), what=f"option of synthetic:{mode}")
    out = []
    for k in range(n_images):
        image_seed = seed * 1000 + k
        rng = np.random.default_rng([image_seed, 1])
        drawn = {key: _draw(key, value, defaults[key], rng) for key, value in options.items()}
        m = generator(shape, seed=image_seed, **drawn)
        scale = float(np.iinfo(m.image.data.dtype).max)
        out.append(Sample(m.image.data.astype(np.float32)[None] / scale, m.mask,
                          f"synthetic_{mode}_{k}", m.image.pixel_size, f"synthetic:{mode}:{seed}:{k}"))
    return out


def _draw(key: str, value: Any, default: Any, rng: np.random.Generator) -> Any:
    """One image's value of an option: a ``[low, high]`` range of a number is drawn
    uniformly, a list of a text option is sampled; anything else is passed as it is."""
    if not isinstance(value, (list, tuple)) or isinstance(default, (list, tuple)) or default is None:
        return value
    if isinstance(default, str):
        if not value:
            raise InputError(f"data.synthetic.{key}: an empty list; give one or more choices")
        return value[int(rng.integers(len(value)))]
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise InputError(f"data.synthetic.{key}: a range must be [low, high] numbers; "
                             f"got {value!r}") from None
        if low > high:
            raise InputError(f"data.synthetic.{key}: a range must be [low, high] with low <= high; "
                             f"got {value!r}")
        drawn = rng.uniform(low, high)
        return int(round(drawn)) if isinstance(default, int) else float(drawn)
    return value
