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
  microstructures rather than one;
- ``porous`` with ``context > 0`` (2.5D, ``data.context``) or a ``depth``: porous volumes
  (:func:`microseg.synth.make_porous_volume`) rendered as FIB-SEM stacks
  (:func:`~microseg.synth.render_fib_sem`), cut into one sample per slice with ``context``
  neighbouring slices each side as channels (:func:`microseg.data.stacks.stack_samples`);
  the mask is the pores. ``n_images`` volumes of ``depth`` slices (default 16).

Examples
--------
>>> samples = synthetic_samples("se", n_images=2, size=48, mean_diameter_px=14, seed=3)
>>> [s.image.shape for s in samples], samples[0].mask.dtype.name, samples[0].pixel_size
([(1, 48, 48), (1, 48, 48)], 'uint8', 0.05)
>>> samples = synthetic_samples("precipitates", n_images=2, size=64, size_px=[12, 20], seed=1)
>>> [s.name for s in samples], sorted(set(samples[0].mask.ravel().tolist()))
(['synthetic_precipitates_0', 'synthetic_precipitates_1'], [0, 1])
>>> samples = synthetic_samples("porous", n_images=1, size=32, depth=6, context=1, pore_size_px=6)
>>> len(samples), samples[0].name, samples[0].image.shape, samples[0].z
(6, 'synthetic_porous_0_z000', (3, 32, 32), 0)
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from microseg._util import InputError, look_up_option

#: Modes whose mask is the grain boundaries.
BOUNDARY_MODES = ("se", "bse")
#: Slices per synthetic volume (``porous`` with a context) unless ``depth`` is given.
DEFAULT_DEPTH = 16
#: Modes whose mask is a phase, and their generators in :mod:`microseg.synth`.
PHASE_MODES = {"precipitates": "make_precipitates", "porous": "make_porous_section",
               "coating": "make_coating"}
MODES = BOUNDARY_MODES + tuple(PHASE_MODES)


def synthetic_samples(mode: str = "se", *, n_images: int = 8, size: int | tuple[int, int] = 512,
                      seed: int = 0, context: int = 0, **options: Any) -> list:
    """``n_images`` synthetic training samples (image + exact mask).

    Parameters
    ----------
    mode : {"se", "bse", "precipitates", "porous", "coating"}
        ``se``/``bse``: SEM contrast of a polycrystal, mask = 1-px boundaries
        (:func:`microseg.synth.render_sem`); the others: phase micrographs, mask = the
        generator's positive class (:func:`microseg.synth.make_precipitates`,
        :func:`~microseg.synth.make_porous_section`, :func:`~microseg.synth.make_coating`).
    n_images : int
        Number of micrographs (volumes for stacks); image ``k`` uses seed ``seed * 1000 + k``.
    size : int or (int, int)
        ``(H, W)`` of each image (slice) in px.
    seed : int
        Base seed.
    context : int
        Neighbouring slices each side as channels (2.5D): only ``porous``, which then
        makes ``n_images`` FIB-SEM stacks of ``depth`` slices (an option, default
        :data:`DEFAULT_DEPTH`; giving ``depth`` makes stacks with ``context=0`` too). Their
        options are those of :func:`microseg.synth.make_porous_volume` (``porosity``,
        ``pore_size_px``, ``inclusion_fraction``) and :func:`~microseg.synth.render_fib_sem`
        (``noise``, ``curtaining``, ``shadow``, ``pixel_size``, ...), ranges drawn per volume.
    **options
        Passed to the generator: :func:`microseg.synth.make_sem_pair`
        (``mean_diameter_px``, ``noise``, ``twin_fraction``, ``pixel_size``, ...) or the
        phase generator (``size_px``, ``fraction``, ``contrast``, ``polarity``, ...). For
        the phase modes a ``[low, high]`` pair of a numeric option is drawn uniformly per
        image (rounded for integer options) and a list of a text option is sampled.

    Returns
    -------
    list of microseg.data.Sample
        Images float32 ``(1, H, W)`` in [0, 1] (``(2 context + 1, H, W)`` for stacks, with
        ``Sample.z`` set); masks uint8 ``(H, W)``.
    """
    mode = look_up_option(str(mode).lower(), MODES, what="synthetic mode")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise InputError(f"data.synthetic.n_images must be a positive integer; got {n_images!r}")
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise InputError(f"data.context must be an integer >= 0; got {context!r}")
    shape = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if mode == "porous" and (context > 0 or "depth" in options):
        return _volume_samples(int(n_images), shape, int(seed), int(context), options)
    if context > 0:
        raise InputError(f"data.pairs: synthetic:{mode} makes 2D images, but data.context: {context} needs "
                         "stacks (2.5D); use synthetic:porous (FIB-SEM stacks) or stacks on disk, or set "
                         "data.context: 0")
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


def _options_of(generator: Any, *skip: str) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(generator).parameters.items() if k not in skip}


def _volume_samples(n_images: int, shape: tuple, seed: int, context: int, options: dict) -> list:
    """Porous volumes rendered as FIB-SEM stacks, one sample per slice (pores positive)."""
    from microseg import synth
    from microseg.data.stacks import stack_samples

    volume_opts = _options_of(synth.make_porous_volume, "shape", "seed")
    render_opts = _options_of(synth.render_fib_sem, "phases", "seed")
    defaults = {"depth": DEFAULT_DEPTH, **volume_opts, **render_opts}
    for key in options:
        look_up_option(key, sorted(defaults), what="option of synthetic:porous stacks")
    out = []
    for k in range(n_images):
        volume_seed = seed * 1000 + k
        rng = np.random.default_rng([volume_seed, 1])
        drawn = {key: _draw(key, value, defaults[key], rng) for key, value in options.items()}
        depth = drawn.pop("depth", DEFAULT_DEPTH)
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
            raise InputError(f"data.synthetic.depth must be a positive integer (slices per volume); got {depth!r}")
        phases = synth.make_porous_volume((int(depth), *shape), seed=volume_seed,
                                          **{key: v for key, v in drawn.items() if key in volume_opts})
        image = synth.render_fib_sem(phases, seed=volume_seed,
                                     **{key: v for key, v in drawn.items() if key in render_opts})
        out += stack_samples(image.data, phases == 0, context=context,   # 0: pore (make_porous_volume)
                             name=f"synthetic_porous_{k}", pixel_size=image.pixel_size,
                             source=f"synthetic:porous:{seed}:{k}")
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
