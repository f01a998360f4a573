"""The shared base class of every segmentation network and its small building blocks.

A :class:`SegmentationModel` takes ``(N, C, H, W)`` float images of any height and width,
pads them to the multiple its network needs, and crops the logits back, so that the
output is always ``(N, classes, H, W)``. Models with side outputs return, in training
mode, a list of logits tensors at input resolution with the fused/final output last;
in evaluation mode they return only the final tensor.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from microseg._util import InputError
from microseg._validate import check_int

__all__ = ["SegmentationModel", "final_output", "parameter_count", "scaled"]


def scaled(channels: int, width: float) -> int:
    """Return ``channels * width`` rounded, at least 1 (channel multiplier of small models).

    Examples
    --------
    >>> scaled(64, 0.25), scaled(3, 0.1)
    (16, 1)
    """
    return max(1, int(round(channels * width)))


def check_width(width: Any, name: str = "width") -> float:
    """Check a channel multiplier: a positive, finite number."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < 1e3:
        raise InputError(f"{name} must be a positive number (channel multiplier), got {width!r}")
    return float(width)


def final_output(out: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """Return the final logits of a model output: the tensor itself, or a list's last element.

    Parameters
    ----------
    out : torch.Tensor or list of torch.Tensor
        What a :class:`SegmentationModel` returned.

    Returns
    -------
    torch.Tensor
        Logits ``(N, classes, H, W)``.
    """
    if isinstance(out, (list, tuple)):
        if not out:
            raise InputError("final_output: got an empty list of outputs")
        return out[-1]
    return out


def parameter_count(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Return the number of parameters of ``model`` (all, or only those requiring grad).

    Examples
    --------
    >>> import torch
    >>> parameter_count(torch.nn.Conv2d(1, 2, 3))
    20
    """
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


class SegmentationModel(nn.Module):
    """Base class: shared attributes, input checks, padding to the network's multiple.

    Subclasses set the class attributes ``arch`` (registry key) and ``description``
    (one line), set ``self.pad_multiple`` and ``self.side_outputs`` in ``__init__`` and
    implement :meth:`_forward` on an input whose height and width are multiples of
    ``pad_multiple``.

    Attributes
    ----------
    in_channels, classes : int
        Input channels and output classes (logit channels).
    config : dict
        The constructor keyword arguments (JSON-serialisable), ``in_channels`` and
        ``classes`` included: ``build(model.arch, **model.config)`` rebuilds the model.
    arch : str
        Registry key.
    side_outputs : bool
        Whether forward returns a list (training mode) of side outputs + final.
    pad_multiple : int
        Height and width are padded up to a multiple of this.
    pad_mode : str
        ``"reflect"`` (default; falls back to ``"replicate"`` when the image is smaller
        than the padding) or ``"constant"`` (zeros).
    """

    arch: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, *, in_channels: int, classes: int, **options: Any) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", low=1)
        self.classes = check_int(classes, "classes", low=1)
        self.config: dict[str, Any] = {"in_channels": in_channels, "classes": classes, **options}
        self.side_outputs = False
        self.pad_multiple = 1
        self.pad_mode = "reflect"

    def _forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        raise NotImplementedError

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph == 0 and pw == 0:
            return x
        if self.pad_mode == "constant":
            return F.pad(x, (0, pw, 0, ph))
        mode = "reflect" if ph < h and pw < w else "replicate"
        return F.pad(x, (0, pw, 0, ph), mode=mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Return logits ``(N, classes, H, W)`` for images ``x`` of shape ``(N, C, H, W)``.

        Side-output models return, in training mode, a list of such tensors with the
        fused (final) output last.
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"{type(self).__name__}: expected a (N, C, H, W) tensor, got {shape}")
        if x.shape[1] != self.in_channels:
            raise InputError(
                f"{type(self).__name__}: the model takes {self.in_channels} input channel(s), "
                f"got a tensor of shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        out = self._forward(self._pad(x))
        if isinstance(out, list):
            if not self.training:
                return out[-1][..., :h, :w]
            return [o[..., :h, :w] for o in out]
        return out[..., :h, :w]

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, in_channels={self.in_channels}, classes={self.classes}"


def upsample_to(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize of ``x`` to ``size`` (a no-op when it already has that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class ConvReLU(nn.Sequential):
    """3×3 convolution (same padding), optional batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, *, batch_norm: bool = True, dilation: int = 1) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ClassFusion(nn.Module):
    """Fuse ``k`` side outputs of ``classes`` channels each into one, class by class.

    A 1×1 convolution per class over that class's ``k`` side maps (the fusion layer of
    HED and RCF), initialised to the mean (weights ``1/k``) as in Xie & Tu (2015).
    """

    def __init__(self, k: int, classes: int) -> None:
        super().__init__()
        self.k, self.classes = k, classes
        self.conv = nn.Conv2d(k * classes, classes, 1, groups=classes)
        nn.init.constant_(self.conv.weight, 1.0 / k)
        nn.init.zeros_(self.conv.bias)

    def forward(self, sides: list[torch.Tensor]) -> torch.Tensor:
        # (N, k, classes, H, W) -> (N, classes, k, H, W) -> (N, classes * k, H, W)
        stacked = torch.stack(sides, dim=1).transpose(1, 2)
        return self.conv(stacked.flatten(1, 2))
