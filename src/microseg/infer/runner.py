"""Run an ensemble on batches of tiles: every model on the same batch, in one pass.

:class:`EnsembleRunner` is the predictor that :func:`microseg.infer.tiling.predict_tiled`
calls: it takes a batch ``(B, C, h, w)`` of tiles (numpy) and returns ``(B, M, h, w)``, the
probability of each of the ``M`` models. What makes it fast and safe:

- models are prepared once per image (``eval()``, moved to the device, conv weights in
  channels-last memory format; on CUDA cuDNN's autotuner, the tiles being of one size),
  not per tile, and put back as they were afterwards;
- the forward passes run under :func:`torch.inference_mode`, with CUDA (or, when asked,
  CPU bf16) autocast for reduced precision (:func:`resolve_precision`);
- test-time augmentation (:func:`with_tta`): each model sees the same transformed batch;
  every transform is undone before the probabilities are averaged.

A model is anything callable on a float32 tensor ``(N, C, H, W)`` that returns logits
``(N, 1, H, W)`` (or a list of them, the last being the final output): a
:class:`torch.nn.Module` or a non-torch backend (onnxruntime). Only modules are moved,
switched to ``eval()`` or converted to channels-last.

Examples
--------
>>> import numpy as np
>>> runner = EnsembleRunner([lambda t: t + 1], sigmoid=False, tta="dihedral")
>>> x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
>>> with runner:
...     bool(np.array_equal(runner(x), x + 1))
True
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from microseg._util import InputError, look_up_option

logger = logging.getLogger(__name__)

__all__ = ["EnsembleRunner", "with_tta", "tta_transforms", "resolve_device", "resolve_precision",
           "resolve_tta", "PRECISIONS", "TTA_MODES"]

#: ``precision=``: ``fp32``; ``bf16`` (CUDA GPUs that support it, or the CPU when asked);
#: ``fp16`` (CUDA only); ``auto``: bf16 on a CUDA GPU that has it, else fp16 there; fp32 on the CPU.
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
#: ``tta=``: ``none``; ``flip``: the 4 flips (none, up-down, left-right, both);
#: ``dihedral``: the 8 flips and rotations by 90° (``True`` means this).
TTA_MODES = ("none", "flip", "dihedral")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; ``"cuda"`` without a GPU is an error.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        dev = torch.device(device)
    else:
        if not isinstance(device, str) or device.lower() not in DEVICES:
            raise InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
        name = device.lower()
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={str(dev)!r} but no CUDA GPU is available here; use device 'auto' or 'cpu' "
                         "(--device auto|cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    return dev


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None: plain fp32).

    >>> resolve_precision("auto", torch.device("cpu")) is None, resolve_precision("bf16", torch.device("cpu"))
    (True, torch.bfloat16)
    """
    name = look_up_option(str(precision).lower() if isinstance(precision, str) else precision, PRECISIONS,
                          what="precision")
    cuda = device.type == "cuda"
    if name == "fp32" or (name == "auto" and not cuda):
        return None
    if name == "fp16":
        if not cuda:
            raise InputError("precision 'fp16' needs a CUDA GPU; on the CPU use 'bf16' or 'fp32'")
        return torch.float16
    bf16_ok = not cuda or torch.cuda.is_bf16_supported()
    if name == "bf16":
        if not bf16_ok:
            raise InputError("precision 'bf16': this GPU does not support bfloat16; use 'fp16' or 'fp32'")
        return torch.bfloat16
    return torch.bfloat16 if bf16_ok else torch.float16


def resolve_tta(tta: bool | str | None) -> str:
    """The name of a ``tta=`` value: False/None -> ``"none"``, True -> ``"dihedral"``.

    >>> resolve_tta(True), resolve_tta(False), resolve_tta("flip")
    ('dihedral', 'none', 'flip')
    """
    if tta is None or tta is False:
        return "none"
    if tta is True:
        return "dihedral"
    if not isinstance(tta, str):
        raise InputError(f"tta must be True/False or one of {', '.join(TTA_MODES)}; got {tta!r}")
    return look_up_option(tta.lower(), TTA_MODES, what="tta mode")


Transform = tuple[tuple[int, ...], int]   # (axes flipped first, then quarter turns)


def tta_transforms(tta: bool | str | None) -> list[Transform]:
    """The transforms of a TTA mode as ``(flipped axes, quarter turns)``; the first is the identity.

    >>> len(tta_transforms(False)), len(tta_transforms("flip")), len(tta_transforms(True))
    (1, 4, 8)
    """
    mode = resolve_tta(tta)
    if mode == "none":
        return [((), 0)]
    if mode == "flip":
        return [((), 0), ((-2,), 0), ((-1,), 0), ((-2, -1), 0)]
    return [((), k) for k in range(4)] + [((-1,), k) for k in range(4)]


def _forward(x: torch.Tensor, t: Transform) -> torch.Tensor:
    flips, k = t
    if flips:
        x = torch.flip(x, flips)
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def _inverse(y: torch.Tensor, t: Transform) -> torch.Tensor:
    flips, k = t
    if k:
        y = torch.rot90(y, -k, dims=(-2, -1))
    return torch.flip(y, flips) if flips else y


TensorFn = Callable[[torch.Tensor], torch.Tensor]


