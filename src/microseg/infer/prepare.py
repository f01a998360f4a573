"""An image as a model sees it, made tile by tile; and the memory a whole-image pass needs.

:func:`match_channels` fits an image's channels to a model's (as training does);
:class:`ChannelsFirst` is a region-readable image seen as ``(C, H, W)`` float32.

:class:`PreparedImage` is what tiled prediction reads its tiles from: ``view[:, r0:r1,
c0:c1]`` is that window of the image after the model's pre-processing
(:func:`microseg.data.apply_preprocessing`: channels fitted to the model, median filter,
normalisation), equal to the same window of the whole pre-processed image:

- the normalisation uses the statistics of the *whole* image (mean and standard deviation
  for ``per_image``, minimum and maximum for ``minmax``), computed once, exactly, before
  the first tile (:func:`whole_image_stats`; streamed band by band when a median filter or
  a channel conversion comes first), never a tile's own;
- a median filter of size ``s`` is computed on the tile with a margin of ``s`` px of its
  neighbours (reflected only at the image's own border, as for the whole image), so it is
  exact whatever the tile overlap.

The only difference from the whole-image pass is then the network's view near a tile's
rim, which the blending weighs down.

:func:`check_whole_image_memory` estimates what one forward pass over a whole image needs
(activations measured on a small probe, scaled by the pixels) and refuses, naming the
tile option, when it exceeds the memory available.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from microseg._util import InputError

logger = logging.getLogger(__name__)

__all__ = ["match_channels", "ChannelsFirst", "PreparedImage", "whole_image_stats", "available_memory",
           "estimate_whole_image_bytes", "check_whole_image_memory"]

#: Rows per band of the streamed statistics pass.
BAND_ROWS = 512


def _spec_parts(spec: dict | None) -> tuple[int, str]:
    """(median size, normalisation mode) of a preprocessing record, read as apply_preprocessing reads it."""
    from microseg._util import look_up_option
    from microseg.data.preprocess import NORMALIZE_MODES

    if not spec:
        return 0, "none"
    norm = spec.get("normalize", {"mode": "none"})
    mode = norm["mode"] if isinstance(norm, dict) else norm
    return int(spec.get("median", 0)), look_up_option(mode, NORMALIZE_MODES, what="normalize mode")


def match_channels(x: np.ndarray, in_channels: int, *, name: str = "model") -> np.ndarray:
    """Fit a ``(C, H, W)`` image to a model taking ``in_channels``, the way training does.

    A grey image is repeated (1 → 3); a colour image for a grey model is made grey with the
    BT.709 weights of :func:`microseg.io.to_gray` (3 → 1), as ``load_samples(channels=1)``
    makes it for training.

    Examples
    --------
    >>> match_channels(np.ones((1, 2, 2), np.float32), 3).shape
    (3, 2, 2)
    >>> match_channels(np.ones((3, 2, 2), np.float32), 1).shape
    (1, 2, 2)
    """
    from microseg.io.images import GREY_WEIGHTS

    c = x.shape[0]
    if c == in_channels:
        return x
    if c == 1:
        return np.repeat(x, in_channels, axis=0)
    if c == 3 and in_channels == 1:
        grey = np.tensordot(np.asarray(GREY_WEIGHTS, np.float32), x, axes=1)
        return grey[None].astype(np.float32)
    raise InputError(f"model {name!r} takes {in_channels} channel(s); the image has {c} (as (C, H, W) "
                     f"{tuple(x.shape)}); give a grey or RGB image, or a model trained on {c} channels")


class ChannelsFirst:
    """A 2D image read by regions, seen as the ``(C, H, W)`` float32 that :func:`~microseg.infer.as_image_array` makes.

    ``view[:, r0:r1, c0:c1]`` reads that region of ``image`` (a
    :class:`~microseg.io.lazy.LazyImage` opened with ``as_gray=False``, a memmap, any array
    of shape ``(H, W)`` or ``(H, W, 3)``) and scales it as :func:`as_image_array` does
    (integers by their dtype's range). A grey micrograph stored as RGB stays three equal
    channels here (deciding that needs the whole image); a grey model then gets their
    BT.709 mix, which is the grey image itself up to float rounding. NaN or infinite pixels
    are refused when the region holding them is read, naming ``name``.

    Examples
    --------
    >>> view = ChannelsFirst(np.full((40, 30), 65535, np.uint16))
    >>> view.shape, float(view[:, 5:7, :3].max())
    ((1, 40, 30), 1.0)
    """

    ndim = 3

    def __init__(self, image: Any, *, name: str = "image") -> None:
        shape = tuple(int(n) for n in image.shape)
        if len(shape) == 3 and shape[-1] == 4:
            raise InputError(f"{name}: RGBA regions are not read lazily; open it with as_gray=False (RGB)")
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] != 3):
            raise InputError(f"{name}: expected a (H, W) or (H, W, 3) image; got shape {shape}")
        dtype = np.dtype(image.dtype)
        if dtype.kind not in "uifb":
            raise InputError(f"{name}: image must be numeric; got dtype {dtype}")
        self.image, self.name = image, name
        self.shape = (3 if len(shape) == 3 else 1, shape[0], shape[1])

    def __getitem__(self, key: Any) -> np.ndarray:
        from microseg.data.samples import scaled_float32

        if not (isinstance(key, tuple) and len(key) == 3 and key[0] == slice(None)):
            raise TypeError(f"ChannelsFirst is read as view[:, rows, cols]; got {key!r}")
        region = np.asarray(self.image[key[1], key[2]])
        x = scaled_float32(region, name=self.name)
        if not np.isfinite(x).all():
            raise InputError(f"{self.name}: the image contains NaN or infinite values (rows "
                             f"{key[1].start}-{key[1].stop}); predict needs finite pixel values: fill or crop "
                             "the missing ones first")
        return np.ascontiguousarray(np.moveaxis(x, -1, 0) if x.ndim == 3 else x[None])


class PreparedImage:
    """A ``(C', H, W)`` image pre-processed for one model, tile by tile.

    Parameters
    ----------
    image : ndarray, shape (C, H, W)
        Float image (scaled as :func:`~microseg.infer.as_image_array` scales it).
    in_channels : int
        Channels the model takes (:func:`match_channels`).
    spec : dict or None
        A :func:`~microseg.data.preprocessing_spec` record; None: none.
    name : str
        The model's name, for messages.

    Examples
    --------
    >>> from microseg.data import apply_preprocessing
    >>> image = np.random.default_rng(0).random((1, 40, 30), dtype=np.float32)
    >>> spec = {"normalize": {"mode": "per_image"}, "median": 3}
    >>> view = PreparedImage(image, in_channels=1, spec=spec)
    >>> whole = apply_preprocessing(image, spec)
    >>> bool(np.allclose(view[:, 10:25, 5:20], whole[:, 10:25, 5:20], atol=1e-6))
    True
    """

    ndim = 3

    def __init__(self, image: np.ndarray, *, in_channels: int, spec: dict | None, name: str = "model") -> None:
        self.image = image
        self.in_channels = int(in_channels)
        self.name = name
        self.median, self.mode = _spec_parts(spec)
        self.shape = (self.in_channels, int(image.shape[1]), int(image.shape[2]))
        self.stats = whole_image_stats(self)

    def raw(self, rows: slice, cols: slice) -> np.ndarray:
        """The window with channels fitted and median-filtered, before normalisation (float32)."""
        from microseg.data.preprocess import median_filter
        _, h, w = self.shape
        r0, r1, _ = rows.indices(h)
        c0, c1, _ = cols.indices(w)
        m = self.median if self.median > 1 else 0
        y0, y1, x0, x1 = max(0, r0 - m), min(h, r1 + m), max(0, c0 - m), min(w, c1 + m)
        x = np.asarray(self.image[:, y0:y1, x0:x1], dtype=np.float32)
        x = match_channels(x, self.in_channels, name=self.name)
        if m:
            x = median_filter(x, size=self.median)[:, r0 - y0:r1 - y0, c0 - x0:c1 - x0]
        return x

    def __getitem__(self, key: Any) -> np.ndarray:
        from microseg.data.preprocess import normalize

        if not (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, slice) for k in key)
                and key[0] == slice(None)):
            raise TypeError(f"PreparedImage is read as view[:, rows, cols]; got {key!r}")
        return normalize(self.raw(key[1], key[2]), mode=self.mode, stats=self.stats)


def whole_image_stats(view: PreparedImage) -> dict:
    """The normalisation statistics of the whole pre-processed image (as :func:`~microseg.data.normalization_stats`).

    Without a median filter or channel conversion they are those of the image itself;
    otherwise bands of :data:`BAND_ROWS` rows are prepared one by one and their means and
    variances combined (Chan et al.'s pairwise update, float64), so the memory is a band.
    """
    from microseg.data.preprocess import normalization_stats

    if view.mode == "none":
        return {"mode": "none"}
    if view.median <= 1 and view.in_channels == view.image.shape[0] and isinstance(view.image, np.ndarray):
        return normalization_stats(view.image, mode=view.mode)
    _, h, w = view.shape
    n, mean, m2 = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    for r in range(0, h, BAND_ROWS):
        band = view.raw(slice(r, min(h, r + BAND_ROWS)), slice(0, w)).astype(np.float64)
        if view.mode == "minmax":
            low, high = min(low, float(band.min())), max(high, float(band.max()))
            continue
        k, bm = band.size, float(band.mean())
        bm2 = float(((band - bm) ** 2).sum())
        delta = bm - mean
        total = n + k
        mean += delta * k / total
        m2 += bm2 + delta * delta * n * k / total
        n = total
    if view.mode == "minmax":
        return {"mode": "minmax", "min": low, "max": high}
    return {"mode": "per_image", "mean": mean, "std": math.sqrt(m2 / n)}


# ---------------------------------------------------------------------------- memory
#: Images of at most this many pixels are predicted whole without an estimate.
CHECK_ABOVE_PX = 1024 * 1024
#: Side of the probe image on which activations are measured.
PROBE = 128
#: Peak live activations over the sum of every layer's output, measured on the CPU under
#: inference mode (plain U-Net 0.29, smp U-Net/ResNet-34 0.23 at 1536² and 2048²); rounded up.
LIVE_FRACTION = 0.35


def available_memory(device: Any = "cpu") -> int:
    """Bytes available for a new allocation: free GPU memory, or the host's MemAvailable.

    On the host psutil is used when it is installed, else ``/proc/meminfo``; where neither
    says, a very large number (no refusal).
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2**62


def _activation_bytes_per_px(model: Any, in_channels: int) -> float | None:
    """The sum of every leaf module's output bytes per input pixel on a probe; None for a non-module."""
    import torch

    if not isinstance(model, torch.nn.Module):
        return None
    total = [0]

    def count(module, inputs, output):
        outs = output if isinstance(output, (list, tuple)) else [output]
        total[0] += sum(o.numel() * o.element_size() for o in outs if torch.is_tensor(o))

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    param = next(iter(model.parameters()), None)
    try:
        with torch.inference_mode():
            model(torch.zeros(1, in_channels, PROBE, PROBE, device=None if param is None else param.device))
    finally:
        for h in hooks:
            h.remove()
    return total[0] / PROBE**2


def estimate_whole_image_bytes(models: Sequence[Any], shape: Sequence[int], *, in_channels: int,
                               tta_transforms: int = 1) -> int | None:
    """Bytes one whole-image pass over ``shape`` (``(H, W)``) needs; None when a model cannot be probed.

    The activations of the largest model (the models run one after the other) from a
    :data:`PROBE`² probe, times :data:`LIVE_FRACTION`, plus the image and its pre-processed
    copy (float32 per channel) and the outputs (float32, float64 with TTA).
    """
    per_px = []
    for m in models:
        b = _activation_bytes_per_px(m, in_channels)
        if b is None:
            return None
        per_px.append(b)
    h, w = (int(v) for v in shape)
    image = 3 * 4 * in_channels
    outputs = len(models) * (4 + (8 if tta_transforms > 1 else 0))
    return int(h * w * (LIVE_FRACTION * max(per_px) + image + outputs))


def check_whole_image_memory(models: Sequence[Any], shape: Sequence[int], *, in_channels: int, device: Any,
                             tta_transforms: int = 1) -> None:
    """Refuse a whole-image pass that needs more memory than is available (say to predict in tiles)."""
    h, w = (int(v) for v in shape)
    if h * w <= CHECK_ABOVE_PX:
        return
    need = estimate_whole_image_bytes(models, shape, in_channels=in_channels, tta_transforms=tta_transforms)
    if need is None:
        return
    free = available_memory(device)
    logger.debug("whole-image pass over %d x %d: about %.2f GiB needed, %.2f GiB available", h, w,
                 need / 2**30, free / 2**30)
    if need > free:
        where = "GPU memory" if str(device).startswith("cuda") else "memory"
        raise InputError(f"predicting the whole {h} x {w} image at once needs about {need / 2**30:.1f} GiB; "
                         f"{free / 2**30:.1f} GiB of {where} is available; predict it in tiles "
                         "(tile_size=512, --tile 512)")
