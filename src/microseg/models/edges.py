"""Edge-detection networks with deep supervision: HED and RCF (seed 001, section 2.3).

**HED** — Xie & Tu, "Holistically-nested edge detection" (ICCV 2015). The five VGG16
convolution stages (no ``pool5``, no fully connected layers); a 1×1 convolution on the
last convolution of each stage gives a side output at stride 1, 2, 4, 8, 16; each is
upsampled to the input size, and a 1×1 convolution over the five (initialised to their
mean) gives the fused output.

**RCF** — Liu et al., "Richer convolutional features for edge detection" (CVPR 2017).
The same backbone, but *every* convolution of a stage feeds a 1×1 convolution to 21
channels; these are summed per stage, reduced by a 1×1 convolution to the side output,
upsampled and fused as in HED. As in the paper, ``pool4`` has stride 1 and the stage-5
convolutions are dilated by 2 (so the deepest side output sits at stride 8).

Both return, in training mode, ``[side1, ..., side5, fused]`` (logits at input size);
in evaluation mode only the fused logits. Train them with a loss on every element
(deep supervision), as the papers do.

Deviations from the papers (and why):

- Logits, not sigmoids: the loss applies the sigmoid (numerically safer).
- Side outputs are upsampled by bilinear interpolation (the papers use deconvolution
  layers fixed to bilinear kernels: the same operation) and inputs are padded to a
  multiple of 16 (HED) or 8 (RCF) instead of cropping deconvolution outputs.
- RCF's stride-1 ``pool4`` is a 3×3 pooling with padding 1 (the reference code's 2×2
  stride-1 pooling shrinks the map by one pixel).
- ``batch_norm=True`` by default (no ImageNet VGG weights are available here; the
  papers fine-tune from them); ``batch_norm=False`` gives the papers' layer stack.
- For ``classes > 1`` every side output has ``classes`` channels and the fusion is done
  class by class. ``width`` scales the backbone channels for small instances.
"""
from __future__ import annotations

import torch
from torch import nn

from microseg.models._base import ClassFusion, SegmentationModel, check_width, upsample_to
from microseg.models.fcn import VGG16Backbone

__all__ = ["HED", "RCF"]


class HED(SegmentationModel):
    """Holistically-nested edge detection: five side outputs of VGG16 and their fusion.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    width : float
        Channel multiplier of the VGG16 backbone (1.0 = VGG16).
    batch_norm : bool
        Batch norm in the backbone (a deviation, see the module docstring).

    Examples
    --------
    >>> import torch
    >>> model = HED(width=0.125)
    >>> [o.shape[-2:] for o in model(torch.zeros(1, 1, 21, 30))][-1]
    torch.Size([21, 30])
    """

    arch = "hed"
    description = "HED (Xie & Tu 2015): VGG16 side outputs at 5 scales, fused"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, width: float = 1.0,
                 batch_norm: bool = True) -> None:
        width = check_width(width)
        super().__init__(in_channels=in_channels, classes=classes, width=width,
                         batch_norm=bool(batch_norm))
        self.side_outputs = True
        self.pad_multiple = 16
        self.backbone = VGG16Backbone(in_channels, width=width, batch_norm=batch_norm)
        self.side = nn.ModuleList(nn.Conv2d(c, classes, 1) for c in self.backbone.out_channels)
        self.fuse = ClassFusion(5, classes)

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stages = self.backbone(x)
        size = x.shape[-2:]
        sides = [upsample_to(head(stage[-1]), size) for head, stage in zip(self.side, stages)]
        return [*sides, self.fuse(sides)]


class RCF(SegmentationModel):
    """Richer convolutional features: all convolutions of each VGG16 stage feed its side output.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    width : float
        Channel multiplier of the VGG16 backbone (1.0 = VGG16).
    batch_norm : bool
        Batch norm in the backbone (a deviation, see the module docstring).
    side_channels : int
        Channels of the per-convolution 1×1 layers (21 in the paper).

    Examples
    --------
    >>> import torch
    >>> model = RCF(width=0.125).eval()
    >>> model(torch.zeros(1, 1, 21, 30)).shape
    torch.Size([1, 1, 21, 30])
    """

    arch = "rcf"
    description = "RCF (Liu et al. 2017): every VGG16 conv summed into 5 side outputs, fused"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, width: float = 1.0,
                 batch_norm: bool = True, side_channels: int = 21) -> None:
        width = check_width(width)
        super().__init__(in_channels=in_channels, classes=classes, width=width,
                         batch_norm=bool(batch_norm), side_channels=int(side_channels))
        self.side_outputs = True
        self.pad_multiple = 8
        self.backbone = VGG16Backbone(in_channels, width=width, batch_norm=batch_norm,
                                      pool4_stride=1, stage5_dilation=2)
        self.down = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(c, side_channels, 1) for _ in range(len(stage)))
            for c, stage in zip(self.backbone.out_channels, self.backbone.stages)
        )
        self.score = nn.ModuleList(nn.Conv2d(side_channels, classes, 1) for _ in range(5))
        self.fuse = ClassFusion(5, classes)

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stages = self.backbone(x)
        size = x.shape[-2:]
        sides = []
        for downs, score, layers in zip(self.down, self.score, stages):
            summed = sum(d(f) for d, f in zip(downs, layers))
            sides.append(upsample_to(score(summed), size))
        return [*sides, self.fuse(sides)]
