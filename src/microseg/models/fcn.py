"""A VGG16 backbone and the fully convolutional networks FCN-32s, FCN-16s and FCN-8s.

Long, Shelhamer & Darrell, "Fully convolutional networks for semantic segmentation"
(CVPR 2015), as compared with U-Net in seed 004. The VGG16 convolution stages
(64-64 | 128-128 | 256-256-256 | 512-512-512 | 512-512-512, 3×3, each stage followed by
2×2 max pooling) feed ``fc6`` (7×7, 4096) and ``fc7`` (1×1, 4096) as convolutions with
dropout, then a 1×1 class scorer at stride 32. FCN-16s adds a 1×1 scorer on ``pool4``
to the 2×-upsampled stride-32 scores; FCN-8s adds one more on ``pool3``. Skip fusion is
by summation, as in the paper.

Deviations from the paper (and why):

- Inputs are padded to a multiple of 32 and the output cropped back, instead of the
  paper's ``pad=100`` on ``conv1_1`` with crop layers: same output size, simpler.
  ``fc6`` therefore uses padding 3 so that it keeps the stride-32 map size.
- ``batch_norm=True`` by default (a batch norm after every convolution of the VGG
  stages): without ImageNet weights (none are downloaded here) plain VGG16 trains
  poorly from scratch. ``batch_norm=False`` gives the paper's layer stack.
- The 2× upsamplings are learned transposed convolutions initialised to bilinear
  interpolation (as in the paper); the final 8×/16×/32× upsampling is fixed bilinear
  interpolation (the reference nets freeze it to bilinear). Score layers use PyTorch's
  default initialisation instead of zeros.
- ``width`` scales every channel count (``fc_channels`` included) for small instances.
"""
from __future__ import annotations

import torch
from torch import nn

from microseg.models._base import ConvReLU, SegmentationModel, check_width, scaled, upsample_to

__all__ = ["VGG16Backbone", "FCN32s", "FCN16s", "FCN8s"]

#: (channels, number of 3×3 convolutions) of the five VGG16 stages.
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