def with_tta(fn: TensorFn, tta: bool | str | None) -> TensorFn:
    """``fn`` averaged over test-time augmentations, each undone before averaging.

    ``fn`` maps ``(B, C, h, w)`` to ``(B, K, h, w)`` and must take the transposed tiles of
    a quarter turn (``(B, C, w, h)``). The mean is accumulated in float64 and returned as
    float32, so that a function that commutes with flips and rotations (``x + 1``) gives
    exactly what it gives without TTA.

    >>> f = with_tta(lambda t: t * 2, "dihedral")
    >>> x = torch.arange(6.0).reshape(1, 1, 2, 3)
    >>> bool(torch.equal(f(x), x * 2))
    True
    """
    transforms = tta_transforms(tta)
    if len(transforms) == 1:
        return fn

    def averaged(x: torch.Tensor) -> torch.Tensor:
        total = None
        for t in transforms:
            y = _inverse(fn(_forward(x, t)), t).to(torch.float64)
            total = y if total is None else total.add_(y)
        return total.div_(len(transforms)).to(torch.float32)

    return averaged


class EnsembleRunner:
    """Every model on the same batch of tiles; a predictor for :func:`~microseg.infer.tiling.predict_tiled`.

    Parameters
    ----------
    models : sequence of callables
        :class:`torch.nn.Module` or any callable taking a float32 tensor ``(N, C, H, W)``
        and returning logits ``(N, 1, H, W)`` (a list: its last entry).
    names : sequence of str, optional
        For error messages.
    device : str or torch.device
        See :func:`resolve_device`.
    precision : {"fp32", "bf16", "fp16", "auto"}
        Autocast dtype (:func:`resolve_precision`).
    tta : bool or {"none", "flip", "dihedral"}
        Test-time augmentation (:func:`with_tta`).
    channels_last : bool, optional
        Run modules in channels-last memory format (faster convolutions on CPUs and GPUs;
        results differ from the default format by rounding only). Default: yes.
    sigmoid : bool
        Return probabilities (sigmoid of each model's 1-class logits); ``False``: the raw
        outputs, any number of channels each (tests, other heads).

    Use it as a context manager: entering prepares the models (``eval()``, device,
    memory format) once, leaving puts them back as they were.
    """

    def __init__(self, models: Sequence[Any], *, names: Sequence[str] | None = None,
                 device: str | torch.device = "cpu", precision: str = "fp32", tta: bool | str | None = False,
                 channels_last: bool | None = None, sigmoid: bool = True) -> None:
        self.models = list(models)
        if not self.models:
            raise InputError("no model given; pass at least one")
        self.names = list(names) if names is not None else [type(m).__name__ for m in self.models]
        self.device = resolve_device(device)
        self.autocast = resolve_precision(precision, self.device)
        self.tta = resolve_tta(tta)
        self.channels_last = True if channels_last is None else bool(channels_last)
        self.sigmoid = bool(sigmoid)
        self._fn = with_tta(self._all, self.tta)
        self._saved: list[tuple[torch.nn.Module, bool, torch.device | None]] = []
        self._cudnn_benchmark: bool | None = None

    # ------------------------------------------------------------------ preparing the models
    def __enter__(self) -> EnsembleRunner:
        if self.device.type == "cuda":   # tiles of one size: let cuDNN pick its fastest kernels
            self._cudnn_benchmark = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True
        seen = set()
        for m in self.models:
            if not isinstance(m, torch.nn.Module) or id(m) in seen:
                continue
            seen.add(id(m))
            param = next(iter(m.parameters()), None)
            self._saved.append((m, m.training, None if param is None else param.device))
            m.eval().to(self.device)
            if self.channels_last:
                m.to(memory_format=torch.channels_last)
        return self

    def __exit__(self, *exc: Any) -> None:
        for m, training, device in reversed(self._saved):
            if self.channels_last:
                m.to(memory_format=torch.contiguous_format)
            m.train(training)
            if device is not None:
                m.to(device)
        self._saved = []
        if self._cudnn_benchmark is not None:
            torch.backends.cudnn.benchmark = self._cudnn_benchmark
            self._cudnn_benchmark = None

    # ------------------------------------------------------------------ one batch
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """``(B, C, h, w)`` float32 -> ``(B, M, h, w)`` float32 (probabilities unless ``sigmoid=False``)."""
        with torch.inference_mode(), self._autocast():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            return self._fn(x).float().cpu().numpy()

    def _autocast(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def _all(self, x: torch.Tensor) -> torch.Tensor:
        x_cl = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        outs = [self._one(m, name, x_cl if isinstance(m, torch.nn.Module) else x, x.shape)
                for m, name in zip(self.models, self.names)]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _one(self, model: Any, name: str, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        out = model(x)
        if isinstance(out, (list, tuple)):
            out = out[-1]
        out = torch.as_tensor(out).to(self.device).float()
        if out.ndim != 4 or out.shape[0] != shape[0] or out.shape[-2:] != shape[-2:]:
            raise InputError(f"model {name!r} returned shape {tuple(out.shape)} for input {tuple(shape)}; "
                             f"expected ({shape[0]}, 1, {shape[-2]}, {shape[-1]})")
        if not self.sigmoid:
            return out
        if out.shape[1] != 1:
            raise InputError(f"model {name!r} gives {out.shape[1]} classes; prediction supports binary "
                             "(1-class) models")
        return torch.sigmoid(out)