class VGG16Backbone(nn.Module):
    """The 13 convolutions of VGG16 in five stages; max pooling between stages.

    Parameters
    ----------
    in_channels : int
        Input channels.
    width : float
        Channel multiplier.
    batch_norm : bool
        Batch norm after every convolution.
    pool4_stride : int
        Stride of the pooling between stages 4 and 5 (RCF uses 1, with dilated stage 5).
    stage5_dilation : int
        Dilation of the stage-5 convolutions.

    ``forward(x)`` returns, for every stage, the list of its convolution outputs
    (before pooling); stage ``k`` (0-based) sits at stride ``2**k`` (stage 5 at stride 8
    when ``pool4_stride=1``).
    """

    def __init__(self, in_channels: int, *, width: float = 1.0, batch_norm: bool = True,
                 pool4_stride: int = 2, stage5_dilation: int = 1) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        self.out_channels: list[int] = []
        cin = in_channels
        for k, (channels, n) in enumerate(VGG16_STAGES):
            cout = scaled(channels, width)
            dilation = stage5_dilation if k == 4 else 1
            layers = [ConvReLU(cin if i == 0 else cout, cout, batch_norm=batch_norm, dilation=dilation)
                      for i in range(n)]
            self.stages.append(nn.ModuleList(layers))
            self.out_channels.append(cout)
            cin = cout
        self.pools = nn.ModuleList([nn.MaxPool2d(2, 2) for _ in range(3)])
        self.pools.append(nn.MaxPool2d(2, 2) if pool4_stride == 2 else nn.MaxPool2d(3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for k, stage in enumerate(self.stages):
            if k > 0:
                x = self.pools[k - 1](x)
            layer_outputs = []
            for layer in stage:
                x = layer(x)
                layer_outputs.append(x)
            outputs.append(layer_outputs)
        return outputs


def _bilinear_kernel(channels: int, kernel: int) -> torch.Tensor:
    """Weights of a transposed convolution that upsamples each channel bilinearly."""
    factor = (kernel + 1) // 2
    center = factor - 1 if kernel % 2 == 1 else factor - 0.5
    og = torch.arange(kernel, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, kernel, kernel)
    for c in range(channels):
        weight[c, c] = filt
    return weight


def _upscore2(classes: int) -> nn.ConvTranspose2d:
    """Learned 2× upsampling of class scores, initialised to bilinear interpolation."""
    up = nn.ConvTranspose2d(classes, classes, 4, stride=2, padding=1, bias=False)
    with torch.no_grad():
        up.weight.copy_(_bilinear_kernel(classes, 4))
    return up


class _FCN(SegmentationModel):
    """Shared body of FCN-32s/16s/8s; ``_skips`` is the number of fused pool layers."""

    _skips = 0

    def __init__(self, *, in_channels: int = 1, classes: int = 1, width: float = 1.0,
                 fc_channels: int = 4096, batch_norm: bool = True, dropout: float = 0.5) -> None:
        width = check_width(width)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        super().__init__(in_channels=in_channels, classes=classes, width=width,
                         fc_channels=int(fc_channels), batch_norm=bool(batch_norm), dropout=float(dropout))
        self.pad_multiple = 32
        self.backbone = VGG16Backbone(in_channels, width=width, batch_norm=batch_norm)
        self.pool5 = nn.MaxPool2d(2, 2)
        fc = scaled(fc_channels, width)
        c5 = self.backbone.out_channels[4]
        self.fc = nn.Sequential(
            nn.Conv2d(c5, fc, 7, padding=3), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
        )
        self.score_fr = nn.Conv2d(fc, classes, 1)
        if self._skips >= 1:
            self.score_pool4 = nn.Conv2d(self.backbone.out_channels[3], classes, 1)
            self.upscore2 = _upscore2(classes)
        if self._skips >= 2:
            self.score_pool3 = nn.Conv2d(self.backbone.out_channels[2], classes, 1)
            self.upscore_pool4 = _upscore2(classes)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        stages = self.backbone(x)
        pool3 = self.backbone.pools[2](stages[2][-1])  # stride 8
        pool4 = self.backbone.pools[3](stages[3][-1])  # stride 16
        score = self.score_fr(self.fc(self.pool5(stages[4][-1])))  # stride 32
        if self._skips >= 1:
            score = self.upscore2(score) + self.score_pool4(pool4)
        if self._skips >= 2:
            score = self.upscore_pool4(score) + self.score_pool3(pool3)
        return upsample_to(score, x.shape[-2:])


class FCN32s(_FCN):
    """FCN-32s: VGG16 scores at stride 32, upsampled to the input size.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    width : float
        Channel multiplier of every layer (1.0 = VGG16).
    fc_channels : int
        Channels of ``fc6``/``fc7`` before ``width`` (4096 in the paper).
    batch_norm : bool
        Batch norm in the VGG stages (a deviation, see the module docstring).
    dropout : float
        Dropout after ``fc6`` and ``fc7``.

    Examples
    --------
    >>> import torch
    >>> model = FCN32s(width=0.125, fc_channels=256).eval()
    >>> model(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    arch = "fcn32s"
    description = "FCN-32s (Long et al. 2015): VGG16, stride-32 scores upsampled"
    _skips = 0


class FCN16s(_FCN):
    """FCN-16s: FCN-32s plus a ``pool4`` skip (sum of scores at stride 16).

    Parameters are those of :class:`FCN32s`.
    """

    arch = "fcn16s"
    description = "FCN-16s (Long et al. 2015): VGG16 with a pool4 score skip"
    _skips = 1


class FCN8s(_FCN):
    """FCN-8s: FCN-16s plus a ``pool3`` skip (sum of scores at stride 8).

    Parameters are those of :class:`FCN32s`.
    """

    arch = "fcn8s"
    description = "FCN-8s (Long et al. 2015): VGG16 with pool4 and pool3 score skips"
    _skips = 2

